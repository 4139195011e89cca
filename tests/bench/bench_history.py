"""The history page at scale: 100,000 jobs and 300,000 files, first page and searches, p50/p95.

Run it as ``.venv/bin/python tests/bench/bench_history.py [--jobs N] [--files N] [--requests N]
[--json PATH] [--check]``; ``make bench`` runs it after the download benchmark
(tests/bench/benchmark.py calls `history_benchmark`). Not part of ``make test``.

A fresh SQLite database is built by the real migrations (so the search triggers and the
partial indexes are the ones production has) and seeded in bulk: 100,000 jobs over 300 sites
and 10 users, 85 % completed, 10 % failed, 5 % cancelled, titles of random words, and 300,000
file records (paths like production's: <post title>/<domain>/<resource id>/<name>.<ext>).
Then each view is requested through the Flask test client, in this process, signed in as
the admin (a user for the "own jobs" line): 3 warm-up requests, then `--requests` timed ones
(default 50); p50 and p95 of their wall time. The floor is the cheapest signed-in page in the
same run: an entry that does not exist (the 404 page: session, user, one lookup, the layout).

Target: p95 under 100 ms for the first page and for a search.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 100.0
WARMUP = 3
SITES = 300
USERS = 10
WORDS = [
    "harbour", "sunset", "mountain", "river", "kitten", "garden", "winter", "festival", "concert", "recipe",
    "lecture", "tutorial", "trailer", "interview", "podcast", "gallery", "portrait", "street", "market", "desert",
    "forest", "island", "bridge", "castle", "museum", "station", "library", "workshop", "harvest", "parade",
    "lantern", "meadow", "glacier", "volcano", "canyon", "lagoon", "orchard", "vineyard", "monastery", "lighthouse",
]
# Words that appear in few titles: what a person searching for something specific types.
RARE_WORDS = [f"{w}{n}" for n, w in enumerate(("zephyr", "quokka", "obelisk", "marzipan", "tundra",
                                                "saffron", "origami", "nebula", "tapestry", "gondola"))]
UPLOADERS = 5_000
RARE_TAGS = [f"tag{w}" for w in ("aurora", "basalt", "cobalt", "dulcimer", "ember")]
RARE_DESCRIPTION_WORDS = [f"{w}word" for w in ("quince", "rhubarb", "sorrel", "tarragon", "umber")]
EXTENSIONS = (("jpg", "image/jpeg"), ("png", "image/png"), ("mp4", "video/mp4"), ("webm", "video/webm"),
              ("mp3", "audio/mpeg"), ("json", "application/json"))


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _settings(workdir: Path, database_url: str | None = None):
    from webapp.config import load_settings

    env = {
        "HAUL_DATA_DIR": str(workdir / "data"),
        "HAUL_DATABASE_URL": database_url or f"sqlite:///{workdir / 'haul.db'}",
        "HAUL_STORAGE_ROOT": str(workdir / "library"),
        "HAUL_SECRET_KEY": "history-benchmark",
        "HAUL_LOG_LEVEL": "WARNING",
    }
    return load_settings(env, env_file=None, check_tool_args=False)


def _uploader(rng: random.Random) -> str:
    """A channel: a few big ones, a long tail (Pareto), as the sites are."""
    return f"Channel {min(int(rng.paretovariate(1.0)), UPLOADERS)}"


def _metadata_row(job_id: int, created: datetime, rng: random.Random) -> dict:
    """What a site says of a completed job: uploader, date, length, tags, a description (1 % carry
    a rare word in their tags, 1 % in their description)."""
    tags = rng.sample(WORDS, rng.randint(2, 6))
    if rng.random() < 0.01:
        tags.append(rng.choice(RARE_TAGS))
    words = rng.choices(WORDS, k=30)
    if rng.random() < 0.01:
        words.append(rng.choice(RARE_DESCRIPTION_WORDS))
    return {"job_id": job_id, "uploader": _uploader(rng), "upload_date": (created - timedelta(days=rng.randint(0, 900)))
            .strftime("%Y-%m-%d"), "duration": float(rng.randint(5, 7200)), "tags": "\n".join(tags),
            "description": " ".join(words).capitalize() + ".", "view_count": rng.randint(0, 10**7),
            "extractor": "Youtube"}


def seed(n_jobs: int, n_files: int, rng: random.Random, fast_sqlite: bool = False) -> dict:
    """Bulk-load users, submissions, jobs, file records and metadata. SQLite: multi-row INSERTs
    (the triggers index them as they go). PostgreSQL: COPY (psycopg), with the tables' secondary
    indexes (the trigram ones too) dropped first and built again once the rows are in, as a bulk
    load is done; the foreign keys are not checked row by row (the rows are made consistent)."""
    from sqlalchemy import insert, text

    from webapp.extensions import db
    from webapp.models import Job, JobFile, JobMetadata, Submission
    from webapp.services.accounts import identity as accounts

    began = time.perf_counter()
    admin = accounts.create_user("admin", "bench-password-0123", role="admin")
    users = [accounts.create_user(f"user{i}", "bench-password-0123").id for i in range(USERS - 1)] + [admin.id]
    db.session.commit()
    postgres = db.engine.dialect.name == "postgresql"
    loader = _CopyLoader() if postgres else None
    bulk = _SqliteBulk() if not postgres and fast_sqlite else None
    file_id = 0
    for submission_rows, job_rows, file_rows, metadata_rows in _batches(n_jobs, n_files, rng, users):
        file_id += len(file_rows)
        if loader is not None:
            loader.copy("submissions", submission_rows)
            loader.copy("jobs", job_rows)
            loader.copy("job_files", file_rows)
            loader.copy("job_metadata", metadata_rows)
            continue
        db.session.execute(insert(Submission), submission_rows)
        db.session.execute(insert(Job), job_rows)
        if file_rows:
            db.session.execute(insert(JobFile), file_rows)
        db.session.execute(insert(JobMetadata), metadata_rows)
        db.session.commit()
    inserted = time.perf_counter()
    indexed = inserted
    if loader is not None:
        loader.finish()
        indexed = time.perf_counter()
    if bulk is not None:
        bulk.finish()
        indexed = time.perf_counter()
    # What `PRAGMA optimize` / autovacuum would leave behind on a long-lived database.
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return {
        "jobs": n_jobs, "files": file_id, "users": len(users), "admin_id": admin.id,
        "user_id": users[0], "insert_s": inserted - began, "index_s": indexed - inserted,
        "analyze_s": time.perf_counter() - indexed,
    }


class _SqliteBulk:
    """A bulk load on SQLite: the history's secondary indexes and the search triggers dropped
    while the rows go in, then the indexes made again and the trigram tables rebuilt from their
    content tables in one pass each (`'rebuild'`): the same database the triggers would have
    left, built much faster (at 1,000,000 jobs the triggers took 43 min on a busy machine)."""

    TABLES = ("submissions", "jobs", "job_files", "job_metadata")

    def __init__(self):
        from sqlalchemy import text

        from webapp.extensions import db

        self.saved = db.session.execute(text(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
            "AND tbl_name IN ('submissions', 'jobs', 'job_files', 'job_metadata')")).all()
        for kind, name, _ in self.saved:
            db.session.execute(text(f'DROP {kind.upper()} "{name}"'))
        db.session.commit()

    def finish(self) -> None:
        from sqlalchemy import text

        from webapp.extensions import db

        for kind, _, sql in sorted(self.saved, key=lambda row: row[0]):  # indexes, then triggers
            db.session.execute(text(sql))
        for table in ("jobs_search", "job_files_search", "job_metadata_search"):
            db.session.execute(text(f"INSERT INTO {table} ({table}) VALUES ('rebuild')"))
        db.session.commit()


class _CopyLoader:
    """COPY into PostgreSQL on one raw psycopg connection, secondary indexes dropped until `finish`."""

    TABLES = ("submissions", "jobs", "job_files", "job_metadata")

    def __init__(self):
        from webapp.extensions import db

        self._raw = db.engine.raw_connection()
        self.conn = self._raw.driver_connection
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            # Indexes that back no constraint (primary keys and unique constraints stay).
            cur.execute("SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' "
                        "AND tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                        "WHERE c.conname = i.indexname)", (list(self.TABLES),))
            self.indexes = cur.fetchall()
            for name, _ in self.indexes:
                cur.execute(f'DROP INDEX "{name}"')
            # Skip the foreign-key triggers during the load (superuser; trust auth on the test server).
            cur.execute("SET session_replication_role = replica")
        self.conn.commit()

    def copy(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, (list, dict)) else v for v in row.values()])
        self.conn.commit()

    def finish(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = origin")
            cur.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in self.indexes:
                cur.execute(definition)
            for table in ("jobs", "job_files"):  # ids were given explicitly: move the sequences past them
                sequence = cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
                if sequence:
                    cur.execute(f"SELECT setval(%s, max(id)) FROM {table} HAVING max(id) IS NOT NULL", (sequence,))
        self.conn.commit()
        self._raw.close()


def _batches(n_jobs: int, n_files: int, rng: random.Random, users: list[int]):
    """The rows, 10,000 jobs (and their files and metadata) at a time, as
    (submissions, jobs, files, metadata) lists of dicts."""
    sites = [f"site{i}.example.com" for i in range(SITES - 3)] + ["youtube.com", "imgur.com", "reddit.com"]
    weights = [1.0] * (SITES - 3) + [60.0, 40.0, 30.0]  # a few big sites, a long tail
    start = datetime(2024, 11, 23, tzinfo=timezone.utc)
    step = timedelta(days=730) / n_jobs
    # Files go to completed jobs only (85 %): one each, and the rest spread at random, so some
    # jobs are galleries and most are single files. Decided up front so the total is exact.
    statuses = ["completed" if r < 0.85 else ("failed" if r < 0.95 else "cancelled")
                for r in (rng.random() for _ in range(n_jobs))]
    completed = [i + 1 for i, status in enumerate(statuses) if status == "completed"]
    file_counts = dict.fromkeys(completed, 1)
    for job_id in rng.choices(completed, k=max(0, n_files - len(completed))):
        file_counts[job_id] += 1

    file_id = 0
    batch = 10_000  # generated and inserted a batch at a time: memory stays small
    for first in range(1, n_jobs + 1, batch):
        submission_rows, job_rows, file_rows = [], [], []
        for i in range(first, min(first + batch, n_jobs + 1)):
            status = statuses[i - 1]
            site = rng.choices(sites, weights)[0]
            words = rng.sample(WORDS, rng.randint(2, 5))
            if rng.random() < 0.01:
                words.append(rng.choice(RARE_WORDS))
            title = " ".join(words).capitalize()
            created = start + step * i
            submission_id = f"{i:08d}-0000-4000-8000-000000000000"
            post_title = rng.choice(WORDS).capitalize() if rng.random() < 0.3 else None
            submission_rows.append({"id": submission_id, "post_title": post_title, "label": None, "source": "api",
                                    "user_id": None, "submitted_via": "token", "items": [], "created_at": created})
            url = f"https://{site}/watch/{rng.getrandbits(40):x}-{i}"
            count = file_counts.get(i, 0)
            job_rows.append({
                "id": i, "submission_id": submission_id, "url": url, "domain": site, "dedupe_key": None,
                "status": status, "priority": 0, "rank": created.timestamp(),
                "source": rng.choices(("api", "gui", "invite", "subscription", "cli"), (50, 35, 5, 8, 2))[0],
                "user_id": rng.choice(users), "title": title if status != "failed" else None,
                "error": "HTTP Error 404: Not Found" if status == "failed" else None,
                "created_at": created, "started_at": created, "finished_at": created + timedelta(seconds=20),
                "updated_at": created, "bytes_done": 0, "items_done": count, "attempts": 1,
                "cancel_requested": False,
            })
            folder = f"{post_title + '/' if post_title else ''}{site}/{url.rsplit('/', 1)[1]}"
            stem = "_".join(title.split()[:3]).lower()
            for k in range(count):
                file_id += 1
                ext, mime = rng.choice(EXTENSIONS)
                file_rows.append({"id": file_id, "job_id": i, "path": f"{folder}/{stem}_{k:03d}.{ext}",
                                  "size": rng.randint(20_000, 50_000_000), "sha256": f"{rng.getrandbits(256):064x}",
                                  "mime": mime, "created_at": created + timedelta(seconds=20)})
        metadata_rows = [_metadata_row(row["id"], row["created_at"], rng) for row in job_rows
                         if row["status"] == "completed"]
        yield submission_rows, job_rows, file_rows, metadata_rows


def _timed(client, paths: list[str], headers: dict | None, n: int, expect: int = 200) -> tuple[list, list]:
    """Wall and CPU milliseconds of n requests, each for the next of `paths`, after WARMUP untimed ones.

    CPU time (this thread's) is printed beside wall time: on a shared, busy machine the wall
    time also counts waiting for a core.
    """
    for i in range(WARMUP):
        response = client.get(paths[i % len(paths)], headers=headers)
        assert response.status_code == expect, (paths[i % len(paths)], response.status_code,
                                                 response.get_data(as_text=True)[:500])
    wall, cpu = [], []
    for i in range(n):
        path = paths[i % len(paths)]
        began, began_cpu = time.perf_counter(), time.thread_time()
        response = client.get(path, headers=headers)
        response.get_data()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        assert response.status_code == expect, (path, response.status_code)
    return wall, cpu


def history_benchmark(n_jobs: int = 100_000, n_files: int = 300_000, n_requests: int = 50,
                      workdir: Path | None = None, log=print, database: str = "sqlite",
                      explain: bool = False, fast_sqlite: bool = False) -> dict:
    """Build, seed and measure; returns {"seed": …, "views": {name: {p50_ms, p95_ms, …}}, "floor": name}.
    `database`: "sqlite" (a file in `workdir`) or "postgresql" (a database of its own on the test
    server, tests/support/scale_out.py, dropped afterwards). `explain`: also return the query
    plans of the first page and of a rare-word search."""
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="haul-bench-history-"))
    os.environ.setdefault("HAUL_DATA_DIR", str(workdir / "data"))  # the Huey instance reads it at import
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.services.library import history

    database_url = None
    if database == "postgresql":
        sys.path.insert(0, str(ROOT / "tests"))
        from support import scale_out

        database_url = scale_out.create_database("haul_bench_history")
    rng = random.Random(20261123)
    app = create_app(_settings(workdir, database_url), role="test")
    try:
        with app.app_context():
            upgrade()
            log(f"history benchmark ({database}): seeding {n_jobs:,} jobs and {n_files:,} files ...")
            seeded = seed(n_jobs, n_files, rng, fast_sqlite)
            seeded["database"] = database
            if database_url:
                seeded["db_mb"] = db.session.scalar(text_("SELECT pg_database_size(current_database())")) / 1e6
                how = "COPY, then the secondary and trigram indexes built"
            else:
                seeded["db_mb"] = (workdir / "haul.db").stat().st_size / 1e6
                how = ("multi-row INSERTs, then the indexes and search tables built" if fast_sqlite else
                       "multi-row INSERTs, indexes and search tables kept up by the triggers")
            seeded["build_s"] = seeded["insert_s"] + seeded["index_s"] + seeded["analyze_s"]
            log(f"  built in {seeded['build_s']:.1f} s: rows made and loaded {seeded['insert_s']:.1f} s ({how}), "
                f"indexes {seeded['index_s']:.1f} s, ANALYZE {seeded['analyze_s']:.1f} s; database "
                f"{seeded['db_mb']:.0f} MB")
            app.teardown_request(lambda exc: g.__dict__.clear())
            client = app.test_client()

            def sign_in(user_id: int) -> None:
                with client.session_transaction() as session:
                    session["_user_id"] = str(user_id)
                    session["_fresh"] = True

            htmx = {"HX-Request": "true"}
            rare = [f"/history?q={word}" for word in RARE_WORDS]
            rare_partial = rare
            file_names = [f"/history?q={w1}_{w2}" for w1, w2 in zip(WORDS[::2], WORDS[1::2])][:10]
            views: dict[str, dict] = {}

            def measure(name: str, label: str, paths, headers=None, user=None, expect=200) -> None:
                sign_in(user or seeded["admin_id"])
                paths = [paths] if isinstance(paths, str) else paths
                times, cpu = _timed(client, paths, headers, n_requests, expect)
                shown = paths[0] if len(paths) == 1 else f"{paths[0]} (… {len(paths)} different)"
                views[name] = {"label": label, "path": shown, "requests": len(times),
                               "p50_ms": statistics.median(times), "p95_ms": percentile(times, 95),
                               "max_ms": max(times), "cpu_p50_ms": statistics.median(cpu),
                               "cpu_p95_ms": percentile(cpu, 95)}

            measure("floor", "404 page of a missing entry (the floor)", f"/history/{n_jobs + 10}", expect=404)
            measure("first_page", "first page, admin (full page)", "/history")
            measure("first_page_user", "first page, one user's jobs", "/history", user=seeded["user_id"])
            measure("search", "search a rare title word (full page)", rare)
            measure("search_partial", "search as you type (htmx partial)", rare_partial, headers=htmx)
            measure("search_file", "search a file name", file_names)
            measure("search_common", "search a common word (\"youtube\")", "/history?q=youtube")
            measure("search_every_file", "search a word in 1 of 6 file names (\"jpg\")", "/history?q=jpg")
            measure("search_two", "search two words (\"gallery harbour\")", "/history?q=gallery+harbour")
            measure("filters", "status + domain + source filters", "/history?status=failed&domain=youtube.com&source=gui")
            measure("deep_page", "page 2,000", "/history?page=2000")
            # What the sites said (issue 15): uploader, tags, description, and the new filters.
            measure("search_uploader", "search a small channel's name", [f"/history?q=%22Channel+{n}%22"
                                                                             for n in range(50, 60)])
            measure("search_tag", "search a rare tag", [f"/history?q={tag}" for tag in RARE_TAGS])
            measure("search_description", "search a rare word of descriptions",
                    [f"/history?q={word}" for word in RARE_DESCRIPTION_WORDS])
            measure("filter_uploader", "filter: a big channel, 1–10 min long",
                    "/history?uploader=Channel+1&duration_min=1:00&duration_max=10:00")
            measure("filter_uploaded", "filter: uploaded within one month",
                    "/history?uploaded_from=2026-03-01&uploaded_to=2026-03-31")
            # How each search was answered (index or scan), for the report.
            admin = db.session.get(__import__("webapp.models", fromlist=["User"]).User, seeded["admin_id"])
            from webapp.services.accounts.identity import Principal
            principal = Principal(user=admin)
            for name, q in (("search", RARE_WORDS[0]), ("search_file", "harbour_sunset"), ("search_common", "youtube"),
                            ("search_every_file", "jpg"), ("search_two", "gallery harbour"),
                            ("search_uploader", '"Channel 50"'), ("search_tag", RARE_TAGS[0]),
                            ("search_description", RARE_DESCRIPTION_WORDS[0])):
                filters, _ = history.parse_filters({"q": q}, principal)
                result = history.list_history(filters, principal)
                views[name]["strategy"] = result.strategy
                views[name]["matches"] = result.total
            plans = _plans(principal) if explain else {}
        return {"seed": seeded, "views": views, "floor": "floor", "target_p95_ms": TARGET_P95_MS, "plans": plans}
    finally:
        hub = app.extensions.get("haul_event_hub")
        if hub is not None:  # its poller would go on querying the database dropped below
            hub.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if database_url:
            scale_out.drop_database(database_url)
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)


def text_(sql: str):
    from sqlalchemy import text

    return text(sql)


def _plans(principal) -> dict:
    """EXPLAIN (PostgreSQL: ANALYZE, BUFFERS) / EXPLAIN QUERY PLAN of the first page's and a rare-word
    search's queries, as the history service builds them."""
    from webapp.extensions import db
    from webapp.services.library import history

    dialect = db.engine.dialect.name
    plans = {}
    for name, q in (("first_page", ""), ("search", RARE_WORDS[0]), ("search_file", "harbour_sunset")):
        filters, _ = history.parse_filters({"q": q} if q else {}, principal)
        page, count, _ = history.history_query(filters, principal, dialect)
        for part, statement in (("page", page), ("count", count)):
            if statement is None:
                continue
            compiled = statement.compile(db.engine)
            params = (tuple(compiled.params[k] for k in compiled.positiontup) if compiled.positional
                      else compiled.params)
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
            rows = db.session.connection().exec_driver_sql(prefix + str(compiled), params).all()
            plans[f"{name}.{part}"] = "\n".join(" | ".join(str(c) for c in row) for row in rows)
    db.session.rollback()
    return plans


def report(results: dict, log=print) -> list[str]:
    """Print the table; returns the names of the views that missed the target."""
    views, floor = results["views"], results["views"][results["floor"]]
    missed = []
    rows = []
    for name, view in views.items():
        target = ""
        if name in ("first_page", "search", "search_uploader", "search_tag", "search_description"):
            ok = view["p95_ms"] <= TARGET_P95_MS
            target = f"p95 <= {TARGET_P95_MS:g} ms {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(name)
        how = view.get("strategy", "")
        if how and how != "none":
            how = f"{how}, {view['matches']:,} matches" if view.get("matches") is not None else f"{how}, not counted"
        rows.append((view["label"], f"{view['p50_ms']:.1f}", f"{view['p95_ms']:.1f}",
                     f"{view['cpu_p50_ms']:.1f} / {view['cpu_p95_ms']:.1f}",
                     f"{view['p95_ms'] / floor['p95_ms']:.1f}x", target, how))
    seed = results["seed"]
    log(f"\nHistory at {seed['jobs']:,} jobs and {seed['files']:,} files ({seed['db_mb']:.0f} MB "
        f"{'PostgreSQL' if seed.get('database') == 'postgresql' else 'SQLite'}, built in {seed.get('build_s', 0):.0f} s), "
        f"{views['floor']['requests']} requests per line, Flask test client in-process")
    header = ("view", "p50 ms", "p95 ms", "CPU p50 / p95", "p95 vs floor", "target", "search")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w for w in widths)
    log(line.format(*header))
    log(line.format(*("-" * w for w in widths)))
    for row in rows:
        log(line.format(*row))
    return missed


def main(argv=None) -> int:
    global TARGET_P95_MS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per view (default 50)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite",
                        help="where to build the history (postgresql: a database of its own on the test server, "
                             "TESTS_POSTGRES_URL); both: SQLite, then PostgreSQL, and their ratio")
    parser.add_argument("--fast-sqlite", action="store_true",
                        help="SQLite: drop the history indexes and search triggers during the load, then build them "
                             "(same database, much faster; for 1,000,000 jobs)")
    parser.add_argument("--explain", action="store_true", help="print the query plans of the first page and a search")
    parser.add_argument("--target-ms", type=float, default=None,
                        help=f"the p95 target (default {TARGET_P95_MS:g} ms; issue 17 asks 50 ms at 1,000,000 jobs)")
    args = parser.parse_args(argv)
    if args.target_ms is not None:
        TARGET_P95_MS = args.target_ms
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    runs, missed = {}, []
    for database in databases:
        workdir = Path(tempfile.mkdtemp(prefix="haul-bench-history-"))
        os.environ["HAUL_DATA_DIR"] = str(workdir / "data")
        try:
            results = history_benchmark(args.jobs, args.files, args.requests, workdir=workdir, database=database,
                                        explain=args.explain, fast_sqlite=args.fast_sqlite)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        runs[database] = results
        missed += [f"{database}:{name}" for name in report(results)]
        for name, plan in results["plans"].items():
            print(f"\n  plan of {name} ({database}):\n    " + plan.replace("\n", "\n    "))
    if len(runs) == 2:
        sqlite, postgres = runs["sqlite"]["views"], runs["postgresql"]["views"]
        print("\nPostgreSQL beside SQLite, same data, same run (p95):")
        for name, view in sqlite.items():
            print(f"  {view['label']:<48} {view['p95_ms']:7.1f} ms  {postgres[name]['p95_ms']:7.1f} ms  "
                  f"{postgres[name]['p95_ms'] / view['p95_ms']:5.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(runs if len(runs) > 1 else runs[databases[0]], indent=2, default=str))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
