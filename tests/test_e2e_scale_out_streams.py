"""End to end: every web process's live streams see every event, whichever process wrote it.

A cluster on one PostgreSQL database: web process A (with the real worker) and web process B
(a second gunicorn on another port, sharing the database, Redis and the data directory, as a
second web host would). SSE streams (/api/v1/events) on both and a WebSocket (/api/v1/ws) on
B follow downloads from the local media site submitted through A and one submitted through B.
Each stream must carry exactly the events the events table holds for those submissions: in
id order (so in order per job), none missing, none twice. The events of A's submissions come
from A's request and from the worker, another process; B's own from B and the worker.

Run for PostgreSQL + Redis (wake-ups over Redis pub/sub), PostgreSQL alone (LISTEN/NOTIFY) and
PostgreSQL alone with the wake-ups off (HAUL_EVENT_WAKEUPS=poll: the 50 ms poll only).
"""
from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
import websocket
from conftest import API_TOKEN
from support.live_clients import SSEReader
from support.scale_out import ScaleOutServers
from support.stack import HaulStack

# Its stacks are on PostgreSQL by themselves: run once, in make test's --scale-out pass.
pytestmark = pytest.mark.scale_out_pass

CONFIGURATIONS = {
    "postgresql+redis": ({"with_redis": True}, {}),
    "postgresql-notify": ({"with_redis": False}, {}),
    "postgresql-poll": ({"with_redis": False}, {"HAUL_EVENT_WAKEUPS": "poll"}),
}


@pytest.fixture(params=list(CONFIGURATIONS), scope="module")
def cluster(request, media_site, tmp_path_factory):
    """(web A + the worker, web B): two web processes on one database, Redis and data directory."""
    server_options, extra = CONFIGURATIONS[request.param]
    servers = ScaleOutServers(**server_options)
    workdir = tmp_path_factory.mktemp("cluster")
    env = {**servers.env, **extra}
    first = HaulStack(workdir / "a", api_token=API_TOKEN, extra_env=env, scale_out=False)
    second = HaulStack(workdir / "b", api_token=API_TOKEN, scale_out=False,
                       extra_env={**env, "HAUL_DATA_DIR": str(first.data_dir)})
    second.data_dir, second.storage_root = first.data_dir, first.storage_root
    try:
        first.start()
        second.workdir.mkdir(parents=True, exist_ok=True)
        second.start_web()
        yield first, second, servers
    finally:
        second.stop()
        first.stop()
        servers.close()


class Collector:
    """Reads one stream in a thread of its own: the (event id, download id, type) of each event."""

    def __init__(self, name, messages):
        self.name = name
        self.seen: list[tuple[int, str | None, str]] = []
        self.error = None
        self._thread = threading.Thread(target=self._read, args=(messages,), daemon=True)
        self._thread.start()

    def _read(self, messages):
        try:
            for event_id, download_id, kind in messages:
                self.seen.append((event_id, download_id, kind))
        except Exception as exc:  # noqa: BLE001 - the stream was closed at the end, or broke: kept for the report
            self.error = exc

    def ids_of(self, downloads: set[str]) -> list[int]:
        return [event_id for event_id, download_id, _ in list(self.seen) if download_id in downloads]


def sse_messages(reader: SSEReader):
    for frame in reader.frames():
        if "id" in frame:
            data = frame["data"]["data"]
            yield int(frame["id"]), data.get("download_id"), frame["event"]


def ws_open(stack):
    url = stack.base_url.replace("http://", "ws://") + "/api/v1/ws"
    ws = websocket.create_connection(url, header=[f"Authorization: Bearer {stack.api_token}"], timeout=60)
    hello = json.loads(ws.recv())  # sent once the socket's subscription to the hub is in place
    assert hello["type"] == "notification" and hello["data"]["event"] == "connected"
    return ws


def ws_messages(ws):
    while True:
        message = json.loads(ws.recv())
        data = message.get("data") or {}
        if "event_id" in data:
            yield data["event_id"], data.get("download_id"), message["type"]


def events_in_database(database_url: str, downloads: set[str]) -> list[int]:
    plain = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        rows = conn.execute("SELECT id FROM events WHERE submission_id = ANY(%s) AND type <> 'access_changed' "
                            "ORDER BY id", [list(downloads)]).fetchall()
    return [row[0] for row in rows]


def test_every_stream_on_every_web_process_sees_every_event_once_in_order(cluster, media_site):
    first, second, servers = cluster
    tag = f"{int(time.time() * 1000) % 10**8}"
    readers = {"sse@A": SSEReader(first), "sse@B": SSEReader(second)}  # subscribed once the headers are in
    ws = ws_open(second)
    collectors = [Collector(name, sse_messages(reader)) for name, reader in readers.items()]
    collectors.append(Collector("ws@B", ws_messages(ws)))
    try:
        through_a = first.submit([
            media_site.url(f"/gallery/scale-streams-{tag}?count=3"),
            media_site.url(f"/slow/scale-streams-a-{tag}.jpg?kb=384&rate=512"),  # progress events on the way
            media_site.url(f"/scale-streams-{tag}-missing.jpg"),  # a failure's events too
        ], post_title=f"scale-out streams A {tag}")
        through_b = second.submit([media_site.url(f"/slow/scale-streams-b-{tag}.jpg?kb=256&rate=512")],
                                  post_title=f"scale-out streams B {tag}")
        downloads = {through_a["download_id"], through_b["download_id"]}
        for job in through_a["jobs"] + through_b["jobs"]:
            assert first.wait_for_job(job["id"], timeout=60)["status"] in ("completed", "failed")

        # Every event the table holds for those downloads, on every stream (asked again while
        # waiting: a finished job's thumbnails event may come a moment after its outcome).
        deadline = time.monotonic() + 30
        while True:
            expected = events_in_database(servers.database_url, downloads)
            if all(set(expected) <= set(c.ids_of(downloads)) for c in collectors) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        for reader in readers.values():
            reader.close()
        ws.close()

    kinds = {kind for kind in (k for c in collectors for _, d, k in c.seen if d in downloads)}
    assert "queued" in kinds and ("completed" in kinds or "download_completed" in kinds)
    assert len(expected) >= 8, expected
    for collector in collectors:
        got = collector.ids_of(downloads)
        missing = sorted(set(expected) - set(got))
        assert not missing, f"{collector.name} missed events {missing} (error: {collector.error})"
        assert len(got) == len(set(got)), f"{collector.name} got events twice: {got}"
        assert got == sorted(got), f"{collector.name} got events out of order: {got}"
    # The wake-ups' listeners stayed connected and no poll failed (either would only slow the
    # streams down, the poll carrying on: the ids above would not show it).
    for web in (first, second):
        trouble = [line for line in web.log("web.log").splitlines()
                   if "event wake-ups" in line or "event hub poll failed" in line]
        assert not trouble, trouble
