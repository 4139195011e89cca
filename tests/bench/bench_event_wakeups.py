"""Issue 17: how fast events written by another process reach the live streams of two web
processes on PostgreSQL, and what it costs the database — the 50 ms poll alone, Redis pub/sub
and LISTEN/NOTIFY (webapp/services/queue/event_wakeups.py), measured in the same run.

Run it as ``.venv/bin/python tests/bench/bench_event_wakeups.py [--small] [--events N]
[--clients N] [--json PATH]``. Not part of ``make test``. About 2 min 45 s at full size
(``--small``: ~1 min 40 s), most of it starting the six web processes, on a loaded 2-core machine.

The setup: PostgreSQL databases and Redis databases of the run's own
(tests/support/scale_out.py); two web processes (two gunicorn servers on two ports, as two web
hosts would be) per mode, with HAUL_EVENT_WAKEUPS=poll|redis|notify, on a database of the
mode's own (the three clusters start together and run throughout, so each mode is measured
with the same load on the machine); C SSE
clients (/api/v1/events, an admin token) on each. This process is the writer — as the worker
is, another process: an app of its own (the same writer hooks as the worker's) commits one
queue event at a time, at random intervals (10–40 ms, so the commits fall anywhere in the
poll's 50 ms), and notes the moment each commit returned. Each client notes when each event
arrives. Figures per mode:

  latency   p50 / p99 / max of (arrival at a client - commit returned), over every event and client
  db tx/s   transactions per second on the run's database (pg_stat_database: commits + rollbacks;
            the hubs' polls are one each), while idle (streams open, no events) and while the
            events are written; the writer's own commits are counted in every mode alike
  woken     how many of the events reached every client within 10 ms

Each mode's figures are printed beside the poll-only baseline of the same run (ratio).
Exit status 0 when the run completed, 2 on an error.
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from support.scale_out import ScaleOutServers  # noqa: E402
from support.stack import HaulStack  # noqa: E402

API_TOKEN = "bench-wakeups-token-0123456789"
MODES = ("poll", "redis", "notify")


def log(line: str) -> None:
    print(line, flush=True)


class Client:
    """One SSE client in a thread of its own, on a plain socket (an HTTP library reading the
    stream line by line costs more than what is measured): the arrival time (time.monotonic(),
    the writer's clock: one process) of each event id."""

    def __init__(self, base_url: str):
        host, port = base_url.removeprefix("http://").split(":")
        self.arrivals: dict[int, float] = {}
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.sendall((f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                           f"Authorization: Bearer {API_TOKEN}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:  # the stream's hub subscription is in place once the headers are in
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the SSE stream closed before its headers")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise RuntimeError(f"the SSE stream was refused: {status!r}")
        self._rest = head.split(b"\r\n\r\n", 1)[1]
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        pending = self._rest
        try:
            while True:
                # Each SSE frame is one chunk of the chunked body: an "id: N" line is never cut
                # by the chunk framing, only by the read, hence the pending tail.
                lines = pending.split(b"\n")
                pending = lines.pop()
                now = time.monotonic()
                for line in lines:
                    if line.startswith(b"id: "):
                        self.arrivals[int(line[4:])] = now
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                pending += chunk
        except OSError:  # closed at the end
            pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Writer:
    """This process as another writer of events: an app of its own with the given wake-up mode."""

    def __init__(self, env: dict, mode: str):
        from webapp import create_app
        from webapp.config import load_settings

        self.app = create_app(load_settings(environ={**env, "HAUL_EVENT_WAKEUPS": mode}, env_file=None,
                                            check_tool_args=False), role="cli")
        assert self.app.extensions["haul_event_wakeups"] == mode

    def write(self, n: int) -> tuple[int, float]:
        """One event in one transaction; its id and when the commit returned."""
        from webapp.extensions import db
        from webapp.models import Event
        from webapp.models.base import utcnow
        from webapp.services.queue import events

        with self.app.app_context():
            event = Event(type=events.QUEUE_RESUMED, user_id=None, data={"bench": n}, created_at=utcnow())
            db.session.add(event)
            db.session.commit()
            committed = time.monotonic()
            event_id = event.id
            db.session.remove()
        return event_id, committed

    def close(self):
        from webapp.extensions import db

        with self.app.app_context():
            db.engine.dispose()


def transactions(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    plain = database_url.replace("postgresql+psycopg://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                           [name]).fetchone()
    return int(row[0])


def rate_over(database_url: str, seconds: float, during=None) -> float:
    """Transactions per second on the database over `seconds` (running `during` meanwhile)."""
    time.sleep(1.2)  # backends report their counts at most once a second: let the last ones in
    before, started = transactions(database_url), time.monotonic()
    if during is not None:
        during()
    remaining = seconds - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    time.sleep(1.2)
    return (transactions(database_url) - before) / (time.monotonic() - started - 1.2)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Cluster:
    """Two web processes (two gunicorn servers, as two web hosts) on a database and a Redis
    database of their own, with one wake-up mode; the three modes' clusters start together."""

    def __init__(self, mode: str, workdir: Path):
        self.mode = mode
        self.servers = ScaleOutServers(with_redis=True)
        # No HAUL_ADMIN_*: the API token is all the clients need (and two web processes starting
        # together on a new database would both create that admin).
        env = {**self.servers.env, "HAUL_EVENT_WAKEUPS": mode, "HAUL_LOG_LEVEL": "WARNING",
               "HAUL_DATA_DIR": str(workdir / mode / "data")}
        self.webs = [HaulStack(workdir / mode / name, api_token=API_TOKEN, extra_env=env, scale_out=False)
                     for name in ("a", "b")]
        for web in self.webs:
            web.workdir.mkdir(parents=True, exist_ok=True)
        self.migration = None

    def migrate(self):
        first = self.webs[0]
        self.migration = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                                          env=first.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def spawn(self):
        if self.migration.wait(120) != 0:
            raise RuntimeError(f"{self.mode}: migrations failed: {self.migration.stderr.read().decode()[-2000:]}")
        for web in self.webs:
            web.web = web._spawn([sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "wsgi:app"],
                                 "web.log")

    def wait_ready(self):
        for web in self.webs:
            web._wait_until(web._web_answers, 60, f"{self.mode}: web server did not start")

    def stop(self):
        for web in self.webs:
            if web.web is not None and web.web.poll() is None:
                web.web.terminate()

    def close(self):
        for web in self.webs:
            if web.web is not None:
                try:
                    web.web.wait(20)
                except subprocess.TimeoutExpired:
                    web.web.kill()
        self.servers.close()


def measure(cluster: Cluster, args) -> dict:
    mode, database_url = cluster.mode, cluster.servers.database_url
    clients: list[Client] = []
    writer = None
    try:
        clients = [Client(web.base_url) for web in cluster.webs for _ in range(args.clients)]
        writer = Writer(cluster.webs[0].env, mode)
        writer.write(-1)  # warm: the hubs poll, the writer's connections open
        deadline = time.monotonic() + 10
        while not all(client.arrivals for client in clients):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: the warm-up event did not reach every client")
            time.sleep(0.02)
        idle = rate_over(database_url, args.idle)
        written: dict[int, float] = {}
        rng = random.Random(17)

        def write_all():
            for n in range(args.events):
                event_id, committed = writer.write(n)
                written[event_id] = committed
                time.sleep(rng.uniform(0.010, 0.040))

        busy = rate_over(database_url, args.events * 0.035, during=write_all)
        deadline = time.monotonic() + 10
        while not all(set(written) <= set(client.arrivals) for client in clients):
            if time.monotonic() > deadline:
                lost = [len(set(written) - set(c.arrivals)) for c in clients]
                raise RuntimeError(f"{mode}: events did not reach every client (missing per client: {lost})")
            time.sleep(0.02)
        latencies = [(client.arrivals[event_id] - committed) * 1000
                     for client in clients for event_id, committed in written.items()]
        woken = sum(1 for event_id, committed in written.items()
                    if all(client.arrivals[event_id] - committed <= 0.010 for client in clients))
        return {"mode": mode, "events": len(written), "clients": len(clients),
                "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99),
                "max_ms": max(latencies), "idle_tx_per_s": idle, "busy_tx_per_s": busy,
                "woken_within_10ms": woken / len(written)}
    finally:
        for client in clients:
            client.close()
        if writer is not None:
            writer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick check: fewer events and clients")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--clients", type=int, default=None, help="SSE clients per web process")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.events = args.events or (60 if args.small else 400)
    args.clients = args.clients or (2 if args.small else 10)
    args.idle = 3.0 if args.small else 6.0
    log(f"bench_event_wakeups: {args.events} events, 2 web processes x {args.clients} SSE clients, PostgreSQL "
        f"+ Redis (a database and a Redis db per mode), modes {', '.join(MODES)}")
    results = []
    clusters: list[Cluster] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-wakeups-") as tmp:
            started = time.monotonic()
            clusters = [Cluster(mode, Path(tmp)) for mode in MODES]
            for cluster in clusters:
                cluster.migrate()
            for cluster in clusters:
                cluster.spawn()
            for cluster in clusters:
                cluster.wait_ready()
            log(f"  6 web processes on 3 databases ready in {time.monotonic() - started:.0f} s")
            for cluster in clusters:
                started = time.monotonic()
                results.append(measure(cluster, args))
                log(f"  {cluster.mode}: measured in {time.monotonic() - started:.0f} s")
    except Exception:  # noqa: BLE001 - reported, exit status 2
        traceback.print_exc()
        return 2
    finally:
        for cluster in clusters:
            cluster.stop()
        for cluster in clusters:
            cluster.close()
    base = results[0]

    def beside(result, key, unit, digits=1):
        value, baseline = result[key], base[key]
        ratio = f"{value / baseline:.2f}x" if baseline else "-"
        return f"{value:.{digits}f}{unit} (poll {baseline:.{digits}f}{unit}, {ratio})"

    log("")
    log(f"{'mode':<8} {'latency p50':<30} {'latency p99':<30} {'db tx/s idle':<28} {'db tx/s busy':<28} woken<10ms")
    for result in results:
        log(f"{result['mode']:<8} {beside(result, 'p50_ms', ' ms'):<30} {beside(result, 'p99_ms', ' ms'):<30} "
            f"{beside(result, 'idle_tx_per_s', ''):<28} {beside(result, 'busy_tx_per_s', ''):<28} "
            f"{result['woken_within_10ms']:.0%}")
    maxima = ", ".join(f"{r['mode']} {r['max_ms']:.0f} ms" for r in results)
    log(f"(max latency: {maxima}; "
        f"{results[0]['events']} events x {results[0]['clients']} clients each)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
