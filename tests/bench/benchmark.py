"""Haul's benchmark: wall time for a batch of small links, submit latency, peak memory.

Run it as ``.venv/bin/python tests/bench/benchmark.py [--worker-type thread|process] [--workers N]
[--json PATH] [--poll-ms MS] [--check] [--keep]``. It is not part of ``make test`` (the name does not start
with ``test_``).

Everything runs in one process tree on this machine: the local MediaSite (tests/support/media_site.py,
in this process) serves the media, a HaulStack (tests/support/stack.py: gunicorn + gevent web and the
Huey consumer, as subprocesses with their own temp data dir) downloads it. Measured in the same
run, with fresh links in every phase so nothing is deduplicated or cached:

1. Haul wall time: 40 direct image links + 10 video pages in ONE ``POST /downloads``, timed
   from just before the request until ``GET /downloads/<id>`` (polled every 20 ms) shows every
   job completed. One small untimed warm-up submission (one image and one video page per
   worker) runs first, so one-time lazy imports in the web process and in every worker (thread
   or process) are not counted; its time is printed as "cold start".
2. Baseline A: the yt-dlp command line once per link, sequentially ("how naive servers work").
3. Baseline B: one gallery-dl run with all 50 links. gallery-dl's generic extractor drops the
   port of http://127.0.0.1:PORT pages, so it gets the 10 videos' direct /media/clip<n>.mp4
   URLs instead of their pages (its directlink extractor keeps ports).
4. Submit latency: 10 client threads x 30 ``POST /downloads`` (one fresh image each) while the
   worker downloads them; and ``GET /login`` under the same load as the server's floor.
5. Peak PSS of gunicorn (master + workers) + the consumer (+ its children), sampled every
   100 ms during phases 1 and 4.
6. The history page at 100,000 jobs and 300,000 files: first page and searches, p50/p95
   (tests/bench/bench_history.py, after the baselines).

The baselines run after the stack has stopped, so they never compete with Haul for the CPU.
Exit status: 0 when the run completed (1 with --check if a target was missed), 2 on an error
such as a job that did not complete.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.media_site import MediaSite, video_clip_number  # noqa: E402
from support.stack import HaulStack  # noqa: E402

API_TOKEN = "bench-static-token-0123456789"
# An admin from the environment, so GET /login renders the sign-in page (200) instead of
# redirecting to the first-run /setup page.
ADMIN_ENV = {"HAUL_ADMIN_USERNAME": "bench", "HAUL_ADMIN_PASSWORD": "bench-password-0123"}
BIN = Path(sys.executable).parent  # the venv's bin: yt-dlp and gallery-dl live next to python

N_IMAGES, N_VIDEOS = 40, 10
POLL_SECONDS = 0.020
LATENCY_THREADS, LATENCY_REQUESTS = 10, 30
PSS_INTERVAL = 0.100
MB = 1024 * 1024

TARGETS = {  # figure -> upper bound
    "haul_wall_s": 1.5,
    "submit_p95_ms": 25.0,
    "peak_pss_mb": 200.0,
    "history_first_p95_ms": 100.0,
    "history_search_p95_ms": 100.0,
}
TERMINAL = {"completed", "failed", "cancelled"}


class BenchmarkError(Exception):
    """The run could not produce a valid figure (e.g. a job did not complete)."""


# -- links ------------------------------------------------------------------------------------

class Links:
    """Fresh links for every phase: image numbers and video names never repeat in or across runs.

    A random run offset keeps numbers fresh across runs (the MediaSite caches PNGs per n in
    memory and clips on disk; Haul would dedupe a URL it has already seen). Video names are
    also chosen so that no two share a clip number (the clip is derived from a hash of the name),
    so every video is a distinct file for the baselines too.
    """

    def __init__(self, site: MediaSite):
        self.site = site
        self.run = random.SystemRandom().randrange(10**6, 10**9)
        self._image = 0
        self._video = 0
        self._clips: set[int] = set()

    def image(self) -> str:
        self._image += 1
        return self.site.url(f"/img/{self.run * 10_000 + self._image}.png")

    def video_name(self) -> str:
        while True:
            self._video += 1
            name = f"bench-{self.run}-{self._video}"
            if video_clip_number(name) not in self._clips:
                self._clips.add(video_clip_number(name))
                return name

    def batch(self, images: int = N_IMAGES, videos: int = N_VIDEOS) -> tuple[list[str], list[str]]:
        """(image URLs, video names); the clips are generated now, so ffmpeg is never timed."""
        image_urls = [self.image() for _ in range(images)]
        names = [self.video_name() for _ in range(videos)]
        self.site.prepare(clips=[video_clip_number(n) for n in names])
        return image_urls, names

    def page(self, name: str) -> str:
        return self.site.url(f"/video/{name}")


# -- memory ---------------------------------------------------------------------------------

class PssSampler(threading.Thread):
    """Sums the PSS of the web and worker process trees every PSS_INTERVAL while active.

    Children are looked up at every sample: gunicorn's worker, and Huey's process workers when
    HAUL_WORKER_TYPE=process. Every pid ever seen is kept, so the run can make sure none
    outlives it.
    """

    def __init__(self, roots: dict[str, int]):
        super().__init__(name="pss-sampler", daemon=True)
        self.roots = {role: psutil.Process(pid) for role, pid in roots.items()}
        self.active = threading.Event()
        self.stopped = threading.Event()
        self.peak_mb = 0.0
        self.peak_breakdown: dict[str, float] = {}
        self.peak_procs: dict[str, int] = {}
        self.peak_per_process: list[tuple[str, int, float]] = []
        self.samples = 0
        self.seen: dict[int, psutil.Process] = {}
        self.transients = 0  # worker children left out between fork and exec (see sample)

    def run(self) -> None:
        while not self.stopped.wait(PSS_INTERVAL):
            if self.active.is_set():
                self.sample()

    def sample(self) -> None:
        by_role, counts, per_proc = {}, {}, []
        for role, root in self.roots.items():
            try:
                root_cmdline = root.cmdline()
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:  # the root is gone (it crashed): the phase will fail loudly
                procs, root_cmdline = [], None
            total = 0
            for proc in procs:
                self.seen.setdefault(proc.pid, proc)
                try:
                    # A child the worker has forked but not yet turned into its program (ffmpeg,
                    # ffprobe) is a copy-on-write image of the worker: read a moment after its
                    # parent, it would count the worker's whole size a second time. (The web's
                    # serving process is a fork of gunicorn's master for good: counted.)
                    if role == "worker" and proc is not root and proc.cmdline() == root_cmdline:
                        self.transients += 1
                        continue
                    pss = proc.memory_full_info().pss
                    name = proc.name()  # which program: the tools' children count for their role
                except psutil.Error:  # exited between listing and reading
                    continue
                total += pss
                per_proc.append((role, f"{proc.pid} {name}", pss / MB))
            by_role[role], counts[role] = total / MB, len(procs)
        self.samples += 1
        total_mb = sum(by_role.values())
        if total_mb > self.peak_mb:
            self.peak_mb, self.peak_breakdown, self.peak_procs = total_mb, by_role, counts
            self.peak_per_process = per_proc
            self.new_peak(per_proc)

    def new_peak(self, per_proc) -> None:
        """Called at each new peak with (role, "pid name", MB) per process; nothing by default."""

    def remember_children(self) -> None:
        """Note every process of both trees now (also outside phases), to stop them at the end."""
        for root in self.roots.values():
            try:
                for proc in [root, *root.children(recursive=True)]:
                    self.seen.setdefault(proc.pid, proc)
            except psutil.Error:
                pass

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


# -- helpers ----------------------------------------------------------------------------------

def cpu_snapshot(stack: HaulStack) -> dict[str, float]:
    """CPU seconds used so far by the web and worker process trees and by this process (the
    benchmark's clients, the MediaSite and the sampler). On a small machine they compete for
    the same cores, which explains much of the latency; a child that exited in between is
    missed (none do in a healthy run)."""
    usage = {}
    for role, pid in (("web", stack.web.pid), ("worker", stack.worker.pid), ("bench", os.getpid())):
        total = 0.0
        try:
            root = psutil.Process(pid)
            procs = [root] + (root.children(recursive=True) if role != "bench" else [])
        except psutil.Error:
            procs = []
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        usage[role] = total
    usage["wall"] = time.perf_counter()
    return usage


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".part", ".ytdl")))


@dataclass
class Results:
    config: dict
    figures: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- baselines --------------------------------------------------------------------------------

def baseline_ytdlp(links: Links, scratch: Path) -> dict:
    """The yt-dlp CLI once per link, one after the other."""
    images, names = links.batch()
    urls = images + [links.page(n) for n in names]
    out = scratch / "yt-dlp"
    out.mkdir()
    exe = BIN / "yt-dlp"
    began = time.perf_counter()
    for url in urls:
        proc = subprocess.run(
            [str(exe), "--ignore-config", "-q", "-o", f"{out}/%(id)s.%(ext)s", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
        )
        if proc.returncode != 0:
            raise BenchmarkError(f"yt-dlp failed on {url}: {proc.stderr.decode(errors='replace')[-500:]}")
    elapsed = time.perf_counter() - began
    files = count_files(out)
    if files != len(urls):
        raise BenchmarkError(f"baseline A: yt-dlp left {files} files for {len(urls)} links")
    return {"seconds": elapsed, "links": len(urls), "per_link_s": elapsed / len(urls)}


def baseline_gallery_dl(links: Links, scratch: Path) -> dict:
    """One gallery-dl run with all 50 links (videos as their direct clip URLs, see the docstring)."""
    images, names = links.batch()
    urls = images + [links.site.video_clip_url(n) for n in names]
    out = scratch / "gallery-dl"
    out.mkdir()
    began = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "gallery-dl"), "--config-ignore", "-q", "-d", str(out), *urls],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
    )
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise BenchmarkError(f"gallery-dl failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-800:]}")
    files = count_files(out)
    if files != len(urls):
        raise BenchmarkError(f"baseline B: gallery-dl left {files} files for {len(urls)} links")
    return {"seconds": elapsed, "links": len(urls)}


# -- Haul phases ------------------------------------------------------------------------------

def _auth_session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {API_TOKEN}"
    return session


def submit_and_wait(stack: HaulStack, urls: list[str], poll_seconds: float = POLL_SECONDS, timeout: float = 60) -> dict:
    """POST all urls at once, poll GET /downloads/<id> every poll_seconds until every job ends.

    Raises BenchmarkError unless every job completed.
    """
    session = _auth_session()
    poll_latencies: list[float] = []
    began = time.perf_counter()
    response = session.post(stack.base_url + "/downloads", json={"urls": urls}, timeout=10)
    submit_ms = (time.perf_counter() - began) * 1000
    if response.status_code != 202:
        raise BenchmarkError(f"POST /downloads answered {response.status_code}: {response.text[:500]}")
    download_id = response.json()["download_id"]
    next_poll = time.perf_counter()
    while True:
        t = time.perf_counter()
        body = session.get(f"{stack.base_url}/downloads/{download_id}", timeout=10).json()
        poll_latencies.append((time.perf_counter() - t) * 1000)
        jobs = body["jobs"]
        if all(job["status"] in TERMINAL for job in jobs):
            break
        if time.perf_counter() - began > timeout:
            pending = [j for j in jobs if j["status"] not in TERMINAL]
            raise BenchmarkError(f"{len(pending)} of {len(jobs)} jobs still not done after {timeout}s: {pending[:3]}")
        # A fixed cadence (not "sleep after each answer"), so the end is seen within one period.
        next_poll += poll_seconds
        time.sleep(max(0.0, next_poll - time.perf_counter()))
    elapsed = time.perf_counter() - began
    bad = [j for j in jobs if j["status"] != "completed"]
    if bad or len(jobs) != len(urls):
        raise BenchmarkError(
            f"{len(bad)} of {len(jobs)} jobs did not complete (of {len(urls)} links): "
            + "; ".join(f"{j['url']}: {j['status']} {j.get('error')}" for j in bad[:5])
        )
    return {
        "seconds": elapsed,
        "submit_ms": submit_ms,
        "polls": len(poll_latencies),
        "poll_median_ms": statistics.median(poll_latencies),
        "poll_max_ms": max(poll_latencies),
        "job_ids": [j["id"] for j in jobs],
    }


def job_breakdown(stack: HaulStack, job_ids: list[int]) -> dict:
    """Server-side timestamps of each job: how long it waited in the queue and how long it ran.

    Untimed, after the phase. Millisecond precision (the API's isoformat).
    """
    jobs = [stack.job(i) for i in job_ids]
    first_created = min(parse_time(j["created_at"]) for j in jobs)
    last_finished = max(parse_time(j["finished_at"]) for j in jobs)
    by_engine: dict[str, dict] = {}
    for engine in sorted({j["engine"] for j in jobs}):
        mine = [j for j in jobs if j["engine"] == engine]
        waits = [(parse_time(j["started_at"]) - parse_time(j["created_at"])).total_seconds() for j in mine]
        runs = [(parse_time(j["finished_at"]) - parse_time(j["started_at"])).total_seconds() for j in mine]
        by_engine[engine] = {
            "jobs": len(mine),
            "run_median_ms": statistics.median(runs) * 1000,
            "run_max_ms": max(runs) * 1000,
            "run_sum_s": sum(runs),
            "wait_max_ms": max(waits) * 1000,
        }
    first_started = min(parse_time(j["started_at"]) for j in jobs)
    return {
        "server_span_s": (last_finished - first_created).total_seconds(),
        "first_pickup_ms": (first_started - first_created).total_seconds() * 1000,
        "engines": by_engine,
    }


def _load_clients(base_url: str, token: str, method: str, path: str, bodies: list[bytes | None],
                  n_threads: int, n_requests: int, results) -> None:
    """Runs in its own process: n_threads keep-alive clients send n_requests each.

    The load generator must not share a GIL with the media site the worker downloads from
    (or with this script), or its own scheduling delays would be counted as Haul's latency.
    For the same reason it runs in a session of its own, so Linux's autogroup scheduler gives
    it a CPU share of its own: the clients stand for phones and scripts on other machines.
    Puts (latencies in ms, [(status, body)], errors, seconds from the first request sent to
    the last answer) on `results`.
    """
    import http.client
    from urllib.parse import urlsplit

    try:
        os.setsid()
    except OSError:
        pass

    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    latencies, answers, errors = [], [], []
    span = [float("inf"), 0.0]  # first request sent, last answer read (perf_counter)
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine, got = [], []
        try:
            barrier.wait(10)
            with lock:
                span[0] = min(span[0], time.perf_counter())
            for i in range(n_requests):
                body = bodies[index * n_requests + i]
                headers = {"Authorization": f"Bearer {token}"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                began = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                mine.append((time.perf_counter() - began) * 1000)
                got.append((response.status, data))
        except Exception as exc:
            with lock:
                errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            conn.close()
            with lock:
                span[1] = max(span[1], time.perf_counter())
                latencies.extend(mine)
                answers.extend(got)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    results.put((latencies, answers, errors, span[1] - span[0]))


def run_clients(base_url: str, token: str, method: str, path: str, bodies: list[bytes | None],
                clients: int, per_client: int, timeout: float = 300) -> tuple[list[float], list, float]:
    """`clients` keep-alive clients in a process of their own (see _load_clients), `per_client`
    requests each; returns latencies in ms, (status, body) answers, and the seconds from the
    first request to the last answer. Raises BenchmarkError when a client failed."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_load_clients,
                              args=(base_url, token, method, path, bodies, clients, per_client, results))
    process.start()
    try:
        latencies, answers, errors, seconds = results.get(timeout=timeout)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    if errors:
        raise BenchmarkError(f"{len(errors)} client(s) failed: {errors[:3]}")
    return latencies, answers, seconds


def _hammer(stack: HaulStack, method: str, path: str, bodies: list[bytes | None]) -> tuple[list[float], list]:
    """LATENCY_THREADS clients in a separate process, LATENCY_REQUESTS requests each."""
    latencies, answers, _ = run_clients(stack.base_url, stack.api_token, method, path, bodies,
                                        LATENCY_THREADS, LATENCY_REQUESTS, timeout=180)
    return latencies, answers


def latency_phase(stack: HaulStack, links: Links) -> dict:
    """GET /login (the server's floor), then POST /downloads, each 10 clients x 30 requests."""
    count = LATENCY_THREADS * LATENCY_REQUESTS
    login, answers = _hammer(stack, "GET", "/login", [None] * count)
    if any(status != 200 for status, _ in answers):
        raise BenchmarkError(f"GET /login answered {sorted({status for status, _ in answers})}")
    bodies = [json.dumps({"urls": [links.image()]}).encode() for _ in range(count)]
    began = time.perf_counter()
    submit, answers = _hammer(stack, "POST", "/downloads", bodies)
    submit_phase_s = time.perf_counter() - began
    bad = [(status, body[:300]) for status, body in answers if status != 202]
    if bad:
        raise BenchmarkError(f"POST /downloads failed: {bad[:3]}")
    ids = [json.loads(body)["jobs"][0]["id"] for _, body in answers]
    return {
        "login_median_ms": statistics.median(login),
        "login_p95_ms": percentile(login, 95),
        "submit_median_ms": statistics.median(submit),
        "submit_p95_ms": percentile(submit, 95),
        "submit_max_ms": max(submit),
        "requests": len(submit),
        "submit_phase_s": submit_phase_s,
        "job_ids": sorted(ids),
        "phase_began": began,
    }


def drain(stack: HaulStack, job_ids: list[int], began: float, timeout: float = 60) -> dict:
    """Wait for the latency phase's jobs (in claim order); informational, never fatal."""
    session = _auth_session()
    statuses: dict[str, int] = {}
    deadline = time.perf_counter() + timeout
    for job_id in job_ids:
        while True:
            status = session.get(f"{stack.base_url}/api/v1/queue/{job_id}", timeout=10).json()["status"]
            if status in TERMINAL or time.perf_counter() > deadline:
                break
            time.sleep(0.05)
        statuses[status] = statuses.get(status, 0) + 1
    return {"statuses": statuses, "seconds_since_first_submit": time.perf_counter() - began}


# -- the run ----------------------------------------------------------------------------------

def run(args: argparse.Namespace, results: Results, workdir: Path) -> None:
    """Haul's phases first (a stack that cannot start fails fast), then the baselines, once the
    stack has stopped, so they never compete with Haul for the CPU."""
    with MediaSite(ROOT / "tests" / ".assets") as site:
        links = Links(site)
        haul_phases(args, results, links, workdir / "stack")

        scratch = workdir / "baselines"
        scratch.mkdir()
        print("baseline A: yt-dlp CLI once per link (50 links) ...", flush=True)
        results.details["ytdlp"] = baseline_ytdlp(links, scratch)
        results.figures["ytdlp_s"] = results.details["ytdlp"]["seconds"]
        print("baseline B: one gallery-dl run with 50 links ...", flush=True)
        results.details["gallery_dl"] = baseline_gallery_dl(links, scratch)
        results.figures["gallery_dl_s"] = results.details["gallery_dl"]["seconds"]
        results.notes.append(
            "baseline B: gallery-dl's generic extractor drops the port of http://127.0.0.1:PORT pages, "
            "so it got the 10 videos' direct /media/clip<n>.mp4 URLs instead of their /video/ pages."
        )
    # 6. The history page at 100,000 jobs and 300,000 files (tests/bench/bench_history.py), last: the
    # stack has stopped and nothing else competes for the CPU.
    if args.skip_history:
        return
    from bench.bench_history import history_benchmark

    results.details["history"] = history_benchmark(log=lambda line: print(line, flush=True))
    results.figures["history_first_p95_ms"] = results.details["history"]["views"]["first_page"]["p95_ms"]
    results.figures["history_search_p95_ms"] = results.details["history"]["views"]["search"]["p95_ms"]


# A preset that only downloads: no tags, chapters or cover written into the file, nothing beside it.
PLAIN_PRESET = {"name": "plain", "label": "Plain download", "embed_metadata": False, "embed_chapters": False,
                "embed_thumbnail": False, "write_poster": False, "write_nfo": False}


def _use_plain_preset(stack: HaulStack) -> None:
    """Make the plain preset the default (the A/B of what the shipped "best" preset's media-server
    files cost: --plain-preset against a run without it)."""
    session = _auth_session()
    created = session.post(stack.base_url + "/api/v1/presets", json=PLAIN_PRESET, timeout=10)
    chosen = session.patch(stack.base_url + "/api/v1/settings", json={"default_preset": "plain"}, timeout=10)
    if created.status_code != 201 or chosen.status_code != 200:
        raise BenchmarkError(f"plain preset: {created.status_code} {created.text[:200]} / "
                             f"{chosen.status_code} {chosen.text[:200]}")


def haul_phases(args: argparse.Namespace, results: Results, links: Links, stack_dir: Path) -> None:
    """Phases 1, 4 and 5 against one stack, which is always stopped (with its children)."""
    # Prepared before the stack starts: no ffmpeg while Haul is timed.
    # One video per worker: with process workers each child pays yt-dlp's lazy imports once.
    warm_images, warm_names = links.batch(images=args.workers, videos=args.workers)
    images, names = links.batch()

    stack = HaulStack(
        stack_dir, api_token=API_TOKEN, workers=args.workers,
        extra_env={"HAUL_WORKER_TYPE": args.worker_type, **ADMIN_ENV},
    )
    sampler = None
    try:
        print(f"starting Haul ({args.workers} {args.worker_type} worker(s)) in {stack.workdir} ...", flush=True)
        stack.start()
        if args.plain_preset:
            _use_plain_preset(stack)
        sampler = PssSampler({"web": stack.web.pid, "worker": stack.worker.pid})
        sampler.remember_children()
        sampler.start()

        warm = submit_and_wait(stack, warm_images + [links.page(n) for n in warm_names])
        results.details["cold_start_s"] = warm["seconds"]

        print("phase 1: 40 images + 10 video pages in one POST ...", flush=True)
        sampler.active.set()
        cpu_before = cpu_snapshot(stack)
        wall = submit_and_wait(stack, images + [links.page(n) for n in names], args.poll_ms / 1000)
        results.details["cpu_phase1_s"] = cpu_delta(cpu_before, cpu_snapshot(stack))
        sampler.active.clear()
        results.figures["haul_wall_s"] = wall["seconds"]
        results.details["wall"] = {k: v for k, v in wall.items() if k != "job_ids"}
        results.details["wall"]["breakdown"] = job_breakdown(stack, wall["job_ids"])

        print("phase 4: 10 clients x 30 submissions (and GET /login as the floor) ...", flush=True)
        sampler.active.set()
        cpu_before = cpu_snapshot(stack)
        latency = latency_phase(stack, links)
        results.details["cpu_phase4_s"] = cpu_delta(cpu_before, cpu_snapshot(stack))
        # The worker downloads those 300 images meanwhile and after: sample until it is done.
        drained = drain(stack, latency.pop("job_ids"), latency.pop("phase_began"))
        sampler.active.clear()
        results.details["latency"] = latency
        results.details["latency_drain"] = drained
        for key in ("submit_median_ms", "submit_p95_ms", "login_median_ms", "login_p95_ms"):
            results.figures[key] = latency[key]

        results.figures["peak_pss_mb"] = sampler.peak_mb
        results.details["pss"] = {
            "samples": sampler.samples,
            "peak_by_role_mb": sampler.peak_breakdown,
            "processes_at_peak": sampler.peak_procs,
            "per_process_at_peak_mb": sampler.peak_per_process,
        }
        results.details["worker_log_tracebacks"] = stack.log("worker.log").count("Traceback")
    finally:
        if sampler is not None:
            sampler.stop()
            sampler.remember_children()
        stack.stop()
        leftovers = _stop_leftovers(sampler.seen.values() if sampler else [])
        if leftovers:
            results.notes.append(f"killed {leftovers} process(es) still alive after the stack stopped")


def _stop_leftovers(procs) -> int:
    """Processes the stack started (seen by the sampler) that outlived stack.stop(): end them by pid."""
    alive = [p for p in procs if p.is_running()]
    for proc in alive:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, still = psutil.wait_procs(alive, timeout=5)
    for proc in still:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return len(alive)


# -- report -----------------------------------------------------------------------------------

def report(results: Results) -> list[str]:
    """Print the table; returns the names of missed targets."""
    f, d = results.figures, results.details
    missed = []
    rows = []  # (figure, value, target, vs baseline)

    def target(key: str, value: float, unit: str) -> str:
        limit = TARGETS[key]
        ok = value <= limit
        if not ok:
            missed.append(key)
        return f"<= {limit:g} {unit} {'ok' if ok else 'MISSED'}"

    if "ytdlp_s" in f:
        rows.append(("baseline A: yt-dlp CLI x50, sequential", f"{f['ytdlp_s']:.2f} s",
                     "", f"{d['ytdlp']['per_link_s']:.2f} s per link"))
    if "gallery_dl_s" in f:
        rows.append(("baseline B: gallery-dl, one run, 50 links", f"{f['gallery_dl_s']:.2f} s", "", ""))
    if "haul_wall_s" in f:
        wall = f["haul_wall_s"]
        versus = [f"{wall / f[key]:.2f}x {name}" for key, name in (("ytdlp_s", "A"), ("gallery_dl_s", "B")) if key in f]
        rows.append(("Haul wall time, 40 img + 10 video pages", f"{wall:.2f} s", target("haul_wall_s", wall, "s"),
                     ", ".join(versus)))
    if "submit_p95_ms" in f:
        rows.append(("GET /login, 10 clients, median", f"{f['login_median_ms']:.1f} ms", "", "(floor)"))
        rows.append(("GET /login, 10 clients, p95", f"{f['login_p95_ms']:.1f} ms", "", "(floor)"))
        rows.append(("POST /downloads, 10 clients, median", f"{f['submit_median_ms']:.1f} ms", "",
                     f"{f['submit_median_ms'] / f['login_median_ms']:.2f}x /login"))
        rows.append(("POST /downloads, 10 clients, p95", f"{f['submit_p95_ms']:.1f} ms",
                     target("submit_p95_ms", f["submit_p95_ms"], "ms"),
                     f"{f['submit_p95_ms'] / f['login_p95_ms']:.2f}x /login"))
    if "peak_pss_mb" in f:
        rows.append(("peak PSS web + worker (phases 1, 4)", f"{f['peak_pss_mb']:.0f} MB",
                     target("peak_pss_mb", f["peak_pss_mb"], "MB"), ""))
    if "history_first_p95_ms" in f:
        floor = d["history"]["views"]["floor"]["p95_ms"]
        for key, label in (("history_first_p95_ms", "history first page, 100k jobs, p95"),
                           ("history_search_p95_ms", "history search, 100k jobs, p95")):
            rows.append((label, f"{f[key]:.1f} ms", target(key, f[key], "ms"), f"{f[key] / floor:.1f}x its floor"))

    cfg = results.config
    if not rows:
        return missed
    print()
    print(f"Haul benchmark: HAUL_WORKERS={cfg['workers']} HAUL_WORKER_TYPE={cfg['worker_type']}, "
          f"{cfg['cpus']} CPUs, phase 1 polled every {cfg['poll_ms']:g} ms")
    widths = [max(len(r[i]) for r in rows + [("figure", "value", "target", "vs baseline")]) for i in range(4)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format("figure", "value", "target", "vs baseline"))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))

    if {"haul_wall_s", "ytdlp_s", "gallery_dl_s"} <= f.keys():
        print(f"\nHaul {f['haul_wall_s']:.2f} s = {f['haul_wall_s'] / f['ytdlp_s']:.3f}x yt-dlp per link, "
              f"{f['haul_wall_s'] / f['gallery_dl_s']:.2f}x one gallery-dl run")
    if "wall" in d:
        w, b = d["wall"], d["wall"]["breakdown"]
        print(f"phase 1 detail: POST took {w['submit_ms']:.0f} ms; {w['polls']} polls, median "
              f"{w['poll_median_ms']:.1f} ms, max {w['poll_max_ms']:.1f} ms; cold start (untimed warm-up, "
              f"{cfg['workers']} img + {cfg['workers']} videos) {d['cold_start_s']:.2f} s")
        print(f"  server side: first job picked up {b['first_pickup_ms']:.0f} ms after submit, "
              f"last finished {b['server_span_s']:.2f} s after submit")
        for engine, e in b["engines"].items():
            print(f"  {engine:<10} {e['jobs']:>3} jobs: run median {e['run_median_ms']:.0f} ms, max "
                  f"{e['run_max_ms']:.0f} ms, sum {e['run_sum_s']:.2f} s; longest queue wait {e['wait_max_ms']:.0f} ms")
    for phase in ("cpu_phase1_s", "cpu_phase4_s"):
        if phase in d:
            c = d[phase]
            print(f"{phase[4:10]} CPU: web {c['web']:.2f} s, worker {c['worker']:.2f} s, benchmark process "
                  f"(clients + media site) {c['bench']:.2f} s over {c['wall']:.2f} s wall "
                  f"({(c['web'] + c['worker'] + c['bench']) / c['wall']:.2f} of {cfg['cpus']} cores busy)")
    if "latency_drain" in d:
        lat, dr = d["latency"], d["latency_drain"]
        print(f"phase 4 detail: 300 submissions took {lat['submit_phase_s']:.2f} s (max {lat['submit_max_ms']:.0f} ms); "
              f"their jobs {dr['statuses']} {dr['seconds_since_first_submit']:.2f} s after the first submission")
    if "pss" in d:
        p = d["pss"]
        print("peak PSS by role: " + ", ".join(
            f"{role} {mb:.0f} MB ({p['processes_at_peak'][role]} proc)" for role, mb in p["peak_by_role_mb"].items())
              + f"; {p['samples']} samples")
        print("  per process at peak: " + ", ".join(
            f"{role}[{pid}] {mb:.0f}" for role, pid, mb in p["per_process_at_peak_mb"]) + " MB")
    if d.get("worker_log_tracebacks"):
        print(f"worker.log holds {d['worker_log_tracebacks']} traceback(s)")
    if "history" in d:
        from bench.bench_history import report as history_report

        history_report(d["history"])
    for note in results.notes:
        print("note: " + note)
    return missed


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:  # the range webapp.config accepts for HAUL_WORKERS
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def _interrupt(signum, frame):
    """SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the finally blocks stop the stack."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker-type", choices=("thread", "process"), default="thread",
                        help="HAUL_WORKER_TYPE for the stack (default thread)")
    parser.add_argument("--workers", type=_workers, default=3, help="HAUL_WORKERS for the stack, 1-64 (default 3)")
    parser.add_argument("--poll-ms", type=float, default=POLL_SECONDS * 1000,
                        help="phase 1's GET /downloads/<id> period (default 20; each poll costs the web CPU)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--skip-history", action="store_true", help="leave out the 100,000-job history part (a minute)")
    parser.add_argument("--plain-preset", action="store_true",
                        help="download with a preset that writes no tags, cover, poster or .nfo (to compare)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (stack logs, downloads)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _interrupt)

    results = Results(config={"workers": args.workers, "worker_type": args.worker_type, "cpus": os.cpu_count(),
                              "poll_ms": args.poll_ms})
    workdir = Path(tempfile.mkdtemp(prefix="haul-bench-"))
    began = time.monotonic()
    failed = False
    try:
        run(args, results, workdir)
    except (Exception, KeyboardInterrupt) as exc:
        failed = True
        if not isinstance(exc, BenchmarkError):
            traceback.print_exc()
        if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
            print(exc.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
        print(f"\nBENCHMARK FAILED: {exc!r}", file=sys.stderr)
        print(f"logs kept in {workdir / 'stack'}", file=sys.stderr)
    results.details["run_seconds"] = time.monotonic() - began

    missed = report(results)
    print(f"whole run: {results.details['run_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"config": results.config, "targets": TARGETS, "figures": results.figures,
             "missed": missed, "failed": failed, "details": results.details, "notes": results.notes},
            indent=2, default=str,
        ))
    if args.keep:
        print(f"kept {workdir}")
    elif not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        return 2
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
