"""The cluster test: two worker hosts and two web hosts on one PostgreSQL, one Redis and one
storage directory (tests/support/cluster.py) — a host killed, a host cut off, every event seen
by both web hosts.

Each host is a network namespace with a hostname of its own, reaching the database, Redis and
the media site on a bridge; the storage is one directory every host sees, as an NFS mount
would be. The job lease is 9 s (HAUL_JOB_LEASE_SECONDS): a worker renews it every 1.5 s and
stops its own download when it could not for 6 s; any host's watchdog (once per 5 s across
the cluster) queues a job whose lease is older than 9 s again.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import requests
from support.cluster import Cluster, namespaces_unavailable, wait_until
from support.live_clients import SSEReader

API_TOKEN = "cluster-static-token-0123456789"
LEASE_SECONDS = 9
SLOW_KB, SLOW_RATE = 1024, 128  # ~8 s a download: long enough to be killed or cut off half-way
DONE = ("completed", "failed", "cancelled")


def _no_namespaces() -> str | None:
    """Why the hosts cannot be network namespaces here (TESTS_CLUSTER_NAMESPACES=0 forces the
    fallback, to try it as root)."""
    if os.environ.get("TESTS_CLUSTER_NAMESPACES") == "0":
        return "TESTS_CLUSTER_NAMESPACES=0"
    return namespaces_unavailable()


NO_NAMESPACES = _no_namespaces()


@pytest.fixture(scope="module")
def cluster():
    reason = NO_NAMESPACES
    if reason:
        print(f"cluster test: no network namespaces ({reason}); hosts are process groups on 127.0.0.1")
    with Cluster(API_TOKEN, namespaces=reason is None, lease_seconds=LEASE_SECONDS) as made:
        made.no_namespaces_reason = reason
        try:
            made.webs = made.start_hosts(workers=("w1", "w2"), webs=("web1", "web2"))
            yield made
        finally:
            # Shown when a test failed (pytest prints a fixture's output then): what each host said.
            for name in made.hosts:
                for role in ("worker", "web"):
                    text = made.log(name, role)
                    if text:
                        print(f"----- {name} {role} (last lines) -----\n{text[-200000:]}")


# -- helpers ------------------------------------------------------------------------------------
def slow_url(cluster, name: str, kb: int = SLOW_KB, rate: int = SLOW_RATE) -> str:
    return cluster.media_site.url(f"/slow/{name}.jpg?kb={kb}&rate={rate}")


def expected_sha256(cluster, name: str, kb: int = SLOW_KB) -> str:
    """What the file must hash to: the same body fetched at full speed (the rate only paces it)."""
    body = requests.get(slow_url(cluster, name, kb, rate=1_000_000), timeout=30).content
    assert len(body) == kb * 1024
    return hashlib.sha256(body).hexdigest()


def job_row(cluster, job_id: int) -> dict:
    status, tag, done, attempts = cluster.sql(
        "SELECT status, worker_tag, bytes_done, attempts FROM jobs WHERE id = %s", job_id)[0]
    return {"status": status, "tag": tag, "bytes_done": done, "attempts": attempts}


def holder(cluster, tag: str | None) -> str | None:
    """The host whose worker a worker tag (hostname:pid:boot) names: by its hostname (each host
    has its own), or by the worker's pid where the hosts are process groups of one machine."""
    if not tag:
        return None
    hostname, pid, _ = tag.split(":")
    for name, host in cluster.hosts.items():
        worker = host.processes.get("worker")
        if host.hostname == hostname if cluster.namespaces else (worker is not None and worker.pid == int(pid)):
            return name
    return None


def submit(web, urls) -> list[int]:
    return [job["id"] for job in web.submit(urls)["jobs"]]


def wait_done(cluster, job_ids, timeout: float) -> dict[int, str]:
    def all_done():
        rows = dict(cluster.sql("SELECT id, status FROM jobs WHERE id = ANY(%s)", list(job_ids)))
        return rows if all(status in DONE for status in rows.values()) else None

    return wait_until(all_done, timeout, f"jobs {job_ids} did not all end within {timeout} s", interval=0.1)


def files_of(cluster, job_id: int) -> list[tuple[str, int, str]]:
    return cluster.sql("SELECT path, size, sha256 FROM job_files WHERE job_id = %s ORDER BY path", job_id)


def storage_files(cluster) -> list[Path]:
    return sorted(p for p in cluster.storage.rglob("*") if p.is_file())


def assert_one_file_each(cluster, names: dict[int, str], kb: int = SLOW_KB) -> None:
    """Each job has exactly one JobFile row and one file on the shared storage, named as the
    link names it (never `name (1).jpg`), of the right size and hash; nothing half-written is left."""
    on_disk = storage_files(cluster)
    for job_id, name in names.items():
        rows = files_of(cluster, job_id)
        assert len(rows) == 1, f"job {job_id} ({name}) has file rows {rows}"
        path, size, sha256 = rows[0]
        assert Path(path).name == f"{name}.jpg", rows
        assert size == kb * 1024
        assert sha256 == expected_sha256(cluster, name, kb)
        mine = [p for p in on_disk if p.name.startswith((f"{name}.", f"{name} ("))]
        assert [p.relative_to(cluster.storage).as_posix() for p in mine] == [path], \
            f"files of {name} on the shared storage: {mine}"
        assert hashlib.sha256(mine[0].read_bytes()).hexdigest() == sha256
    assert not [p for p in on_disk if p.name.endswith(".part")], on_disk


def saved_by(cluster, name: str) -> list[str]:
    """Which worker hosts' logs say they saved the file `name`.jpg (once per saving)."""
    return [host for host in cluster.hosts for line in cluster.log(host, "worker").splitlines()
            if f"saved {name}.jpg " in line]


def logged_at(cluster, host: str, text: str) -> datetime | None:
    """When the worker host's log first says `text` (its lines start with the time, to the ms)."""
    for line in cluster.log(host, "worker").splitlines():
        if text in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return None


def workers(cluster) -> list[str]:
    return [name for name, host in cluster.hosts.items() if "worker" in host.processes]


class StreamRecorder:
    """An SSE client of one web host, reading in a thread: the ids and types of its events."""

    def __init__(self, web):
        self.reader = SSEReader(web)
        self.seen: dict[int, str] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for frame in self.reader.frames():
                if frame.get("id"):
                    self.seen[int(frame["id"])] = frame["event"]
        except Exception:  # noqa: BLE001 - the response closed under it by close()
            pass

    def close(self):
        # Shut the socket first: closing the response alone waits for the reading thread's recv,
        # which returns only with the server's next keep-alive, seconds away.
        sock = getattr(getattr(self.reader.response.raw, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.reader.close()
        self.thread.join(5)


# -- the scenarios --------------------------------------------------------------------------------
def test_both_web_hosts_streams_see_every_event_of_jobs_submitted_through_either(cluster):
    """Jobs submitted through web1 and web2, run by w1 and w2: an SSE client on each web host
    sees every event the cluster wrote about them (compared with the events table), none missing."""
    web1, web2 = cluster.webs
    start_id = cluster.sql("SELECT coalesce(max(id), 0) FROM events")[0][0]
    streams = [StreamRecorder(web1), StreamRecorder(web2)]
    try:
        tag = uuid.uuid4().hex[:6]
        urls = [slow_url(cluster, f"sse-{tag}-{i}", kb=96, rate=192) for i in range(6)]
        job_ids = submit(web1, urls[:3]) + submit(web2, urls[3:])
        statuses = wait_done(cluster, job_ids, 60)
        assert set(statuses.values()) == {"completed"}, statuses
        all_done = time.monotonic()
        expected = dict(cluster.sql(
            "SELECT e.id, e.type FROM events e WHERE e.id > %s AND e.type <> 'access_changed' AND "
            "(e.job_id = ANY(%s) OR e.submission_id IN (SELECT submission_id FROM jobs WHERE id = ANY(%s)))",
            start_id, job_ids, job_ids))
        assert {"queued", "progress", "completed"} <= set(expected.values()), expected

        def every_event_seen():
            return all(set(expected) <= set(s.seen) for s in streams)

        try:  # bounded and generous: events may reach a stream late, never not at all
            wait_until(every_event_seen, 30, "missing events")
            seen_at = time.monotonic()
        except TimeoutError:
            missing = [{i: expected[i] for i in sorted(set(expected) - set(s.seen))} for s in streams]
            pytest.fail(f"events missing from the streams of web1, web2: {missing}")
        for s in streams:
            assert {i: s.seen[i] for i in expected} == expected
        ran = sorted(host for i in range(6) for host in saved_by(cluster, f"sse-{tag}-{i}"))
        print(f"{len(expected)} events of 6 jobs (run by {ran}) seen on both web hosts' streams, the last "
              f"{seen_at - all_done:.2f} s after the jobs were all done")
    finally:
        for s in streams:
            s.close()


def test_a_worker_host_killed_mid_download_its_job_finishes_on_the_other(cluster):
    """kill -9 of a worker host's whole process tree while it downloads: its job goes back to the
    queue when the lease runs out and the other host finishes it; every job completes, each with
    one file, written once, whole."""
    web1, _ = cluster.webs
    tag = uuid.uuid4().hex[:6]
    names = [f"kill-{tag}-{i}" for i in range(3)]
    job_ids = submit(web1, [slow_url(cluster, name) for name in names])
    name_of = dict(zip(job_ids, names))

    def a_download_under_way():
        for job_id in job_ids:
            row = job_row(cluster, job_id)
            if row["status"] == "downloading" and (row["bytes_done"] or 0) > 0:
                return job_id, holder(cluster, row["tag"])
        return None

    victim_job, victim = wait_until(a_download_under_way, 30, "no download started")
    survivor = next(name for name in workers(cluster) if name != victim)
    killed_at = time.monotonic()
    cluster.kill_host(victim)

    def taken_over():
        row = job_row(cluster, victim_job)
        return row if row["status"] in DONE or holder(cluster, row["tag"]) == survivor else None

    taken = wait_until(taken_over, LEASE_SECONDS + 15, f"job {victim_job} was not taken over")
    takeover_seconds = time.monotonic() - killed_at
    statuses = wait_done(cluster, job_ids, 90)
    print(f"kill -9 of {victim}: job {victim_job} taken over by {survivor} after {takeover_seconds:.1f} s "
          f"(lease {LEASE_SECONDS} s); all done {time.monotonic() - killed_at:.1f} s after the kill")
    assert statuses == {job_id: "completed" for job_id in job_ids}, statuses  # no job lost
    assert job_row(cluster, victim_job)["attempts"] == 2
    if cluster.namespaces:  # another machine's worker: only its lease can tell it is gone
        assert taken["status"] in DONE or takeover_seconds >= LEASE_SECONDS - 2
    # (As process groups of one machine, the watchdog sees the dead pid and takes over at once.)
    assert_one_file_each(cluster, name_of)
    assert saved_by(cluster, name_of[victim_job]) == [survivor]
    for job_id, name in name_of.items():
        assert len(saved_by(cluster, name)) == 1, (name, saved_by(cluster, name))
        completed = cluster.sql("SELECT count(*) FROM events WHERE job_id = %s AND type = 'completed'", job_id)
        assert completed == [(1,)]
    cluster.start_worker(victim)  # the host comes back for the next test


@pytest.mark.skipif(NO_NAMESPACES is not None,
                    reason=f"a network cut needs the hosts in network namespaces, and here: {NO_NAMESPACES}")
def test_a_worker_host_cut_off_stops_and_its_job_is_taken_over_after_the_lease(cluster):
    """The cable of a worker host is pulled while it downloads: it claims nothing more, its
    monitor stops the download itself (before the lease runs out) and writes nothing, the other
    host takes the job over once the lease expires and finishes it; reconnected, the host claims
    jobs again."""
    web1, web2 = cluster.webs
    tag = uuid.uuid4().hex[:6]
    name = f"cut-{tag}"
    job_id = submit(web1, [slow_url(cluster, name)])[0]

    def under_way():
        row = job_row(cluster, job_id)
        return holder(cluster, row["tag"]) if row["status"] == "downloading" and (row["bytes_done"] or 0) > 0 \
            else None

    cut_host = wait_until(under_way, 30, "the download did not start")
    other = next(host for host in workers(cluster) if host != cut_host)
    fence_line = f"job {job_id}: lease not renewed"
    cut_at = time.monotonic()
    cluster.cut(cut_host)
    # While it is cut off, more jobs come in: only the other host may claim them.
    during = [f"cut-{tag}-during-{i}" for i in range(2)]
    during_ids = submit(web2, [slow_url(cluster, n, kb=64, rate=256) for n in during])

    fenced_at = taken_at = None
    claimed_while_cut = set()
    deadline = time.monotonic() + LEASE_SECONDS + 20
    while taken_at is None and time.monotonic() < deadline:
        if fenced_at is None and fence_line in cluster.log(cut_host, "worker"):
            fenced_at = time.monotonic() - cut_at
        for row in cluster.sql("SELECT id, worker_tag FROM jobs WHERE status = 'downloading'"):
            if holder(cluster, row[1]) == cut_host and row[0] != job_id:
                claimed_while_cut.add(row[0])
        if holder(cluster, job_row(cluster, job_id)["tag"]) == other:
            taken_at = time.monotonic() - cut_at
        time.sleep(0.05)
    assert taken_at is not None, f"job {job_id} was not taken over by {other}"
    assert fenced_at is not None, f"{cut_host} never stopped its download ({fence_line!r} not in its log)"
    print(f"cut {cut_host}: it stopped its download after {fenced_at:.1f} s; {other} took the job over "
          f"after {taken_at:.1f} s (lease {LEASE_SECONDS} s)")
    # The order on the machine's one clock, from the hosts' own log lines: the cut-off host's
    # monitor stopped the download before the other host started its attempt.
    restarted = wait_until(lambda: logged_at(cluster, other, f"job {job_id}: attempt 2 of"), 10,
                           f"{other} never logged its attempt at job {job_id}")
    fenced = logged_at(cluster, cut_host, fence_line)
    assert fenced < restarted, f"{cut_host} stopped at {fenced}, after {other} started again at {restarted}"
    assert taken_at >= LEASE_SECONDS - 2

    # Reconnected while the other host is still downloading the job: the stale holder must not
    # touch what is now the other's (its half-written file) nor write an outcome.
    cluster.reconnect(cut_host)
    statuses = wait_done(cluster, [job_id, *during_ids], 60)
    assert statuses == {i: "completed" for i in [job_id, *during_ids]}, statuses
    assert not claimed_while_cut, f"{cut_host} claimed jobs {claimed_while_cut} while cut off"
    assert_one_file_each(cluster, {job_id: name})
    assert_one_file_each(cluster, dict(zip(during_ids, during)), kb=64)
    assert saved_by(cluster, name) == [other]
    # Saved once each; by the other host, or by this one after it was reconnected (a wake-up it
    # took from Redis as the cable was pulled is lost with the connection; the watchdog's top-up
    # gives the job another, which either host may take).
    assert all(len(saved_by(cluster, n)) == 1 for n in during), {n: saved_by(cluster, n) for n in during}
    # The stale run itself ends (its download stuck on the dead connection until the network came
    # back, or its read timed out) as taken over, writing nothing: the job stays as the other left it.
    wait_until(lambda: f"job {job_id}: attempt 1 ended: taken-over" in cluster.log(cut_host, "worker"), 70,
               f"{cut_host}'s stale run of job {job_id} did not end as taken over")
    assert cluster.sql("SELECT count(*) FROM events WHERE job_id = %s AND type = 'completed'", job_id) == [(1,)]
    assert job_row(cluster, job_id) == {"status": "completed", "tag": None, "bytes_done": SLOW_KB * 1024,
                                        "attempts": 2}
    assert_one_file_each(cluster, {job_id: name})

    # Back on the network, the host claims jobs again: submitted one at a time, some land on it.
    rejoined = None
    for i in range(10):
        n = f"cut-{tag}-after-{i}"
        new_id = submit(web1, [slow_url(cluster, n, kb=32, rate=512)])[0]
        assert wait_done(cluster, [new_id], 30) == {new_id: "completed"}
        if saved_by(cluster, n) == [cut_host]:
            rejoined = n
            break
    assert rejoined, f"{cut_host} claimed none of 10 jobs after it was reconnected"
