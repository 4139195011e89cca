"""Each job's own log (jobs/job_log.py): capped, captured per job even with several jobs running at
once in one process, with yt-dlp's own words, every attempt, and why a failed job failed."""
from __future__ import annotations

import logging
import threading

import pytest

from jobs import job_log, runner
from webapp.core.vocabulary import COMPLETED, FAILED, QUEUED
from webapp.extensions import db
from webapp.models import Job
from webapp.models.job import Outcome
from webapp.models.job_log import JobLog
from webapp.services.queue import job_logs
from webapp.services.queue.submissions import submit


@pytest.fixture
def app(app):
    """The app, its logging as in the worker (webapp/app_log.configure): the root logger lets INFO
    records through."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    # The migrations' logging.config.fileConfig (the `app` fixture runs them) disables the loggers
    # made before it; the worker never runs them.
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith("jobs"):
            logger.disabled = False
    yield app
    root.setLevel(before)


def queued(url: str) -> int:
    return submit([url], principal=None).entries[0].job_id


def log_of(job_id: int) -> JobLog:
    db.session.expire_all()
    return db.session.get(JobLog, job_id)


def claim_and_run(job_id: int):
    assert runner.claim_next_job() == job_id
    outcome = runner.run_job(job_id)
    db.session.expire_all()
    return outcome, db.session.get(Job, job_id)


# The buffer ---------------------------------------------------------------------------------------


def test_a_long_log_keeps_its_head_and_tail_within_the_cap():
    buffer = job_log.JobLogBuffer(1)
    for n in range(5000):
        buffer.add("INFO", "yt-dlp", f"line {n:05d} " + "x" * 40)
    text = buffer.text()
    assert len(text.encode()) <= job_log.CAP_BYTES
    assert buffer.truncated
    assert "line 00000" in text and "line 04999" in text  # the start and the end
    assert "lines cut …" in text and "line 02500" not in text


def test_a_short_log_is_kept_whole_and_every_line_named():
    buffer = job_log.JobLogBuffer(1)
    buffer.add("WARNING", "yt-dlp", "first\nsecond")
    lines = buffer.text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["WARNING yt-dlp: first", "WARNING yt-dlp: second"]
    assert not buffer.truncated


def test_a_secret_a_tool_prints_is_redacted():
    buffer = job_log.JobLogBuffer(1)
    buffer.add("INFO", "gallery-dl", "GET https://site/api?token=abcdef123456 with Bearer zzzzzzzzzzzz")
    assert "abcdef123456" not in buffer.text() and "zzzzzzzzzzzz" not in buffer.text()


def test_the_saved_log_is_capped_across_attempts():
    text, cut = job_log.cap_text("\n".join(f"line {n}" for n in range(50_000)))
    assert cut and len(text.encode()) <= job_log.CAP_BYTES and "line 0" in text and "line 49999" in text


# Capture per job --------------------------------------------------------------------------------


def test_python_logging_in_a_jobs_thread_lands_in_that_jobs_log_only(app):
    """gallery-dl logs through Python logging: two jobs logging at once in two threads of one
    process each get their own lines, and a thread outside any job adds to neither."""
    both_started = threading.Barrier(2)
    buffers = {}

    def job(job_id: int):
        with app.app_context():
            capture = job_log.Capture.start(job_id, 1, 3, f"http://site/{job_id}")
            both_started.wait(5)
            for n in range(50):
                logging.getLogger("gallery-dl").warning("job-%s-says %s", job_id, n)
            buffers[job_id] = capture.buffer
            capture.end()

    threads = [threading.Thread(target=job, args=(n,)) for n in (101, 102)]
    for thread in threads:
        thread.start()
    logging.getLogger("gallery-dl").warning("nobody's line")
    for thread in threads:
        thread.join(10)
    for mine, other in ((101, 102), (102, 101)):
        text = buffers[mine].text()
        assert text.count(f"job-{mine}-says") == 50
        assert f"job-{other}-says" not in text and "nobody's line" not in text
    assert job_log.current() is None


def test_two_concurrent_jobs_logs_are_not_mixed(app, media_site):
    """Two real downloads at the same time in two worker threads of this process: each job's saved
    log names its own URL and never the other's."""
    urls = {queued(media_site.url(f"/slow/joblog-{name}.jpg?kb=96&rate=96")): name for name in ("left", "right")}
    claimed = [runner.claim_next_job() for _ in urls]
    assert sorted(claimed) == sorted(urls)
    outcomes = {}

    def run(job_id):
        with app.app_context():
            outcomes[job_id] = runner.run_job(job_id)
            db.session.remove()

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(outcomes.values()) == {Outcome.COMPLETED}
    for job_id, name in urls.items():
        other = "right" if name == "left" else "left"
        text = log_of(job_id).text
        assert f"joblog-{name}.jpg" in text and "attempt 1 ended: completed" in text
        assert f"joblog-{other}" not in text
        assert f"job {job_id}:" in text
        assert all(f"job {other_id}:" not in text for other_id in urls if other_id != job_id)


# Real tools --------------------------------------------------------------------------------------


def test_a_jobs_log_has_yt_dlps_own_messages(app, media_site):
    job_id = queued(media_site.url("/video/joblog-clip"))
    outcome, job = claim_and_run(job_id)
    assert outcome is Outcome.COMPLETED and job.status == COMPLETED
    text = log_of(job_id).text
    assert text.startswith("── attempt 1 ──")
    assert "yt-dlp: [generic]" in text  # yt-dlp's extractor speaking
    assert "yt-dlp: [download] Destination:" in text or "yt-dlp: [download]" in text
    assert "downloading with yt-dlp" in text and "attempt 1 ended: completed" in text


def test_a_failed_job_shows_the_tools_own_error_words(app, media_site, admin):
    from webapp.models import User
    from webapp.services.accounts.identity import Principal

    admin_id = admin.id
    job_id = queued(media_site.url("/status/404?joblog=1"))
    outcome, job = claim_and_run(job_id)
    assert outcome is Outcome.FAILED and job.status == FAILED
    view = job_logs.job_log(job_id, Principal(user=db.session.get(User, admin_id)))
    assert view.problems, view.text
    assert any("404" in line and line.startswith("yt-dlp:") for line in view.problems)
    assert "ERROR   yt-dlp:" in view.text


def test_every_attempt_is_kept_a_retry_says_why(app, media_site):
    """A page that fails once (HTTP 500): the first attempt's lines say so and that the job is
    queued again; the second attempt's lines follow in the same log."""
    job_id = queued(media_site.url("/flaky/joblog-retry/1.png?fail=1"))
    outcome, job = claim_and_run(job_id)
    assert outcome is Outcome.FAILED and job.status == QUEUED
    first = log_of(job_id).text
    assert "── attempt 1 ──" in first and "500" in first and "queued again" in first
    job.not_before = None
    db.session.commit()
    outcome, job = claim_and_run(job_id)
    assert outcome is Outcome.COMPLETED
    text = log_of(job_id).text
    assert text.index("── attempt 1 ──") < text.index("── attempt 2 ──")
    assert "attempt 2 ended: completed" in text and "500" in text.split("── attempt 2 ──")[0]


def test_a_jobs_log_has_gallery_dls_own_words(app, media_site):
    """gallery-dl logs through Python logging: its error lines, said in the job's thread, are in
    the job's log, named after gallery-dl."""
    url = media_site.url("/status/404?joblog=gallery")
    job_id = submit([url], principal=None, engine="gallery-dl").entries[0].job_id
    outcome, job = claim_and_run(job_id)
    assert outcome is Outcome.FAILED and job.status == FAILED
    text = log_of(job_id).text
    assert "downloading with gallery-dl" in text
    assert "ERROR   gallery-dl" in text and "404" in text, text
