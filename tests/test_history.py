"""History: listing, search, filters, pages, entries, files, thumbnails, download again, delete.

In-process (the `app`/`client` fixtures: a fresh database built by the real migrations).
People are signed in by putting their id in the session, which is what signing in does.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text, update
from support.web import csrf, sign_in_as

from jobs import thumbnails
from webapp.extensions import db
from webapp.models import Job, JobFile, Submission
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.library import files as file_service
from webapp.services.library import history, history_search
from webapp.services.queue.submissions import submit

PNG_MAGIC = b"\x89PNG"


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def people(admin, alice):
    bob = accounts.create_user("bob", "bob-password")
    return {"admin": admin, "alice": alice, "bob": bob}


def write_png(path: Path, colour=(200, 30, 30), size=(64, 48)) -> bytes:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "PNG")
    return path.read_bytes()


def write_png_bytes(colour) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), colour).save(buffer, "PNG")
    return buffer.getvalue()


def make_job(app, url, *, user=None, status="completed", title=None, files=(), source="api", post_title=None,
             created_at=None, error=None) -> Job:
    """A job as the worker leaves it: `files` are (relative path, bytes or None) written under the storage root."""
    principal = Principal(user=user) if user else None
    result = submit([url], principal=principal, source=source, force=True, post_title=post_title)
    job = db.session.get(Job, result.entries[0].job_id)
    root = app.config["HAUL"].storage_root
    for relative, content in files:
        full = Path(root) / relative
        full.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            content = write_png(full)
        else:
            full.write_bytes(content)
        job.files.append(JobFile(path=relative, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                                 mime=file_service.guess_mime(relative) if "." in relative else None))
    if status != "queued":
        job.claim("tests")
    if status not in ("queued", "downloading"):
        job.finish(Outcome(status), error)
    job.title = title
    if created_at:
        job.created_at = created_at
    db.session.commit()
    return job


def ids_on(response) -> list[int]:
    """The entry ids on a history page or partial, in order."""
    return [int(n) for n in re.findall(r'<article id="entry-(\d+)"', response.get_data(as_text=True))]


def admin_view(people) -> Principal:
    return Principal(user=people["admin"])


# -- schema ------------------------------------------------------------------------------------


def test_migrations_build_the_search_index_and_its_triggers(app):
    """The FTS tables, their triggers and the partial indexes exist at the head revision.

    A later migration that recreates `jobs` or `job_files` on SQLite drops the triggers; this
    test then fails instead of search silently going stale.
    """
    names = set(db.session.scalars(text("SELECT name FROM sqlite_master")))
    assert {"jobs_search", "job_files_search"} <= names
    assert {"jobs_search_insert", "jobs_search_update", "jobs_search_delete", "job_files_search_insert",
            "job_files_search_update", "job_files_search_delete"} <= names
    assert {"ix_jobs_history", "ix_jobs_history_user", "ix_jobs_history_domain", "ix_jobs_history_source"} <= names


def test_search_index_follows_inserts_title_changes_and_deletes(app, people):
    job = make_job(app, "http://example.com/a", title="First title", files=[("example.com/a/one.png", b"x")])
    found = lambda term: list(db.session.scalars(  # noqa: E731
        text("SELECT rowid FROM jobs_search WHERE jobs_search MATCH :p UNION "
             "SELECT job_id FROM job_files_search WHERE job_files_search MATCH :p"), {"p": f'"{term}"'}))
    assert found("first") == [job.id]
    assert found("one.png") == [job.id]
    db.session.execute(update(Job).where(Job.id == job.id).values(title="Second title"))
    db.session.commit()
    assert found("first") == [] and found("second") == [job.id]
    db.session.execute(update(JobFile).where(JobFile.job_id == job.id).values(path="example.com/a/renamed.png"))
    db.session.commit()
    assert found("one.png") == [] and found("renamed") == [job.id]
    check_search_index()
    db.session.delete(job)
    db.session.commit()
    assert found("second") == [] and found("renamed") == []
    check_search_index()


def check_search_index() -> None:
    """FTS5's own consistency check of both indexes (raises when one is damaged)."""
    db.session.execute(text("INSERT INTO jobs_search (jobs_search) VALUES ('integrity-check')"))
    db.session.execute(text("INSERT INTO job_files_search (job_files_search) VALUES ('integrity-check')"))
    db.session.rollback()


def _statements(fn):
    """Run fn() and return the SQL statements (with parameters) it executed."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("args, index", [
    ({}, "ix_jobs_history"),
    ({"user": "2"}, "ix_jobs_history_user"),
    ({"domain": "example.com"}, "ix_jobs_history_domain"),
    ({"source": "gui"}, "ix_jobs_history_source"),
    ({"status": "failed"}, "ix_jobs_history"),
    ({"from": "2026-01-01"}, "ix_jobs_history"),
])
def test_the_page_query_reads_a_partial_index_in_order(app, people, args, index):
    """The page of jobs and its capped count are read from the partial index in id order: no sort,
    no full scan."""
    make_job(app, "http://example.com/1")
    filters, _ = history.parse_filters(args, admin_view(people))
    statements = _statements(lambda: history.list_history(filters, admin_view(people)))
    in_order = [(s, p) for s, p in statements if "ORDER BY jobs.id DESC" in s]
    assert len(in_order) == 2 and sum("count(" in s for s, _ in in_order) == 1  # the page and the count
    raw = db.session.connection().connection.driver_connection
    for statement, parameters in in_order:
        plan = " | ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall())
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


# -- access ------------------------------------------------------------------------------------


def test_history_needs_a_signed_in_person(client):
    response = client.get("/history")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/files/1").status_code == 302
    assert client.get("/files/1/thumbnail").status_code == 302


def test_lists_finished_jobs_newest_first_and_never_active_ones(app, client, people):
    first = make_job(app, "http://example.com/first", user=people["admin"])
    failed = make_job(app, "http://example.com/failed", user=people["admin"], status="failed", error="HTTP 404")
    make_job(app, "http://example.com/queued", user=people["admin"], status="queued")
    make_job(app, "http://example.com/running", user=people["admin"], status="downloading")
    cancelled = make_job(app, "http://example.com/cancelled", user=people["admin"], status="cancelled")
    sign_in_as(client, people["admin"])
    response = client.get("/history")
    assert response.status_code == 200
    assert ids_on(response) == [cancelled.id, failed.id, first.id]
    page = response.get_data(as_text=True)
    assert "3 entries" in page and "HTTP 404" in page
    assert "<html" in page and 'href="/static/css/history.css' in page


def test_a_user_sees_only_their_own_jobs_and_an_admin_can_filter_by_submitter(app, client, people):
    mine = make_job(app, "http://example.com/alice", user=people["alice"])
    theirs = make_job(app, "http://example.com/bob", user=people["bob"])
    sign_in_as(client, people["alice"])
    assert ids_on(client.get("/history")) == [mine.id]
    # A user cannot widen the view with the submitter filter.
    assert ids_on(client.get(f"/history?user={people['bob'].id}")) == [mine.id]
    assert 'name="user"' not in client.get("/history").get_data(as_text=True)
    assert client.get(f"/history/{theirs.id}").status_code == 404
    sign_in_as(client, people["admin"])
    page = client.get("/history")
    assert ids_on(page) == [theirs.id, mine.id]
    assert 'name="user"' in page.get_data(as_text=True) and ">bob<" in page.get_data(as_text=True)
    assert ids_on(client.get(f"/history?user={people['bob'].id}")) == [theirs.id]


# -- search ------------------------------------------------------------------------------------


@pytest.fixture
def searchable(app, people):
    user = people["admin"]
    return {
        "url": make_job(app, "http://videos.example.org/watch/kittens-123", user=user),
        "title": make_job(app, "http://example.com/p/1", user=user, title="Sunset over the Harbour"),
        "file": make_job(app, "http://example.com/p/2", user=user,
                         files=[("example.com/2/holiday_beach.jpg", b"jpeg"), ("example.com/2/notes.txt", b"t")]),
        "other": make_job(app, "http://example.com/p/3", user=user, title="Something else"),
    }


@pytest.mark.parametrize("strategy", ["index", "scan"])
def test_search_finds_url_title_and_file_name_in_any_case(app, client, people, searchable, monkeypatch, strategy):
    """Both ways of searching give the same answers (scan: every term counts as common)."""
    if strategy == "scan":
        monkeypatch.setattr(history_search, "DENSE_JOBS", 0)
    sign_in_as(client, people["admin"])
    expect = {
        "kittens": [searchable["url"].id],
        "HARBOUR": [searchable["title"].id],
        "Beach": [searchable["file"].id],
        "holiday_beach.jpg": [searchable["file"].id],
        "sunset harbour": [searchable["title"].id],  # every word must match
        "sunset kittens": [],
        '"over the"': [searchable["title"].id],  # a quoted phrase
        '"the over"': [],
        "ov": [searchable["title"].id],  # under three characters: checked without the index
        "100%": [],  # LIKE wildcards are literal
        "p/": [searchable["other"].id, searchable["file"].id, searchable["title"].id],
    }
    for q, ids in expect.items():
        filters, _ = history.parse_filters({"q": q}, admin_view(people))
        result = history.list_history(filters, admin_view(people))
        assert [e.job.id for e in result.entries] == ids, q
        expected_strategy = "scan" if strategy == "scan" or len(max(history_search.search_terms(q), key=len)) < 3 else "index"
        assert result.strategy == expected_strategy, q
        if result.strategy == "index":
            assert result.total == len(ids)
        else:
            assert result.total is None  # not counted: the page says "many matches"
        assert ids_on(client.get("/history", query_string={"q": q})) == ids, q


def test_a_rare_term_reads_each_search_table_once(app, people, searchable):
    """The probe reads the term's whole set from the FTS tables; the page and its count take
    those ids as one value instead of matching again."""
    filters, _ = history.parse_filters({"q": "holiday_beach"}, admin_view(people))
    statements = _statements(lambda: history.list_history(filters, admin_view(people)))
    result = history.list_history(filters, admin_view(people))
    assert result.strategy == "index" and [e.job.id for e in result.entries] == [searchable["file"].id]
    assert result.total == 1
    matching = [s for s, _ in statements if " MATCH " in s]
    assert len(matching) == 3  # jobs_search, job_metadata_search, job_files_search
    in_order = [s for s, _ in statements if "ORDER BY jobs.id DESC" in s]
    assert len(in_order) == 2 and all("json_each" in s and " MATCH " not in s for s in in_order)


def test_on_postgresql_the_query_is_portable_sql_with_ilike(people):
    """No FTS and no SQLite-only syntax there: every term is an ILIKE."""
    from sqlalchemy.dialects import postgresql

    filters, _ = history.parse_filters({"q": 'cat "big dog"', "status": "failed", "domain": "x.com",
                                        "from": "2026-01-01"}, admin_view(people))
    page, count, plan = history.history_query(filters, admin_view(people), "postgresql")
    sql = str(page.compile(dialect=postgresql.dialect()))
    assert "jobs.status IN ('completed', 'failed', 'cancelled')" in sql
    assert "+jobs" not in sql and "MATCH" not in sql and "jobs_search" not in sql
    # URL, title, file path and the metadata's uploader, tags and description, for each of the two terms
    assert sql.count("ILIKE") == 12
    assert plan.strategy == "scan" and count is None


def test_how_often_a_term_occurs_decides_between_its_set_and_a_scan(app, people, monkeypatch):
    """Below the limits a term's jobs come from the index; above them the newest jobs are scanned."""
    monkeypatch.setattr(history_search, "DENSE_JOBS", 3)
    monkeypatch.setattr(history_search, "DENSE_FILES", 25)
    gallery = make_job(app, "http://example.com/g", user=people["admin"],
                       files=[(f"example.com/g/sunrise_{i:03d}.jpg", b"x%d" % i) for i in range(20)])
    big = make_job(app, "http://example.com/big", user=people["admin"],
                   files=[(f"example.com/big/moon_{i:03d}.jpg", b"m%d" % i) for i in range(30)])
    spread = [make_job(app, f"http://example.com/dawn/{i}", user=people["admin"]) for i in range(4)]
    for q, strategy, ids in (("sunrise", "index", [gallery.id]), ("moon", "scan", [big.id]),
                             ("dawn", "scan", [j.id for j in reversed(spread)]),
                             ("dawn/2", "index", [spread[2].id])):
        filters, _ = history.parse_filters({"q": q}, admin_view(people))
        result = history.list_history(filters, admin_view(people))
        assert (result.strategy, [e.job.id for e in result.entries]) == (strategy, ids), q


def test_search_terms_parse_words_and_quoted_phrases():
    assert history_search.search_terms('cat  "big dog" Cat  x') == ["cat", "big dog", "x"]
    assert history_search.search_terms('"unclosed') == ['"unclosed']
    assert len(history_search.search_terms(" ".join(f"w{i}" for i in range(20)))) == history_search.MAX_TERMS


# -- filters and pages ---------------------------------------------------------------------------


def test_filters_by_status_domain_source_and_dates(app, client, people):
    admin = people["admin"]
    now = datetime.now(timezone.utc)
    old = make_job(app, "http://old.example.com/1", user=admin, created_at=now - timedelta(days=10))
    failed = make_job(app, "https://www.Example.net/2", user=admin, status="failed")
    gui = make_job(app, "http://example.com/3", user=admin, source="gui")
    sign_in_as(client, admin)
    assert ids_on(client.get("/history?status=failed")) == [failed.id]
    assert ids_on(client.get("/history?domain=www.EXAMPLE.net")) == [failed.id]
    assert ids_on(client.get("/history?source=gui")) == [gui.id]
    day = (now - timedelta(days=10)).date().isoformat()
    assert ids_on(client.get(f"/history?from={day}&to={day}")) == [old.id]
    assert ids_on(client.get(f"/history?from={(now - timedelta(days=9)).date().isoformat()}")) == [gui.id, failed.id]
    # Days are the browser's days: 10 days ago at UTC midnight-ish still falls on that local date.
    assert ids_on(client.get(f"/history?from={day}&to={day}&tz=UTC")) == [old.id]


def test_dates_follow_the_given_time_zone(people):
    filters, errors = history.parse_filters({"from": "2026-11-23", "to": "2026-11-23", "tz": "Asia/Tokyo"},
                                            admin_view(people))
    assert not errors
    start, end = filters.window()
    assert start == datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    # An unknown zone is ignored (UTC).
    filters, _ = history.parse_filters({"from": "2026-11-23", "tz": "Mars/Base"}, admin_view(people))
    assert filters.tz == "" and filters.window()[0] == datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_bad_filter_values_are_explained_inline_and_ignored(app, client, people):
    job = make_job(app, "http://example.com/1", user=people["admin"])
    sign_in_as(client, people["admin"])
    response = client.get("/history?status=exploded&from=yesterday&source=fax")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Status must be completed, failed or cancelled" in page
    assert "From must be a date like 2026-11-23" in page
    assert "Source must be one of" in page
    assert 'aria-invalid="true"' in page
    assert ids_on(response) == [job.id]
    filters, errors = history.parse_filters({"from": "2026-02-01", "to": "2026-01-01"}, admin_view(people))
    assert errors == {"to": "To must not be before From"} and filters.date_to is None


def test_pages_keep_the_filters_in_their_links(app, client, people, monkeypatch):
    monkeypatch.setattr(history, "PER_PAGE", 3)
    monkeypatch.setattr(history.list_history, "__defaults__", (3, history.COUNT_LIMIT))
    jobs = [make_job(app, f"http://example.com/item/{i}", user=people["admin"], title=f"Item {i}") for i in range(8)]
    make_job(app, "http://other.example.com/x", user=people["admin"], title="Item elsewhere")
    sign_in_as(client, people["admin"])
    first = client.get("/history?domain=example.com")
    assert ids_on(first) == [j.id for j in reversed(jobs)][:3]
    page = first.get_data(as_text=True)
    assert "8 entries" in page
    assert 'href="/history?domain=example.com&amp;page=2"' in page
    assert 'href="/history?domain=example.com&amp;page=3"' in page
    third = client.get("/history?domain=example.com&page=3")
    assert ids_on(third) == [jobs[1].id, jobs[0].id]
    assert 'href="/history?domain=example.com&amp;page=2"' in third.get_data(as_text=True)
    assert ids_on(client.get("/history?domain=example.com&page=99")) == []
    assert ids_on(client.get("/history?page=-4")) == ids_on(client.get("/history"))


def test_past_the_count_limit_the_page_says_how_many_it_counted_and_the_api_counts_them_all(
        app, client, people, monkeypatch):
    """Counting stops at the limit (an exact count reads every finished job); the API stays exact."""
    monkeypatch.setattr(history, "PER_PAGE", 2)
    monkeypatch.setattr(history.list_history, "__defaults__", (2, 4))  # 2 a page, counted up to 4
    jobs = [make_job(app, f"http://example.com/many/{i}", user=people["admin"]) for i in range(4)]
    sign_in_as(client, people["admin"])
    page = client.get("/history").get_data(as_text=True)
    assert "4 entries · showing 1–2" in page  # at the limit: still exact, with page links
    assert 'href="/history?page=2"' in page and 'aria-label="Page 2"' in page

    jobs.append(make_job(app, "http://example.com/many/4", user=people["admin"]))
    page = client.get("/history").get_data(as_text=True)
    assert ids_on(client.get("/history")) == [jobs[4].id, jobs[3].id]
    assert "4+ entries · showing 1–2" in page and "5 entries" not in page
    assert "Page 1" in page and 'rel="next"' in page and 'aria-label="Page 2"' not in page
    third = client.get("/history?page=3").get_data(as_text=True)
    assert ids_on(client.get("/history?page=3")) == [jobs[0].id] and "4+ entries · showing 5–5" in third
    searched = client.get("/history?q=many").get_data(as_text=True)
    assert "4+ matches" in searched

    # The same library through the API: the exact total, whatever the page's limit.
    token = accounts.create_token(people["admin"], "reader", "read")[1]
    listed = client.get("/api/v1/downloads?per_page=2", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.get_json()["total"] == 5 and listed.get_json()["pages"] == 3


def test_htmx_gets_the_results_partial_and_history_restore_the_whole_page(app, client, people):
    make_job(app, "http://example.com/1", user=people["admin"])
    sign_in_as(client, people["admin"])
    partial = client.get("/history?q=example", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section id="history-results"') and "<html" not in body
    assert "HX-Request" in partial.headers.get("Vary", "")
    restore = client.get("/history", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_the_filter_form_is_a_bookmarkable_get_form_with_labels(app, client, people):
    sign_in_as(client, people["admin"])
    page = client.get("/history").get_data(as_text=True)
    form = page[page.index('<form id="history-filters"'):page.index("</form>", page.index('<form id="history-filters"'))]
    assert 'method="get"' in form and 'hx-push-url="true"' in form
    for field in ("history-q", "history-status", "history-source", "history-domain", "history-user", "history-from",
                  "history-to"):
        assert f'<label for="{field}">' in form and f'id="{field}"' in form


# -- entries and files --------------------------------------------------------------------------


def test_an_entry_lists_its_files_with_previews_and_downloads(app, client, people, monkeypatch):
    monkeypatch.setattr(history, "FILES_PER_ENTRY", 2)
    job = make_job(app, "http://example.com/gallery", user=people["admin"], title="Gallery", files=[
        ("example.com/gallery/1.png", None), ("example.com/gallery/2.png", write_png_bytes((0, 90, 0))),
        ("example.com/gallery/clip.mp4", b"not really a video"), ("example.com/gallery/readme.txt", b"hello"),
    ])
    sign_in_as(client, people["admin"])
    listing = client.get("/history").get_data(as_text=True)
    assert listing.count("data-preview") == 2
    assert "Show all 4 files" in listing
    full = client.get(f"/history/{job.id}")
    page = full.get_data(as_text=True)
    assert full.status_code == 200 and "<h1" in page and "Gallery" in page
    assert page.count("data-preview") == 3  # two images and the video; the text file is a download
    assert 'data-kind="video"' in page and 'data-kind="image"' in page
    assert page.count("?download=1") >= 4
    # The "show all" swap gets the entry partial, still a list item (h2), with every file.
    partial = client.get(f"/history/{job.id}", headers={"HX-Request": "true", "HX-Current-URL": "http://x/history"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith("<article") and "<h2" in body
    assert body.count("data-preview") == 3


def test_files_are_served_inline_as_attachments_and_in_ranges_to_their_owner_only(app, client, people):
    content = bytes(range(256)) * 40
    job = make_job(app, "http://example.com/v", user=people["alice"], files=[
        ("example.com/v/clip.mp4", content), ("example.com/v/page.html", b"<script>alert(1)</script>"),
        ("example.com/v/logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ])
    video, page, svg = job.files
    sign_in_as(client, people["alice"])
    inline = client.get(f"/files/{video.id}")
    assert inline.status_code == 200 and inline.data == content
    assert inline.mimetype == "video/mp4"
    assert "attachment" not in inline.headers.get("Content-Disposition", "")
    assert inline.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in inline.headers["Content-Security-Policy"]
    assert inline.headers.get("Accept-Ranges") == "bytes"
    ranged = client.get(f"/files/{video.id}", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.data == content[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    attachment = client.get(f"/files/{video.id}?download=1")
    assert attachment.status_code == 200
    assert attachment.headers["Content-Disposition"].startswith("attachment") and "clip.mp4" in attachment.headers[
        "Content-Disposition"]
    # Pages and SVG from the web are never rendered on Haul's origin.
    for record in (page, svg):
        response = client.get(f"/files/{record.id}")
        assert response.headers["Content-Disposition"].startswith("attachment"), record.path
    # Someone else: 404, as for a file that does not exist.
    sign_in_as(client, people["bob"])
    assert client.get(f"/files/{video.id}").status_code == 404
    assert client.get(f"/files/{video.id}/thumbnail").status_code == 404
    sign_in_as(client, people["admin"])
    assert client.get(f"/files/{video.id}").status_code == 200
    assert client.get("/files/999999").status_code == 404


def test_a_file_record_outside_the_library_or_gone_from_disk_is_not_served(app, client, people, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    job = make_job(app, "http://example.com/x", user=people["admin"], files=[("example.com/x/a.png", b"png")])
    escaping = JobFile(job_id=job.id, path="../secret.txt", size=10, sha256="0" * 64, mime="text/plain")
    db.session.add(escaping)
    db.session.commit()
    sign_in_as(client, people["admin"])
    assert client.get(f"/files/{escaping.id}").status_code == 404
    (Path(app.config["HAUL"].storage_root) / "example.com/x/a.png").unlink()
    gone = client.get(f"/files/{job.files[0].id}")
    assert gone.status_code == 404


# -- thumbnails ----------------------------------------------------------------------------------


def test_thumbnails_of_images_are_made_once_and_served(app, client, people, tmp_path):
    from PIL import Image

    job = make_job(app, "http://example.com/img", user=people["admin"], files=[("example.com/img/big.png", None)])
    record = job.files[0]
    data_dir = app.config["HAUL"].thumbnail_dir
    sign_in_as(client, people["admin"])
    assert client.get(f"/files/{record.id}/thumbnail").status_code == 404
    assert "/thumbnail" not in client.get("/history").get_data(as_text=True)

    big = Path(app.config["HAUL"].storage_root) / record.path
    write_png(big, size=(1200, 900))
    made = thumbnails.make_thumbnail(big, record.sha256, data_dir, record.mime)
    assert made == file_service.thumbnail_path(data_dir, record.sha256) and made.is_file()
    with Image.open(made) as image:
        assert image.format == "WEBP" and max(image.size) == 320 and image.size == (320, 240)
    stamp = made.stat().st_mtime_ns
    assert thumbnails.make_thumbnail(big, record.sha256, data_dir, record.mime) == made
    assert made.stat().st_mtime_ns == stamp  # made once
    response = client.get(f"/files/{record.id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert "private" in response.headers["Cache-Control"]
    assert f'/files/{record.id}/thumbnail' in client.get("/history").get_data(as_text=True)
    made.unlink()


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed")
def test_a_video_gets_a_frame_and_broken_files_get_nothing(app, tmp_path):
    from PIL import Image

    data_dir = tmp_path / "data"
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=0.5:size=160x120:rate=10",
                    "-pix_fmt", "yuv420p", "-y", str(clip)], check=True, timeout=60)
    made = thumbnails.make_thumbnail(clip, "a" * 64, data_dir, "video/mp4")  # shorter than 1 s: the first frame
    assert made is not None
    with Image.open(made) as image:
        assert image.size == (160, 120)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is no jpeg")
    assert thumbnails.make_thumbnail(broken, "b" * 64, data_dir, "image/jpeg") is None
    assert thumbnails.make_thumbnail(tmp_path / "broken.mp4", "c" * 64, data_dir, "video/mp4") is None
    assert thumbnails.make_thumbnail(tmp_path / "notes.txt", "d" * 64, data_dir, "text/plain") is None
    assert thumbnails.make_thumbnail(clip, "not-a-hash", data_dir, "video/mp4") is None
    assert not list(data_dir.rglob(".tmp-*"))


def test_the_runner_hook_makes_thumbnails_in_the_background_and_never_raises(app, people):
    job = make_job(app, "http://example.com/img", user=people["admin"],
                   files=[("example.com/img/a.png", None), ("example.com/img/b.txt", b"text")])
    thumbnails.after_job_completed(job.id)
    assert thumbnails.wait_idle(20)
    data_dir = app.config["HAUL"].thumbnail_dir
    png, txt = job.files
    assert file_service.has_thumbnail(data_dir, png.sha256)
    assert not file_service.has_thumbnail(data_dir, txt.sha256)
    thumbnails.after_job_completed(987654)  # no such job: nothing to do
    file_service.thumbnail_path(data_dir, png.sha256).unlink()


def test_thumbnails_wait_until_no_download_runs(app, people, monkeypatch):
    """While a download's monitor thread lives, nothing is made; once it has been quiet, the batch is."""
    import threading

    monkeypatch.setattr(thumbnails, "QUIET_SECONDS", 0.3)
    job = make_job(app, "http://example.com/q", user=people["admin"], files=[("example.com/q/a.png", None)])
    target = file_service.thumbnail_path(app.config["HAUL"].thumbnail_dir, job.files[0].sha256)
    download_done = threading.Event()
    monitor = threading.Thread(target=download_done.wait, name=thumbnails.MONITOR_THREAD_PREFIX + "99", daemon=True)
    monitor.start()
    try:
        thumbnails.after_job_completed(job.id)
        time.sleep(1.0)
        assert not target.exists()  # a download is running
    finally:
        download_done.set()
        monitor.join()
    deadline = time.monotonic() + 20
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.is_file()
    assert thumbnails.wait_idle(5)
    target.unlink()


def test_the_runner_names_its_monitor_threads_as_the_thumbnails_expect():
    source = (Path(__file__).resolve().parent.parent / "jobs" / "runner.py").read_text()
    assert f'name=f"{thumbnails.MONITOR_THREAD_PREFIX}{{job_id}}"' in source


def test_the_runner_hook_logs_instead_of_raising(app, monkeypatch, caplog):
    import logging

    # Alembic's logging config (the fixture ran the migrations) disables existing loggers.
    monkeypatch.setattr(logging.getLogger("jobs.thumbnails"), "disabled", False)
    monkeypatch.setitem(app.config, "HAUL", None)  # anything going wrong inside the hook
    thumbnails.after_job_completed(1)
    assert "could not queue the thumbnails of job 1" in caplog.text


def test_the_runner_calls_the_thumbnail_hook_after_a_completed_job():
    source = (Path(__file__).resolve().parent.parent / "jobs" / "runner.py").read_text()
    finish = source[source.index("def _finish("):]
    commit = finish.index("db.session.commit()")
    hook = finish.index("thumbnails.after_job_completed(")
    assert commit < hook


# -- download again ------------------------------------------------------------------------------


def test_download_again_queues_a_new_job_even_for_a_completed_url(app, client, people):
    job = make_job(app, "http://example.com/again", user=people["alice"], post_title="Album")
    sign_in_as(client, people["alice"])
    token = csrf(client, "/history")
    response = client.post(f"/history/{job.id}/again", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 204
    assert "Queued http://example.com/again again as job #" in response.headers["HX-Trigger"]
    newest = db.session.scalar(select(Job).order_by(Job.id.desc()).limit(1))
    assert newest.id != job.id and newest.url == job.url and newest.status == "queued"
    assert newest.source == "gui" and newest.user_id == people["alice"].id
    assert newest.submission.post_title == "Album"
    # A plain form post (no htmx) is redirected back with a message.
    plain = client.post(f"/history/{job.id}/again", data={"csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/history")
    # Not someone else's.
    sign_in_as(client, people["bob"])
    assert client.post(f"/history/{job.id}/again", headers={"X-CSRFToken": csrf(client, "/history")}).status_code == 404


def test_an_entry_without_a_link_offers_no_download_again_and_refuses_one(app, client, people):
    """An imported file (or an upload) has no page to fetch again: no button, and a forged post
    is answered with the reason instead of queueing a URL no tool can read."""
    job = make_job(app, "http://example.com/imported", user=people["alice"], files=[("Lib/a.png", None)])
    job.url = "import:Lib/a.png"
    db.session.commit()
    sign_in_as(client, people["alice"])
    page = client.get(f"/history/{job.id}").get_data(as_text=True)
    assert "Download again" not in page
    jobs_before = db.session.scalar(select(func.count(Job.id)))
    token = csrf(client, "/history")
    response = client.post(f"/history/{job.id}/again", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code < 500
    assert "no link to download again" in response.headers.get("HX-Trigger", "") + response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Job.id))) == jobs_before


def test_actions_need_the_csrf_token(app, client, people):
    job = make_job(app, "http://example.com/x", user=people["admin"])
    sign_in_as(client, people["admin"])
    assert client.post(f"/history/{job.id}/again").status_code == 400
    assert client.post(f"/history/{job.id}/delete", data={"files": "1"}).status_code == 400
    assert db.session.get(Job, job.id) is not None


# -- delete --------------------------------------------------------------------------------------


def test_delete_the_record_only_keeps_the_files(app, client, people):
    job = make_job(app, "http://example.com/keep", user=people["admin"], files=[("Post/example.com/keep/a.png", None)])
    path = Path(app.config["HAUL"].storage_root) / "Post/example.com/keep/a.png"
    sign_in_as(client, people["admin"])
    response = client.post(f"/history/{job.id}/delete", data={"files": "0"},
                           headers={"HX-Request": "true", "X-CSRFToken": csrf(client, "/history"),
                                    "HX-Current-URL": "http://localhost/history"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert "its files stay on disk" in response.headers["HX-Trigger"]
    assert db.session.get(Job, job.id) is None
    assert not db.session.scalars(select(JobFile).where(JobFile.job_id == job.id)).all()
    assert path.is_file()


def test_delete_with_files_removes_them_and_empty_folders_but_nothing_else(app, client, people, tmp_path):
    root = Path(app.config["HAUL"].storage_root)
    job = make_job(app, "http://example.com/gone", user=people["alice"], post_title="Trip", files=[
        ("Trip/example.com/gone/1.png", None), ("Trip/example.com/gone/2.png", b"two"),
        ("Trip/example.com/shared.png", b"shared"),
    ])
    other = make_job(app, "http://example.com/other", user=people["alice"], post_title="Trip",
                     files=[("Trip/example.com/other/x.png", b"x")])
    # Another record names the same file: it must stay.
    db.session.add(JobFile(job_id=other.id, path="Trip/example.com/shared.png", size=6,
                           sha256=hashlib.sha256(b"shared").hexdigest()))
    # A record that points outside the storage root is never followed.
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"outside")
    db.session.add(JobFile(job_id=job.id, path="../outside.png", size=7, sha256="e" * 64))
    db.session.commit()
    thumb = thumbnails.make_thumbnail(root / "Trip/example.com/gone/1.png", job.files[0].sha256,
                                      app.config["HAUL"].thumbnail_dir, "image/png")
    assert thumb is not None
    submission_id = job.submission_id
    sign_in_as(client, people["alice"])
    response = client.post(f"/history/{job.id}/delete", data={"files": "1", "csrf_token": csrf(client, "/history")},
                           headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/history?q=x"})
    assert response.status_code == 200
    toast = response.headers["HX-Trigger"]
    assert "2 files removed from disk" in toast and "1 kept" in toast and "1 could not be removed" in toast
    assert not (root / "Trip/example.com/gone").exists()  # emptied, so removed
    assert (root / "Trip/example.com/shared.png").is_file()
    assert (root / "Trip/example.com/other/x.png").is_file()
    assert outside.read_bytes() == b"outside"
    assert root.is_dir()
    assert not thumb.exists()  # no record needs it any more
    assert db.session.get(Job, job.id) is None and db.session.get(Submission, submission_id) is None
    assert db.session.get(Job, other.id) is not None
    check_search_index()


def test_deleting_every_file_of_the_library_keeps_the_storage_root(app, people):
    root = Path(app.config["HAUL"].storage_root)
    job = make_job(app, "http://example.com/only", user=people["admin"], files=[("only.png", b"1")])
    result = history.delete_entry(job, with_files=True)
    assert result.removed == 1 and root.is_dir() and not any(root.iterdir())


def test_deleting_from_the_entry_page_goes_back_to_the_history(app, client, people):
    job = make_job(app, "http://example.com/page", user=people["admin"])
    sign_in_as(client, people["admin"])
    response = client.post(f"/history/{job.id}/delete", data={"files": "1"},
                           headers={"HX-Request": "true", "X-CSRFToken": csrf(client, "/history"),
                                    "HX-Current-URL": f"http://localhost/history/{job.id}"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/history"
    assert "Deleted entry" in client.get("/history").get_data(as_text=True)  # the flashed message


def test_an_active_job_cannot_be_deleted_from_the_history(app, client, people):
    job = make_job(app, "http://example.com/busy", user=people["admin"], status="downloading")
    sign_in_as(client, people["admin"])
    response = client.post(f"/history/{job.id}/delete", data={"files": "1"},
                           headers={"HX-Request": "true", "X-CSRFToken": csrf(client, "/history")})
    assert response.status_code == 409
    assert "only finished jobs" in response.headers["HX-Trigger"]
    assert db.session.get(Job, job.id) is not None


def test_someone_else_cannot_delete_an_entry(app, client, people):
    job = make_job(app, "http://example.com/theirs", user=people["bob"], files=[("theirs.png", b"1")])
    sign_in_as(client, people["alice"])
    response = client.post(f"/history/{job.id}/delete", data={"files": "1"}, headers={"X-CSRFToken": csrf(client, "/history")})
    assert response.status_code == 404
    assert db.session.get(Job, job.id) is not None
    assert (Path(app.config["HAUL"].storage_root) / "theirs.png").is_file()


def test_page_links_show_both_ends_and_two_pages_either_side():
    from webapp.templating import page_links

    assert page_links(6, 20) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert page_links(1, 3) == [1, 2, 3]
    assert page_links(2, None) == [1, 2]  # not counted: the current page is the last known
