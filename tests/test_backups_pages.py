"""Settings → Backups (admin): the page, its forms, and that users cannot reach any of it."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest
from support.web import csrf

from tests.conftest import _unit_settings

HX = {"HX-Request": "true"}


@pytest.fixture
def settings(tmp_path):
    return dataclasses.replace(_unit_settings(tmp_path), backup_dir=tmp_path / "backups")


def test_the_page_lists_backups_and_makes_one(admin_client):
    page = admin_client.get("/settings/backups")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No backups yet." in text and 'aria-current="page">Backups' in text
    token = csrf(admin_client, "/settings/backups")
    made = admin_client.post("/settings/backups/create", data={"csrf_token": token}, headers=HX)
    assert made.status_code == 200
    body = made.get_data(as_text=True)
    assert 'id="backup-list"' in body and "created." in body


def test_schedule_and_retention_are_saved_and_refused_when_out_of_range(admin_client):
    from webapp.services.admin import housekeeping_settings

    token = csrf(admin_client, "/settings/backups")
    admin_client.post("/settings/backups/housekeeping", headers=HX, data={
        "csrf_token": token, "section": "schedule", "enabled": "on", "hour": "4", "keep": "3"})
    admin_client.post("/settings/backups/housekeeping", headers=HX, data={
        "csrf_token": token, "section": "retention", "days": "30", "delete_files": "on"})
    assert housekeeping_settings.current() == {"backup_schedule_enabled": True, "backup_schedule_hour": 4,
                                               "backup_keep": 3, "retention_days": 30,
                                               "retention_delete_files": True}
    refused = admin_client.post("/settings/backups/housekeeping", headers=HX, data={
        "csrf_token": token, "section": "schedule", "hour": "25", "keep": "3"})
    assert "between 0 and 23" in refused.get_data(as_text=True)
    assert housekeeping_settings.current()["backup_schedule_hour"] == 4


def test_import_shows_a_dry_run_report_then_applies(admin_client):
    from webapp.services.library import presets

    token = csrf(admin_client, "/settings/backups")
    document = {"version": 1, "presets": [{"name": "clips", "label": "Clips"}]}
    upload = {"csrf_token": token, "document_file": (io.BytesIO(json.dumps(document).encode()), "config.json")}
    report = admin_client.post("/settings/backups/import", data=upload, headers=HX,
                               content_type="multipart/form-data").get_data(as_text=True)
    assert 'id="import-report" data-valid="true" data-applied="false"' in report
    assert 'data-section="presets"' in report and 'id="import-apply"' in report
    assert presets.get("clips") is None
    applied = admin_client.post("/settings/backups/import/apply", headers=HX,
                                data={"csrf_token": token, "document": json.dumps(document)})
    assert 'data-applied="true"' in applied.get_data(as_text=True)
    assert presets.get("clips") is not None


def test_export_downloads_the_document_without_hashes_unless_asked(admin_client):
    plain = admin_client.get("/settings/backups/export")
    assert plain.status_code == 200 and "attachment" in plain.headers["Content-Disposition"]
    assert "password_hash" not in plain.get_data(as_text=True)
    with_hashes = admin_client.get("/settings/backups/export?include_password_hashes=on")
    assert "password_hash" in with_hashes.get_data(as_text=True)


def test_cleanup_preview_reports_without_removing(admin_client, settings):
    import os
    import time
    from pathlib import Path

    part = Path(settings.storage_root) / "stale.part"
    part.write_bytes(b"x")
    os.utime(part, (time.time() - 7200,) * 2)
    token = csrf(admin_client, "/settings/backups")
    preview = admin_client.post("/settings/backups/cleanup", headers=HX, data={"csrf_token": token, "dry_run": "1"})
    assert "Would remove 0 history entries and 1 partial file." in preview.get_data(as_text=True)
    assert part.exists()
    admin_client.post("/settings/backups/cleanup", headers=HX, data={"csrf_token": token, "dry_run": "0"})
    assert not part.exists()


PAGES = [("get", "/settings/backups"), ("post", "/settings/backups/create"),
         ("get", "/settings/backups/haul-20261202-083000.db/download"),
         ("post", "/settings/backups/haul-20261202-083000.db/restore"),
         ("post", "/settings/backups/haul-20261202-083000.db/delete"), ("post", "/settings/backups/housekeeping"),
         ("post", "/settings/backups/cleanup"), ("get", "/settings/backups/export"),
         ("post", "/settings/backups/import"), ("post", "/settings/backups/import/apply")]


@pytest.mark.parametrize("method,path", PAGES)
def test_users_get_403_on_every_backups_page(alice_client, method, path):
    token = csrf(alice_client, "/account")
    response = getattr(alice_client, method)(path, data={"csrf_token": token} if method == "post" else None)
    assert response.status_code == 403


def test_a_download_name_outside_the_listing_is_404(admin_client, settings):
    settings.backup_dir.mkdir()
    (settings.backup_dir / "haul.db").write_bytes(b"x")
    for name in ("haul.db", "..", "%2e%2e", "haul-..%2fhaul.db"):
        assert admin_client.get(f"/settings/backups/{name}/download").status_code == 404, name


def test_restore_from_the_page_and_its_refusal(admin_client, settings):
    from webapp.services.admin import backup
    from webapp.services.library import presets

    made = backup.create(settings)
    token = csrf(admin_client, "/settings/backups")
    admin_client.post("/settings/backups/import/apply", headers=HX, data={
        "csrf_token": token, "document": json.dumps({"version": 1, "presets": [{"name": "later", "label": "L"}]})})
    assert presets.get("later") is not None
    token = csrf(admin_client, "/settings/backups")  # the session itself was restored too: a fresh token
    restored = admin_client.post(f"/settings/backups/{made.name}/restore", headers=HX, data={"csrf_token": token})
    assert "Restored" in restored.get_data(as_text=True) and "haul-before-restore-" in restored.get_data(as_text=True)
    assert presets.get("later") is None

    (settings.backup_dir / "haul-20200101-000000.db").write_bytes(b"not a database")
    token = csrf(admin_client, "/settings/backups")
    refused = admin_client.post("/settings/backups/haul-20200101-000000.db/restore", headers=HX,
                                data={"csrf_token": token}).get_data(as_text=True)
    assert 'class="notice error"' in refused and "not a SQLite database" in refused
