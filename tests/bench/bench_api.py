"""The machine API under load: `POST /api/v1/queue` with 50 clients, and 1,000 SSE clients.

Run by `make bench` after tests/bench/benchmark.py, or alone:
``.venv/bin/python tests/bench/bench_api.py [--clients N] [--sse-clients N] [--events N] [--json PATH] [--check]``.

A real stack (tests/support/stack.py: migrations, gunicorn + gevent with ONE web process, the Huey
consumer) on SQLite. The queue is paused first (POST /api/v1/queue/pause), so the worker runs
but starts nothing: these figures are the web process's own, not the downloads'
(tests/bench/benchmark.py measures submitting while the worker downloads).

1. Submit, authenticated with a personal token (hashed lookup, as a script would), one fresh
   URL per `POST /api/v1/queue`, 50 keep-alive clients in a separate process:
   a. saturation: each client sends its next request as soon as it has the answer (20 each).
      Figure: requests/s, the most one web process sustains. Its latency is printed too, but
      with 50 clients always waiting it is Little's law, not a separate figure: p50 ≈ 50 ÷
      (requests/s), whatever the server does;
   b. latency at 300 requests/s: the same 50 clients each send 6 requests a second on a fixed
      schedule (staggered), for 5 s. Latency is counted from each request's scheduled time,
      so a request held up behind a slow one is not forgotten (no coordinated omission).
      Figures: p50/p99.
   Measured first under the same saturating load: `GET /api/v1/auth/me` (the same token check
   and a JSON answer, no write) as the floor; the submit figures are printed as a ratio to it.
2. Live: 1,000 clients in a separate process (one non-blocking socket each) hold
   `GET /api/v1/events` open. Memory per client = the growth of the web process's USS from
   before the first client connected to when all of them are connected and have received
   their first events, divided by the count. Then events are made one at a time, 150 ms apart,
   each by a `POST /api/v1/queue` from this process; a client notes when each event's frame
   arrived. Delivery = arrival − the moment just before that POST was sent (CLOCK_MONOTONIC is
   shared by the processes), so the submit request's own time is counted too.

Targets: at least 300 requests/s, and p99 under 100 ms (at that rate) for the
submit; delivery p99 under 100 ms and under 40 KiB per SSE client.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.stack import HaulStack  # noqa: E402

from bench.benchmark import BenchmarkError, percentile, run_clients  # noqa: E402

API_TOKEN = "bench-static-token-0123456789"
ADMIN = {"HAUL_ADMIN_USERNAME": "bench", "HAUL_ADMIN_PASSWORD": "bench-password-0123"}
KIB = 1024

PACED_RATE, PACED_SECONDS = 300, 5.0

TARGETS = {
    "submit_rps": ("min", 300.0),
    "submit_p99_ms": ("max", 100.0),  # at PACED_RATE requests/s
    "sse_delivery_p99_ms": ("max", 100.0),
    "sse_kib_per_client": ("max", 40.0),
}


class BenchError(Exception):
    pass


def personal_token(stack: HaulStack) -> str:
    """A personal token for the admin, made the way a script gets one (login, then /tokens)."""
    login = requests.post(f"{stack.base_url}/api/v1/auth/login", timeout=10,
                          json={"username": ADMIN["HAUL_ADMIN_USERNAME"], "password": ADMIN["HAUL_ADMIN_PASSWORD"]})
    login.raise_for_status()
    access = login.json()["access_token"]
    made = requests.post(f"{stack.base_url}/api/v1/tokens", timeout=10, headers={"Authorization": f"Bearer {access}"},
                         json={"name": "bench", "scopes": ["submit", "read", "admin"]})
    made.raise_for_status()
    return made.json()["token"]


def hammer(stack: HaulStack, token: str, method: str, path: str, bodies: list, clients: int) -> tuple[list, list, float]:
    """`clients` keep-alive clients in their own process (and session: see benchmark._load_clients);
    returns latencies, answers, and the seconds from the first request to the last answer."""
    try:
        return run_clients(stack.base_url, token, method, path, bodies, clients, len(bodies) // clients)
    except BenchmarkError as exc:
        raise BenchError(str(exc)) from None


def _paced_clients(base_url: str, token: str, path: str, bodies: list[bytes], n_clients: int, rate: float,
                   seconds: float, results) -> None:
    """Runs in its own process (and session, see benchmark._load_clients): `n_clients`
    keep-alive clients sending `rate` requests/s between them on a fixed, staggered schedule.
    Puts (latencies from each request's scheduled time in ms, statuses, errors, achieved rate)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    try:
        os.setsid()
    except OSError:
        pass
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    interval = n_clients / rate  # each client's period
    per_client = int(seconds / interval)
    latencies, statuses, errors = [], [], []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine, got = [], []
        try:
            for k in range(per_client):
                scheduled = start + index * interval / n_clients + k * interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                conn.request("POST", path, body=bodies[index * per_client + k],
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                mine.append((time.perf_counter() - scheduled) * 1000)
                got.append(response.status)
        except Exception as exc:  # noqa: BLE001  (reported by the parent)
            with lock:
                errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                statuses.extend(got)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    results.put((latencies, statuses, errors, len(latencies) / (time.perf_counter() - start)))


def paced(stack: HaulStack, token: str, clients: int, run: str) -> dict:
    count = int(PACED_RATE * PACED_SECONDS) + clients
    bodies = [json.dumps({"url": f"http://127.0.0.1:9/{run}/paced-{i}.jpg"}).encode() for i in range(count)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_paced_clients, args=(stack.base_url, token, "/api/v1/queue", bodies, clients,
                                                           PACED_RATE, PACED_SECONDS, results))
    process.start()
    try:
        latencies, statuses, errors, achieved = results.get(timeout=120)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    if errors:
        raise BenchError(f"{len(errors)} paced client(s) failed: {errors[:3]}")
    if any(status != 201 for status in statuses):
        raise BenchError(f"POST /api/v1/queue answered {sorted(set(statuses))}")
    return {"rate": PACED_RATE, "achieved_rps": achieved, "requests": len(latencies),
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99), "max_ms": max(latencies)}


def submit_phase(stack: HaulStack, token: str, clients: int, per_client: int, run: str) -> dict:
    count = clients * per_client
    floor, answers, _ = hammer(stack, token, "GET", "/api/v1/auth/me", [None] * count, clients)
    if any(status != 200 for status, _ in answers):
        raise BenchError(f"GET /api/v1/auth/me answered {sorted({s for s, _ in answers})}")
    bodies = [json.dumps({"url": f"http://127.0.0.1:9/{run}/item-{i}.jpg"}).encode() for i in range(count)]
    web = psutil.Process(serving_pid(stack))
    cpu_before = sum(web.cpu_times()[:2])
    latencies, answers, seconds = hammer(stack, token, "POST", "/api/v1/queue", bodies, clients)
    # How busy the one web process was: near 100 % means the figure is the server's own limit.
    web_busy = (sum(web.cpu_times()[:2]) - cpu_before) / seconds
    bad = [(status, body[:200]) for status, body in answers if status != 201]
    if bad:
        raise BenchError(f"POST /api/v1/queue failed: {bad[:3]}")
    at_rate = paced(stack, token, clients, run)
    # Requests per second from the first request sent to the last answer: what the server
    # sustained (the client process's start-up is not counted).
    return {
        "requests": len(latencies),
        "clients": clients,
        "floor_p50_ms": statistics.median(floor),
        "floor_p99_ms": percentile(floor, 99),
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "web_cpu_share": web_busy,
        "paced": at_rate,
    }


# -- SSE clients (a separate process) ----------------------------------------------------------


def arrivals_by_url(chunks: dict, errors: list) -> dict[str, list[float]]:
    """When each submitted URL's event reached the clients: `chunks` holds each client's
    (arrival time, bytes) as read from its socket; a client whose answer was not 200 goes
    into `errors`."""
    arrivals: dict[str, list[float]] = {}
    for index, received in chunks.items():
        stream, start = b"", 0
        if not received or b" 200 " not in received[0][1].split(b"\r\n", 1)[0]:
            errors.append(f"client {index}: {received[0][1][:80] if received else 'no answer'!r}")
            continue
        for at, data in received:
            stream += data
            while (end := stream.find(b"\n\n", start)) >= 0:
                frame, start = stream[start:end], end + 2
                marker = frame.find(b"data: ")
                if marker >= 0:
                    payload = json.loads(frame[marker + 6:].split(b"\n", 1)[0])
                    for url in payload.get("data", {}).get("urls", ()):
                        arrivals.setdefault(url, []).append(at)
    return arrivals

def _sse_clients(host: str, port: int, token: str, count: int, connected, stop, results) -> None:
    """`count` SSE clients on raw non-blocking sockets, in their own process (and session, as
    the submitting clients: see benchmark._load_clients).

    While the events flow a client only notes when bytes arrived (a monotonic time and the
    bytes); the frames are parsed after the run. A client that parsed JSON as it read would be
    the slower side, and its own backlog would be counted as the server's delivery time.
    Puts ({url: [arrival times]}, errors) on `results`.
    """
    import selectors
    import socket

    try:
        os.setsid()
    except OSError:
        pass
    request = (f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()
    selector = selectors.DefaultSelector()
    chunks: dict[int, list] = {}
    errors: list[str] = []
    for index in range(count):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
        chunks[index] = []
        if index % 50 == 49:
            time.sleep(0.02)  # a ramp, as real clients arrive, not a SYN flood
    ready: set[int] = set()
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.2):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                errors.append("stream ended")
                selector.unregister(key.fileobj)
                continue
            chunks[key.data].append((time.monotonic(), data))
            if key.data not in ready and b"retry:" in b"".join(d for _, d in chunks[key.data]):
                ready.add(key.data)
                with connected.get_lock():
                    connected.value += 1
    for key in list(selector.get_map().values()):
        key.fileobj.close()

    results.put((arrivals_by_url(chunks, errors), errors))


def uss_kib(pid: int) -> float:
    return psutil.Process(pid).memory_full_info().uss / KIB


def serving_pid(stack: HaulStack) -> int:
    """gunicorn's one serving process (the master's child)."""
    children = psutil.Process(stack.web.pid).children()
    if len(children) != 1:
        raise BenchError(f"expected one gunicorn worker, found {len(children)}")
    return children[0].pid


def wait_for_streams(connected, count: int, seconds: float, clients_alive) -> None:
    """Until `count` streams have said hello (their retry: line), or raise."""
    deadline = time.monotonic() + seconds
    while connected.value < count and time.monotonic() < deadline and clients_alive():
        time.sleep(0.1)
    if connected.value < count:
        raise BenchError(f"only {connected.value} of {count} SSE clients connected")


def post_live_events(session: requests.Session, base_url: str, run: str, n_events: int,
                     when_warm) -> dict[str, float]:
    """Queue 2 + n_events links, 0.15 s apart, each an event every stream receives; returns the
    measured ones' URL → when it was sent. The first two come before `when_warm()` (the memory
    figure), so every stream has sent something (its buffers and per-frame work are counted)."""
    sent: dict[str, float] = {}
    for i in range(2 + n_events):
        url = f"http://127.0.0.1:9/{run}/live-{i}.jpg"
        began = time.monotonic()
        answer = session.post(f"{base_url}/api/v1/queue", json={"url": url}, timeout=30)
        if answer.status_code != 201:
            raise BenchError(f"POST /api/v1/queue answered {answer.status_code}: {answer.text[:200]}")
        if i >= 2:
            sent[url] = began
        if i == 1:
            time.sleep(1.0)
            when_warm()
        time.sleep(0.15)
    time.sleep(1.5)
    return sent


def delivery_delays(sent: dict[str, float], arrivals: dict[str, list[float]], errors: list[str],
                    count: int) -> list[float]:
    """Milliseconds from each event's POST to each stream's receipt; raises when a stream failed
    or a delivery is missing (a figure without them would flatter)."""
    if errors:
        raise BenchError(f"{len(errors)} SSE client error(s): {errors[:3]}")
    delays, missing = [], 0
    for url, began in sent.items():
        got = arrivals.get(url, [])
        missing += count - len(got)
        delays.extend((at - began) * 1000 for at in got)
    if missing:
        raise BenchError(f"{missing} event deliveries never arrived")
    return delays


def sse_phase(stack: HaulStack, token: str, count: int, n_events: int, run: str) -> dict:
    pid = serving_pid(stack)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    time.sleep(1.0)
    before = uss_kib(pid)
    context = multiprocessing.get_context("spawn")
    connected, stop, results = context.Value("i", 0), context.Event(), context.Queue()
    process = context.Process(target=_sse_clients,
                              args=("127.0.0.1", stack.port, token, count, connected, stop, results))
    process.start()
    try:
        wait_for_streams(connected, count, 120, lambda: process.is_alive())
        figures = {}
        sent = post_live_events(session, stack.base_url, run, n_events,
                                when_warm=lambda: figures.update(after=uss_kib(pid)))
        after = figures["after"]
    finally:
        stop.set()
        try:
            arrivals, errors = results.get(timeout=60)
        finally:
            process.join(10)
            if process.is_alive():
                process.kill()
    delays = delivery_delays(sent, arrivals, errors, count)
    return {
        "clients": count,
        "events": len(sent),
        "deliveries": len(delays),
        "delivery_p50_ms": statistics.median(delays),
        "delivery_p99_ms": percentile(delays, 99),
        "delivery_max_ms": max(delays),
        "uss_before_kib": before,
        "uss_after_kib": after,
        "kib_per_client": (after - before) / count,
    }


def api_benchmark(clients: int = 50, per_client: int = 20, sse_clients: int = 1000, n_events: int = 30,
                  log=print) -> dict:
    """Both phases against one fresh stack; returns the figures (and what they were measured on)."""
    run = f"r{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="haul-bench-api-") as workdir:
        stack = HaulStack(Path(workdir), api_token=API_TOKEN, extra_env=ADMIN)
        try:
            stack.start()
            pause = stack.session.post(f"{stack.base_url}/api/v1/queue/pause", timeout=10)
            if pause.status_code >= 300:
                raise BenchError(f"POST /api/v1/queue/pause answered {pause.status_code}: {pause.text[:200]}")
            token = personal_token(stack)
            log(f"api 1: {clients} clients x {per_client} POST /api/v1/queue (GET /api/v1/auth/me as the floor) ...")
            submit = submit_phase(stack, token, clients, per_client, run)
            # One token holds every stream here: let it hold them all (the default is 20 each).
            allowed = stack.session.patch(f"{stack.base_url}/api/v1/settings", json={"max_streams": sse_clients},
                                          timeout=10)
            if allowed.status_code >= 300:
                raise BenchError(f"PATCH /api/v1/settings answered {allowed.status_code}: {allowed.text[:200]}")
            log(f"api 2: {sse_clients} SSE clients on /api/v1/events, {n_events} events ...")
            live = sse_phase(stack, token, sse_clients, n_events, run)
        finally:
            stack.stop()
    return {"submit": submit, "sse": live}


def figures_of(result: dict) -> dict:
    s, live = result["submit"], result["sse"]
    return {
        "submit_rps": s["rps"],
        "submit_p99_ms": s["paced"]["p99_ms"],
        "sse_delivery_p99_ms": live["delivery_p99_ms"],
        "sse_kib_per_client": live["kib_per_client"],
    }


def missed_targets(figures: dict) -> list[str]:
    missed = []
    for key, (kind, bound) in TARGETS.items():
        value = figures[key]
        if (kind == "min" and value < bound) or (kind == "max" and value > bound):
            missed.append(key)
    return missed


def report(result: dict) -> list[str]:
    s, live = result["submit"], result["sse"]
    figures = figures_of(result)
    missed = missed_targets(figures)

    def mark(key: str) -> str:
        return "MISSED" if key in missed else "met"

    p = s["paced"]
    lines = [
        f"  POST /api/v1/queue, {s['clients']} clients:",
        f"    saturated ({s['requests']} requests): {s['rps']:.0f} requests/s (target >= 300: {mark('submit_rps')});"
        f" latency p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms (Little's law: 50 clients always waiting);"
        f" the web process used {100 * s['web_cpu_share']:.0f} % of a core",
        f"    floor GET /api/v1/auth/me, saturated: p50 {s['floor_p50_ms']:.1f} ms, p99 {s['floor_p99_ms']:.1f} ms"
        f" -> submit p50 {s['p50_ms'] / s['floor_p50_ms']:.2f}x the floor",
        f"    at {p['rate']} requests/s ({p['requests']} requests, {p['achieved_rps']:.0f}/s achieved):"
        f" p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms (target < 100: {mark('submit_p99_ms')}), max {p['max_ms']:.1f} ms",
        f"  /api/v1/events, {live['clients']} SSE clients, {live['events']} events ({live['deliveries']} deliveries):",
        f"    delivery p50 {live['delivery_p50_ms']:.1f} ms, p99 {live['delivery_p99_ms']:.1f} ms"
        f" (target < 100: {mark('sse_delivery_p99_ms')}), max {live['delivery_max_ms']:.1f} ms",
        f"    web process USS {live['uss_before_kib'] / 1024:.1f} -> {live['uss_after_kib'] / 1024:.1f} MiB:"
        f" {live['kib_per_client']:.1f} KiB per client (target < 40: {mark('sse_kib_per_client')})",
    ]
    for line in lines:
        print(line)
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per submitting client")
    parser.add_argument("--sse-clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    try:
        result = api_benchmark(args.clients, args.requests, args.sse_clients, args.events)
    except BenchError as exc:
        print(f"API BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 2
    missed = report(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"targets": TARGETS, "figures": figures_of(result),
                                               "missed": missed, "details": result}, indent=2))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
