"""Shared fixtures: the local media site, an in-process app for unit tests, and live stacks.

The in-process layer builds up one step at a time: `settings` → `app` (migrated, its context
open) → `db` → the people (`admin`, `alice`) → a signed-in test client (`admin_client`,
`alice_client`). Helpers to sign in and to send the CSRF token are in tests/support/web.py.

A live stack is the real thing: migrations applied by `flask db upgrade`, gunicorn with the
gevent worker serving `wsgi:app`, and the Huey consumer (`python -m jobs.worker`), each a
subprocess with its own data dir, talking to the media site on 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# The Huey instance is built at import from the environment: give the whole session a private
# data dir before anything imports `jobs`.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="haul-tests-"))
os.environ["HAUL_DATA_DIR"] = str(_SESSION_DIR / "data")
for _name in list(os.environ):
    if _name.startswith("HAUL_") and _name != "HAUL_DATA_DIR":
        del os.environ[_name]

from support.media_site import MediaSite  # noqa: E402
from support.stack import HaulStack  # noqa: E402
from support.web import ADMIN_PASSWORD, ADMIN_USERNAME, USER_PASSWORD, USER_USERNAME, sign_in_as  # noqa: E402

from support import scale_out  # noqa: E402

API_TOKEN = "test-static-token-0123456789"
# A public address (example.com's old one) the tests give to the loopback interface, so that a
# local site can stand for a host on the internet in the network policy's tests.
PUBLIC_ADDRESS = "93.184.216.34"


def pytest_addoption(parser):
    parser.addoption("--scale-out", action="store_true",
                     help="run the end-to-end tests (tests/test_e2e_*.py) again with every live stack on "
                          "PostgreSQL + Redis (tests/support/scale_out.py); the other tests are left out")


def pytest_configure(config):
    if config.getoption("--scale-out"):
        os.environ[scale_out.ENABLED_VARIABLE] = "1"  # read by every HaulStack (tests/support/stack.py)
        # Tests that enqueue into a stack's Redis queue from this process need huey loaded with the
        # Redis client, which jobs/__init__.py leaves out for settings without HAUL_REDIS_URL (as this
        # process's are) unless it is loaded already: load it before anything imports jobs.
        import redis  # noqa: F401


def pytest_collection_modifyitems(config, items):
    """Mark the end-to-end tests; in the scale-out run keep only them, less those marked
    `embedded_only` (a test of the SQLite setup itself, such as a disk filling under its file);
    in the main run leave out those marked `scale_out_pass`."""
    for item in items:
        if item.path.name.startswith("test_e2e_"):
            item.add_marker(pytest.mark.e2e)
    if not config.getoption("--scale-out"):
        # Tests whose stacks are on PostgreSQL + Redis by themselves run in the --scale-out pass
        # only: running them in both would do the same work twice.
        left = [item for item in items if item.get_closest_marker("scale_out_pass")]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [item for item in items if not item.get_closest_marker("scale_out_pass")]
        return
    kept, left = [], []
    for item in items:
        (kept if item.get_closest_marker("e2e") and not item.get_closest_marker("embedded_only") else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def media_site():
    asset_dir = ROOT / "tests" / ".assets"
    with MediaSite(asset_dir) as site:
        yield site


def _unit_settings(workdir: Path):
    """Settings for an in-process app whose database and storage are in `workdir`."""
    from webapp.config import load_settings

    env = {
        "HAUL_DATA_DIR": str(_SESSION_DIR / "data"),
        "HAUL_DATABASE_URL": f"sqlite:///{workdir / 'haul.db'}",
        "HAUL_STORAGE_ROOT": str(workdir / "library"),
        "HAUL_API_TOKEN": API_TOKEN,
        "HAUL_SECRET_KEY": "unit-test-secret",
        # Unit tests claim several jobs in a row, as several workers would: room for 8 at once
        # (the highest download concurrency; see webapp/services/admin/runtime_settings.py).
        "HAUL_WORKERS": "8",
    }
    return load_settings(env, env_file=None)


@pytest.fixture
def settings(tmp_path):
    """Settings for an in-process app with its own database and storage."""
    return _unit_settings(tmp_path)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Path:
    """A SQLite file the real migrations built, once per session (per xdist worker).

    Each test's database starts as a copy of it: running the migrations again for each of some
    2,500 tests cost about 0.1 s a test, for the same tables.
    """
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    settings = _unit_settings(tmp_path_factory.mktemp("migrated"))
    app = create_app(settings, role="test", TESTING=True)
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    assert not path.with_name(path.name + "-wal").exists(), "the WAL was not checkpointed into the file"
    return path


@pytest.fixture
def app(settings, migrated_database):
    """An app on a fresh database built by the real migrations (a copy of `migrated_database`
    where the settings name a SQLite file not yet there; `upgrade` then finds it at head)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    if settings.database_url.startswith("sqlite:///"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        if not path.exists():
            shutil.copyfile(migrated_database, path)
    app = create_app(settings, role="test", TESTING=True)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def postgres_url():
    """A new, empty PostgreSQL database on 127.0.0.1:5432 for one test, dropped after it."""
    url = scale_out.create_database("haul_unit")
    yield url
    scale_out.drop_database(url)


@pytest.fixture
def pg_app(settings, postgres_url):
    """An app like `app`, on a PostgreSQL database the real migrations built."""
    import dataclasses

    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app(dataclasses.replace(settings, database_url=postgres_url), role="test", TESTING=True)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app):
    """The app's database, built by the real migrations (Flask-SQLAlchemy's `db`)."""
    from webapp.extensions import db

    return db


@pytest.fixture
def admin(db):
    """An admin, `ADMIN_USERNAME` with `ADMIN_PASSWORD` (tests/support/web.py)."""
    from webapp.services.accounts import identity as accounts

    return accounts.create_user(ADMIN_USERNAME, ADMIN_PASSWORD, role="admin")


@pytest.fixture
def alice(db):
    """A user with the role "user", `USER_USERNAME` with `USER_PASSWORD` (tests/support/web.py)."""
    from webapp.services.accounts import identity as accounts

    return accounts.create_user(USER_USERNAME, USER_PASSWORD, role="user")


@pytest.fixture
def admin_client(client, admin):
    """The test client, signed in as `admin`."""
    sign_in_as(client, admin)
    return client


@pytest.fixture
def alice_client(client, alice):
    """The test client, signed in as `alice`."""
    sign_in_as(client, alice)
    return client


@pytest.fixture
def client(app):
    """The test client, each request with a fresh `g` as in production.

    The `app` fixture keeps an app context open and Flask reuses it for test requests, so `g`
    (where the request's principal and Flask-Login's user are cached) would carry over.
    """
    from flask import g

    app.teardown_request(lambda exc: g.__dict__.clear())
    return app.test_client()


@pytest.fixture(scope="module")
def stack(media_site, tmp_path_factory):
    """A live web + worker stack shared by the tests of one module."""
    with HaulStack(tmp_path_factory.mktemp("stack"), api_token=API_TOKEN) as running:
        yield running


@pytest.fixture
def make_stack(tmp_path_factory):
    """Start a stack with extra HAUL_* settings; stopped after the test."""
    started = []

    def factory(**env):
        running = HaulStack(tmp_path_factory.mktemp("stack"), api_token=API_TOKEN, extra_env=env).start()
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


def _public_address_present() -> bool:
    shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    return f" {PUBLIC_ADDRESS}/" in shown.stdout


@contextlib.contextmanager
def _public_address_users(tmp_path_factory):
    """The count of modules using PUBLIC_ADDRESS now, across pytest-xdist's workers of this run
    (read and written under an exclusive lock): only the last one to finish removes it."""
    run_dir = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_dir = run_dir.parent  # every worker's basetemp is a folder of the run's own
    state_file = run_dir / "public-address-users.json"
    with open(run_dir / "public-address-users.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(state_file.read_text()) if state_file.exists() else {"users": 0, "added": False}
        yield state
        state_file.write_text(json.dumps(state))


@pytest.fixture(scope="module")
def public_address(tmp_path_factory):
    """PUBLIC_ADDRESS on `lo` for a module; removed afterwards unless it was there before (or
    another worker's module still uses it)."""
    with _public_address_users(tmp_path_factory) as state:
        if state["users"] == 0 and not _public_address_present():
            try:
                subprocess.run(["ip", "addr", "add", f"{PUBLIC_ADDRESS}/32", "dev", "lo"],
                               capture_output=True, text=True, check=True)
            except (OSError, subprocess.CalledProcessError) as exc:
                detail = getattr(exc, "stderr", None) or exc
                pytest.fail(f"These tests add {PUBLIC_ADDRESS} to the loopback interface (`ip addr add "
                            f"{PUBLIC_ADDRESS}/32 dev lo`), which needs root or CAP_NET_ADMIN: {detail}")
            state["added"] = True
        state["users"] += 1
    try:
        yield PUBLIC_ADDRESS
    finally:
        with _public_address_users(tmp_path_factory) as state:
            state["users"] -= 1
            if state["users"] == 0 and state["added"]:
                subprocess.run(["ip", "addr", "del", f"{PUBLIC_ADDRESS}/32", "dev", "lo"], check=False)
                state["added"] = False


class Callers(dict):
    """Authorization headers for each kind of caller an /api/v1 contract test checks, plus the
    users behind them: `alice` (role user) owns the scoped tokens, `root` is an admin."""

    alice = None
    root = None


@pytest.fixture
def api_callers(app):
    """Headers for: anonymous, submit (alice's submit-only token), read (alice's read-only
    token), user (alice, every scope her role has), admin (root), static (HAUL_API_TOKEN),
    revoked (alice's revoked token)."""
    from webapp.services.accounts import identity as accounts

    alice = accounts.create_user("alice", "alicepassword")
    root = accounts.create_user("root", "rootpassword", role="admin")

    def header(user, scopes=None):
        return {"Authorization": f"Bearer {accounts.create_token(user, 'test', scopes)[1]}"}

    revoked_row, revoked = accounts.create_token(alice, "old", "submit read")
    accounts.revoke_token(revoked_row.id)
    callers = Callers(
        anonymous={},
        submit=header(alice, "submit"),
        read=header(alice, "read"),
        user=header(alice),
        admin=header(root),
        static={"Authorization": f"Bearer {API_TOKEN}"},
        revoked={"Authorization": f"Bearer {revoked}"},
    )
    callers.alice, callers.root = alice, root
    return callers


def assert_api_error(response, status, error_code=None):
    """The response is Haul's JSON error with this status (and error code, when given)."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert {"detail", "error_code", "request_id"} <= set(body), body
    if error_code:
        assert body["error_code"] == error_code, body
    return body
