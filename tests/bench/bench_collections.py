"""Collections and subscriptions at scale (issue 14): a 1,000-item feed, and 200 subscriptions due at once.

Run by `make bench` after tests/bench/bench_api.py, or alone:
``.venv/bin/python tests/bench/bench_collections.py [--items N] [--subscriptions N] [--json PATH] [--check]``.

Each figure is printed beside a baseline measured in the same run, on the same host, because this
host's speed varies by 2x from day to day (docs/benchmarks.md): the ratio is what carries over.

1. A 1,000-item collection. The local media site serves an RSS feed of 1,000 items whose links are
   slow images (256 KiB at 32 KiB/s), so the children are queued but only the worker's three
   download slots' worth run during the measurement. Measured on a real stack (gunicorn + gevent,
   the Huey consumer):
   a. the listing alone: `python -m jobs.listing` on the feed (the engines' own listing in a
      process of its own, start-up included), what the worker does before it queues anything;
   b. submit → collection: from `POST /api/v1/queue` of the feed URL until the parent is kind
      "collection" with all its children written (the database polled read-only every 20 ms);
      (b) − (a) is the queuing beyond the listing (target: under 3 s);
   c. the precise figure: `collections.expand` alone, in-process, on a copy of a migrated database
      (a parent in status downloading, a Listing of 1,000 Items), the median of 3;
   baseline: the same number of equivalent links (the slow images of a second feed of the same
   shape: the feed's own would be deduplicated against its children) sent as 5
   `POST /api/v1/queue` of 200 — queuing the same rows by hand;
   d. meanwhile a client in its own process (so it shares no GIL with the media site) fetches
      the queue page `GET /` (signed in) and `GET /api/v1/queue` (bearer token) in a loop: p50/p95 while the
      collection is listed and expanded, against the same client on the idle stack just before
      (target: p95 under 100 ms meanwhile).
2. 200 subscriptions due at the same minute ("every 1 hour", next run now), written to the database
   before any worker runs; then TWO worker processes start together, so their start-up scheduler
   passes (and the minute's periodic pass) race for the same subscriptions. Figures: the time from
   starting the workers until every subscription has a run (target: within 60 s), and how many
   subscriptions got more than one run (target: none), counted after the next minute's periodic
   pass has run too. Baseline: the same workers' start-up (spawn → "worker started" in the log),
   which the first figure includes and which has nothing to do with the scheduler. The scheduler's
   own cost is measured in-process too: `runs.fire_due` over the 200 due subscriptions against the
   same pass with none due.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))  # the in-process figures import webapp

from support.media_site import MediaSite
from support.stack import HaulStack

from bench.benchmark import percentile

API_TOKEN = "bench-static-token-0123456789"
ADMIN = {"HAUL_ADMIN_USERNAME": "bench", "HAUL_ADMIN_PASSWORD": "bench-password-0123"}
BATCH = 200  # the baseline's URLs per POST /api/v1/queue
IDLE_SECONDS = 5.0  # the page client's baseline window on the idle stack

TARGETS = {
    "queuing_beyond_listing_s": ("max", 3.0),
    "pages_p95_during_ms": ("max", 100.0),
    "subscriptions_all_started_s": ("max", 60.0),
    "subscriptions_doubled": ("max", 0),
}


class BenchError(Exception):
    pass


# -- reading the stack's database (read-only, as another process would) -------------------------

def read_only(stack: HaulStack) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{stack.data_dir / 'haul.db'}?mode=ro", uri=True, timeout=5)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchError(f"{what} not within {timeout:.0f} s")


# -- the page client (a separate process) -------------------------------------------------------

# Between two rounds of the page client (a page and an API list each): five rounds a second is
# a household's worth of people browsing at once (the pages themselves update over SSE and do not
# poll). --page-pause 0.01 is the stress run recorded first in docs/benchmarks.md.
PAGE_PAUSE = 0.2


def set_page_pause(seconds: float) -> None:
    global PAGE_PAUSE
    PAGE_PAUSE = seconds


def _page_client(base_url: str, token: str, username: str, password: str, ready, stop, results) -> None:
    """Signs in, then fetches the queue page GET / and GET /api/v1/queue in turn until `stop`; puts
    [(monotonic start, path, ms, status)] on `results`."""
    try:
        os.setsid()  # as benchmark._load_clients: not in the benchmark's process group
    except OSError:
        pass
    page = requests.Session()
    login = page.get(base_url + "/login", timeout=10)
    token_field = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)
    signed_in = page.post(base_url + "/login", timeout=10, allow_redirects=False,
                          data={"csrf_token": token_field.group(1) if token_field else "",
                                "username": username, "password": password})
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    samples = []
    if signed_in.status_code not in (302, 303):
        results.put(("sign-in answered", signed_in.status_code))
        return
    ready.set()
    while not stop.is_set():
        for client, path in ((page, "/"), (api, "/api/v1/queue")):
            began = time.monotonic()
            answer = client.get(base_url + path, timeout=30, allow_redirects=False)
            samples.append((began, path, (time.monotonic() - began) * 1000, answer.status_code))
        time.sleep(PAGE_PAUSE)
    results.put(("samples", samples))


class PageClient:
    def __init__(self, stack: HaulStack):
        context = multiprocessing.get_context("spawn")
        self.ready, self.stop_event, self.results = context.Event(), context.Event(), context.Queue()
        self.process = context.Process(target=_page_client, args=(
            stack.base_url, stack.api_token, ADMIN["HAUL_ADMIN_USERNAME"], ADMIN["HAUL_ADMIN_PASSWORD"],
            self.ready, self.stop_event, self.results))

    def __enter__(self):
        self.process.start()
        if not self.ready.wait(30):
            self.process.kill()
            raise BenchError("the page client did not sign in")
        return self

    def stop(self) -> list:
        self.stop_event.set()
        kind, payload = self.results.get(timeout=60)
        self.process.join(10)
        if kind != "samples":
            raise BenchError(f"page client: {kind} {payload}")
        bad = sorted({status for _, _, _, status in payload if status != 200})
        if bad:
            raise BenchError(f"the page client got {bad}")
        return payload

    def __exit__(self, *exc):
        if self.process.is_alive():
            self.process.kill()


def latency(samples: list, start: float, end: float) -> dict:
    within = [ms for began, _, ms, _ in samples if start <= began < end]
    pages = [ms for began, path, ms, _ in samples if start <= began < end and path == "/"]
    if not within:
        return {"requests": 0, "p50_ms": float("nan"), "p95_ms": float("nan"), "max_ms": float("nan"),
                "page_p95_ms": float("nan")}
    return {"requests": len(within), "p50_ms": statistics.median(within), "p95_ms": percentile(within, 95),
            "max_ms": max(within), "page_p95_ms": percentile(pages, 95) if pages else float("nan")}


# -- 1. a 1,000-item collection -----------------------------------------------------------------

def time_listing(stack: HaulStack, url: str, items: int) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jobs.listing", json.dumps({"url": url, "public_only": False})],
                          check=False, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - began
    answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    entries = len(answer.get("listing", {}).get("entries", []))
    if entries != items:
        raise BenchError(f"jobs.listing gave {entries} entries, not {items}: {done.stdout[-300:]} {done.stderr[-500:]}")
    return seconds


def _utc_epoch(stored: str) -> float:
    """A time as SQLite holds Haul's UTC datetimes ("YYYY-MM-DD HH:MM:SS.ffffff"), as epoch seconds."""
    from datetime import datetime, timezone

    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc).timestamp()


def collection_phase(site: MediaSite, workdir: Path, items: int, log) -> dict:
    site.feed("big", count=items)
    site.feed("byhand", count=items)
    feed_url = site.url("/feed/big.xml?links=slow")
    by_hand = [site.url(site.feed("byhand").link_path(item, slow=True)) for item in site.feed("byhand").items]
    stack = HaulStack(workdir / "stack", api_token=API_TOKEN, extra_env=ADMIN)
    stack.workdir.mkdir(parents=True)
    stack.migrate()
    migrated = workdir / "migrated.db"
    shutil.copyfile(stack.data_dir / "haul.db", migrated)
    try:
        stack.start_web()
        stack.start_worker()
        log(f"collection 1a: jobs.listing of a {items}-item feed ...")
        listings = [time_listing(stack, feed_url, items) for _ in range(2)]
        listing_s = min(listings)

        log("collection 1b: submit the feed, page client running (idle window first) ...")
        with PageClient(stack) as client:
            idle_from = time.monotonic()
            time.sleep(IDLE_SECONDS)
            idle_to = time.monotonic()
            began = submitted = time.monotonic()
            answer = stack.session.post(f"{stack.base_url}/api/v1/queue", json={"url": feed_url}, timeout=30)
            if answer.status_code != 201:
                raise BenchError(f"POST /api/v1/queue answered {answer.status_code}: {answer.text[:200]}")
            parent_id = answer.json()["jobs"][0]["id"]
            database = read_only(stack)

            def expanded():
                kind, total = database.execute("select kind, items_total from jobs where id=?", (parent_id,)).fetchone()
                if kind != "collection":
                    return None
                children = database.execute("select count(*) from jobs where parent_id=?", (parent_id,)).fetchone()[0]
                return (kind, total, children) if children >= items else None

            started = wait_for(lambda: database.execute("select started_at from jobs where id=? and started_at is not null",
                                                        (parent_id,)).fetchone(), 120, "the parent's start")
            claimed = time.monotonic() - began
            _kind, total, children = wait_for(expanded, 300, "the collection's children")
            submit_to_collection = time.monotonic() - began
            visible_wall = time.time()
            # The children's rows carry the moment expand() began, that is the listing's end.
            expand_began = database.execute("select min(created_at) from jobs where parent_id=?",
                                            (parent_id,)).fetchone()[0]
            parent_started = database.execute("select started_at from jobs where id=?", (parent_id,)).fetchone()[0]
            expand_began_wall = _utc_epoch(expand_began)
            worker_listing_s = expand_began_wall - _utc_epoch(parent_started)
            worker_expansion_s = visible_wall - expand_began_wall
            done_at = time.monotonic()
            time.sleep(1.0)
            samples = client.stop()
        del started
        queued_now = database.execute("select count(*) from jobs where parent_id=? and status='queued'",
                                      (parent_id,)).fetchone()[0]
        database.close()

        log(f"collection baseline: {items} links as {-(-items // BATCH)} POST /api/v1/queue of {BATCH} ...")
        posts = []
        began = time.monotonic()
        for start in range(0, len(by_hand), BATCH):
            sent = time.monotonic()
            answer = stack.session.post(f"{stack.base_url}/api/v1/queue", json={"urls": by_hand[start:start + BATCH]},
                                        timeout=60)
            posts.append(time.monotonic() - sent)
            if answer.status_code != 201 or len(answer.json()["jobs"]) != len(by_hand[start:start + BATCH]):
                raise BenchError(f"POST /api/v1/queue of {BATCH} answered {answer.status_code}: {answer.text[:200]}")
        by_hand_s = time.monotonic() - began
    finally:
        stack.stop()

    log("collection 1c: collections.expand in-process on a copy of the migrated database ...")
    expand = expand_in_process(migrated, workdir / "inprocess", items)
    return {
        "items": items,
        "listing_s": listing_s,
        "listing_runs_s": listings,
        "claimed_s": claimed,
        "submit_to_collection_s": submit_to_collection,
        "queuing_beyond_listing_s": submit_to_collection - listing_s,
        "worker_listing_s": worker_listing_s,
        "worker_expansion_s": worker_expansion_s,
        "page_pause_s": PAGE_PAUSE,
        "children": children,
        "items_total": total,
        "children_still_queued": queued_now,
        "by_hand_s": by_hand_s,
        "by_hand_posts_s": posts,
        "expand_in_process": expand,
        "pages_idle": latency(samples, idle_from, idle_to),
        "pages_during": latency(samples, submitted, done_at),
    }


def unit_settings(workdir: Path):
    from webapp.config import load_settings

    workdir.mkdir(parents=True, exist_ok=True)
    env = {"HAUL_DATA_DIR": str(workdir / "data"), "HAUL_STORAGE_ROOT": str(workdir / "library"),
           "HAUL_API_TOKEN": API_TOKEN, "HAUL_SECRET_KEY": "bench-secret", "HAUL_LOG_LEVEL": "WARNING"}
    return load_settings(env, env_file=None)


def in_process_app(migrated: Path, workdir: Path):
    from flask_migrate import upgrade

    from webapp import create_app

    settings = unit_settings(workdir)
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, path)
    app = create_app(settings, role="test", TESTING=True)
    with app.app_context():
        upgrade()  # at head already: a check, not a migration
    return app


def expand_in_process(migrated: Path, workdir: Path, items: int, repeats: int = 3) -> dict:
    from webapp.core.item_filters import Item
    from webapp.core.listings import Listing
    from webapp.core.vocabulary import DOWNLOADING
    from webapp.extensions import db
    from webapp.models import Job, Submission
    from webapp.models.base import utcnow
    from webapp.services.queue import collections

    app = in_process_app(migrated, workdir)
    seconds = []
    with app.app_context():
        for repeat in range(repeats):
            # Fresh links each time: the same ones again would all be duplicates of the first run's.
            entries = [Item(url=f"http://127.0.0.1:9/slow/r{repeat}-{k}.jpg?kb=256&rate=32", title=f"Episode {k}",
                            published=utcnow() - timedelta(days=k), duration=1.0, item_key=f"Generic:r{repeat}-{k}")
                       for k in range(items)]
            listing = Listing(collection_id="http://127.0.0.1:9/feed/big.xml", title="Feed big", extractor="Generic",
                              entries=entries)
            submission = Submission(items=[{"url": f"http://127.0.0.1:9/feed/r{repeat}.xml"}])
            db.session.add(submission)
            db.session.flush()
            parent = Job(submission_id=submission.id, url=f"http://127.0.0.1:9/feed/r{repeat}.xml", domain="127.0.0.1",
                         status=DOWNLOADING, started_at=utcnow())
            db.session.add(parent)
            db.session.commit()
            parent_id = parent.id
            began = time.perf_counter()
            expanded = collections.expand(parent_id, listing, base_folder=None)
            seconds.append(time.perf_counter() - began)
            if len(expanded.child_ids) != items:
                raise BenchError(f"expand queued {len(expanded.child_ids)} of {items}")
        db.session.remove()
        db.engine.dispose()
    return {"runs_s": seconds, "median_s": statistics.median(seconds)}


# -- 2. subscriptions due at the same minute --------------------------------------------------------

def add_subscriptions(app, site: MediaSite, count: int) -> None:
    from webapp.extensions import db
    from webapp.models import Subscription
    from webapp.models.base import utcnow

    now = utcnow()
    with app.app_context():
        for index in range(count):
            site.feed(f"sub{index}", count=2)
            db.session.add(Subscription(
                user_id=None, name=f"Feed {index}", url=site.url(f"/feed/sub{index}.xml"), domain="127.0.0.1",
                schedule_kind="interval", interval_seconds=3600, first_run="newest", first_run_count=2,
                enabled=True, next_run_at=now, created_at=now, updated_at=now))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def stack_app(stack: HaulStack):
    from webapp import create_app
    from webapp.config import load_settings

    return create_app(load_settings(stack.env, env_file=None), role="test")


def fire_due_in_process(migrated: Path, site: MediaSite, workdir: Path, count: int) -> dict:
    from webapp.extensions import db
    from webapp.services.subscriptions import runs

    app = in_process_app(migrated, workdir)
    with app.app_context():
        began = time.perf_counter()
        none_due = runs.fire_due()
        empty_s = time.perf_counter() - began
        db.session.remove()
    assert not none_due
    add_subscriptions(app, site, count)
    with app.app_context():
        began = time.perf_counter()
        started = runs.fire_due()
        full_s = time.perf_counter() - began
        db.session.remove()
        db.engine.dispose()
    if len(started) != count:
        raise BenchError(f"fire_due started {len(started)} of {count}")
    return {"empty_pass_s": empty_s, "pass_s": full_s, "per_subscription_ms": full_s / count * 1000}


def subscriptions_phase(site: MediaSite, workdir: Path, count: int, log) -> dict:
    stack = HaulStack(workdir / "stack-subs", api_token=API_TOKEN, extra_env=ADMIN)
    stack.workdir.mkdir(parents=True)
    stack.migrate()
    migrated = workdir / "migrated-subs.db"
    shutil.copyfile(stack.data_dir / "haul.db", migrated)
    log(f"subscriptions 2: {count} due subscriptions written, then two workers started together ...")
    add_subscriptions(stack_app(stack), site, count)
    second = None
    try:
        stack.start_web()
        began = time.monotonic()
        stack.worker = stack._spawn([sys.executable, "-m", "jobs.worker"], "worker.log", new_session=True)
        second = stack._spawn([sys.executable, "-m", "jobs.worker"], "worker2.log", new_session=True)
        database = read_only(stack)
        startups: dict[str, float] = {}
        started_all = None
        while time.monotonic() - began < 180:
            for name in ("worker.log", "worker2.log"):
                if name not in startups and "worker started" in stack.log(name):
                    startups[name] = time.monotonic() - began
            if started_all is None:
                have = database.execute("select count(distinct subscription_id) from subscription_runs").fetchone()[0]
                if have >= count:
                    started_all = time.monotonic() - began
            if started_all is not None and len(startups) == 2:
                break
            time.sleep(0.05)
        if started_all is None:
            raise BenchError(f"only {have} of {count} subscriptions had a run after 180 s")
        # Past the next minute's periodic pass (both workers run it), so it had its chance to double too.
        now = time.time()
        time.sleep(60 - now % 60 + 5)
        doubled = database.execute(
            "select count(*) from (select subscription_id from subscription_runs group by subscription_id"
            " having count(*) > 1)").fetchone()[0]
        runs_total = database.execute("select count(*) from subscription_runs").fetchone()[0]
        skipped = database.execute("select count(*) from subscription_runs where status='skipped'").fetchone()[0]
        database.close()
    finally:
        if second is not None and second.poll() is None:
            second.terminate()
            try:
                second.wait(20)
            except subprocess.TimeoutExpired:
                second.kill()
        stack.stop()
    log("subscriptions 2: runs.fire_due in-process (200 due, then none due) ...")
    in_process = fire_due_in_process(migrated, site, workdir / "inprocess-subs", count)
    return {"subscriptions": count, "all_started_s": started_all, "worker_startup_s": max(startups.values()),
            "worker_startups_s": sorted(startups.values()), "doubled": doubled, "runs": runs_total,
            "skipped_runs": skipped, "fire_due_in_process": in_process}


# -- report -------------------------------------------------------------------------------------

def figures_of(result: dict) -> dict:
    c, s = result["collection"], result["subscriptions"]
    return {
        "queuing_beyond_listing_s": c["queuing_beyond_listing_s"],
        "pages_p95_during_ms": c["pages_during"]["p95_ms"],
        "subscriptions_all_started_s": s["all_started_s"],
        "subscriptions_doubled": s["doubled"],
    }


def missed_targets(figures: dict) -> list[str]:
    return [key for key, (kind, bound) in TARGETS.items()
            if (kind == "max" and figures[key] > bound) or (kind == "min" and figures[key] < bound)]


def report(result: dict) -> list[str]:
    c, s = result["collection"], result["subscriptions"]
    missed = missed_targets(figures_of(result))

    def mark(key: str) -> str:
        return "MISSED" if key in missed else "met"

    e, f = c["expand_in_process"], s["fire_due_in_process"]
    idle, during = c["pages_idle"], c["pages_during"]
    rows = [
        ("figure", "value", "baseline", "ratio / target"),
        (f"listing alone (jobs.listing, {c['items']} items), best of 2", f"{c['listing_s']:.2f} s", "", ""),
        ("submit feed → parent claimed", f"{c['claimed_s']:.2f} s", "", ""),
        (f"submit feed → collection with {c['children']} children", f"{c['submit_to_collection_s']:.2f} s", "", ""),
        ("queuing beyond the listing", f"{c['queuing_beyond_listing_s']:.2f} s",
         f"{c['by_hand_s']:.2f} s ({len(c['by_hand_posts_s'])} POSTs of up to {BATCH})",
         f"{c['queuing_beyond_listing_s'] / c['by_hand_s']:.2f}x; < 3 s: {mark('queuing_beyond_listing_s')}"),
        ("  in the worker: its listing; its expansion (listing's end → children visible)",
         f"{c['worker_listing_s']:.2f} s; {c['worker_expansion_s']:.2f} s", "",
         f"page client: a round every {c['page_pause_s']:g} s"),
        (f"collections.expand in-process, median of {len(e['runs_s'])}", f"{e['median_s'] * 1000:.0f} ms",
         f"{c['by_hand_s'] * 1000:.0f} ms", f"{e['median_s'] / c['by_hand_s']:.2f}x"),
        ("pages (GET / + /api/v1/queue) p50", f"{during['p50_ms']:.1f} ms", f"{idle['p50_ms']:.1f} ms idle",
         f"{during['p50_ms'] / idle['p50_ms']:.2f}x"),
        ("pages p95 during listing + expansion", f"{during['p95_ms']:.1f} ms", f"{idle['p95_ms']:.1f} ms idle",
         f"{during['p95_ms'] / idle['p95_ms']:.2f}x; < 100 ms: {mark('pages_p95_during_ms')}"),
        ("  the queue page GET / alone p95; max of all", f"{during['page_p95_ms']:.1f} / {during['max_ms']:.1f} ms",
         f"{idle['page_p95_ms']:.1f} ms idle", ""),
        (f"{s['subscriptions']} due subscriptions, 2 workers: all started", f"{s['all_started_s']:.2f} s",
         f"{s['worker_startup_s']:.2f} s start-up",
         f"{s['all_started_s'] / s['worker_startup_s']:.2f}x; < 60 s: {mark('subscriptions_all_started_s')}"),
        ("  subscriptions with more than one run", f"{s['doubled']}", f"{s['runs']} runs, {s['skipped_runs']} skipped",
         f"none: {mark('subscriptions_doubled')}"),
        (f"runs.fire_due in-process, {s['subscriptions']} due", f"{f['pass_s'] * 1000:.0f} ms",
         f"{f['empty_pass_s'] * 1000:.1f} ms none due", f"{f['per_subscription_ms']:.2f} ms a subscription"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print("  " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  " + "-+-".join("-" * w for w in widths))
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--page-pause", type=float, default=0.2,
                        help="seconds between the page client's rounds (default: five rounds a second)")
    args = parser.parse_args(argv)
    set_page_pause(args.page_pause)
    log = lambda text: print(text, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="haul-bench-collections-") as workdir, \
                MediaSite(str(ROOT / "tests" / ".assets")) as site:
            result = {"collection": collection_phase(site, Path(workdir), args.items, log),
                      "subscriptions": subscriptions_phase(site, Path(workdir), args.subscriptions, log)}
    except BenchError as exc:
        print(f"COLLECTIONS BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 2
    missed = report(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"targets": TARGETS, "figures": figures_of(result),
                                               "missed": missed, "details": result}, indent=2))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
