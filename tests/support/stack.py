"""A live Haul (migrations, gunicorn + gevent, the Huey consumer) run as subprocesses for tests and benchmarks."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from support import scale_out as scale_out_mode

ROOT = Path(__file__).resolve().parents[2]


def kill_tree(process: subprocess.Popen, also=()) -> None:
    """SIGKILL a process, every descendant and the pids in `also` (children seen earlier, which
    outlive their parent): the cleanup of a test that failed half-way.

    Killing the process group is not enough: `flask serve` starts the worker in a session
    (and so a group) of its own, and a failed test would leave it running for good."""
    import psutil

    family = []
    for pid in (process.pid, *also):
        try:
            member = psutil.Process(pid)
            family += [member, *member.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HaulStack:
    """`scale_out`: run on a PostgreSQL database and a Redis database of the stack's own
    (tests/support/scale_out.py); by default, as the test run says (`pytest --scale-out`)."""

    def __init__(self, workdir: Path, api_token: str, extra_env: dict | None = None, workers: int = 3,
                 scale_out: bool | None = None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.storage_root = self.data_dir / "downloads"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_token = api_token
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
        self.env.update(
            HAUL_DATA_DIR=str(self.data_dir),
            HAUL_PORT=str(self.port),
            HAUL_HOST="127.0.0.1",
            HAUL_API_TOKEN=api_token,
            HAUL_WORKERS=str(workers),
            HAUL_RETRY_BACKOFF_SECONDS="0.3",
            HAUL_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        self.scale_out = scale_out_mode.enabled() if scale_out is None else scale_out
        self.servers: scale_out_mode.ScaleOutServers | None = None
        self.env.update({k: str(v) for k, v in (extra_env or {}).items()})
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_token}"
        # gunicorn closes a keep-alive connection after 2 idle seconds; a request sent on it just
        # as it closes meets a reset. Idempotent requests are sent again on a fresh connection, as
        # browsers and HTTP libraries do; a POST never is, and answers (4xx, 5xx) come back as they are.
        self.session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, connect=2, read=2, status=0,
                                                                    backoff_factor=0.1)))

    # -- processes -------------------------------------------------------------------
    def _spawn(self, args: list[str], log_name: str, new_session: bool = False) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=new_session)

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT, env=self.env, check=True, capture_output=True,
        )

    def start(self) -> "HaulStack":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.scale_out and self.servers is None and "HAUL_DATABASE_URL" not in self.env:
            self.servers = scale_out_mode.ScaleOutServers()
            self.env.update(self.servers.env)
        try:
            self.migrate()
            self.start_web()
            self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_web(self) -> None:
        self.web = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "wsgi:app"], "web.log"
        )
        self._wait_until(lambda: self._web_answers(), 30, "web server did not start")

    def stop_web(self) -> int:
        """SIGTERM the web server (open event streams drop) and wait for it to exit."""
        self.web.send_signal(signal.SIGTERM)
        return self.web.wait(30)

    def start_worker(self) -> None:
        before = self.log("worker.log").count("worker started")
        # In a session of its own, as `flask serve` starts it (see jobs/worker.py lower_cpu_priority).
        self.worker = self._spawn([sys.executable, "-m", "jobs.worker"], "worker.log", new_session=True)
        self._wait_until(lambda: self.log("worker.log").count("worker started") > before, 30, "worker did not start")

    def kill_worker(self) -> None:
        """SIGKILL, like a power cut: no clean-up runs. Reaped so its pid is really gone."""
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)

    def stop_worker(self) -> int:
        self.worker.send_signal(signal.SIGTERM)
        return self.worker.wait(30)

    def stop(self) -> None:
        for proc in (self.worker, self.web):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.worker, self.web):
            if proc is not None:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if self.servers is not None:
            self.servers.close()
            self.servers = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _web_answers(self) -> bool:
        if self.web.poll() is not None:
            raise RuntimeError(f"web server exited:\n{self.log('web.log')[-3000:]}")
        try:
            requests.get(self.base_url + "/login", timeout=1)
            return True
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
            return False

    @staticmethod
    def _wait_until(predicate, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError(message)

    # -- the database, for tests that read or set rows directly ---------------------
    @property
    def database_url(self) -> str:
        return self.env.get("HAUL_DATABASE_URL") or f"sqlite:///{self.data_dir / 'haul.db'}"

    def sql(self, statement: str, **params) -> list:
        """Run one SQL statement (named :params) on the stack's database, SQLite or PostgreSQL,
        and commit; the rows as mappings (empty for a statement that returns none)."""
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.database_url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(sqlalchemy.text(statement), params)
                return [dict(row) for row in result.mappings()] if result.returns_rows else []
        finally:
            engine.dispose()

    def timestamp(self, moment):
        """A UTC datetime as the stack's database stores it: naive text on SQLite (as Haul's
        UTCDateTime writes it), the aware value on PostgreSQL."""
        if self.database_url.startswith("sqlite"):
            return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    # -- API helpers -----------------------------------------------------------------
    def submit(self, urls, **fields) -> dict:
        response = self.session.post(self.base_url + "/downloads", json={"urls": list(urls), **fields}, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()

    @contextlib.contextmanager
    def users_may_reach_private_addresses(self):
        """Settings → Access on for the block: users' links may reach private addresses, such as
        the media site on 127.0.0.1 (only admins' may otherwise); back to the default after."""
        self.session.patch(self.base_url + "/api/v1/settings", json={"users_private_addresses": True},
                           timeout=10).raise_for_status()
        try:
            yield
        finally:
            self.session.patch(self.base_url + "/api/v1/settings", json={"users_private_addresses": None},
                               timeout=10).raise_for_status()

    def job(self, job_id: int) -> dict:
        response = self.session.get(f"{self.base_url}/api/v1/queue/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_job(self, job_id: int, statuses=("completed", "failed", "cancelled"), timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
