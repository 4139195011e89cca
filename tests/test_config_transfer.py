"""The configuration document: export, and import into a fresh Haul (checked first, all or nothing)."""
from __future__ import annotations

import contextlib
import copy
import shutil

import pytest

from tests.conftest import API_TOKEN, _unit_settings, assert_api_error

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


def configure(admin, alice):
    """Something in every section of the document."""
    from webapp.extensions import db
    from webapp.models.notification import NotificationTarget
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import housekeeping_settings, runtime_settings
    from webapp.services.guests import invites
    from webapp.services.library import presets
    from webapp.services.subscriptions import manage

    root = Principal(user=admin)
    presets.create({"name": "podcast", "label": "Podcast", "kind": "audio", "audio_codec": "opus"}, root)
    runtime_settings.save({"max_streams": 7, "default_preset": "podcast"})
    housekeeping_settings.save({"retention_days": 30, "backup_schedule_enabled": True})
    manage.create({"name": "News", "url": "https://example.com/feed.xml", "schedule": "every 6 hours",
                   "enabled": False, "preset": "podcast"}, Principal(user=alice))
    invites.create_invite(admin.id, {"name": "Party", "max_uses": 5, "password": "hunter22", "preset": "podcast"})
    db.session.add(NotificationTarget(owner_id=admin.id, name="Phone", kind="webhook",
                                      url="https://hooks.example.com/x?token=abc", secret="s3cret-s3cret-s3cret",
                                      events=["job_completed"], all_users=True, enabled=True))
    db.session.commit()


@contextlib.contextmanager
def fresh_haul(tmp_path, migrated_database):
    """A second Haul with its own empty database, its app context pushed."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    folder = tmp_path / "fresh"
    folder.mkdir()
    settings = _unit_settings(folder)
    shutil.copyfile(migrated_database, folder / "haul.db")
    app = create_app(settings, role="test", TESTING=True)
    with app.app_context():
        upgrade()
        try:
            yield app, settings
        finally:
            db.session.remove()
            db.engine.dispose()


def without_time(document):
    document = copy.deepcopy(document)
    document.pop("exported_at")
    return document


def static_admin():
    from webapp.services.accounts.identity import Principal

    return Principal(None, via_static_token=True)


def test_export_then_import_into_a_fresh_haul_reproduces_the_configuration(app, settings, admin, alice, tmp_path,
                                                                           migrated_database):
    from webapp.services.admin import config_transfer

    configure(admin, alice)
    exported = config_transfer.export(settings, include_password_hashes=True)
    assert exported["settings"] == {"max_streams": 7, "default_preset": "podcast", "retention_days": 30,
                                    "backup_schedule_enabled": True}

    with fresh_haul(tmp_path, migrated_database) as (_fresh, fresh_settings):
        report = config_transfer.import_document(fresh_settings, exported, static_admin(), dry_run=False)
        assert report["valid"] and report["applied"], report
        assert report["sections"]["users"]["created"] == 2
        assert report["sections"]["subscriptions"]["created"] == 1
        again = config_transfer.export(fresh_settings, include_password_hashes=True)
        assert without_time(again) == without_time(exported)
        # Importing the same document once more changes nothing.
        second = config_transfer.import_document(fresh_settings, exported, static_admin(), dry_run=True)
        assert all(s["created"] == s["updated"] == s["errors"] == 0 for s in second["sections"].values()), second
        # The password hash came along: the admin signs in with the same password.
        from webapp.services.accounts import identity

        assert identity.authenticate(admin.username, "correct horse battery") is None
        from tests.support.web import ADMIN_PASSWORD

        assert identity.authenticate(admin.username, ADMIN_PASSWORD) is not None


def test_a_dry_run_reports_the_changes_and_changes_nothing(app, settings, admin, alice, tmp_path, migrated_database):
    from webapp.services.admin import config_transfer

    configure(admin, alice)
    exported = config_transfer.export(settings)
    with fresh_haul(tmp_path, migrated_database) as (_fresh, fresh_settings):
        before = config_transfer.export(fresh_settings)
        report = config_transfer.import_document(fresh_settings, exported, static_admin(), dry_run=True)
        assert report["valid"] and not report["applied"] and report["dry_run"]
        sections = report["sections"]
        assert sections["presets"]["created"] == 1 and sections["presets"]["unchanged"] >= 1
        assert sections["settings"]["updated"] == 4
        assert sections["invites"]["created"] == sections["notification_targets"]["created"] == 1
        assert without_time(config_transfer.export(fresh_settings)) == without_time(before)


def test_one_bad_item_fails_the_whole_import_with_a_report(app, settings, admin, alice, tmp_path, migrated_database):
    from webapp.services.admin import config_transfer

    configure(admin, alice)
    exported = config_transfer.export(settings)
    exported["presets"].append({"name": "broken", "label": "Broken", "kind": "audio", "audio_codec": "nope"})
    exported["settings"]["max_streams"] = 0
    exported["subscriptions"].append({"owner": "nobody", "name": "X", "url": "https://example.com/x",
                                      "schedule": "every 6 hours"})
    with fresh_haul(tmp_path, migrated_database) as (_fresh, fresh_settings):
        before = config_transfer.export(fresh_settings)
        report = config_transfer.import_document(fresh_settings, exported, static_admin(), dry_run=False)
        assert not report["valid"] and not report["applied"]
        errors = {(section, item["key"]): item["error"] for section, counts in report["sections"].items()
                  for item in counts["items"] if item["action"] == "error"}
        assert set(errors) == {("presets", "broken"), ("settings", "max_streams"),
                               ("subscriptions", "nobody: https://example.com/x")}, errors
        assert "nobody" in errors[("subscriptions", "nobody: https://example.com/x")]
        # The good items were not applied either: one transaction.
        assert without_time(config_transfer.export(fresh_settings)) == without_time(before)


def test_password_hashes_and_tokens_stay_out_of_the_export_without_the_flag(app, client, admin, alice):
    from webapp.services.accounts import identity

    configure(admin, alice)
    _row, token = identity.create_token(admin, "cli")
    body = client.get("/api/v1/config/export", headers=ADMIN)
    assert body.status_code == 200
    text = body.get_data(as_text=True)
    assert "password_hash" not in text and "pbkdf2" not in text and "scrypt" not in text
    assert token not in text and "token_hash" not in text and "nonce" not in text
    with_hashes = client.get("/api/v1/config/export?include_password_hashes=true", headers=ADMIN).get_json()
    assert all(user["password_hash"] for user in with_hashes["users"])
    assert token not in str(with_hashes)


def test_the_api_import_is_a_dry_run_unless_told_otherwise(app, client, admin):
    document = {"version": 1, "presets": [{"name": "clips", "label": "Clips"}]}
    dry = client.post("/api/v1/config/import", json=document, headers=ADMIN)
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert dry.get_json()["sections"]["presets"]["created"] == 1 and dry.get_json()["applied"] is False
    assert client.get("/api/v1/presets/clips", headers=ADMIN).status_code == 404
    applied = client.post("/api/v1/config/import?dry_run=false", json=document, headers=ADMIN).get_json()
    assert applied["applied"] is True
    assert client.get("/api/v1/presets/clips", headers=ADMIN).status_code == 200


@pytest.mark.parametrize("document", [[], "x", {"version": 2}, {"version": 1, "presets": {"a": 1}},
                                      {"version": 1, "settings": []}])
def test_a_body_that_is_not_a_document_is_a_422(app, client, document):
    assert_api_error(client.post("/api/v1/config/import", json=document, headers=ADMIN), 422)


def test_an_import_cannot_demote_the_admin_running_it(app, client, admin, alice):
    from webapp.services.accounts import identity
    from webapp.services.admin import config_transfer

    report = config_transfer.import_document(
        app.config["HAUL"], {"version": 1, "users": [{"username": admin.username, "role": "user"},
                                                     {"username": alice.username, "role": "admin"}]},
        identity.Principal(user=admin), dry_run=False)
    assert not report["applied"]
    assert report["sections"]["users"]["items"][0]["action"] == "error"
    assert alice.role == "user"


def test_an_imported_users_target_follows_the_users_rules(app, admin, alice):
    from webapp.services.admin import config_transfer

    document = {"version": 1, "notification_targets": [
        {"owner": alice.username, "name": "Sneaky", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
         "secret": "0123456789abcdef0123", "events": ["job_completed"], "all_users": False, "enabled": True},
        {"owner": alice.username, "name": "Everyone", "kind": "webhook", "url": "https://93.184.216.34/hook",
         "secret": "0123456789abcdef0123", "events": ["job_completed"], "all_users": True, "enabled": True}]}
    report = config_transfer.import_document(app.config["HAUL"], document, static_admin(), dry_run=False)
    items = report["sections"]["notification_targets"]["items"]
    assert [item["action"] for item in items] == ["error", "error"] and not report["applied"]
    assert "private address" in items[0]["error"] and "127.0.0.1" not in items[0]["error"]
    assert "admin" in items[1]["error"]


def test_an_import_that_would_leave_no_admin_is_refused(app, admin):
    from webapp.services.admin import config_transfer

    report = config_transfer.import_document(app.config["HAUL"], {"version": 1, "users": [
        {"username": admin.username, "role": "user"}]}, static_admin(), dry_run=False)
    assert not report["applied"]
    assert report["sections"]["users"]["items"][-1]["error"] == "The import would leave no admin"
    assert admin.role == "admin"
