"""First run: a one-time setup code, or an admin from HAUL_ADMIN_USERNAME/PASSWORD."""
from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import text

from webapp.errors import Forbidden
from webapp.extensions import db
from webapp.models import Setting
from webapp.services.accounts import identity as accounts

log = logging.getLogger(__name__)
SETUP_KEY = "setup_code_hash"
SETUP_LOCK_KEY = 0x4841554C53455455  # "HAULSETU": the first start's advisory lock on PostgreSQL


def needs_setup() -> bool:
    return accounts.user_count() == 0


def _code_file(settings) -> Path:
    return Path(settings.data_dir) / "setup-code"


def issue_setup_code(settings) -> str:
    """The current setup code, made once; the database keeps its hash for checking and the
    data dir (readable only by whoever runs Haul) keeps the code so `make run` and the web
    process print the same one."""
    path = _code_file(settings)
    row = db.session.get(Setting, SETUP_KEY)
    if row is not None and path.is_file():
        code = path.read_text().strip()
        if hmac.compare_digest(row.value, accounts.hash_token(code)):
            return code
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(code)
    row = row or Setting(key=SETUP_KEY)
    row.value = accounts.hash_token(code)
    db.session.add(row)
    db.session.commit()
    return code


def check_setup_code(code: str) -> bool:
    row = db.session.get(Setting, SETUP_KEY)
    if row is None or not code:
        return False
    return hmac.compare_digest(row.value, accounts.hash_token(code.strip().upper()))


def complete_setup(settings, code: str, username: str, password: str):
    """Create the first admin when the code is right; the code is then spent."""
    if not needs_setup():
        raise Forbidden("Haul is already set up; sign in instead", error_code="already_set_up")
    if not check_setup_code(code):
        raise Forbidden("That setup code is not right; see the server log for the current one", error_code="bad_setup_code")
    user = accounts.create_user(username, password, role="admin")
    row = db.session.get(Setting, SETUP_KEY)
    if row is not None:
        db.session.delete(row)
        db.session.commit()
    _code_file(settings).unlink(missing_ok=True)
    return user


def bootstrap(settings) -> str | None:
    """On start: create the env-configured admin, or issue a setup code when nobody exists.

    Returns the setup code when one was issued (the caller logs or prints it).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        # Several web processes (and hosts) start at once on one database: they take turns here,
        # so one creates the admin (or issues the code) and the others find it done. Held until
        # the commit below, or released by the rollback when there is nothing to do.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETUP_LOCK_KEY})
    if not needs_setup():
        db.session.rollback()
        return None
    if settings.admin_username and settings.admin_password:
        accounts.create_user(settings.admin_username, settings.admin_password, role="admin")
        log.info("Created admin %r from HAUL_ADMIN_USERNAME", settings.admin_username)
        return None
    return issue_setup_code(settings)
