"""Each switch of the scale-out mode alone, and the pieces a multi-host setup is made of.

- PostgreSQL without Redis (one host: Huey's queue stays a SQLite file in the data dir);
- Redis without PostgreSQL (SQLite for the rows, Redis for the wake-ups and rate limits);
- hosts running `flask db upgrade` at the same moment take turns;
- `flask serve --only web` and `flask serve --only worker` as two hosts (two data dirs) sharing
  PostgreSQL, Redis and the library: a link sent to the web host is downloaded by the worker host.
The combination of both switches is the whole end-to-end suite's second run (`pytest --scale-out`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest
import redis
import requests
from conftest import API_TOKEN
from sqlalchemy import create_engine, inspect, pool, text
from support import scale_out
from support.stack import ROOT, HaulStack, free_port, kill_tree

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


@pytest.fixture
def admin_client_pg(pg_app):
    """A test client of the PostgreSQL app, signed in as an admin."""
    from flask import g
    from support.web import ADMIN_PASSWORD, ADMIN_USERNAME, sign_in_as

    from webapp.services.accounts import identity as accounts

    admin = accounts.create_user(ADMIN_USERNAME, ADMIN_PASSWORD, role="admin")
    pg_app.teardown_request(lambda exc: g.__dict__.clear())
    client = pg_app.test_client()
    sign_in_as(client, admin)
    return client


@pytest.fixture
def redis_database():
    held = scale_out.RedisDatabase()
    yield held
    held.release()


def test_postgresql_alone_runs_a_host_with_its_queue_in_the_data_dir(tmp_path, media_site, postgres_url):
    with HaulStack(tmp_path, api_token=API_TOKEN, scale_out=False,
                   extra_env={"HAUL_DATABASE_URL": postgres_url}) as stack:
        [job] = stack.submit([media_site.url("/img/7101.png")])["jobs"]
        assert stack.wait_for_job(job["id"])["status"] == "completed"
        assert (stack.data_dir / "huey.db").exists() and not (stack.data_dir / "haul.db").exists()
        [row] = stack.sql("SELECT status FROM jobs WHERE id = :id", id=job["id"])
        assert row["status"] == "completed"  # the row is in PostgreSQL


def test_redis_alone_carries_the_wakeups_beside_sqlite(tmp_path, media_site, redis_database):
    client = redis.Redis.from_url(redis_database.url)
    with HaulStack(tmp_path, api_token=API_TOKEN, scale_out=False,
                   extra_env={"HAUL_REDIS_URL": redis_database.url}) as stack:
        [job] = stack.submit([media_site.url("/img/7102.png")])["jobs"]
        assert stack.wait_for_job(job["id"])["status"] == "completed"
        assert (stack.data_dir / "haul.db").exists() and not (stack.data_dir / "huey.db").exists()
        # The rate limits count in Redis (Flask-Limiter's storage), not in the web process: the
        # sixth sign-in of a minute is refused, and still after the web process is restarted.
        def sign_in():
            return requests.post(stack.base_url + "/api/v1/auth/login", json={"username": "nobody", "password": "x"},
                                 timeout=10).status_code

        assert [sign_in() for _ in range(5)] == [401] * 5
        assert sign_in() == 429
        assert client.keys("LIMITS*")
        stack.stop_web()
        stack.start_web()
        assert sign_in() == 429


def test_hosts_migrating_at_the_same_moment_take_turns(tmp_path, postgres_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    runs = []
    for number in range(3):
        host_env = dict(env, HAUL_DATA_DIR=str(tmp_path / f"host{number}"), HAUL_DATABASE_URL=postgres_url)
        runs.append(subprocess.Popen(FLASK + ["db", "upgrade"], cwd=ROOT, env=host_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True))
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    engine = create_engine(postgres_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [_head_revision()]
            assert {"jobs", "events", "periodic_claims"} <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    # Exactly one of them ran the migrations; the others found the schema at head.
    assert sum("Running upgrade  -> " in output for output in outputs) == 1, outputs


def _launch(args, env, log_path):
    log = open(log_path, "ab")
    return subprocess.Popen(FLASK + args, cwd=ROOT, env=env, start_new_session=True, stdout=log,
                            stderr=subprocess.STDOUT)


def test_a_web_host_and_a_worker_host_share_the_queue(tmp_path, media_site):
    servers = scale_out.ScaleOutServers()
    port = free_port()
    library = tmp_path / "library"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    base.update(servers.env, HAUL_STORAGE_ROOT=str(library), HAUL_API_TOKEN=API_TOKEN,
                HAUL_SECRET_KEY="shared-secret-of-both-hosts", HAUL_HOST="127.0.0.1", HAUL_PORT=str(port),
                HAUL_WORKERS="2")
    web_env = dict(base, HAUL_DATA_DIR=str(tmp_path / "web-host"))
    worker_env = dict(base, HAUL_DATA_DIR=str(tmp_path / "worker-host"))
    launched = []
    try:
        subprocess.run(FLASK + ["db", "upgrade"], cwd=ROOT, env=web_env, check=True, capture_output=True)
        web = _launch(["serve", "--only", "web"], web_env, tmp_path / "web.log")
        worker = _launch(["serve", "--only", "worker"], worker_env, tmp_path / "worker.log")
        launched += [web, worker]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_TOKEN}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline and web.poll() is None, (tmp_path / "web.log").read_text()
            time.sleep(0.1)
        # Each launcher runs its one role only.
        assert not any("jobs.worker" in " ".join(p.cmdline()) for p in psutil.Process(web.pid).children())
        assert not any("gunicorn" in " ".join(p.cmdline()) for p in psutil.Process(worker.pid).children())

        answer = session.post(f"http://127.0.0.1:{port}/api/v1/queue", json={"urls": [media_site.url("/img/7103.png")]},
                              timeout=10)
        assert answer.status_code in (201, 202), answer.text
        job_id = answer.json()["jobs"][0]["id"]
        deadline = time.monotonic() + 60
        while (job := session.get(f"http://127.0.0.1:{port}/api/v1/queue/{job_id}", timeout=10).json())["status"] \
                not in ("completed", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "completed", job
        [stored] = job["files"]
        assert (library / stored["path"]).is_file()
        # The worker host keeps its own data dir (its log files), the web host never ran a worker.
        assert (tmp_path / "worker-host" / "logs").is_dir()
        assert not list((tmp_path / "web-host").glob("huey.db"))
    finally:
        for process in launched:
            kill_tree(process)
        servers.close()


BOOTSTRAP = """
import sys
from webapp import create_app
from webapp.config import load_settings
from webapp.services.accounts import setup
settings = load_settings({"HAUL_DATA_DIR": sys.argv[1], "HAUL_DATABASE_URL": sys.argv[2],
                          "HAUL_ADMIN_USERNAME": "root", "HAUL_ADMIN_PASSWORD": "a-long-password"}, env_file=None)
import os, time
with create_app(settings, role="test").app_context():
    open(sys.argv[3] + "/ready-" + str(os.getpid()), "w").close()
    while not os.path.exists(sys.argv[3] + "/go"):  # all start together, as gunicorn's processes do
        time.sleep(0.001)
    setup.bootstrap(settings)
"""


def test_web_processes_starting_at_once_create_the_first_admin_once(pg_app, tmp_path):
    """Every web process bootstraps on start (HAUL_ADMIN_USERNAME/PASSWORD): on one fresh database
    the first creates the admin, the others wait for it and find it there; none fails to boot."""
    from webapp.models import User

    url = pg_app.config["HAUL"].database_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    gate = tmp_path / "gate"
    gate.mkdir()
    starts = [subprocess.Popen([sys.executable, "-c", BOOTSTRAP, str(tmp_path / f"web{n}"), url, str(gate)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in range(4)]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < 4:
        assert time.monotonic() < deadline and all(start.poll() is None for start in starts), "a process did not start"
        time.sleep(0.05)
    (gate / "go").touch()
    outputs = [start.communicate(timeout=120)[0] for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0, 0], outputs
    from webapp.extensions import db

    assert [user.username for user in db.session.query(User).all()] == ["root"]


def test_on_postgresql_the_concurrency_caps_every_host_together(pg_app, admin_client_pg):
    """Three hosts of 8 threads need a cap of 24: the setting goes that high on PostgreSQL, each
    host's pool stays its own HAUL_WORKERS, and the Settings page says it is the hosts' total."""
    import dataclasses

    from webapp.services.admin import runtime_settings

    settings = dataclasses.replace(pg_app.config["HAUL"], workers=8)
    assert runtime_settings.shared_by_hosts(settings)
    assert runtime_settings.max_concurrency(settings) == runtime_settings.MAX_CLUSTER_CONCURRENCY
    runtime_settings.save({"download_concurrency": "24"}, settings)
    assert runtime_settings.concurrency(settings) == 24
    assert runtime_settings.pool_size(settings) == 8  # never grown to the cluster's cap
    page = admin_client_pg.get("/settings").get_data(as_text=True)
    assert "for all worker hosts together" in page
