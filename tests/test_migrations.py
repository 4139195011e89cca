"""Migrations that move data: an install upgraded keeps what it had, judged by the new rules."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text


@pytest.fixture
def old_app(settings, tmp_path):
    """An app whose database stops at the invites migration (the schema before hardening)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app(dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'old.db'}"), role="test",
                     TESTING=True)
    with app.app_context():
        upgrade(revision="e5b9c3d2a7f1")
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_hardening_migration_gives_old_submissions_their_submitters_trust(old_app):
    """Admins' (and the static token's, the command line's) submissions may still reach private
    addresses after the upgrade; users' and guests' may not; each job learns its token."""
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    def run(sql: str, **values):
        return db.session.execute(text(sql), values)

    now = "2026-12-01 10:00:00.000000"
    run("INSERT INTO users (id, username, password_hash, role, created_at) VALUES "
        "(1, 'root', 'x', 'admin', :now), (2, 'alice', 'x', 'user', :now)", now=now)
    run("INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at) VALUES "
        "(7, 2, 'phone', 'h', 'haul_', 'submit', :now)", now=now)
    run("INSERT INTO invites (id, name, slug, nonce, token_hash, uses, allow_uploads, allow_urls, "
        "allow_private_urls, allowed_kinds, enabled, is_public_page, created_at) VALUES "
        "(3, 'party', 'party', 'n', 't', 0, 1, 1, 1, 'image video', 1, 0, :now)", now=now)
    submissions = [  # id, user, token, via, invite
        ("admin-session", 1, None, "session", None),
        ("static", None, None, "static-token", None),
        ("command-line", None, None, "cli", None),
        ("alice-token", 2, 7, "token", None),
        ("guest", None, None, "invite", 3),
    ]
    for number, (sid, user_id, token_id, via, invite_id) in enumerate(submissions, start=1):
        run("INSERT INTO submissions (id, user_id, token_id, submitted_via, invite_id, source, items, created_at, "
            "public_only) VALUES (:sid, :user_id, :token_id, :via, :invite_id, 'api', '[]', :now, 0)",
            sid=sid, user_id=user_id, token_id=token_id, via=via, invite_id=invite_id, now=now)
        run("INSERT INTO jobs (id, submission_id, url, domain, status, priority, rank, source, bytes_done, "
            "items_done, attempts, cancel_requested, created_at, updated_at) VALUES (:id, :sid, :url, 'example.com', "
            "'queued', 0, 1.0, 'api', 0, 0, 0, 0, :now, :now)",
            id=number, sid=sid, url=f"https://example.com/{sid}", now=now)
    run("INSERT INTO guest_sessions (id, invite_id, created_at, expires_at, password_ok, bytes_uploaded) "
        "VALUES ('g1', 3, :now, :now, 1, 12345)", now=now)
    db.session.commit()

    upgrade(revision="f6c1d8e9a2b4")
    trust = dict(run("SELECT id, trust FROM submissions").all())
    assert trust == {"admin-session": "admin", "static": "admin", "command-line": "admin",
                     "alice-token": "user", "guest": "guest"}
    assert dict(run("SELECT url, token_id FROM jobs").all())["https://example.com/alice-token"] == 7
    assert run("SELECT session_version FROM users WHERE id = 2").scalar() == 0
    columns = {row[1] for row in run("PRAGMA table_info(guest_sessions)").all()}
    assert "bytes_uploaded" not in columns

    # And back: the guest's invite allowed private addresses, so it was not public-only.
    downgrade(revision="e5b9c3d2a7f1")
    public_only = dict(run("SELECT id, public_only FROM submissions").all())
    assert public_only == {"admin-session": 0, "static": 0, "command-line": 0, "alice-token": 0, "guest": 0}
    upgrade()
