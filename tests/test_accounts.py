"""Users, passwords, personal API tokens, first-run setup and the users/tokens CLI."""
from __future__ import annotations

import dataclasses
import hashlib
import stat

import pytest
from conftest import API_TOKEN
from sqlalchemy import select, text

from webapp.errors import Conflict, Forbidden, Invalid
from webapp.extensions import db
from webapp.models import ApiToken, Setting, User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import setup

# Users ---------------------------------------------------------------------------------------


def test_create_user_hashes_the_password(app):
    """The password is stored hashed and checks out; a wrong one does not."""
    user = accounts.create_user("alice", "correct horse", role="user")
    stored = db.session.scalar(select(User).where(User.username == "alice"))
    assert stored.id == user.id
    assert stored.password_hash != "correct horse"
    assert "correct horse" not in stored.password_hash
    assert stored.check_password("correct horse")
    assert not stored.check_password("wrong horse")
    assert stored.role == "user" and not stored.is_admin


def test_create_admin(app):
    """role="admin" makes an admin."""
    assert accounts.create_user("root", "longpassword", role="admin").is_admin


def test_username_is_trimmed(app):
    """Surrounding spaces are not part of a username."""
    assert accounts.create_user("  carol  ", "longpassword").username == "carol"


@pytest.mark.parametrize("second", ["alice", "ALICE", "Alice", " alice "])
def test_duplicate_username_is_a_conflict(app, second):
    """Usernames are unique regardless of case."""
    accounts.create_user("alice", "longpassword")
    with pytest.raises(Conflict) as info:
        accounts.create_user(second, "otherpassword")
    assert info.value.error_code == "user_exists"
    assert accounts.user_count() == 1


@pytest.mark.parametrize("password", ["", "short", "1234567", None])
def test_weak_password_is_invalid(app, password):
    """Passwords need at least 8 characters."""
    with pytest.raises(Invalid) as info:
        accounts.create_user("alice", password)
    assert info.value.error_code == "weak_password"
    assert accounts.user_count() == 0


@pytest.mark.parametrize("username", ["", "   ", "has space", "a/b", "x" * 65, "semi;colon", None])
def test_bad_username_is_invalid(app, username):
    """Usernames are 1–64 letters, digits or . _ @ -."""
    with pytest.raises(Invalid) as info:
        accounts.create_user(username, "longpassword")
    assert info.value.error_code == "invalid_username"
    assert accounts.user_count() == 0


def test_unknown_role_is_invalid(app):
    """Only the known roles can be given."""
    with pytest.raises(Invalid):
        accounts.create_user("alice", "longpassword", role="superuser")


def test_authenticate(app):
    """The right password signs in (username any case); a wrong one or an unknown user does not."""
    user = accounts.create_user("alice", "longpassword")
    assert accounts.authenticate("alice", "longpassword").id == user.id
    assert accounts.authenticate("ALICE", "longpassword").id == user.id
    assert accounts.authenticate("alice", "wrongpassword") is None
    assert accounts.authenticate("alice", "") is None
    assert accounts.authenticate("nobody", "longpassword") is None
    assert accounts.authenticate("", "") is None


# Tokens --------------------------------------------------------------------------------------


def test_create_token_stores_only_its_hash(app):
    """The token is shown once: the table holds its SHA-256, never the token itself."""
    user = accounts.create_user("alice", "longpassword")
    row, token = accounts.create_token(user, "laptop")
    assert token.startswith("haul_")
    assert len(token) > 40
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    secret_part = token[len("haul_"):]
    for values in db.session.execute(text("SELECT * FROM api_tokens")).all():
        for value in values:
            assert token not in str(value)
            assert secret_part not in str(value)


def test_tokens_are_unique(app):
    """Two tokens for the same user differ."""
    user = accounts.create_user("alice", "longpassword")
    _, first = accounts.create_token(user, "a")
    _, second = accounts.create_token(user, "b")
    assert first != second


def test_resolve_bearer_finds_a_personal_token(app):
    """A personal token resolves to its user, and its last use is recorded."""
    user = accounts.create_user("alice", "longpassword")
    row, token = accounts.create_token(user, "laptop")
    principal = accounts.resolve_bearer(token, API_TOKEN)
    assert principal is not None
    assert principal.user_id == user.id
    assert principal.token_id == row.id
    assert not principal.via_static_token
    assert not principal.is_admin
    assert db.session.get(ApiToken, row.id).last_used_at is not None


def test_admin_users_token_is_admin(app):
    """A token of an admin user acts as admin."""
    admin = accounts.create_user("root", "longpassword", role="admin")
    _, token = accounts.create_token(admin, "ci")
    assert accounts.resolve_bearer(token, None).is_admin


def test_revoked_token_resolves_to_none(app):
    """Once revoked, a token no longer works."""
    user = accounts.create_user("alice", "longpassword")
    row, token = accounts.create_token(user, "laptop")
    accounts.revoke_token(row.id, user)
    assert accounts.resolve_bearer(token, API_TOKEN) is None


def test_static_token_is_an_admin_principal(app):
    """HAUL_API_TOKEN acts as an admin with no user behind it."""
    principal = accounts.resolve_bearer(API_TOKEN, API_TOKEN)
    assert principal is not None
    assert principal.via_static_token
    assert principal.is_admin
    assert principal.user is None
    assert principal.can_see(None) and principal.can_see(12345)


@pytest.mark.parametrize(
    "token",
    [None, "", "nope", "haul_" + "x" * 43, API_TOKEN + "x", API_TOKEN[:-1]],
)
def test_unknown_tokens_resolve_to_none(app, token):
    """Unknown, empty or near-miss tokens are nobody."""
    accounts.create_user("alice", "longpassword")
    assert accounts.resolve_bearer(token, API_TOKEN) is None


def test_static_token_unset_means_no_static_access(app):
    """Without HAUL_API_TOKEN nothing matches it (not even an empty string)."""
    assert accounts.resolve_bearer(API_TOKEN, None) is None
    assert accounts.resolve_bearer("", "") is None


def test_user_principal_sees_only_own_jobs(app):
    """A user sees jobs they own; an admin sees every job."""
    user = accounts.create_user("alice", "longpassword")
    admin = accounts.create_user("root", "longpassword", role="admin")
    as_user = accounts.Principal(user=user)
    as_admin = accounts.Principal(user=admin)
    assert as_user.can_see(user.id)
    assert not as_user.can_see(admin.id)
    assert not as_user.can_see(None)
    assert as_admin.can_see(user.id) and as_admin.can_see(None)


# First-run setup -----------------------------------------------------------------------------


def test_bootstrap_issues_a_setup_code_and_reuses_it(app, settings):
    """While no user exists a setup code is issued, kept in data_dir/setup-code and given again."""
    code = setup.bootstrap(settings)
    assert code
    code_file = settings.data_dir / "setup-code"
    assert code_file.read_text().strip() == code
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    assert setup.bootstrap(settings) == code
    assert setup.issue_setup_code(settings) == code
    # Only a hash of it is in the database.
    row = db.session.get(Setting, setup.SETUP_KEY)
    assert row.value != code and code not in row.value


def test_check_setup_code(app, settings):
    """The right code checks out (case and spaces forgiven); others do not."""
    code = setup.issue_setup_code(settings)
    assert setup.check_setup_code(code)
    assert setup.check_setup_code(f"  {code.lower()} ")
    assert not setup.check_setup_code("0000-0000-0000")
    assert not setup.check_setup_code("")
    assert not setup.check_setup_code(None)


def test_check_setup_code_without_an_issued_code(app):
    """No code issued: nothing checks out."""
    assert not setup.check_setup_code("ABCD-EF01-2345")


def test_complete_setup_with_a_wrong_code_is_forbidden(app, settings):
    """A wrong code creates nobody."""
    setup.issue_setup_code(settings)
    with pytest.raises(Forbidden) as info:
        setup.complete_setup(settings, "WRONG-CODE-0000", "root", "longpassword")
    assert info.value.error_code == "bad_setup_code"
    assert setup.needs_setup()


def test_complete_setup_creates_an_admin_and_spends_the_code(app, settings):
    """The right code creates the first admin; the code is then gone."""
    code = setup.issue_setup_code(settings)
    user = setup.complete_setup(settings, code, "root", "longpassword")
    assert user.is_admin
    assert not setup.needs_setup()
    assert db.session.get(Setting, setup.SETUP_KEY) is None
    assert not (settings.data_dir / "setup-code").exists()
    assert not setup.check_setup_code(code)
    with pytest.raises(Forbidden) as info:
        setup.complete_setup(settings, code, "second", "longpassword")
    assert info.value.error_code == "already_set_up"
    assert setup.bootstrap(settings) is None  # nothing to set up any more


def test_complete_setup_with_a_weak_password_keeps_the_code(app, settings):
    """A refused admin (weak password) does not spend the code."""
    code = setup.issue_setup_code(settings)
    with pytest.raises(Invalid):
        setup.complete_setup(settings, code, "root", "short")
    assert setup.needs_setup()
    assert setup.check_setup_code(code)


def test_bootstrap_creates_the_configured_admin(app, settings):
    """HAUL_ADMIN_USERNAME/PASSWORD create that admin on start, and no setup code is issued."""
    configured = dataclasses.replace(settings, admin_username="boss", admin_password="longpassword")
    assert setup.bootstrap(configured) is None
    user = accounts.authenticate("boss", "longpassword")
    assert user is not None and user.is_admin
    assert db.session.get(Setting, setup.SETUP_KEY) is None
    assert setup.bootstrap(configured) is None  # a second start changes nothing
    assert accounts.user_count() == 1


# CLI -----------------------------------------------------------------------------------------


def test_cli_users_create_admin(app):
    """`flask users create NAME --admin --password …` creates an admin."""
    result = app.test_cli_runner().invoke(args=["users", "create", "bob", "--admin", "--password", "longpassword"])
    assert result.exit_code == 0, result.output
    user = accounts.authenticate("bob", "longpassword")
    assert user is not None and user.is_admin


def test_cli_users_create_plain_user(app):
    """Without --admin the user gets the user role."""
    result = app.test_cli_runner().invoke(args=["users", "create", "eve", "--password", "longpassword"])
    assert result.exit_code == 0, result.output
    assert not accounts.authenticate("eve", "longpassword").is_admin


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "bob", "--password", "short"],
        ["users", "create", "bad name", "--password", "longpassword"],
    ],
)
def test_cli_users_create_refusals(app, args):
    """A refused user is a clean error (non-zero exit, message, no traceback)."""
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert "Error:" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert accounts.user_count() == 0


def test_cli_users_create_duplicate(app):
    """Creating the same user twice fails the second time."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "bob", "--password", "longpassword"]).exit_code == 0
    result = runner.invoke(args=["users", "create", "BOB", "--password", "longpassword"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_cli_tokens_create_prints_a_working_token(app):
    """`flask tokens create NAME --name x` prints a token that resolves to that user."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "bob", "--admin", "--password", "longpassword"]).exit_code == 0
    result = runner.invoke(args=["tokens", "create", "bob", "--name", "x"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("haul_")
    principal = accounts.resolve_bearer(token, None)
    assert principal is not None
    assert principal.user.username == "bob"
    assert principal.token.name == "x"


def test_cli_tokens_create_for_an_unknown_user_fails(app):
    """No such user: non-zero exit and no token row."""
    result = app.test_cli_runner().invoke(args=["tokens", "create", "ghost", "--name", "x"])
    assert result.exit_code != 0
    assert "ghost" in result.output
    assert db.session.scalar(select(ApiToken)) is None


def test_cli_tokens_create_finds_the_user_whatever_the_case(app):
    """Usernames are case-insensitive everywhere, the CLI included."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "bob", "--password", "longpassword"]).exit_code == 0
    result = runner.invoke(args=["tokens", "create", "BOB"])
    assert result.exit_code == 0, result.output
    assert accounts.resolve_bearer(result.output.strip(), None).user.username == "bob"


def test_cli_tokens_list_and_revoke(app):
    """`tokens list` shows ids and names but never a token; `tokens revoke ID` makes it stop working."""
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "bob", "--password", "longpassword"])
    token = runner.invoke(args=["tokens", "create", "bob", "--name", "phone"]).output.strip()
    listing = runner.invoke(args=["tokens", "list", "bob"])
    assert listing.exit_code == 0 and "phone" in listing.output and "active" in listing.output
    assert token not in listing.output
    token_id = int(listing.output.split("\t", 1)[0])
    revoked = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert revoked.exit_code == 0, revoked.output
    assert accounts.resolve_bearer(token, None) is None
    assert "revoked" in runner.invoke(args=["tokens", "list", "bob"]).output
    assert runner.invoke(args=["tokens", "revoke", "9999"]).exit_code != 0
