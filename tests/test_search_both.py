"""The history's search gives the same answers on SQLite (FTS5 trigram tables + LIKE) and on
PostgreSQL (pg_trgm GIN indexes + ILIKE): the same ids in the same order, the same totals, the
same strategy, through the service and through GET /api/v1/downloads?search=….

Both databases get the same jobs, made through the app's own services and models in the same
order (so with the same ids). The "common" limits are lowered so that a handful of jobs makes a
term common: both strategies run ("index": the rarest term's trigram set, counted; "scan": the
newest jobs checked row by row, not counted).
"""
from __future__ import annotations

import contextlib

import pytest
from conftest import API_TOKEN

from webapp.services.library import history_search

DENSE_JOBS = 6  # a term in more URLs/titles (or metadata rows) than this is common in these tests
DENSE_FILES = 8

# (url, title, owner, files, metadata): the same on both databases.
JOBS = [
    ("http://videos.example.org/watch/kittens-123", None, "admin", [], None),
    ("http://example.com/p/1", "Sunset over the Harbour", "admin", [], None),
    ("http://example.com/p/2", None, "admin", ["example.com/2/holiday_beach.jpg", "example.com/2/notes.txt"], None),
    ("http://example.com/p/3", "Something else", "alice", [], None),
    ("http://example.com/p/4", "100% pure 50_50 mix", "alice", [], None),
    ("http://example.com/p/5", "1000 pure 50-50 mix", "admin", [], None),
    ("http://example.com/p/6", None, "admin", ["shares/C:\\Users\\bob\\clip.mp4"], None),
    ("http://example.com/p/7", "Ärger im Büro", "alice", [], None),
    ("http://example.com/p/8", "ärger IM büro (lower)", "admin", [], None),
    ("http://example.com/p/9", "ŁÓDŹ by night", "admin", ["example.com/9/łódź.webm"], None),
    ("http://music.example.net/track/42", "Symphony No. 40", "admin", ["music/Mozart - Symphony 40.opus"],
     {"uploader": "Wolfgang Amadeus Mozart", "tags": "classical\nsymphony\nVienna",
      "description": 'The "great" G minor symphony, played in Vienna.'}),
    ("http://music.example.net/track/43", "Take Five", "alice", ["music/take_five.opus"],
     {"uploader": "Dave Brubeck Quartet", "tags": "jazz\ncool jazz", "description": "5/4 time, recorded 1959."}),
    ("http://example.com/it/ab", "AB testing", "admin", [], {"uploader": "ab", "tags": None, "description": None}),
] + [
    # A gallery: many files under one job, "sunrise" common in file paths but rare in jobs.
    ("http://example.com/gallery", "Gallery", "admin", [f"example.com/g/sunrise_{i:03d}.jpg" for i in range(7)],
     None),
] + [
    # "dawn" in many URLs: common.
    (f"http://example.com/dawn/{i}", f"Dawn chorus part {i}", "admin" if i % 2 else "alice", [], None)
    for i in range(9)
]

QUERIES = [
    "kittens", "HARBOUR", "Beach", "holiday_beach.jpg", "sunset harbour", "sunset kittens", '"over the"',
    '"the over"', "ov", "100%", "%", "50_50", "_", "50-50", "C:\\Users", "\\", "\\bob\\", "p/", "example",
    "example kittens", "mozart", "MOZART vienna", '"G minor"', '"great"', "jazz", "5/4", "quartet five",
    "sunrise", "sunrise_005", "dawn", "dawn 3", "Dawn chorus part", '"chorus part 1"', "ab", "AB", "it",
    "a b c d e f g h i j", "nothing-like-this", "ärger", "ÄRGER", "büro", "BÜRO", "łódź", "ŁÓDŹ",
    "Łódź night", "lÓdŹ", "example dawn chorus",
]
# Answers known by hand for a few (by index into JOBS, newest first), so agreement is not agreement on nonsense.
EXPECTED = {
    "kittens": [0], "HARBOUR": [1], "100%": [4], "50_50": [4], "C:\\Users": [6], "\\": [6],
    "mozart": [10], "MOZART vienna": [10], "jazz": [11], "ab": [12], "sunrise_005": [13],
    "ärger": [8, 7], "ÄRGER": [8, 7], "BÜRO": [8, 7], "łódź": [9], "ŁÓDŹ": [9], "lÓdŹ": [],
}


def fill(app) -> list[int]:
    """Make JOBS in `app` (its context pushed): submitted, claimed and finished through the models."""
    from webapp.extensions import db
    from webapp.models import Job, JobFile, JobMetadata
    from webapp.models.job import Outcome
    from webapp.services.accounts import identity as accounts
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue.submissions import submit

    people = {"admin": accounts.create_user("admin", "admin-password-0123", role="admin"),
              "alice": accounts.create_user("alice", "alice-password-0123", role="user")}
    ids = []
    for url, title, owner, files, metadata in JOBS:
        result = submit([url], principal=Principal(user=people[owner]), source="api", force=True)
        job = db.session.get(Job, result.entries[0].job_id)
        for path in files:
            job.files.append(JobFile(path=path, size=1, sha256="0" * 64, mime=None))
        if metadata:
            db.session.add(JobMetadata(job_id=job.id, **metadata))
        job.claim("tests")
        job.finish(Outcome("completed"), None)
        job.title = title
        db.session.commit()
        ids.append(job.id)
    return ids


@contextlib.contextmanager
def inside(app):
    from webapp.extensions import db

    with app.app_context():
        yield
        db.session.remove()


def service_answers(app, queries, who="admin") -> dict:
    """{q: (ids, total, strategy)} from the history service."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import history

    found = {}
    with inside(app):
        principal = Principal(user=db.session.scalar(select(User).where(User.username == who)))
        for q in queries:
            filters, errors = history.parse_filters({"q": q}, principal)
            assert not errors, (q, errors)
            page = history.list_history(filters, principal)
            found[q] = ([entry.job.id for entry in page.entries], page.total, page.strategy)
    return found


def api_answers(app, queries) -> dict:
    """{q: (ids of pages 1 and 2 of 4, body total, X-Total-Count)} from GET /api/v1/downloads."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    found = {}
    for q in queries:
        pages = []
        for number in (1, 2):
            response = client.get("/api/v1/downloads", query_string={"search": q, "per_page": 4, "page": number},
                                  headers=headers)
            assert response.status_code == 200, (q, response.get_data(as_text=True))
            body = response.get_json()
            pages.append([item["id"] for item in body["items"]])
        found[q] = (pages, body["total"], response.headers.get("X-Total-Count"))
    return found


@pytest.fixture
def both(app, pg_app, monkeypatch):
    """The SQLite and the PostgreSQL app, each filled with JOBS (the same ids on both)."""
    monkeypatch.setattr(history_search, "DENSE_JOBS", DENSE_JOBS)
    monkeypatch.setattr(history_search, "DENSE_FILES", DENSE_FILES)
    apps = {"sqlite": app, "postgresql": pg_app}
    made = {}
    for name, one in apps.items():
        with inside(one):
            made[name] = fill(one)
    assert made["sqlite"] == made["postgresql"]
    apps["ids"] = made["sqlite"]
    return apps


def test_the_service_gives_the_same_ids_order_totals_and_strategy_on_both(both):
    sqlite = service_answers(both["sqlite"], QUERIES)
    postgresql = service_answers(both["postgresql"], QUERIES)
    ids = both["ids"]
    for q in QUERIES:
        assert sqlite[q] == postgresql[q], q
    for q, indexes in EXPECTED.items():
        assert sqlite[q][0] == sorted((ids[i] for i in indexes), reverse=True), q
    # Both strategies ran, and a counted total goes with "index" only.
    strategies = {q: answer[2] for q, answer in sqlite.items()}
    assert {"index", "scan"} <= set(strategies.values())
    assert strategies["sunrise"] == "index" and strategies["dawn"] == "scan" and strategies["ov"] == "scan"
    assert strategies["example kittens"] == "index"  # the rare term drives, the common one is checked
    for q, (_found, total, strategy) in sqlite.items():
        assert (total is None) == (strategy == "scan"), q


def test_a_user_and_the_api_see_the_same_on_both(both):
    """A user's own jobs only; the API's pages, totals and X-Total-Count."""
    queries = ["dawn", "ärger", "example", "five", "p/", "ab"]
    assert service_answers(both["sqlite"], queries, "alice") == service_answers(both["postgresql"], queries, "alice")
    queries = ["example", "dawn", "p/", "sunrise", "music", "ärger", "%", "_", "\\", '"chorus part"', "ab"]
    assert api_answers(both["sqlite"], queries) == api_answers(both["postgresql"], queries)


def test_non_ascii_letters_match_in_any_case_on_both(both):
    """SQLite's own LIKE folds only ASCII letters; the search folds every letter on both sides
    (haul_icontains on SQLite), whichever strategy finds the rows."""
    for strategy in ("index", "scan"):
        with pytest.MonkeyPatch.context() as patch:
            if strategy == "scan":
                patch.setattr(history_search, "DENSE_JOBS", 0)
            queries = ["ärger", "ÄRGER", "Ärger im", "BÜRO ärger", "łódź", "ŁÓDŹ.WEBM", "über"]
            sqlite = service_answers(both["sqlite"], queries)
            assert sqlite == service_answers(both["postgresql"], queries)
            assert sqlite["ÄRGER"][0] == sqlite["ärger"][0] == sqlite["BÜRO ärger"][0] and len(sqlite["ärger"][0]) == 2
            assert len(sqlite["ŁÓDŹ.WEBM"][0]) == 1 and sqlite["über"][0] == []
            assert {answer[2] for answer in sqlite.values()} == {strategy}


def test_the_plain_sqlite_like_would_miss_non_ascii_case(app):
    """Why haul_icontains exists: SQLite's LIKE itself leaves non-ASCII letters' case alone."""
    from sqlalchemy import text

    from webapp.extensions import db

    assert db.session.scalar(text("SELECT 'ÄRGER' LIKE '%ärger%'")) == 0
    assert db.session.scalar(text("SELECT 'ABC' LIKE '%abc%'")) == 1
    assert db.session.scalar(text("SELECT haul_icontains('ÄRGER im Büro', 'ärger')")) == 1


@pytest.mark.parametrize("strategy", ["index", "scan"])
def test_many_terms_agree_on_both(both, strategy, monkeypatch):
    if strategy == "scan":
        monkeypatch.setattr(history_search, "DENSE_JOBS", 0)
    queries = ["example com p", "http example dawn chorus part 1", "music opus symphony mozart vienna classical",
               'example "dawn/3" chorus', "e x a m p l e"]
    sqlite = service_answers(both["sqlite"], queries)
    assert sqlite == service_answers(both["postgresql"], queries)
    strategies = {answer[2] for answer in sqlite.values()}
    assert strategies == {"scan"} if strategy == "scan" else "index" in strategies


# -- PostgreSQL's plan at scale ------------------------------------------------------------------

RARE = "zebrafinch"


def _bulk_jobs(count: int) -> None:
    """`count` finished jobs with a file and metadata each, in bulk (one INSERT … SELECT per table)."""
    from sqlalchemy import text

    from webapp.extensions import db

    db.session.execute(text(
        "INSERT INTO users (username, password_hash, role, created_at, session_version) "
        "VALUES ('bulk', 'x', 'admin', now(), 0)"))
    db.session.execute(text(
        "INSERT INTO submissions (id, user_id, submitted_via, source, items, created_at, trust) "
        "SELECT 'bulk-' || n, (SELECT id FROM users WHERE username = 'bulk'), 'session', 'api', '[]', now(), "
        "'admin' FROM generate_series(1, :n) AS n"), {"n": count})
    db.session.execute(text(
        "INSERT INTO jobs (submission_id, url, domain, status, priority, rank, source, bytes_done, items_done, "
        "attempts, cancel_requested, created_at, updated_at, kind, run_now, title, user_id) "
        "SELECT 'bulk-' || n, 'https://www.example.com/watch/video-' || n || '-' || md5(n::text), 'example.com', "
        "'completed', 0, n, 'api', 0, 0, 1, false, now(), now(), 'item', false, "
        "'Video number ' || n || ' ' || substr(md5(n::text || 't'), 1, 12), "
        "(SELECT id FROM users WHERE username = 'bulk') FROM generate_series(1, :n) AS n"), {"n": count})
    db.session.execute(text(
        "INSERT INTO job_files (job_id, path, size, sha256, created_at) SELECT id, 'example.com/' || id || '/clip-' "
        "|| md5(id::text) || '.mp4', 1, md5(id::text) || md5(id::text), now() FROM jobs"))
    db.session.execute(text(
        "INSERT INTO job_metadata (job_id, uploader, tags, description) SELECT id, 'channel ' || (id % 500), "
        "'music\nvideo', 'A description of video ' || id FROM jobs"))
    # One rare job, found only through its title.
    db.session.execute(text(f"UPDATE jobs SET title = 'The {RARE} sings' WHERE id = (SELECT max(id) / 2 FROM jobs)"))
    db.session.commit()
    # As autovacuum would soon: a bulk load leaves the new trigram entries in each GIN index's
    # pending list, which the planner prices so high that it scans the tables instead.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


def test_on_postgresql_a_rare_term_is_found_through_the_trigram_indexes(pg_app):
    """~20,000 jobs: the rare term's search is bitmap scans of the trigram indexes (no sequential
    scan of jobs, files or metadata), read once, and a common term's is the newest jobs in order."""
    from sqlalchemy import event

    from webapp.extensions import db
    from webapp.models import User
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import history

    _bulk_jobs(20_000)
    principal = Principal(user=db.session.scalar(db.select(User).where(User.username == "bulk")))

    def explain(q: str) -> tuple[str, object]:
        """Every statement the search ran, each with its plan as run (EXPLAIN ANALYZE)."""
        filters, _ = history.parse_filters({"q": q}, principal)
        ran = []

        def record(conn, cursor, statement, parameters, context, executemany):
            ran.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            result = history.list_history(filters, principal)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        plans = [f"{statement}\n" + "\n".join(row[0] for row in db.session.connection().exec_driver_sql(
                     "EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters))
                 for statement, parameters in ran if statement.lstrip().upper().startswith("SELECT")]
        return "\n\n".join(plans), result

    shown, result = explain(RARE)
    assert result.strategy == "index" and result.total == 1 and len(result.entries) == 1, shown
    for index in ("ix_jobs_title_trgm", "ix_jobs_url_trgm", "ix_job_files_path_trgm",
                  "ix_job_metadata_description_trgm"):
        assert shown.count(f"Bitmap Index Scan on {index}") == 1, shown  # the probe's read is the set
    assert "Seq Scan on jobs" not in shown and "Seq Scan on job_files" not in shown, shown
    assert "Seq Scan on job_metadata" not in shown, shown

    shown, result = explain("video")  # in every job: common
    assert result.strategy == "scan" and result.total is None and len(result.entries) == history.PER_PAGE
