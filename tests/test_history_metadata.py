"""What the site said of a download (JobMetadata) in the history and /api/v1/downloads: searched,
filtered, shown in the entry's details panel; files listed by kind, gone files shown as gone, every
kind deleted with the download; the worker's thumbnails announced to live pages.

In-process (the `app`/`client` fixtures: a fresh database built by the real migrations). Metadata
rows are written directly, as the worker leaves them.
"""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import assert_api_error
from sqlalchemy import select
from support.web import sign_in_as
from test_history import ids_on, make_job

from jobs import thumbnails
from webapp.extensions import db
from webapp.history.stream import HistoryView
from webapp.models import Event, Job, JobFile, JobMetadata
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.library import files as file_service
from webapp.services.library import history, history_search
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord


@pytest.fixture
def people(admin, alice):
    return {"admin": admin, "alice": alice, "bob": accounts.create_user("bob", "bob-password")}


def describe(job: Job, **fields) -> JobMetadata:
    """The job's metadata row, as the worker writes it when the job finishes."""
    row = JobMetadata(job_id=job.id, **fields)
    db.session.add(row)
    db.session.commit()
    return row


def view_of(user) -> Principal:
    return Principal(user=user)


def found(principal, **args) -> list[int]:
    filters, errors = history.parse_filters(args, principal)
    assert not errors, errors
    return [entry.job.id for entry in history.list_history(filters, principal).entries]


@pytest.fixture
def described(app, people):
    """Three of alice's downloads with metadata, one of bob's, one of alice's without any."""
    alice, bob = people["alice"], people["bob"]
    cats = make_job(app, "http://example.com/v/1", user=alice, title="Clip one")
    describe(cats, uploader="Kitten Channel", tags="cats\nslow motion", duration=90.4, upload_date="2025-03-02",
             description="A long afternoon in the garden with the neighbour's tabby.")
    dogs = make_job(app, "http://example.com/v/2", user=alice, title="Clip two")
    describe(dogs, uploader="Dog Days", tags="dogs\nbeach", duration=612.0, upload_date="2025-07-20",
             description="Fetch, again.")
    short = make_job(app, "http://example.com/v/3", user=alice, title="Clip three")
    describe(short, uploader="Kitten Channel", tags="cats", duration=12.0, upload_date="2024-12-31")
    secret = make_job(app, "http://example.com/v/4", user=bob, title="Bob's clip")
    describe(secret, uploader="Bob Secret", tags="cats\nprivate-tag", duration=90.0, upload_date="2025-03-02",
             description="Only bob may find this tabby.")
    bare = make_job(app, "http://example.com/v/5", user=alice, title="Clip five")
    return {"cats": cats, "dogs": dogs, "short": short, "secret": secret, "bare": bare}


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["index", "scan"])
def test_search_finds_uploader_tags_and_description_in_any_case(app, people, described, monkeypatch, strategy):
    """Through the metadata's search table (a rare term) and row by row (every term common) alike."""
    if strategy == "scan":
        monkeypatch.setattr(history_search, "DENSE_JOBS", 0)
    alice, d = view_of(people["alice"]), described
    expect = {
        "kitten channel": [d["short"].id, d["cats"].id],  # uploader
        "Slow Motion": [d["cats"].id],  # a tag
        '"slow motion"': [d["cats"].id],
        "neighbour": [d["cats"].id],  # the description
        "TABBY": [d["cats"].id],  # bob's tabby is bob's
        "beach fetch": [d["dogs"].id],  # a tag and the description: every word must match
        "beach kitten": [],
        "private-tag": [],  # bob's tag: never alice's result
        "Bob Secret": [],
    }
    for q, ids in expect.items():
        filters, _ = history.parse_filters({"q": q}, alice)
        result = history.list_history(filters, alice)
        assert [e.job.id for e in result.entries] == ids, q
        assert result.strategy == strategy, q
    assert found(view_of(people["bob"]), q="tabby") == [d["secret"].id]
    assert found(view_of(people["admin"]), q="tabby") == [d["secret"].id, d["cats"].id]


def test_a_term_common_in_the_metadata_is_scanned_not_collected(app, people, monkeypatch):
    """The metadata's hits count towards a term being common, like the titles'."""
    monkeypatch.setattr(history_search, "DENSE_JOBS", 3)
    admin = people["admin"]
    many = [make_job(app, f"http://example.com/m/{i}", user=admin) for i in range(4)]
    for job in many:
        describe(job, uploader="Prolific Uploader")
    rare = make_job(app, "http://example.com/rare", user=admin)
    describe(rare, tags="seldom")
    for q, strategy, ids in (("prolific", "scan", [j.id for j in reversed(many)]), ("seldom", "index", [rare.id])):
        filters, _ = history.parse_filters({"q": q}, view_of(admin))
        result = history.list_history(filters, view_of(admin))
        assert (result.strategy, [e.job.id for e in result.entries]) == (strategy, ids), q


def test_the_search_index_follows_metadata_changes_and_deletes(app, people):
    job = make_job(app, "http://example.com/x", user=people["admin"])
    row = describe(job, uploader="First Name", tags="alpha")
    admin = view_of(people["admin"])
    assert found(admin, q="first name") == [job.id]
    row.uploader, row.tags = "Second Name", "beta"
    db.session.commit()
    assert found(admin, q="first name") == [] and found(admin, q="beta") == [job.id]
    db.session.delete(row)
    db.session.commit()
    assert found(admin, q="beta") == []


# -- filters -----------------------------------------------------------------------------------


def test_filters_by_uploader_duration_and_upload_date(app, people, described):
    alice, d = view_of(people["alice"]), described
    assert found(alice, uploader="Kitten Channel") == [d["short"].id, d["cats"].id]
    assert found(alice, uploader="kitten channel") == []  # exact, as the site spells it
    assert found(alice, uploader="Bob Secret") == []  # someone else's
    assert found(alice, duration_min="1:00") == [d["dogs"].id, d["cats"].id]
    assert found(alice, duration_min="60", duration_max="1:30") == [d["cats"].id]  # 90.4 s shows as 1:30
    assert found(alice, duration_max="1:29") == [d["short"].id]
    assert found(alice, duration_min="0:10:12") == [d["dogs"].id]  # h:mm:ss
    assert found(alice, uploaded_from="2025-01-01") == [d["dogs"].id, d["cats"].id]
    assert found(alice, uploaded_from="2025-03-02", uploaded_to="2025-03-02") == [d["cats"].id]
    assert found(alice, uploaded_to="2024-12-31") == [d["short"].id]
    assert found(alice, uploader="Kitten Channel", uploaded_from="2025-01-01", duration_max="2:00") == [d["cats"].id]
    filters, _ = history.parse_filters({"uploader": "Dog Days", "duration_min": "90"}, alice)
    assert filters.narrowed and filters.args() == {"uploader": "Dog Days", "duration_min": "1:30"}


def test_the_uploader_suggestions_are_the_ones_a_person_may_see(app, people, described):
    assert history.uploaders(view_of(people["alice"])) == ["Dog Days", "Kitten Channel"]
    assert history.uploaders(view_of(people["admin"])) == ["Bob Secret", "Dog Days", "Kitten Channel"]
    # As the person types: names starting with it, in any case; LIKE's wildcards are plain text.
    assert history.uploaders(view_of(people["admin"]), "kit") == ["Kitten Channel"]
    assert history.uploaders(view_of(people["alice"]), "bob") == []
    assert history.uploaders(view_of(people["admin"]), "%") == []


def test_the_filter_form_offers_the_new_filters_with_labels(app, client, people, described):
    sign_in_as(client, people["alice"])
    page = client.get("/history").get_data(as_text=True)
    for field in ("history-uploader", "history-duration_min", "history-duration_max", "history-uploaded_from",
                  "history-uploaded_to"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page, field
    # The suggestions come as the uploader field is used (not with the page), and only hers.
    assert 'hx-get="/history/uploaders"' in page
    suggested = client.get("/history/uploaders", query_string={"uploader": ""}).get_data(as_text=True)
    assert '<option value="Kitten Channel">' in suggested and "Bob Secret" not in suggested
    assert client.get("/history/uploaders?uploader=b").get_data(as_text=True).strip() == ""
    assert ids_on(client.get("/history?uploader=Dog+Days")) == [described["dogs"].id]


@pytest.mark.parametrize("args, field, message", [
    ({"duration_min": "soon"}, "duration_min", "Shortest must be seconds or minutes:seconds"),
    ({"duration_max": "1:75"}, "duration_max", "Longest must be seconds or minutes:seconds"),
    ({"duration_max": "-5"}, "duration_max", "Longest must be seconds or minutes:seconds"),
    ({"duration_min": "99999999999"}, "duration_min", "Shortest must be seconds or minutes:seconds"),
    ({"duration_min": "5:00", "duration_max": "1:00"}, "duration_max", "Longest must not be shorter than Shortest"),
    ({"uploaded_from": "last week"}, "uploaded_from", "Uploaded from must be a date like"),
    ({"uploaded_from": "2025-02-01", "uploaded_to": "2025-01-01"}, "uploaded_to",
     "Uploaded to must not be before Uploaded from"),
])
def test_bad_metadata_filters_are_explained_next_to_their_field(app, client, people, described, args, field, message):
    sign_in_as(client, people["alice"])
    page = client.get("/history", query_string=args).get_data(as_text=True)
    error = re.search(rf'<span class="field-error" id="history-{field}-error">([^<]*)</span>', page)
    assert error and message in error.group(1)
    assert re.search(rf'id="history-{field}"[^>]*aria-invalid="true"', page, re.S)
    # The bad value is left out, the rest of the view still applies: the page answers, not fails.
    filters, errors = history.parse_filters(args, view_of(people["alice"]))
    assert field in errors
    shown = [int(n) for n in re.findall(r'<article id="entry-(\d+)"', page)]
    assert shown == [e.job.id for e in history.list_history(filters, view_of(people["alice"])).entries] and shown
    # An htmx answer (the form stays) carries the message out of band, next to the same field.
    partial = client.get("/history", query_string=args, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<section id="history-results"')
    oob = re.search(rf'<span class="field-error" id="history-{field}-error" hx-swap-oob="true">([^<]*)</span>', partial)
    assert oob and message in oob.group(1)


# -- the details panel -------------------------------------------------------------------------


def test_the_details_panel_shows_what_the_site_said_as_text(app, client, people):
    job = make_job(app, "http://example.com/watch/9", user=people["alice"], title="Escaped",
                   files=[("example.com/9/clip.mp4", b"video")])
    describe(job, uploader="Ann <b>Uploader</b>", channel="Ann's channel", upload_date="2025-05-06", duration=3725,
             view_count=1234567, width=1920, height=1080, vcodec="avc1.640028", acodec="mp4a.40.2", container="mp4",
             tags='music\n<img src=x onerror=alert(1)>\nlive "set"', webpage_url="javascript:alert(1)",
             description='<script>alert("x")</script>\n<a href="http://evil.example">second line</a>')
    sign_in_as(client, people["alice"])
    page = client.get("/history").get_data(as_text=True)
    panel = page[page.index(f'id="details-{job.id}"'):page.index('<div class="actions entry-actions">')]
    assert "Ann &lt;b&gt;Uploader&lt;/b&gt;" in panel and "<b>Uploader</b>" not in panel
    assert 'href="/history?uploader=Ann+%3Cb%3EUploader%3C/b%3E"' in panel
    assert "Ann&#39;s channel" in panel and "2025-05-06" in panel
    assert '<dd class="meta-duration">1:02:05</dd>' in panel
    assert "1,234,567" in panel and "1920×1080" in panel and "avc1.640028 / mp4a.40.2" in panel
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'href="http://evil.example"' not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in panel and "<img src=x" not in page
    # Each tag searches for itself (as a phrase); the site's page is a link only when it is http(s).
    assert 'href="/history?q=%22music%22"' in panel
    assert 'href="/history?q=%22live++set+%22"' in panel  # a quote inside a tag would end the phrase
    assert "javascript:" not in page
    assert 'href="http://example.com/watch/9"' in panel  # the job's own URL instead
    # The description is folded away.
    assert re.search(r'<details class="entry-description">\s*<summary>Description</summary>', panel)


def test_an_entry_without_metadata_says_so(app, client, people):
    job = make_job(app, "http://example.com/plain.png", user=people["alice"], files=[("example.com/p/plain.png", None)])
    sign_in_as(client, people["alice"])
    page = client.get(f"/history/{job.id}").get_data(as_text=True)
    assert "No details from the site for this download." in page
    assert f'id="details-{job.id}" open' in page  # on its own page the panel is open


def add_files(app, job: Job, files: list[tuple[str, str, bytes]]) -> None:
    """(relative path, kind, bytes) written under the storage root and recorded as the job's files."""
    root = Path(app.config["HAUL"].storage_root)
    for relative, kind, data in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        job.files.append(JobFile(path=relative, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                 mime=file_service.guess_mime(relative), kind=kind))
    db.session.commit()


SIDECARS = [
    ("Show/example.com/ep1/Episode.mp4", "media", b"mp4 bytes"),
    ("Show/example.com/ep1/Episode.en.srt", "subtitle", b"1\n00:00:00,000 --> 00:00:01,000\nHi\n"),
    ("Show/example.com/ep1/Episode.de.vtt", "subtitle", b"WEBVTT\n"),
    ("Show/example.com/ep1/Episode.jpg", "poster", b"poster bytes"),
    ("Show/example.com/ep1/Episode.info.json", "info-json", b"{}"),
    ("Show/example.com/ep1/Episode.nfo", "nfo", b"<episodedetails/>"),
    ("Show/example.com/ep1/Episode.m4a", "audio", b"audio bytes"),
]


def test_files_are_grouped_by_kind_and_a_gone_one_is_no_link(app, client, people):
    job = make_job(app, "http://example.com/ep1", user=people["alice"], title="Episode")
    add_files(app, job, SIDECARS)
    gone = next(f for f in job.files if f.path.endswith(".de.vtt"))
    gone.gone_at = datetime.now(UTC)
    db.session.commit()
    (Path(app.config["HAUL"].storage_root) / gone.path).unlink()
    entry = history.get_entry(job, view_of(people["alice"]))
    assert [(kind, [f.name for f in views]) for kind, _, views in entry.files_by_kind] == [
        ("media", ["Episode.mp4"]), ("audio", ["Episode.m4a"]), ("subtitle", ["Episode.en.srt", "Episode.de.vtt"]),
        ("poster", ["Episode.jpg"]), ("info-json", ["Episode.info.json"]), ("nfo", ["Episode.nfo"])]
    sign_in_as(client, people["alice"])
    page = client.get("/history").get_data(as_text=True)
    headings = re.findall(r'<h3 class="kind-heading">([^<]+?) <span', page)
    assert headings == ["Media", "Audio", "Subtitles", "Poster", "Info JSON", "NFO"]
    # The gone file: named and marked, never linked (in the panel and the tiles).
    assert not re.search(rf'href="/files/{gone.id}[?"/]', page)
    assert re.search(r'<li class="gone">\s*<span class="file-name"[^>]*>Episode\.de\.vtt</span>\s*'
                     r'<span class="chip gone-chip"', page)
    assert 'aria-label="Episode.de.vtt is gone from disk"' in page
    others = [f for f in job.files if f.id != gone.id]
    for record in others:
        assert f'href="/files/{record.id}?download=1"' in page


def test_deleting_with_files_removes_every_kind_from_disk(app, client, people):
    from support.web import csrf

    job = make_job(app, "http://example.com/ep1", user=people["alice"], title="Episode")
    add_files(app, job, SIDECARS)
    describe(job, uploader="Someone", tags="x")
    root = Path(app.config["HAUL"].storage_root)
    keep = root / "Show/example.com/ep2/Other.mp4"  # a neighbour that is not the job's
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"not this one")
    sign_in_as(client, people["alice"])
    token = csrf(client, "/history")
    response = client.post(f"/history/{job.id}/delete", data={"files": "1", "csrf_token": token})
    assert response.status_code == 302
    for relative, _, _ in SIDECARS:
        assert not (root / relative).exists(), relative
    assert not (root / "Show/example.com/ep1").exists()  # the emptied folder went too
    assert keep.is_file()
    assert db.session.get(JobMetadata, job.id) is None  # the metadata goes with its job
    assert db.session.scalar(select(JobFile.id).where(JobFile.job_id == job.id)) is None


# -- /api/v1/downloads -------------------------------------------------------------------------


def test_the_api_exposes_metadata_and_each_files_kind_and_whether_it_is_gone(app, client, api_callers):
    alice = api_callers.alice
    job = make_job(app, "http://example.com/api/1", user=alice, title="Via API")
    add_files(app, job, SIDECARS[:3])
    job.files[2].gone_at = datetime.now(UTC)
    describe(job, uploader="Api Person", tags="one\ntwo", duration=61.5, upload_date="2025-01-02", view_count=7,
             width=640, height=360, vcodec="vp9", acodec="opus", container="webm", webpage_url="https://example.com/w",
             extractor="generic", description="<b>raw</b>", extra={"chapters": [{"title": "Intro"}]})
    body = client.get(f"/api/v1/downloads/{job.id}", headers=api_callers['read']).get_json()
    assert body["metadata"] == {
        "uploader": "Api Person", "channel": None, "upload_date": "2025-01-02", "duration": 61.5,
        "description": "<b>raw</b>", "tags": ["one", "two"], "view_count": 7, "webpage_url": "https://example.com/w",
        "extractor": "generic", "width": 640, "height": 360, "vcodec": "vp9", "acodec": "opus", "container": "webm",
        "gallery_title": None, "item_date": None, "extra": {"chapters": [{"title": "Intro"}]},
    }
    assert [(f["name"], f["kind"], f["gone"]) for f in body["files"]] == [
        ("Episode.mp4", "media", False), ("Episode.en.srt", "subtitle", False), ("Episode.de.vtt", "subtitle", True)]
    listed = client.get("/api/v1/downloads", headers=api_callers['read']).get_json()["items"]
    assert listed[0]["metadata"]["tags"] == ["one", "two"]
    bare = make_job(app, "http://example.com/api/2", user=alice)
    assert client.get(f"/api/v1/downloads/{bare.id}", headers=api_callers['read']).get_json()["metadata"] is None


def test_the_api_searches_and_filters_by_metadata(app, client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    first = make_job(app, "http://example.com/f/1", user=alice)
    describe(first, uploader="Channel A", tags="cooking", duration=300, upload_date="2025-06-01",
             description="How to bake bread")
    second = make_job(app, "http://example.com/f/2", user=alice)
    describe(second, uploader="Channel B", tags="cooking\nsoup", duration=45, upload_date="2024-06-01")
    theirs = make_job(app, "http://example.com/f/3", user=root)
    describe(theirs, uploader="Channel A", tags="cooking", duration=300, upload_date="2025-06-01")

    def ids(**query):
        response = client.get("/api/v1/downloads", query_string=query, headers=api_callers['read'])
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert ids(search="cooking") == [second.id, first.id]  # never root's
    assert ids(q="bread") == [first.id]
    assert ids(q="soup", search="soup") == [second.id]
    assert ids(uploader="Channel A") == [first.id]
    assert ids(duration_min="60") == [first.id]
    assert ids(duration_max="1:00") == [second.id]
    assert ids(uploaded_after="2025-01-01") == [first.id]
    assert ids(uploaded_before="2024-12-31") == [second.id]
    assert ids(uploader="Channel B", duration_min="0:30", duration_max="0:50", uploaded_after="2024-06-01",
               uploaded_before="2024-06-01") == [second.id]
    admin = client.get("/api/v1/downloads", query_string={"uploader": "Channel A"}, headers=api_callers['admin'])
    assert [item["id"] for item in admin.get_json()["items"]] == [theirs.id, first.id]


@pytest.mark.parametrize("query, field", [
    ({"duration_min": "an hour"}, "duration_min"),
    ({"duration_max": "1:2:3:4"}, "duration_max"),
    ({"duration_min": "10:00", "duration_max": "1:00"}, "duration_max"),
    ({"uploaded_after": "2025-13-01"}, "uploaded_after"),
    ({"uploaded_after": "2025-02-01", "uploaded_before": "2025-01-01"}, "uploaded_before"),
    ({"uploader": "x" * 301}, "uploader"),
    ({"q": "one", "search": "two"}, "q"),
])
def test_bad_metadata_filters_answer_422_naming_the_parameter(app, client, api_callers, query, field):
    response = client.get("/api/v1/downloads", query_string=query, headers=api_callers['read'])
    body = assert_api_error(response, 422, "validation_error")
    assert list(body["errors"]["query"]) == [field]


def test_the_openapi_document_describes_the_metadata_and_its_filters(client):
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = {p["name"] for p in document["paths"]["/api/v1/downloads"]["get"]["parameters"]}
    wanted = {"uploader", "duration_min", "duration_max", "uploaded_after", "uploaded_before", "q", "search"}
    assert wanted <= parameters
    schemas = document["components"]["schemas"]
    download = next(schema for name, schema in schemas.items() if name.startswith("Download") and
                    "duplicate_of" in schema.get("properties", {}))
    assert "metadata" in download["properties"]
    file_schema = next(schema for name, schema in schemas.items() if name.startswith("DownloadFile"))
    assert {"kind", "gone"} <= set(file_schema["properties"])


def test_the_seed_api_and_the_queue_api_name_each_files_kind(app, client, api_callers):
    job = make_job(app, "http://example.com/seed/1", user=api_callers.alice)
    add_files(app, job, SIDECARS[:2])
    body = client.get(f"/api/v1/queue/{job.id}", headers=api_callers['read']).get_json()
    assert [(f["kind"], f["gone"]) for f in body["files"]] == [("media", False), ("subtitle", False)]


# -- live: the stream's view and the worker's announcement ---------------------------------------


def record_of(event: Event) -> EventRecord:
    return EventRecord(event.id, event.type, event.submission_id, event.job_id, event.user_id, event.data or {},
                       token_id=event.token_id)


def finished_event(job: Job) -> EventRecord:
    """The event the runner publishes with a job's outcome."""
    events.publish_job(job.status, job)
    db.session.commit()
    return latest(job.status, job.id)


def latest(kind: str, job_id: int) -> EventRecord:
    row = db.session.scalar(select(Event).where(Event.type == kind, Event.job_id == job_id).order_by(Event.id.desc()))
    assert row is not None, (kind, job_id)
    return record_of(row)


def test_a_finished_job_is_inserted_only_into_the_unfiltered_first_page_of_who_may_see_it(app, people):
    job = make_job(app, "http://example.com/live/1", user=people["alice"], title="Live one")
    completed = finished_event(job)

    def view(user, **args):
        filters, _ = history.parse_filters(args, view_of(user))
        return HistoryView(user.id, user.is_admin, filters)

    with app.test_request_context("/history/events"):
        inserted = view(people["alice"]).fragments(completed)
        assert 'hx-swap-oob="afterbegin:#history-entries"' in inserted and f'id="entry-{job.id}"' in inserted
        assert f'<article id="entry-{job.id}" hx-swap-oob="delete">' in inserted  # a replayed copy goes first
        assert 'hx-swap-oob="afterbegin' in view(people["admin"]).fragments(completed)
        assert view(people["bob"]).fragments(completed) == ""  # not bob's
        for narrowed in ({"q": "live"}, {"page": "2"}, {"uploader": "x"}, {"status": "completed"}):
            html = view(people["alice"], **narrowed).fragments(completed)
            assert "afterbegin" not in html, narrowed
            assert f'id="entry-{job.id}"' in html and 'hx-swap-oob="true"' in html, narrowed  # replaced if shown
        progress = EventRecord(completed.id, events.PROGRESS, job.submission_id, job.id, job.user_id, {})
        assert view(people["alice"]).fragments(progress) == ""


def test_the_worker_announces_thumbnails_and_the_entry_is_drawn_with_them(app, people):
    job = make_job(app, "http://example.com/live/2", user=people["alice"],
                   files=[("example.com/live/2/pic.png", None)])
    before = events.latest_event_id()
    thumbnails.after_job_completed(job.id)
    assert thumbnails.wait_idle(30)
    db.session.expire_all()
    announced = db.session.scalars(select(Event).where(Event.id > before, Event.type == events.THUMBNAILS)).all()
    assert [(e.job_id, e.user_id) for e in announced] == [(job.id, people["alice"].id)]
    with app.test_request_context("/history/events"):
        filters, _ = history.parse_filters({}, view_of(people["alice"]))
        html = HistoryView(people["alice"].id, False, filters).fragments(record_of(announced[0]))
        assert f'<article id="entry-{job.id}"' in html and 'hx-swap-oob="true"' in html
        assert f'src="/files/{job.files[0].id}/thumbnail"' in html
        filters, _ = history.parse_filters({}, view_of(people["bob"]))
        assert HistoryView(people["bob"].id, False, filters).fragments(record_of(announced[0])) == ""
    file_service.thumbnail_path(app.config["HAUL"].thumbnail_dir, job.files[0].sha256).unlink()


def test_a_deleted_or_retried_entry_leaves_open_pages(app, people):
    from webapp.services.queue import job_control

    failed = make_job(app, "http://example.com/live/3", user=people["alice"], status="failed", error="boom")
    job_control.retry(failed)
    retried = latest(events.STATUS, failed.id)
    gone = make_job(app, "http://example.com/live/4", user=people["alice"])
    history.delete_entry(gone, with_files=False)
    deleted = latest(history.DELETED, gone.id)
    with app.test_request_context("/history/events"):
        filters, _ = history.parse_filters({}, view_of(people["alice"]))
        view = HistoryView(people["alice"].id, False, filters)
        assert view.fragments(retried) == f'<article id="entry-{failed.id}" hx-swap-oob="delete"></article>'
        assert view.fragments(deleted) == f'<article id="entry-{gone.id}" hx-swap-oob="delete"></article>'


def test_the_history_stream_needs_a_signed_in_person(client):
    response = client.get("/history/events")
    assert response.status_code in (302, 401)


def test_the_page_opens_its_stream_for_its_own_view(app, client, people):
    make_job(app, "http://example.com/live/5", user=people["alice"])
    sign_in_as(client, people["alice"])
    page = client.get("/history?q=live&uploader=Someone").get_data(as_text=True)
    connect = re.search(r'sse-connect="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert connect.startswith("/history/events?") and "q=live" in connect and "uploader=Someone" in connect
    assert re.search(r"last_event_id=\d+", connect)
