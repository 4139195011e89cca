"""The dashboard's figures, /api/v1/stats/timeline and /stats/platforms, group_by on
/api/v1/downloads/stats, the overview's new fields, and the /stats page — in process.

Finished jobs are made as the worker leaves them (the real submit path, claim, finish) and then
given fixed times, so every bucket boundary is known. The expected figures are counted again in
each test with plain SQL of its own, not with the code under test.
"""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from conftest import assert_api_error
from sqlalchemy import event, text

from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.models.job import Outcome
from webapp.models.subscription import Subscription
from webapp.services.accounts.identity import Principal
from webapp.services.library import dashboard, stats
from webapp.services.queue.submissions import submit

# A Wednesday at 12:30 UTC: today began 00:00, this week on Monday 2 March, this month on 1 March.
NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def make_job(user, url: str, status: str | None, created_at: datetime, *, wait: int = 30, took: int = 60,
             sizes=(), user_principal=True) -> Job:
    """A job of `user` submitted at `created_at`, started `wait` s later and finished `took` s
    after that with `status` (None: left queued), with files of `sizes` bytes."""
    result = submit([url], principal=Principal(user=user) if user_principal else None, force=True)
    job = db.session.get(Job, result.entries[0].job_id)
    if status is not None:
        job.claim("tests")
        job.finish(Outcome(status), "boom" if status == "failed" else None)
        job.started_at = created_at + timedelta(seconds=wait)
        job.finished_at = job.started_at + timedelta(seconds=took)
    for number, size in enumerate(sizes):
        job.files.append(JobFile(path=f"{job.id}/{number}", size=size,
                                 sha256=hashlib.sha256(f"{job.id}-{number}".encode()).hexdigest()))
    job.created_at = created_at
    db.session.commit()
    return job


def sql(query: str, **params) -> int:
    """An independent count, in plain SQL."""
    return db.session.execute(text(query), params).scalar() or 0


def naive(moment: datetime) -> str:
    """A UTC instant as SQLite stores it (the tests run on SQLite)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


@pytest.fixture
def mixed(api_callers):
    """A mixed run: alice and root, three sites, completed / failed / cancelled jobs today, earlier
    this week, this month, last month and last year, with files; one job queued, one downloading."""
    alice, root = api_callers.alice, api_callers.root
    plan = [
        # (user, site, status, when, sizes)
        (alice, "a.example", "completed", NOW - timedelta(hours=1), (100, 50)),
        (alice, "a.example", "failed", NOW - timedelta(hours=2), ()),
        (alice, "b.example", "completed", NOW - timedelta(hours=12, minutes=20), (7,)),  # 00:10 today
        (alice, "b.example", "cancelled", NOW - timedelta(days=1), (3,)),  # Tuesday
        (alice, "a.example", "completed", NOW - timedelta(days=2, hours=12), (1000,)),  # Monday 00:30
        (alice, "c.example", "completed", NOW - timedelta(days=2, hours=13), (11,)),  # Sunday 23:30: last week
        (alice, "c.example", "failed", NOW - timedelta(days=40), ()),  # January
        (root, "a.example", "completed", NOW - timedelta(minutes=5), (5000,)),
        (root, "b.example", "failed", NOW - timedelta(days=3), ()),
        (root, "c.example", "completed", NOW - timedelta(days=400), (123,)),  # last year
    ]
    jobs = [make_job(user, f"http://{site}/{n}", status, when, wait=10 * (n + 1), took=100 + n, sizes=sizes)
            for n, (user, site, status, when, sizes) in enumerate(plan)]
    make_job(alice, "http://a.example/waiting", None, NOW - timedelta(minutes=1))
    running = make_job(root, "http://b.example/running", None, NOW - timedelta(minutes=1))
    running.claim("tests")
    db.session.commit()
    return jobs


def expected_periods(user_id=None) -> dict:
    """Each period's figures, counted with plain SQL."""
    starts = {"today": datetime(2026, 3, 4, tzinfo=UTC), "week": datetime(2026, 3, 2, tzinfo=UTC),
              "month": datetime(2026, 3, 1, tzinfo=UTC), "all": datetime(1970, 1, 1, tzinfo=UTC)}
    owner = "" if user_id is None else " AND j.user_id = :user"
    found = {}
    for name, start in starts.items():
        params = {"start": naive(start), "user": user_id}
        counts = {status: sql(f"SELECT COUNT(*) FROM jobs j WHERE j.kind = 'item' AND j.status = '{status}' "
                              f"AND j.created_at >= :start{owner}", **params)
                  for status in ("completed", "failed", "cancelled")}
        size = sql("SELECT SUM(f.size) FROM job_files f JOIN jobs j ON j.id = f.job_id WHERE j.kind = 'item' "
                   f"AND j.status IN ('completed', 'failed', 'cancelled') AND j.created_at >= :start{owner}", **params)
        found[name] = {**counts, "total_size_bytes": size}
    return found


def test_dashboard_numbers_equal_counts_from_the_database(app, mixed, api_callers):
    root = Principal(user=api_callers.root)
    board = dashboard.dashboard(root, app.config["HAUL"].storage_root, None, "month", now=NOW)
    for name, figures in expected_periods().items():
        shown = board["periods"][name]
        assert {key: shown[key] for key in figures} == figures, name
        assert shown["downloads"] == figures["completed"] + figures["failed"] + figures["cancelled"]
    # Hand-checked too, so the SQL above is not wrong in the same way.
    assert board["periods"]["today"] == {"downloads": 4, "completed": 3, "failed": 1, "cancelled": 0,
                                         "success_rate": 75.0, "total_size_bytes": 5157}
    assert board["periods"]["all"]["completed"] == 6 and board["periods"]["all"]["failed"] == 3
    assert board["success_rate"] == round(100 * 6 / 9, 1)

    assert board["queue"] == {
        "queued": sql("SELECT COUNT(*) FROM jobs WHERE status = 'queued'"),
        "downloading": sql("SELECT COUNT(*) FROM jobs WHERE status = 'downloading'"),
        "paused": 0}
    assert board["queue"]["queued"] == 1 and board["queue"]["downloading"] == 1

    # Timings over the month's downloads (created since 3 February, as period "month" is 30 days).
    start = naive(datetime(2026, 2, 3, tzinfo=UTC))
    window = "kind = 'item' AND status IN ('completed', 'failed', 'cancelled') AND created_at >= :start"
    wait = sql(f"SELECT AVG((julianday(started_at) - julianday(created_at)) * 86400) FROM jobs WHERE {window}",
               start=start)
    took = sql(f"SELECT AVG((julianday(finished_at) - julianday(started_at)) * 86400) FROM jobs WHERE {window}",
               start=start)
    assert board["timings"]["measured"] == sql(f"SELECT COUNT(*) FROM jobs WHERE {window}", start=start) == 8
    assert board["timings"]["average_wait_seconds"] == pytest.approx(wait, abs=0.1)
    assert board["timings"]["average_download_seconds"] == pytest.approx(took, abs=0.1)

    assert board["storage"]["library_bytes"] == sql("SELECT SUM(size) FROM job_files") == 6294
    assert board["storage"]["library_files"] == sql("SELECT COUNT(*) FROM job_files")
    assert board["storage"]["free_bytes"] > 0

    top = board["top_sites"]
    assert [site["platform"] for site in top] == ["a.example", "b.example", "c.example"]
    for site in top:
        where = ("j.domain = :d AND j.kind = 'item' AND j.status IN ('completed','failed','cancelled') "
                 "AND j.created_at >= :s")
        assert site["downloads"] == sql(f"SELECT COUNT(*) FROM jobs j WHERE {where}", d=site["platform"], s=start)
        assert site["failed"] == sql(f"SELECT COUNT(*) FROM jobs j WHERE {where} AND j.status = 'failed'",
                                     d=site["platform"], s=start)
        assert site["total_size_bytes"] == sql(
            f"SELECT COALESCE(SUM(f.size), 0) FROM job_files f JOIN jobs j ON j.id = f.job_id WHERE {where}",
            d=site["platform"], s=start)
    assert top[0]["success_rate"] == 75.0  # a.example: 3 completed, 1 failed


def test_a_users_dashboard_counts_only_their_own(app, mixed, api_callers):
    alice = api_callers.alice
    board = dashboard.dashboard(Principal(user=alice), app.config["HAUL"].storage_root, None, "month", now=NOW)
    assert board["user_id"] == alice.id
    for name, figures in expected_periods(alice.id).items():
        assert {key: board["periods"][name][key] for key in figures} == figures, name
    assert board["storage"]["library_bytes"] == sql(
        "SELECT SUM(f.size) FROM job_files f JOIN jobs j ON j.id = f.job_id WHERE j.user_id = :u", u=alice.id)
    assert board["queue"]["downloading"] == 0  # root's running job is not hers
    # The admin's filter shows the same figures.
    as_admin = dashboard.dashboard(Principal(user=api_callers.root), app.config["HAUL"].storage_root, alice.id,
                                   "month", now=NOW)
    assert as_admin["periods"] == board["periods"] and as_admin["user_id"] == alice.id


def test_timeline_buckets_at_their_boundaries(app, api_callers):
    alice = api_callers.alice
    moments = {
        "hour_end": datetime(2026, 3, 4, 10, 59, 59, tzinfo=UTC),
        "hour_start": datetime(2026, 3, 4, 11, 0, 0, tzinfo=UTC),
        "sunday_end": datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC),
        "monday_start": datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC),
        "february_end": datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
        "december": datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
    }
    for name, moment in moments.items():
        make_job(alice, f"http://t.example/{name}", "completed" if name != "february_end" else "failed", moment,
                 sizes=(10,))
    me = Principal(user=alice)

    def buckets(period, group_by):
        return {b["timestamp"]: (b["completed"], b["failed"]) for b in
                stats.timeline(period, group_by, me, now=NOW)["timeline"] if b["downloads"]}

    assert buckets("day", "hour") == {"2026-03-04T10:00:00Z": (1, 0), "2026-03-04T11:00:00Z": (1, 0)}
    assert buckets("month", "day") == {"2026-02-28T00:00:00Z": (0, 1), "2026-03-01T00:00:00Z": (1, 0),
                                       "2026-03-02T00:00:00Z": (1, 0), "2026-03-04T00:00:00Z": (2, 0)}
    # Weeks start on Monday: Sunday 1 March belongs to the week of 23 February.
    assert buckets("month", "week") == {"2026-02-23T00:00:00Z": (1, 1), "2026-03-02T00:00:00Z": (3, 0)}
    assert buckets("all", "month") == {"2025-12-01T00:00:00Z": (1, 0), "2026-02-01T00:00:00Z": (0, 1),
                                       "2026-03-01T00:00:00Z": (4, 0)}

    # Every bucket is there, empty ones too, oldest first, up to now.
    months = stats.timeline("all", "month", me, now=NOW)["timeline"]
    assert [b["timestamp"][:7] for b in months] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert months[1] == {"timestamp": "2026-01-01T00:00:00Z", "downloads": 0, "success": 0, "completed": 0,
                         "failed": 0, "cancelled": 0, "total_size_bytes": 0}
    assert months[3]["total_size_bytes"] == 40 and months[3]["success"] == 4
    hours = stats.timeline("day", "hour", me, now=NOW)["timeline"]
    assert [b["timestamp"][11:13] for b in hours] == [f"{h:02}" for h in range(13)]  # 00:00 to 12:00
    days = stats.timeline("week", "day", me, now=NOW)["timeline"]
    assert days[0]["timestamp"] == "2026-02-26T00:00:00Z" and len(days) == 7


def test_platforms_shape(app, mixed, client, api_callers):
    body = client.get("/api/v1/stats/platforms", headers=api_callers["admin"]).get_json()
    assert set(body) == {"period", "since", "user_id", "platforms"}
    assert (body["period"], body["since"], body["user_id"]) == ("all", None, None)
    keys = {"platform", "downloads", "success", "completed", "failed", "cancelled", "success_rate", "total_size_bytes"}
    assert all(set(site) == keys for site in body["platforms"])
    by_site = {site["platform"]: site for site in body["platforms"]}
    assert by_site["a.example"] == {"platform": "a.example", "downloads": 4, "success": 3, "completed": 3,
                                    "failed": 1, "cancelled": 0, "success_rate": 75.0, "total_size_bytes": 6150}
    assert by_site["c.example"]["success_rate"] == 66.7
    assert sum(site["downloads"] for site in body["platforms"]) == sql(
        "SELECT COUNT(*) FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')")
    own = client.get("/api/v1/stats/platforms", headers=api_callers["read"]).get_json()
    assert own["user_id"] == api_callers.alice.id
    assert sum(site["downloads"] for site in own["platforms"]) == 7


def test_timeline_api_shape_and_totals(app, mixed, client, api_callers):
    response = client.get("/api/v1/stats/timeline?period=all&group_by=month", headers=api_callers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"period", "group_by", "since", "user_id", "timeline"}
    assert sum(b["downloads"] for b in body["timeline"]) == 10
    assert sum(b["total_size_bytes"] for b in body["timeline"]) == sql("SELECT SUM(size) FROM job_files")
    default = client.get("/api/v1/stats/timeline", headers=api_callers["read"]).get_json()
    assert (default["period"], default["group_by"], len(default["timeline"])) == ("week", "day", 7)


def test_a_user_sees_only_their_own_figures(app, mixed, client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    own = client.get("/api/v1/stats/timeline?period=all&group_by=month", headers=api_callers["user"]).get_json()
    assert own["user_id"] == alice.id and sum(b["downloads"] for b in own["timeline"]) == 7
    mine = client.get(f"/api/v1/stats/timeline?period=all&group_by=month&user_id={alice.id}",
                      headers=api_callers["read"])
    assert mine.status_code == 200 and mine.get_json()["timeline"] == own["timeline"]
    for path in (f"/api/v1/stats/timeline?user_id={root.id}", f"/api/v1/stats/platforms?user_id={root.id}"):
        assert_api_error(client.get(path, headers=api_callers["user"]), 403, "forbidden")
    # The admin's filter.
    theirs = client.get(f"/api/v1/stats/timeline?period=all&group_by=month&user_id={alice.id}",
                        headers=api_callers["admin"]).get_json()
    assert theirs["timeline"] == own["timeline"] and theirs["user_id"] == alice.id
    everyone = client.get("/api/v1/stats/timeline?period=all&group_by=month", headers=api_callers["static"]).get_json()
    assert everyone["user_id"] is None and sum(b["downloads"] for b in everyone["timeline"]) == 10


def test_stats_need_the_read_scope(client, api_callers):
    for path in ("/api/v1/stats/timeline", "/api/v1/stats/platforms"):
        assert_api_error(client.get(path, headers=api_callers["anonymous"]), 401)
        assert_api_error(client.get(path, headers=api_callers["submit"]), 403)
        assert_api_error(client.get(path, headers=api_callers["revoked"]), 401)


@pytest.mark.parametrize("query,code", [
    ("/api/v1/stats/timeline?group_by=minute", "validation_error"),
    ("/api/v1/stats/timeline?period=decade", "validation_error"),
    ("/api/v1/stats/timeline?period=year&group_by=hour", "invalid_group_by"),
    ("/api/v1/stats/timeline?period=all&group_by=hour", "invalid_group_by"),
    ("/api/v1/stats/timeline?user_id=abc", "validation_error"),
    ("/api/v1/stats/platforms?user_id=%C2%B3", "validation_error"),
    ("/api/v1/stats/timeline?user_id=0", "validation_error"),
    ("/api/v1/stats/timeline?user_id=99999999999999999999999", "validation_error"),
    ("/api/v1/stats/platforms?period=<script>", "validation_error"),
    ("/api/v1/downloads/stats?group_by=platform", "validation_error"),
    ("/api/v1/downloads/stats?period=all&group_by=hour", "invalid_group_by"),
])
def test_bad_values_are_422(client, api_callers, query, code):
    assert_api_error(client.get(query, headers=api_callers["admin"]), 422, code)


def test_group_by_on_download_stats(app, client, api_callers):
    alice = api_callers.alice
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    earlier = now - timedelta(hours=1) if now.hour else now
    make_job(alice, "http://g.example/1", "completed", now)
    make_job(alice, "http://g.example/2", "failed", earlier)
    make_job(alice, "http://g.example/3", "completed", now - timedelta(days=400))

    def timeline(query):
        response = client.get(f"/api/v1/downloads/stats?{query}", headers=api_callers["user"])
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        return body["group_by"], [(d["date"], d["count"]) for d in body["timeline"]]

    assert timeline("period=all") == ("day", [((now - timedelta(days=400)).date().isoformat(), 1),
                                              (now.date().isoformat(), 2)])
    group, months = timeline("period=all&group_by=month")
    assert group == "month" and months == [((now - timedelta(days=400)).strftime("%Y-%m-01"), 1),
                                           (now.strftime("%Y-%m-01"), 2)]
    monday = (now - timedelta(days=now.weekday())).date().isoformat()
    assert timeline("period=today&group_by=week")[1] == [(monday, 2)]
    hours = timeline("period=today&group_by=hour")[1]
    assert sum(n for _, n in hours) == 2 and all(date.endswith(":00:00Z") for date, _ in hours)
    assert hours[-1][0] == now.strftime("%Y-%m-%dT%H:00:00Z")


def test_overview_gains_success_rate_and_next_scheduled_run(app, mixed, client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    soon, later = datetime.now(UTC) + timedelta(minutes=5), datetime.now(UTC) + timedelta(hours=2)

    def subscription(user, name, when, enabled=True):
        db.session.add(Subscription(user_id=user.id, name=name, url="http://s.example/feed", domain="s.example",
                                    schedule_kind="interval", interval_seconds=3600, enabled=enabled,
                                    next_run_at=when))
        db.session.commit()

    subscription(root, "root's disabled", soon - timedelta(minutes=4), enabled=False)
    subscription(root, "root's feed", soon)
    subscription(alice, "alice's feed", later)
    everyone = client.get("/api/v1/stats/overview", headers=api_callers["admin"]).get_json()
    completed = sql("SELECT COUNT(*) FROM jobs WHERE status = 'completed'")
    failed = sql("SELECT COUNT(*) FROM jobs WHERE status = 'failed'")
    assert everyone["success_rate"] == round(100 * completed / (completed + failed), 1)
    assert everyone["next_scheduled_run"]["name"] == "root's feed"
    assert 0 < everyone["next_scheduled_run"]["in_seconds"] <= 300
    assert everyone["next_scheduled_run"]["scheduled_time"].endswith("Z")
    own = client.get("/api/v1/stats/overview", headers=api_callers["read"]).get_json()
    assert own["next_scheduled_run"]["name"] == "alice's feed"  # never another user's
    assert own["success_rate"] == round(100 * 4 / 6, 1)


def test_overview_without_jobs_or_subscriptions(client, api_callers):
    body = client.get("/api/v1/stats/overview", headers=api_callers["read"]).get_json()
    assert body["success_rate"] is None and body["next_scheduled_run"] is None


def test_the_figures_are_aggregate_queries(app, client, api_callers):
    """The same number of statements for 6 downloads as for 24: none per job or per bucket."""

    def statements_for(count):
        for n in range(count):
            make_job(api_callers.alice, f"http://q{n % 3}.example/{count}-{n}", "completed",
                     datetime.now(UTC) - timedelta(days=n), sizes=(n + 1,))
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            for path in ("/api/v1/stats/timeline?period=month", "/api/v1/stats/platforms"):
                assert client.get(path, headers=api_callers["user"]).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len([s for s in seen if "jobs" in s])

    assert statements_for(6) == statements_for(18) <= 4


# -- the page ---------------------------------------------------------------------------------


def test_stats_page_shows_own_figures_to_a_user(app, mixed, client, api_callers):
    from conftest import sign_in_as

    sign_in_as(client, api_callers.alice)
    page = client.get("/stats?period=all&group_by=month")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="stats-user"' not in html  # no user filter for a user
    assert 'data-figure="downloads-all"' in html
    all_time = expected_periods(api_callers.alice.id)["all"]
    assert f'data-value="{all_time["completed"]}"' in html and f'data-bytes="{all_time["total_size_bytes"]}"' in html
    today = datetime.now(UTC)
    months = (today.year - 2026) * 12 + today.month  # January 2026 (her oldest download) to this month
    assert html.count('class="chart-bucket"') == 2 * months  # two column charts, a column per month
    assert client.get(f"/stats?user={api_callers.root.id}").status_code == 403
    assert client.get(f"/stats/queue?user={api_callers.root.id}").status_code == 403
    card = client.get("/stats/queue", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="stats-queue"' in card and 'data-status="queued">1<' in card and "<html" not in card


def test_stats_page_admin_user_filter(app, mixed, client, api_callers):
    from conftest import sign_in_as

    sign_in_as(client, api_callers.root)
    html = client.get("/stats?period=all").get_data(as_text=True)
    assert 'id="stats-user"' in html and f'<option value="{api_callers.alice.id}"' in html
    everyone = expected_periods()["all"]
    assert f'data-value="{everyone["completed"]}"' in html
    alice_only = client.get(f"/stats?period=all&user={api_callers.alice.id}", headers={"HX-Request": "true"})
    body = alice_only.get_data(as_text=True)
    assert 'id="stats-body"' in body and "<html" not in body  # the htmx answer is the partial
    assert f'data-value="{expected_periods(api_callers.alice.id)["all"]["completed"]}"' in body
    # A URL edited by hand falls back to what goes together (the API refuses it instead).
    assert client.get("/stats?period=decade&group_by=hour").status_code == 200
    assert client.get("/stats?period=all&group_by=hour&user=abc").status_code == 200
    for odd in ("%C2%B3", "-1", "1.5", "9" * 30, "%00"):  # "³" passes str.isdigit(), not int()
        assert client.get(f"/stats?user={odd}").status_code == 200, odd
        assert client.get(f"/stats/queue?user={odd}").status_code == 200, odd


def test_stats_page_needs_sign_in(client):
    assert client.get("/stats").status_code in (302, 401)
    assert client.get("/stats/queue").status_code in (302, 401)


def test_a_hostile_domain_is_text_on_the_page(app, client, api_callers):
    from conftest import sign_in_as

    job = make_job(api_callers.alice, "http://x.example/1", "completed", datetime.now(UTC))
    job.domain = '<script>alert("x")</script>'
    db.session.commit()
    sign_in_as(client, api_callers.alice)
    html = client.get("/stats").get_data(as_text=True)
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(" in html


# -- PostgreSQL's SQL (compiled here; the suite runs on SQLite) ------------------------------


@pytest.mark.parametrize("group_by,unit", [("hour", "hour"), ("day", "day"), ("week", "week"), ("month", "month")])
def test_postgresql_buckets_truncate_in_utc_without_parameters(group_by, unit):
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql

    bucket = stats.bucket_of(group_by, "postgresql").label("bucket")
    sql_text = str(select(bucket, func.count()).group_by(bucket).compile(dialect=postgresql.dialect()))
    assert f"date_trunc('{unit}', timezone('UTC', jobs.created_at))" in sql_text
    assert """'YYYY-MM-DD"T"HH24:MI:SS"Z"'""" in sql_text
    assert "%(" not in sql_text  # no bound parameter: the SELECT's and the GROUP BY's expressions are the same


def test_postgresql_durations_are_epoch_seconds():
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql

    expression = dashboard.seconds_between(Job.created_at, Job.started_at, "postgresql")
    sql_text = str(select(func.avg(expression)).compile(dialect=postgresql.dialect()))
    assert "EXTRACT(epoch FROM jobs.started_at - jobs.created_at)" in sql_text


def test_the_document_states_the_new_parameters_and_fields(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    timeline = {p["name"]: p for p in paths["/api/v1/stats/timeline"]["get"]["parameters"]}
    assert timeline["group_by"]["schema"]["enum"] == ["hour", "day", "week", "month"]
    assert set(timeline) == {"period", "group_by", "user_id"}
    assert {p["name"] for p in paths["/api/v1/stats/platforms"]["get"]["parameters"]} == {"period", "user_id"}
    downloads = {p["name"]: p for p in paths["/api/v1/downloads/stats"]["get"]["parameters"]}
    assert downloads["group_by"]["schema"]["enum"] == ["hour", "day", "week", "month"]
    overview = document["components"]["schemas"]["Overview"]["properties"]
    assert {"success_rate", "next_scheduled_run", "download_window"} <= set(overview)
    for path in ("/api/v1/stats/timeline", "/api/v1/stats/platforms"):
        assert {"200", "401", "403", "422"} <= set(paths[path]["get"]["responses"])


def test_a_closed_download_window_shows_when_it_opens(app, client, api_callers):
    from webapp.models.base import utcnow
    from webapp.services.admin import runtime_settings, window_settings

    assert client.get("/api/v1/stats/overview", headers=api_callers["read"]).get_json()["download_window"] == {
        "enabled": False, "open": True, "next_open": None}
    opens = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    runtime_settings.save({window_settings.WINDOWS: [{"days": days, "start": opens.strftime("%H:%M"),
                                                      "end": (opens + timedelta(minutes=1)).strftime("%H:%M")}],
                           window_settings.TIMEZONE: "UTC"})
    window = client.get("/api/v1/stats/overview", headers=api_callers["read"]).get_json()["download_window"]
    assert window["enabled"] is True and window["open"] is False
    assert window["next_open"].startswith(opens.strftime("%Y-%m-%dT%H:%M"))
    from conftest import sign_in_as

    sign_in_as(client, api_callers.alice)
    html = client.get("/stats").get_data(as_text=True)
    assert 'data-figure="window"' in html and opens.strftime("%Y-%m-%d %H:%M") in html
