"""The /logs page (admins; everyone else the friendly 403), its filters, download and clear, the live
tail's rows, and a job's own log in its details (its owner and admins; another's job 404)."""
from __future__ import annotations

import dataclasses
import time

import pytest
from support.web import csrf, sign_in_as
from test_logs_api import enable_haul_loggers, record, write_records

from webapp import app_log
from webapp.extensions import db
from webapp.models.job_log import JobLog
from webapp.services.accounts.identity import Principal
from webapp.services.admin import app_logs
from webapp.services.queue.submissions import submit


@pytest.fixture
def settings(settings, tmp_path):
    data = tmp_path / "own-data"
    data.mkdir()
    return dataclasses.replace(settings, data_dir=data)


@pytest.fixture
def logged(app, settings):
    enable_haul_loggers()
    from webapp.logs.context import request_fields

    app_log.configure(settings.data_dir, "web", "INFO", request_fields=request_fields)
    write_records(settings.data_dir, "worker", [
        record(1, job_id=5, message="job 5 started"),
        record(3, level="WARNING", module="jobs.engines.direct", job_id=5, message="slow <b>server</b>"),
    ])
    write_records(settings.data_dir, "web", [record(2, level="ERROR", module="webapp.error_pages",
                                                    message="unhandled error", traceback="Traceback: boom")])
    return settings.data_dir


def test_an_admin_sees_the_records_with_their_level_colours(admin_client, logged):
    page = admin_client.get("/logs").get_data(as_text=True)
    assert "<h1>Logs</h1>" in page
    assert page.index("slow &lt;b&gt;server&lt;/b&gt;") < page.index("unhandled error") < page.index("job 5 started")
    assert 'class="log-level level-warning"' in page and 'class="log-level level-error"' in page
    assert "Traceback: boom" in page  # folded under the row
    assert 'sse-connect="/logs/events"' in page  # the first page follows the log live
    assert 'href="/logs"' in page and ">Logs</a>" in page  # the admin's nav link


def test_the_filters_narrow_the_table_and_htmx_gets_the_results_alone(admin_client, logged):
    answer = admin_client.get("/logs?level=WARNING&job_id=5", headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert html.lstrip().startswith("<section") and "<h1>" not in html
    assert "slow &lt;b&gt;server&lt;/b&gt;" in html and "job 5 started" not in html and "unhandled" not in html
    assert 'sse-connect="/logs/events?level=WARNING&amp;job_id=5"' in html


def test_a_nonsense_filter_is_dropped_with_a_word(admin_client, logged):
    page = admin_client.get("/logs?level=LOUD").get_data(as_text=True)
    assert "The filters were reset" in page and "job 5 started" in page


def test_the_page_downloads_the_filtered_log(admin_client, logged):
    answer = admin_client.get("/logs/download?format=text&level=ERROR")
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    assert answer.get_data(as_text=True).strip().splitlines()[0].endswith("unhandled error")


def test_clear_empties_the_log_and_its_first_line_names_the_admin_and_the_request(admin_client, admin, logged):
    admin_id = admin.id
    token = csrf(admin_client, "/logs")
    answer = admin_client.post("/logs/clear", headers={"HX-Request": "true", "X-CSRFToken": token,
                                                       "X-Request-ID": "clear-req-1"})
    assert answer.status_code == 200 and "haul:toast" in answer.headers["HX-Trigger"]
    records = list(app_logs.newest_first(logged))
    assert records and all(r["message"].startswith("the application log was cleared") for r in records)
    assert records[0]["user_id"] == admin_id and records[0]["request_id"] == "clear-req-1"
    assert records[0]["process"] == "web"


@pytest.mark.parametrize("method, path", [("get", "/logs"), ("get", "/logs/events"), ("get", "/logs/download"),
                                          ("post", "/logs/clear")])
def test_users_get_403_and_strangers_the_sign_in(client, alice, logged, method, path):
    anonymous = getattr(client, method)(path)
    assert anonymous.status_code in (302, 400)  # the sign-in (a POST without a form token: refused first)
    sign_in_as(client, alice)
    headers = {"X-CSRFToken": csrf(client, "/account")} if method == "post" else {}
    assert getattr(client, method)(path, headers=headers).status_code == 403
    assert "Logs</a>" not in client.get("/").get_data(as_text=True)
    assert app_log.role_file(logged, "worker").stat().st_size > 0


def test_the_tail_sends_new_matching_records_as_rows(app, logged):
    """The live tail's view: what was there when the page opened is not sent again; a new matching
    record becomes a row, a record the filters leave out does not."""
    from webapp.logs.tail import LogTailView

    follower = app_logs.Follower(logged, app_logs.Filters.parse(level="WARNING"))
    view = LogTailView(1, follower)
    with app.test_request_context("/logs/events"):
        assert view.due(0) == []
        write_records(logged, "worker", [record(8, level="INFO", message="quiet line"),
                                         record(9, level="ERROR", job_id=77, message="tool failed loudly")])
        view._next_poll = time.monotonic()
        [frame] = view.due(0)
    assert frame.startswith("event: log\n") and "tool failed loudly" in frame and "quiet line" not in frame
    assert "#77" in frame and "level-error" in frame


def test_the_follower_reads_a_truncated_or_rotated_file_from_its_start(logged):
    follower = app_logs.Follower(logged)
    app_logs.clear(logged)
    write_records(logged, "worker", [record(11, message="after the clear")])
    assert [r["message"] for r in follower.poll()] == ["after the clear"]
    path = app_log.role_file(logged, "worker")
    path.rename(path.with_name("haul-worker.log.1"))
    write_records(logged, "worker", [record(12, message="in the new file")])
    assert [r["message"] for r in follower.poll()] == ["in the new file"]


def test_a_jobs_log_shows_in_its_details_for_its_owner_and_admins(client, alice, admin, app):
    from webapp.services.accounts.identity import create_user

    bob = create_user("bob", "bobpassword1")
    mine = submit(["http://example.com/mine"], principal=Principal(user=alice)).entries[0].job_id
    bobs = submit(["http://example.com/bobs"], principal=Principal(user=bob)).entries[0].job_id
    text = ("── attempt 1 ──\n00:00:01 INFO    yt-dlp: [generic] Extracting URL\n"
            "00:00:02 ERROR   yt-dlp: <Unable> to download")
    db.session.add(JobLog(job_id=mine, text=text, truncated=False))
    db.session.commit()
    sign_in_as(client, alice)
    fragment = client.get(f"/jobs/{mine}/log").get_data(as_text=True)
    assert 'class="job-log-text"' in fragment and "[generic] Extracting URL" in fragment
    assert "What the tool said" in fragment and "yt-dlp: &lt;Unable&gt; to download" in fragment
    assert client.get(f"/jobs/{bobs}/log").status_code == 404
    sign_in_as(client, admin)
    assert client.get(f"/jobs/{bobs}/log").status_code == 200
    assert "Nothing logged for this job yet" in client.get(f"/jobs/{bobs}/log").get_data(as_text=True)


def test_a_finished_jobs_row_and_history_details_offer_its_log(client, alice, app):
    job_id = submit(["http://example.com/ended"], principal=Principal(user=alice)).entries[0].job_id
    from webapp.models import Job
    from webapp.models.job import Outcome

    job = db.session.get(Job, job_id)
    job.claim("host:1:boot")
    job.finish(Outcome.FAILED, "HTTP Error 404")
    db.session.commit()
    sign_in_as(client, alice)
    queue = client.get("/?status=failed").get_data(as_text=True)
    history = client.get("/history").get_data(as_text=True)
    for page in (queue, history):
        assert f'hx-get="/jobs/{job_id}/log"' in page and "<summary>Log</summary>" in page
