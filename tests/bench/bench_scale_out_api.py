"""The machine API on more than one web process (issue 17, benchmarks 3 and 6).

Run by `make bench` after tests/bench/bench_api.py, or alone:
``.venv/bin/python tests/bench/bench_scale_out_api.py [--only submit|live] [--processes 1,2,4]
[--clients 50] [--seconds 10] [--sse-clients 5000] [--events 30] [--json PATH] [--check]``.

A file of its own rather than more phases in bench_api.py: bench_api.py measures ONE web process on
SQLite with a Python load generator and keeps its figures comparable with the earlier runs in
docs/benchmarks.md; this one starts several stacks (SQLite, then PostgreSQL + Redis with
HAUL_WEB_PROCESSES = 1, 2, 4), drives the submissions with `wrk` (a compiled load generator: on a
2-core machine a Python generator would take the core the second web process needs) and holds
5,000 streams. It reuses bench_api.py's token, SSE client and percentile helpers.

1. Submit (benchmark 3): `POST /api/v1/queue`, one fresh URL per request, a personal token, 50
   keep-alive connections from `wrk` (2 threads, a Lua script for the POST, its JSON and the bearer
   header) for `--seconds` after a 2 s warm-up, the queue paused (the worker downloads nothing).
   Saturated: each connection sends its next request when it has the answer, so the figure is
   the most the web processes sustain, and p99 is mostly queueing (Little's law: p50 ≈ 50 ÷ rate).
   Figures: requests/s and p99, per configuration, each beside the SQLite single-process figure
   of the same run, with the CPU the web processes and wrk used (what limits it). Without `wrk`
   on PATH (Debian: apt-get install wrk) the bench_api.py Python clients are used, and said so.
2. Live (benchmark 6): `--sse-clients` (5,000) hold `GET /api/v1/events` open (bench_api's client:
   non-blocking sockets in processes of their own that note arrival times and parse afterwards),
   first 1,000 (the figure docs/benchmarks.md recorded) then 5,000 on ONE web process (SQLite),
   then 5,000 over 2 web processes on PostgreSQL (+ 1 process on PostgreSQL as the baseline).
   30 events 150 ms apart, each made by a `POST /api/v1/queue`; delivery counts from just before
   that POST until the frame arrived. Memory per client: the growth of the web processes' PSS
   (proportional set size: shared pages split between the processes that map them) from idle
   (warmed up, no stream) to all clients connected and sent two events, divided by the clients.

Targets (issue 17): delivery p99 under 100 ms and under 20 KiB per client at 5,000 clients.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.stack import HaulStack  # noqa: E402

from bench.bench_api import (  # noqa: E402
    ADMIN,
    API_TOKEN,
    KIB,
    BenchError,
    arrivals_by_url,
    delivery_delays,
    hammer,
    personal_token,
    post_live_events,
    wait_for_streams,
)
from bench.benchmark import percentile  # noqa: E402

TARGETS = {"sse_delivery_p99_ms": ("max", 100.0), "sse_kib_per_client": ("max", 20.0)}

# wrk's Lua: a fresh URL per request (the queue refuses duplicates), each thread its own prefix.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  token, prefix, counter, bad = args[1], args[2], 0, 0
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end
function request()
  counter = counter + 1
  local body = '{"url":"http://127.0.0.1:9/' .. prefix .. '/t' .. tid .. '-' .. counter .. '.jpg"}'
  return wrk.format("POST", "/api/v1/queue", headers, body)
end
function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if bad == 1 then first_bad = status .. " " .. string.sub(body or "", 1, 300) end
  end
end
function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad")
    if t:get("first_bad") then first = t:get("first_bad") end
  end
  io.write("WRK-FIRST-BAD " .. first:gsub("\n", " ") .. "\n")
  local e = summary.errors
  io.write(string.format('WRK-JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"bad":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, bad,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def serving_pids(stack: HaulStack) -> list[int]:
    """gunicorn's serving processes (the master's children)."""
    return [child.pid for child in psutil.Process(stack.web.pid).children()]


def pss_kib(pids) -> float:
    return sum(psutil.Process(pid).memory_full_info().pss for pid in pids) / KIB


def cpu_seconds(pids) -> float:
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def start_stack(workdir: Path, processes: int, postgres: bool) -> HaulStack:
    """A stack with its admin made by `flask users create` before the web starts. Not by
    HAUL_ADMIN_USERNAME: with more than one web process each creates that admin as it boots, and
    the slower one dies on the unique username (found by this benchmark; reported)."""
    from support import scale_out

    env = {"HAUL_WEB_PROCESSES": str(processes)} if postgres else {}
    stack = HaulStack(workdir, api_token=API_TOKEN, extra_env=env, scale_out=postgres)
    workdir.mkdir(parents=True, exist_ok=True)
    if postgres:
        stack.servers = scale_out.ScaleOutServers()
        stack.env.update(stack.servers.env)
    try:
        stack.migrate()
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", ADMIN["HAUL_ADMIN_USERNAME"],
                        "--admin", "--password", ADMIN["HAUL_ADMIN_PASSWORD"]],
                       cwd=ROOT, env=stack.env, check=True, capture_output=True)
    except BaseException:
        stack.stop()
        raise
    stack.start()
    try:
        pause = stack.session.post(f"{stack.base_url}/api/v1/queue/pause", timeout=10)
        if pause.status_code >= 300:
            raise BenchError(f"POST /api/v1/queue/pause answered {pause.status_code}: {pause.text[:200]}")
        deadline = time.monotonic() + 30
        while len(serving_pids(stack)) < processes and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(serving_pids(stack)) != processes:
            raise BenchError(f"expected {processes} gunicorn workers, found {len(serving_pids(stack))}")
    except BaseException:
        print(f"web log tail:\n{stack.log('web.log')[-1500:]}", file=sys.stderr)
        stack.stop()
        raise
    return stack


# -- 1. submit ---------------------------------------------------------------------------------

def _wrk(stack: HaulStack, token: str, clients: int, seconds: float, prefix: str, script: Path) -> dict:
    command = ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
               stack.base_url, "--", token, prefix]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(process.pid)
    output, cpu = "", 0.0
    while process.poll() is None:
        try:
            cpu = sum(watched.cpu_times()[:2])  # read before it exits (its children are none)
        except psutil.Error:
            pass
        time.sleep(0.2)
    output = process.stdout.read()
    line = next((line for line in output.splitlines() if line.startswith("WRK-JSON ")), None)
    if process.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({process.returncode}): {output[-500:]}")
    result = json.loads(line[len("WRK-JSON "):])
    errors = {k: result[k] for k in ("connect", "read", "write", "timeout", "bad") if result[k]}
    first_bad = next((line[len("WRK-FIRST-BAD "):] for line in output.splitlines()
                      if line.startswith("WRK-FIRST-BAD ")), "")
    # A few failed requests are a finding to print, not a reason to throw the run away.
    if sum(errors.values()) > result["requests"] / 100:
        raise BenchError(f"wrk saw errors: {errors}; first answer not 201: {first_bad}")
    return {"errors": errors, "first_bad": first_bad if errors else "","requests": result["requests"], "seconds": result["duration_us"] / 1e6,
            "rps": result["requests"] / (result["duration_us"] / 1e6),
            "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000, "max_ms": result["max_us"] / 1000,
            "client_cpu_share": cpu / (result["duration_us"] / 1e6), "client": "wrk (2 threads)"}


def _python_clients(stack: HaulStack, token: str, clients: int, seconds: float, prefix: str) -> dict:
    count = clients * max(1, int(seconds * 8))
    bodies = [json.dumps({"url": f"http://127.0.0.1:9/{prefix}/p-{i}.jpg"}).encode() for i in range(count)]
    latencies, answers, took = hammer(stack, token, "POST", "/api/v1/queue", bodies, clients)
    bad = [(status, body[:200]) for status, body in answers if status != 201]
    if bad:
        raise BenchError(f"POST /api/v1/queue failed: {bad[:3]}")
    return {"errors": {}, "first_bad": "", "requests": len(latencies), "seconds": took, "rps": len(latencies) / took,
            "p50_ms": statistics.median(latencies), "p90_ms": percentile(latencies, 90),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies), "client_cpu_share": None,
            "client": "Python threads in a process of their own (no wrk on PATH)"}


def submit_run(workdir: Path, processes: int, postgres: bool, clients: int, seconds: float, log) -> dict:
    label = f"{'PostgreSQL' if postgres else 'SQLite'}, {processes} web process{'es' if processes > 1 else ''}"
    log(f"submit: {label}, {clients} clients, {seconds:g} s ... (load {machine_load()})")
    stack = start_stack(workdir, processes, postgres)
    try:
        token = personal_token(stack)
        pids = serving_pids(stack)
        prefix = f"r{time.time_ns()}"
        script = workdir / "submit.lua"
        script.write_text(WRK_SCRIPT)
        use_wrk = shutil.which("wrk") is not None

        def load(seconds_, tag):
            if use_wrk:
                return _wrk(stack, token, clients, seconds_, f"{prefix}{tag}", script)
            return _python_clients(stack, token, clients, seconds_, f"{prefix}{tag}")

        load(2, "w")  # warm-up: connections, caches, the pool
        load_before, cpu_before = machine_load(), cpu_seconds(pids)
        result = load(seconds, "m")
        result["web_cpu_share"] = (cpu_seconds(pids) - cpu_before) / result["seconds"]
        result.update(label=label, processes=processes, database="postgresql" if postgres else "sqlite",
                      load_before=load_before, load_after=machine_load())
        return result
    finally:
        stack.stop()


def submit_benchmark(process_counts, clients: int, seconds: float, log=print) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="haul-bench-scale-") as tmp:
        runs.append(submit_run(Path(tmp) / "sqlite", 1, False, clients, seconds, log))
        for n in process_counts:
            runs.append(submit_run(Path(tmp) / f"pg{n}", n, True, clients, seconds, log))
    return {"runs": runs, "clients": clients, "seconds": seconds}


def report_submit(result: dict, log=print) -> None:
    base = result["runs"][0]
    log(f"\nPOST /api/v1/queue, {result['clients']} keep-alive clients, saturated, {result['seconds']:g} s each "
        f"({base['client']}; the queue paused):")
    log(f"  {'configuration':<32} {'requests/s':>10} {'vs SQLite':>9} {'p50 ms':>7} {'p99 ms':>7} {'vs SQLite':>9}"
        f"  {'web CPU':>8} {'client CPU':>10}  load before")
    for run in result["runs"]:
        client_cpu = f"{100 * run['client_cpu_share']:.0f} %" if run["client_cpu_share"] is not None else "-"
        log(f"  {run['label']:<32} {run['rps']:>10.0f} {run['rps'] / base['rps']:>8.2f}x {run['p50_ms']:>7.1f} "
            f"{run['p99_ms']:>7.1f} {run['p99_ms'] / base['p99_ms']:>8.2f}x  {100 * run['web_cpu_share']:>6.0f} % "
            f"{client_cpu:>10}  {run['load_before']}")
        if run["errors"]:
            log(f"    errors {run['errors']}; first answer not 201: {run['first_bad'][:300]}")


# -- 2. live -----------------------------------------------------------------------------------

def _sse_clients_paced(host: str, port: int, token: str, count: int, connected, stop, results,
                       in_flight: int = 100) -> None:
    """bench_api._sse_clients (same request, same arrival notes, same parsing afterwards), but with
    at most `in_flight` streams still waiting for their first bytes at any moment: real clients
    arrive over time. 5,000 handshakes at once each need the token's lookup: on PostgreSQL they
    queued for the web process's 30 pooled connections past the pool's 30 s timeout (answered
    500), which measures a stampede, not live updates."""
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
    ready: set[int] = set()
    opened = 0

    def read(timeout: float) -> None:
        for key, _ in selector.select(timeout=timeout):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                errors.append(f"client {key.data}: {exc}")
                selector.unregister(key.fileobj)
                continue
            if not data:
                errors.append(f"client {key.data}: stream ended")
                selector.unregister(key.fileobj)
                continue
            chunks[key.data].append((time.monotonic(), data))
            if key.data not in ready and b"retry:" in b"".join(d for _, d in chunks[key.data]):
                ready.add(key.data)
                with connected.get_lock():
                    connected.value += 1

    while opened < count and not stop.is_set():
        if opened - len(ready) >= in_flight:
            read(0.05)
            continue
        sock = socket.create_connection((host, port), timeout=30)
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, opened)
        chunks[opened] = []
        opened += 1
    while not stop.is_set():
        read(0.2)
    for key in list(selector.get_map().values()):
        key.fileobj.close()

    results.put((arrivals_by_url(chunks, errors), errors))


def _connections_per_process(pids, port: int) -> list[int]:
    counts = []
    for pid in pids:
        counts.append(sum(1 for c in psutil.Process(pid).net_connections("tcp")
                          if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED))
    return counts


def live_run(workdir: Path, processes: int, postgres: bool, count: int, n_events: int, client_procs: int,
             log) -> dict:
    label = f"{count:,} clients, {'PostgreSQL' if postgres else 'SQLite'}, {processes} web process" + \
            ("es" if processes > 1 else "")
    log(f"live: {label}, {n_events} events ... (load {machine_load()})")
    stack = start_stack(workdir, processes, postgres)
    run = f"r{time.time_ns()}"
    try:
        token = personal_token(stack)
        # One token holds every stream here: let it (the default is 20; the cap is per process).
        allowed = stack.session.patch(f"{stack.base_url}/api/v1/settings", json={"max_streams": count}, timeout=10)
        if allowed.status_code >= 300:
            raise BenchError(f"PATCH /api/v1/settings answered {allowed.status_code}: {allowed.text[:200]}")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        for i in range(20):  # warm every process up a little (the kernel picks which one answers)
            session.post(f"{stack.base_url}/api/v1/queue", json={"url": f"http://127.0.0.1:9/{run}/warm-{i}.jpg"},
                         timeout=30).raise_for_status()
        session.close()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        pids = serving_pids(stack)
        time.sleep(1.0)
        before = pss_kib(pids)
        context = multiprocessing.get_context("spawn")
        connected, stop, results = context.Value("i", 0), context.Event(), context.Queue()
        shares = [count // client_procs + (1 if i < count % client_procs else 0) for i in range(client_procs)]
        clients = [context.Process(target=_sse_clients_paced,
                                   args=("127.0.0.1", stack.port, token, share, connected, stop, results))
                   for share in shares]
        for process in clients:
            process.start()
        arrivals: dict[str, list[float]] = {}
        errors: list[str] = []
        try:
            wait_for_streams(connected, count, 180, lambda: all(p.is_alive() for p in clients))
            per_process = _connections_per_process(pids, stack.port)
            load_before = machine_load()
            warm = {}

            def when_warm():
                warm.update(after=pss_kib(pids), cpu=cpu_seconds(pids),
                            uss=sum(psutil.Process(pid).memory_full_info().uss for pid in pids) / KIB)

            sent = post_live_events(session, stack.base_url, run, n_events, when_warm)
            web_cpu = cpu_seconds(pids) - warm["cpu"]
            after, uss_after = warm["after"], warm["uss"]
        finally:
            stop.set()
            for _ in clients:
                try:
                    got, errs = results.get(timeout=90)
                except Exception:  # noqa: BLE001 - a client that died is reported as missing deliveries
                    break
                for url, times in got.items():
                    arrivals.setdefault(url, []).extend(times)
                errors.extend(errs)
            for process in clients:
                process.join(10)
                if process.is_alive():
                    process.kill()
    finally:
        stack.stop()
    delays = delivery_delays(sent, arrivals, errors, count)
    return {
        "label": label, "clients": count, "processes": processes, "database": "postgresql" if postgres else "sqlite",
        "per_process": per_process, "events": len(sent), "deliveries": len(delays),
        "delivery_p50_ms": statistics.median(delays), "delivery_p99_ms": percentile(delays, 99),
        "delivery_max_ms": max(delays), "pss_idle_kib": before, "pss_after_kib": after,
        "uss_after_kib": uss_after, "kib_per_client": (after - before) / count,
        "web_cpu_ms_per_event": 1000 * web_cpu / max(1, n_events), "load_before": load_before,
        "load_after": machine_load(),
    }


def live_benchmark(count: int, n_events: int, client_procs: int, baseline: int = 1000, log=print,
                   configurations=None) -> dict:
    configurations = configurations or [(baseline, 1, False), (count, 1, False), (count, 1, True),
                                        (count, 2, True)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="haul-bench-live-") as tmp:
        for index, (clients, processes, postgres) in enumerate(configurations):
            try:
                run = live_run(Path(tmp) / f"live{index}", processes, postgres, clients, n_events, client_procs, log)
            except BenchError as exc:
                run = {"label": f"{clients:,} clients, {'PostgreSQL' if postgres else 'SQLite'}, {processes} web "
                                f"process{'es' if processes > 1 else ''}", "error": str(exc)}
            log(f"  -> {json.dumps(run)}")
            runs.append(run)
    return {"runs": runs}


def report_live(result: dict, log=print) -> list[str]:
    runs = result["runs"]
    base = next((run for run in runs if "error" not in run), None)
    missed = []
    if base is None:
        log("\n/api/v1/events: every live run failed: " + "; ".join(run["error"][:200] for run in runs))
        return ["every live run failed"]
    log(f"\n/api/v1/events: {base['events']} events each, delivery from just before the POST that made it; "
        f"memory = (PSS with the clients - idle PSS) / clients:")
    log(f"  {'configuration':<42} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'KiB/client':>10} {'vs first':>8}"
        f"  {'PSS idle -> with clients':>26}  {'web CPU/event':>13}  per process  load before")
    for run in runs:
        if "error" in run:
            log(f"  {run['label']:<42} FAILED: {run['error'][:300]}")
            missed.append(f"{run['label']}: failed")
            continue
        marks = []
        if run["clients"] >= 5000:
            for key, value in (("sse_delivery_p99_ms", run["delivery_p99_ms"]),
                               ("sse_kib_per_client", run["kib_per_client"])):
                kind, bound = TARGETS[key]
                if value > bound:
                    marks.append(key)
                    missed.append(f"{run['label']}: {key}")
        log(f"  {run['label']:<42} {run['delivery_p50_ms']:>7.1f} {run['delivery_p99_ms']:>7.1f} "
            f"{run['delivery_max_ms']:>7.1f} {run['kib_per_client']:>10.1f} "
            f"{run['delivery_p99_ms'] / base['delivery_p99_ms']:>7.2f}x  "
            f"{run['pss_idle_kib'] / 1024:>9.1f} -> {run['pss_after_kib'] / 1024:>6.1f} MiB  "
            f"{run['web_cpu_ms_per_event']:>10.1f} ms  {run['per_process']}  {run['load_before']}"
            + (f"  MISSED {', '.join(marks)}" if marks else ""))
    log("  targets at 5,000 clients: delivery p99 < 100 ms, < 20 KiB per client")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("submit", "live"))
    parser.add_argument("--processes", default="1,2,4", help="web process counts on PostgreSQL (default 1,2,4)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sse-clients", type=int, default=5000)
    parser.add_argument("--sse-baseline", type=int, default=1000, help="clients of the first live run (default 1000)")
    parser.add_argument("--sse-client-processes", type=int, default=2)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    result, missed = {"load_at_start": machine_load()}, []
    print(f"machine load (1/5/15 min) at the start: {result['load_at_start']}, {os.cpu_count()} cores")
    try:
        if args.only in (None, "submit"):
            counts = [int(n) for n in args.processes.split(",") if n]
            result["submit"] = submit_benchmark(counts, args.clients, args.seconds)
            report_submit(result["submit"])
        if args.only in (None, "live"):
            result["live"] = live_benchmark(args.sse_clients, args.events, args.sse_client_processes,
                                            args.sse_baseline)
            missed = report_live(result["live"])
    except BenchError as exc:
        print(f"SCALE-OUT API BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 2
    result["load_at_end"] = machine_load()
    print(f"machine load at the end: {result['load_at_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"targets": TARGETS, "missed": missed, **result}, indent=2))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
