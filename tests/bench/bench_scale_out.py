"""Issue 17's benchmarks of the download path: SQLite against PostgreSQL + Redis, big files, two worker hosts, memory.

Run it as ``.venv/bin/python tests/bench/bench_scale_out.py [--only small,big,scale,memory] [--big-mb MB]
[--scale-links N] [--json PATH] [--keep]``. Not part of ``make test``; ``make bench`` runs it at full size.
Every figure is printed beside a baseline measured in the same run, with the ratio:

small   50 small links (tests/bench/benchmark.py's load: 40 images + 10 video pages in one
        ``POST /downloads``, after an untimed warm-up) on the default SQLite stack and on a
        PostgreSQL + Redis stack (``HaulStack(scale_out=True)``: a database and a Redis database
        of its own). Each is followed, once its stack has stopped, by one gallery-dl run over
        50 fresh links of the same kind. Aim: Haul ≤ 1.2x gallery-dl.
memory  (with ``small`` on SQLite) the peak PSS of web + worker, sampled every 100 ms over the
        50 links; at each new peak the PSS of every mapping of every process is read from
        /proc/<pid>/smaps, so the peak is split into Python's heap, shared libraries and
        so on; and, in fresh interpreters, what importing each group of the worker's modules
        costs (USS). Baseline: a bare interpreter's PSS. Aim: 150 MB.
big     a 1 GiB file from the local media site (``/large/1024.jpg`` for the direct engine,
        ``/large/1024.mp4`` — a real clip padded with an MP4 ``free`` box — for yt-dlp's), each
        beside ``curl -o`` of the same size from the same server just before. Haul's rate is
        bytes / (submit → completed, polled every 50 ms) — so its claim, hashing and outcome
        count — and, separately, bytes / (started_at → finished_at) from the job row. The worker's
        CPU time (psutil, the worker process and its children) per GiB. Aim: ≥ 0.9x curl.
scale   400 throttled links (``/slow/<name>.jpg?kb=K&rate=R``: the site paces each connection)
        on one PostgreSQL + Redis stack, with 1 worker host (``python -m jobs.worker``, W
        threads, download concurrency W) and then 2 (a second ``jobs.worker`` with its own
        HAUL_DATA_DIR and the shared storage path; concurrency 2W, the global setting, so both
        hosts' threads may download). Throughput = links / (first submit → last completed).
        Aim: 2 hosts ≥ 1.8x 1 host. A control follows: 1 host with concurrency 2W (the pool
        grows to the global setting on every host), to tell scale-out from slot count.

The stacks run as subprocesses; the media site in this process. Exit status 0 when the run
completed, 2 on an error (e.g. a job that did not complete).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.benchmark import (  # noqa: E402
    ADMIN_ENV,
    API_TOKEN,
    MB,
    TERMINAL,
    BenchmarkError,
    Links,
    PssSampler,
    _auth_session,
    _stop_leftovers,
    _use_plain_preset,
    baseline_gallery_dl,
    job_breakdown,
    parse_time,
    submit_and_wait,
)
from support.media_site import MediaSite  # noqa: E402
from support.stack import HaulStack  # noqa: E402

GIB = 1024 ** 3
SMALL_AIM = 1.2  # Haul ÷ gallery-dl, at most
BIG_AIM = 0.9  # Haul's rate ÷ curl's, at least
SCALE_AIM = 1.8  # 2 hosts ÷ 1 host, at least
PSS_AIM_MB = 150.0
WORKER_NICE = 5  # HAUL_WORKER_NICE's default (webapp/config.py): the worker's CPU priority


def log(line: str) -> None:
    print(line, flush=True)


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its living children."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


# -- memory: where the PSS goes ---------------------------------------------------------------

def smaps_groups(pid: int) -> dict[str, float]:
    """PSS of one process by kind of mapping (MB): Python's heap (anonymous memory and [heap]),
    the interpreter, extension modules and other shared libraries, thread stacks, the rest."""
    groups: dict[str, float] = {}
    name = "?"
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    parts = line.split()
                    path = parts[5] if len(parts) > 5 else ""
                    if path in ("", "[heap]"):
                        name = "heap (Python objects, malloc)"
                    elif path == "[stack]" or path.startswith("[stack"):
                        name = "stacks"
                    elif "libpython" in path or path.endswith(("/python3", "/python")) or "/bin/python" in path:
                        name = "interpreter"
                    elif "site-packages" in path or "lib-dynload" in path:
                        name = "extension modules (.so)"
                    elif ".so" in path:
                        name = "system libraries (.so)"
                    elif path.startswith("["):
                        name = "kernel ([vdso] …)"
                    else:
                        name = "other files"
                elif first == "Pss:":
                    groups[name] = groups.get(name, 0.0) + int(line.split()[1]) / 1024
    except OSError:
        pass
    return groups


class DetailedSampler(PssSampler):
    """benchmark.py's sampler that also reads every process's mappings at each new peak
    (smaps_groups), to say where the peak's memory goes."""

    def __init__(self, roots):
        super().__init__(roots)
        self.peak_groups: list[tuple[str, dict[str, float]]] = []

    def new_peak(self, per_proc) -> None:
        self.peak_groups = [(f"{role}[{label}]", smaps_groups(int(label.split()[0]))) for role, label, _ in per_proc]


# What importing each group costs a fresh interpreter, in the worker's order (USS, so shared
# pages of the interpreter itself are not counted twice).
IMPORT_STEPS = [
    ("bare interpreter", ""),
    ("flask, sqlalchemy, requests", "import flask, sqlalchemy, sqlalchemy.orm, requests"),
    ("Haul's worker app (webapp + jobs.runner)", "from jobs.tasks import worker_app; app = worker_app(); import jobs.runner"),
    ("yt-dlp (YoutubeDL, lazy extractors)", "import yt_dlp; yt_dlp.YoutubeDL({'quiet': True})"),
    ("yt-dlp's every extractor (what its generic embed search loads)",
     "from yt_dlp.extractor import gen_extractor_classes; [getattr(ie, 'real_class', ie) for ie in gen_extractor_classes()]"),
    ("gallery-dl (configured, its index)", "from jobs.engines import picker; picker.warm_up(os.environ['HAUL_DATA_DIR'])"),
    ("Pillow (thumbnails)", "import PIL.Image, PIL.JpegImagePlugin, PIL.PngImagePlugin"),
]


def import_weights(data_dir: Path) -> list[tuple[str, float, float]]:
    """(step, USS MB after it, MB it added), each step in the same fresh interpreter as the ones before."""
    script = ["import os, sys, json, psutil", "me = psutil.Process()", "out = []"]
    for label, code in IMPORT_STEPS:
        if code:
            script.append(code)
        script.append(f"out.append(({label!r}, me.memory_full_info().uss / {MB}))")
    script.append("print(json.dumps(out))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(data_dir), HAUL_API_TOKEN=API_TOKEN)
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", "\n".join(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise BenchmarkError(f"import weights failed: {proc.stderr[-1500:]}")
    steps = json.loads(proc.stdout.strip().splitlines()[-1])
    out, last = [], 0.0
    for label, uss in steps:
        out.append((label, uss, uss - last))
        last = uss
    return out


def bare_interpreter_pss() -> float:
    """PSS of an idle `python -c` (MB): the baseline a Python process cannot go under."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        return psutil.Process(proc.pid).memory_full_info().pss / MB
    finally:
        proc.kill()
        proc.wait()


# -- 1 and 5: 50 small links --------------------------------------------------------------------

def small_round(site: MediaSite, links: Links, workdir: Path, backend: str, with_memory: bool) -> dict:
    """One backend: Haul's 50 links (stack stopped after), then one gallery-dl run over 50 fresh links."""
    warm_images, warm_names = links.batch(images=3, videos=3)
    images, names = links.batch()
    stack = HaulStack(workdir / f"stack-{backend}", api_token=API_TOKEN, workers=3,
                      scale_out=(backend == "postgresql"), extra_env=ADMIN_ENV)
    sampler = None
    result: dict = {"backend": backend}
    try:
        log(f"[small/{backend}] starting Haul (3 thread workers) ...")
        stack.start()
        sampler = DetailedSampler({"web": stack.web.pid, "worker": stack.worker.pid})
        sampler.remember_children()
        sampler.start()
        result["cold_start_s"] = submit_and_wait(stack, warm_images + [links.page(n) for n in warm_names],
                                                 timeout=300)["seconds"]
        # The processes after the warm-up, idle: what the 50 links' load adds on top.
        sampler.sample()
        result["idle_pss"] = {"total_mb": sampler.peak_mb, "per_process": sampler.peak_per_process}
        sampler.peak_mb = 0.0
        cpu_before = {role: tree_cpu(pid) for role, pid in (("web", stack.web.pid), ("worker", stack.worker.pid))}
        sampler.active.set()
        log(f"[small/{backend}] 40 images + 10 video pages in one POST ...")
        # Polled every 100 ms (benchmark.py: 20 ms): each poll costs the web's CPU, which on a busy
        # 2-core machine the worker (at nice 5) then waits for. The server-side span is printed too.
        wall = submit_and_wait(stack, images + [links.page(n) for n in names], poll_seconds=0.1, timeout=300)
        sampler.active.clear()
        result["cpu_s"] = {role: tree_cpu(pid) - cpu_before[role]
                           for role, pid in (("web", stack.web.pid), ("worker", stack.worker.pid))}
        result["haul_s"] = wall["seconds"]
        result["breakdown"] = job_breakdown(stack, wall["job_ids"])
        result["pss"] = {"peak_mb": sampler.peak_mb, "by_role": sampler.peak_breakdown,
                         "fork_transients_left_out": sampler.transients,
                         "per_process": sampler.peak_per_process, "groups": sampler.peak_groups}
    finally:
        if sampler is not None:
            sampler.stop()
            sampler.remember_children()
        stack.stop()
        _stop_leftovers(sampler.seen.values() if sampler else [])
    scratch = workdir / f"gallery-dl-{backend}"
    scratch.mkdir()
    log(f"[small/{backend}] baseline: one gallery-dl run over 50 links ...")
    result["gallery_dl_s"] = baseline_gallery_dl(links, scratch)["seconds"]
    shutil.rmtree(scratch, ignore_errors=True)
    result["ratio"] = result["haul_s"] / result["gallery_dl_s"]
    if with_memory:
        result["bare_python_pss_mb"] = bare_interpreter_pss()
        result["imports"] = import_weights(workdir / "imports-data")
    return result


# -- 2: a 1 GiB file -------------------------------------------------------------------------

def _at_priority(nice: int):
    """A preexec_fn: the child leads a session of its own at `nice`, as `jobs.worker` runs
    (HAUL_WORKER_NICE: os.nice and the session's autogroup), so a baseline gets the CPU share
    the worker gets on a machine busy with other work."""
    def apply() -> None:
        if nice > 0:
            os.nice(nice)
            try:
                with open("/proc/self/autogroup", "w") as autogroup:
                    autogroup.write(str(nice))
            except OSError:
                pass
    return apply


def curl_rate(url: str, dest: Path, nice: int = 0) -> dict:
    began = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(dest), url], check=True, timeout=600,
                   start_new_session=True, preexec_fn=_at_priority(nice))
    seconds = time.perf_counter() - began
    size = dest.stat().st_size
    dest.unlink()
    return {"seconds": seconds, "bytes": size, "mib_s": size / seconds / MB}


def wait_one(stack: HaulStack, url: str, engine: str | None, timeout: float = 600) -> tuple[dict, float]:
    """Submit one link, poll its job every 50 ms until it ends; (job, seconds submit → seen completed)."""
    session = _auth_session()
    body = {"urls": [url], **({"engine": engine} if engine else {})}
    began = time.perf_counter()
    response = session.post(stack.base_url + "/downloads", json=body, timeout=10)
    if response.status_code != 202:
        raise BenchmarkError(f"POST /downloads answered {response.status_code}: {response.text[:300]}")
    job_id = response.json()["jobs"][0]["id"]
    deadline = began + timeout
    while True:
        job = session.get(f"{stack.base_url}/api/v1/queue/{job_id}", timeout=10).json()
        if job["status"] in TERMINAL:
            break
        if time.perf_counter() > deadline:
            raise BenchmarkError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    if job["status"] != "completed":
        raise BenchmarkError(f"{url}: {job['status']} {job.get('error')}")
    return job, seconds


def remove_job_files(stack: HaulStack) -> int:
    """Delete what the stack downloaded (the 1 GiB files): disk space on a shared machine."""
    removed = 0
    for path in stack.storage_root.rglob("*"):
        if path.is_file() and path.stat().st_size > 50 * MB:
            path.unlink()
            removed += 1
    return removed


def big_file(site: MediaSite, workdir: Path, mb: int, engines=("direct", "yt-dlp")) -> dict:
    free = shutil.disk_usage(workdir).free
    if free < 3 * mb * MB:
        raise BenchmarkError(f"{free / GIB:.1f} GiB free under {workdir}: too little for {mb} MiB files")
    stack = HaulStack(workdir / "stack-big", api_token=API_TOKEN, workers=3, extra_env=ADMIN_ENV)
    results: dict = {"mb": mb}
    try:
        log("[big] starting Haul (SQLite) with the plain preset (no tags or cover rewritten into the file) ...")
        stack.start()
        _use_plain_preset(stack)
        tag = uuid.uuid4().hex[:8]
        for engine, ext in (("direct", "jpg"), ("yt-dlp", "mp4")):
            if engine not in engines:
                continue
            url = site.url(f"/large/{mb}.{ext}")
            # Warm the site's cache of the clip and the curl path: not timed.
            curl_rate(site.url(f"/large/1.{ext}"), workdir / "warm.out")
            log(f"[big/{engine}] curl -o {url} (at nice 0, then at the worker's nice {WORKER_NICE}) ...")
            curl0 = curl_rate(url, workdir / f"curl.{ext}")
            curl = curl_rate(url, workdir / f"curl.{ext}", nice=WORKER_NICE)
            cpu_before = tree_cpu(stack.worker.pid)
            log(f"[big/{engine}] Haul ...")
            job, seconds = wait_one(stack, f"{url}?run={tag}", engine if engine == "yt-dlp" else None)
            cpu = tree_cpu(stack.worker.pid) - cpu_before
            size = sum(f["size"] for f in job["files"])
            run_s = (parse_time(job["finished_at"]) - parse_time(job["started_at"])).total_seconds()
            results[engine] = {
                "curl": curl, "curl_nice0": curl0, "haul_s": seconds, "haul_run_s": run_s, "bytes": size, "engine_used": job["engine"],
                "haul_mib_s": size / seconds / MB, "haul_run_mib_s": size / run_s / MB,
                "ratio": (size / seconds) / (curl["bytes"] / curl["seconds"]),
                "ratio_run": (size / run_s) / (curl["bytes"] / curl["seconds"]),
                "worker_cpu_s": cpu, "worker_cpu_s_per_gib": cpu / (size / GIB),
            }
            removed = remove_job_files(stack)
            log(f"[big/{engine}] curl {curl['mib_s']:.0f} MiB/s, Haul {results[engine]['haul_mib_s']:.0f} MiB/s "
                f"({results[engine]['ratio']:.2f}x), worker CPU {cpu:.2f} s; removed {removed} file(s)")
    finally:
        stack.stop()
        remove_job_files(stack)
    return results


# -- 4: two worker hosts -------------------------------------------------------------------

def set_concurrency(stack: HaulStack, value: int) -> None:
    answer = _auth_session().patch(stack.base_url + "/api/v1/settings", json={"download_concurrency": value},
                                   timeout=10)
    if answer.status_code != 200:
        raise BenchmarkError(f"download_concurrency={value}: {answer.status_code} {answer.text[:300]}")


def start_second_host(stack: HaulStack, workdir: Path) -> subprocess.Popen:
    """Another `python -m jobs.worker` on the same PostgreSQL + Redis and storage path, with a data dir of its own."""
    env = dict(stack.env)
    data_dir = workdir / "host2-data"
    data_dir.mkdir(parents=True)
    env.update(HAUL_DATA_DIR=str(data_dir), HAUL_STORAGE_ROOT=str(stack.storage_root))
    log_path = workdir / "host2-worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "worker started" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchmarkError(f"second worker host did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return proc


def hosts_of(logs: dict[str, Path], job_ids: list[int]) -> dict[str, int]:
    """How many of the jobs each worker host ran: the "job N: attempt …" lines of its log."""
    import re

    wanted, counts = set(job_ids), {}
    for host, path in logs.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        ran = {int(n) for n in re.findall(r"jobs\.runner: job (\d+): attempt 1 of", text)}
        counts[host] = len(ran & wanted)
    return counts


def run_batch(stack: HaulStack, urls: list[str], timeout: float) -> dict:
    """Submit in POSTs of 200 (the API's limit), poll every 0.25 s until every job ends."""
    session = _auth_session()
    began = time.perf_counter()
    download_ids = []
    for start in range(0, len(urls), 200):
        answer = session.post(stack.base_url + "/downloads", json={"urls": urls[start:start + 200]}, timeout=30)
        if answer.status_code != 202:
            raise BenchmarkError(f"POST /downloads answered {answer.status_code}: {answer.text[:300]}")
        download_ids.append(answer.json()["download_id"])
    while True:
        jobs = []
        for download_id in download_ids:
            jobs += session.get(f"{stack.base_url}/downloads/{download_id}", timeout=30).json()["jobs"]
        if all(job["status"] in TERMINAL for job in jobs):
            break
        if time.perf_counter() - began > timeout:
            raise BenchmarkError(f"{sum(j['status'] not in TERMINAL for j in jobs)} of {len(jobs)} jobs not done "
                                 f"after {timeout} s")
        time.sleep(0.25)
    seconds = time.perf_counter() - began
    bad = [j for j in jobs if j["status"] != "completed"]
    if bad:
        raise BenchmarkError(f"{len(bad)} jobs did not complete: {[(j['url'], j['status'], j.get('error')) for j in bad[:3]]}")
    return {"seconds": seconds, "links_per_s": len(urls) / seconds, "job_ids": [j["id"] for j in jobs]}


def scale_out(site: MediaSite, workdir: Path, links: int, threads: int, kb: int, rate: int) -> dict:
    stack = HaulStack(workdir / "stack-scale", api_token=API_TOKEN, workers=threads, scale_out=True,
                      extra_env=ADMIN_ENV)
    second = None
    results: dict = {"links": links, "threads": threads, "kb": kb, "rate_kib_s": rate}
    run_id = uuid.uuid4().hex[:8]
    logs = {"host 1": stack.workdir / "worker.log", "host 2": workdir / "host2-worker.log"}

    def fresh(phase: str) -> list[str]:
        return [site.url(f"/slow/scale-{run_id}-{phase}-{i}.jpg?kb={kb}&rate={rate}") for i in range(links)]

    try:
        log(f"[scale] starting Haul on PostgreSQL + Redis, host 1: {threads} threads ...")
        stack.start()
        set_concurrency(stack, threads)
        run_batch(stack, [site.url(f"/slow/scale-{run_id}-warm-{i}.jpg?kb=8&rate=1024") for i in range(threads)], 60)
        ideal = links * kb / rate / threads
        log(f"[scale] 1 host, concurrency {threads}: {links} links (ideal {ideal:.1f} s) ...")
        one = run_batch(stack, fresh("one"), timeout=ideal * 4 + 60)
        results["one_host"] = {k: v for k, v in one.items() if k != "job_ids"}
        results["one_host"]["by_worker"] = hosts_of(logs, one["job_ids"])

        log("[scale] starting host 2 (its own HAUL_DATA_DIR, the same database, Redis and storage) ...")
        second = start_second_host(stack, workdir)
        set_concurrency(stack, 2 * threads)
        time.sleep(2.5)  # the consumers grow their pools on their next check (every 2 s)
        log(f"[scale] 2 hosts, concurrency {2 * threads}: {links} links (ideal {ideal / 2:.1f} s) ...")
        two = run_batch(stack, fresh("two"), timeout=ideal * 4 + 60)
        results["two_hosts"] = {k: v for k, v in two.items() if k != "job_ids"}
        results["two_hosts"]["by_worker"] = hosts_of(logs, two["job_ids"])
        results["ratio"] = results["two_hosts"]["links_per_s"] / results["one_host"]["links_per_s"]

        log(f"[scale] control: host 2 stopped; 1 host, concurrency {2 * threads} ...")
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        control = run_batch(stack, fresh("control"), timeout=ideal * 4 + 60)
        results["control"] = {k: v for k, v in control.items() if k != "job_ids"}
        results["control"]["by_worker"] = hosts_of(logs, control["job_ids"])
        results["control_ratio"] = results["control"]["links_per_s"] / results["one_host"]["links_per_s"]
        results["ideal_one_s"] = ideal
    finally:
        if second is not None and second.poll() is None:
            second.kill()
            second.wait(10)
        stack.stop()
    return results


# -- report -----------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(res: dict) -> None:
    print()
    print(f"bench_scale_out: {res['load_before']} at the start, {res.get('load_after', '?')} at the end")
    for backend, r in res.get("small", {}).items():
        b = r["breakdown"]
        print(f"1. 50 links on {backend}: Haul {r['haul_s']:.2f} s, gallery-dl {r['gallery_dl_s']:.2f} s (same run): "
              f"{r['ratio']:.2f}x (aim <= {SMALL_AIM}x: {verdict(r['ratio'] <= SMALL_AIM)}); server side: last job "
              f"finished {b['server_span_s']:.2f} s after the submission ({b['server_span_s'] / r['gallery_dl_s']:.2f}x); "
              f"cold start "
              f"{r['cold_start_s']:.2f} s; first pickup {b['first_pickup_ms']:.0f} ms; CPU web {r['cpu_s']['web']:.2f} s, "
              f"worker {r['cpu_s']['worker']:.2f} s")
        for engine, e in b["engines"].items():
            print(f"     {engine:<10} {e['jobs']:>3} jobs: run median {e['run_median_ms']:.0f} ms, max "
                  f"{e['run_max_ms']:.0f} ms, sum {e['run_sum_s']:.2f} s; longest queue wait {e['wait_max_ms']:.0f} ms")
    mem = res.get("small", {}).get("sqlite")
    if mem and "imports" in mem:
        p = mem["pss"]
        print(f"5. peak PSS web + worker, SQLite, 50 links: {p['peak_mb']:.0f} MB (aim {PSS_AIM_MB:.0f} MB: "
              f"{verdict(p['peak_mb'] <= PSS_AIM_MB)}); a bare python's PSS {mem['bare_python_pss_mb']:.1f} MB "
              f"(baseline: {p['peak_mb'] / mem['bare_python_pss_mb']:.1f}x); {p['fork_transients_left_out']} "
              "fork-exec transient(s) left out")
        idle = mem["idle_pss"]
        print(f"   idle after the warm-up: {idle['total_mb']:.0f} MB: " + ", ".join(
            f"{role}[{label}] {mb:.1f}" for role, label, mb in idle["per_process"]))
        print("   per process at the peak: " + ", ".join(f"{role}[{label}] {mb:.1f}" for role, label, mb in p["per_process"]))
        for label, groups in p["groups"]:
            print(f"   {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
                                          if v >= 0.5))
        print("   imports in a fresh interpreter (USS after, added):")
        for label, uss, added in mem["imports"]:
            print(f"     {label:<60} {uss:6.1f} MB  +{added:5.1f}")
    for engine in ("direct", "yt-dlp"):
        r = res.get("big", {}).get(engine)
        if r:
            print(f"2. {res['big']['mb']} MiB, {engine} (ran as {r['engine_used']}): Haul {r['haul_mib_s']:.0f} MiB/s "
                  f"submit→completed ({r['haul_s']:.2f} s), {r['haul_run_mib_s']:.0f} MiB/s started→finished; curl -o "
                  f"{r['curl']['mib_s']:.0f} MiB/s ({r['curl']['seconds']:.2f} s) at the worker's nice {WORKER_NICE}, "
                  f"{r['curl_nice0']['mib_s']:.0f} MiB/s at nice 0: {r['ratio']:.2f}x / "
                  f"{r['ratio_run']:.2f}x (aim >= {BIG_AIM}x: {verdict(r['ratio'] >= BIG_AIM)}); worker CPU "
                  f"{r['worker_cpu_s_per_gib']:.2f} s per GiB")
    s = res.get("scale")
    if s and "ratio" in s:
        print(f"4. {s['links']} links of {s['kb']} KiB at {s['rate_kib_s']} KiB/s a connection, {s['threads']} threads a host:")
        print(f"   1 host  (concurrency {s['threads']}): {s['one_host']['seconds']:.1f} s, "
              f"{s['one_host']['links_per_s']:.2f} links/s (ideal {s['ideal_one_s']:.1f} s) {s['one_host']['by_worker']}")
        print(f"   2 hosts (concurrency {2 * s['threads']}): {s['two_hosts']['seconds']:.1f} s, "
              f"{s['two_hosts']['links_per_s']:.2f} links/s {s['two_hosts']['by_worker']}: {s['ratio']:.2f}x "
              f"(aim >= {SCALE_AIM}x: {verdict(s['ratio'] >= SCALE_AIM)})")
        if "control" in s:
            print(f"   control, 1 host (concurrency {2 * s['threads']}): {s['control']['seconds']:.1f} s, "
                  f"{s['control']['links_per_s']:.2f} links/s: {s['control_ratio']:.2f}x")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="small,big,scale", help="comma-separated: small (with memory), big, scale")
    parser.add_argument("--backends", default="sqlite,postgresql", help="for small: sqlite, postgresql")
    parser.add_argument("--big-mb", type=int, default=1024, help="the big file's size in MiB (default 1024)")
    parser.add_argument("--big-engines", default="direct,yt-dlp")
    parser.add_argument("--scale-links", type=int, default=400)
    parser.add_argument("--scale-threads", type=int, default=8, help="download threads a host (default 8)")
    parser.add_argument("--scale-kb", type=int, default=64, help="each throttled link's size in KiB (default 64)")
    parser.add_argument("--scale-rate", type=int, default=32, help="KiB/s a connection (default 32: 2 s a link)")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    only = set(args.only.split(","))

    res: dict = {"load_before": uptime()}
    workdir = Path(tempfile.mkdtemp(prefix="haul-bench-scale-"))
    failed = False
    began = time.monotonic()
    try:
        with MediaSite(ROOT / "tests" / ".assets") as site:
            links = Links(site)
            if "small" in only:
                res["small"] = {}
                for backend in args.backends.split(","):
                    res["small"][backend] = small_round(site, links, workdir, backend, with_memory=backend == "sqlite")
            if "big" in only:
                res["big"] = big_file(site, workdir, args.big_mb, args.big_engines.split(","))
            if "scale" in only:
                res["scale"] = scale_out(site, workdir, args.scale_links, args.scale_threads, args.scale_kb,
                                         args.scale_rate)
    except (Exception, KeyboardInterrupt) as exc:
        failed = True
        if not isinstance(exc, BenchmarkError):
            traceback.print_exc()
        print(f"\nBENCHMARK FAILED: {exc!r}\nlogs kept in {workdir}", file=sys.stderr)
    res["load_after"] = uptime()
    res["run_seconds"] = time.monotonic() - began
    report(res)
    print(f"whole run: {res['run_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    if not failed and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif args.keep:
        print(f"kept {workdir}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
