"""The backup folder through /api/v1/config/backups: list, create, download, delete; only admins,
and no name ever reaches outside the folder."""
from __future__ import annotations

import dataclasses
import io
import sqlite3
import tarfile

import pytest

from tests.conftest import API_TOKEN, _unit_settings, assert_api_error

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def settings(tmp_path):
    """As conftest's, with the backups in this test's own folder (the data dir is the session's)."""
    return dataclasses.replace(_unit_settings(tmp_path), backup_dir=tmp_path / "backups")


def test_create_list_download_and_delete_a_backup(app, client, settings):
    assert client.get("/api/v1/config/backups", headers=ADMIN).get_json()["items"] == []

    created = client.post("/api/v1/config/backups", headers=ADMIN)
    assert created.status_code == 201, created.get_data(as_text=True)
    name = created.get_json()["backup"]["name"]
    listed = client.get("/api/v1/config/backups", headers=ADMIN).get_json()
    assert listed["available"] is True and [b["name"] for b in listed["items"]] == [name]
    entry = listed["items"][0]
    assert entry["size"] > 0 and entry["revision"] and entry["has_secret_key"] is False

    download = client.get(f"/api/v1/config/backups/{name}", headers=ADMIN)
    assert download.status_code == 200 and download.mimetype == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(download.data)) as tar:
        assert tar.getnames() == [name]
        data = tar.extractfile(name).read()
    assert data.startswith(b"SQLite format 3\x00")

    deleted = client.delete(f"/api/v1/config/backups/{name}", headers=ADMIN)
    assert deleted.status_code == 200
    assert client.get("/api/v1/config/backups", headers=ADMIN).get_json()["items"] == []
    assert_api_error(client.get(f"/api/v1/config/backups/{name}", headers=ADMIN), 404, "backup_not_found")


def test_the_secret_key_is_listed_and_downloaded_with_its_backup(app, client, settings):
    client.post("/api/v1/config/backups", headers=ADMIN)
    name = client.get("/api/v1/config/backups", headers=ADMIN).get_json()["items"][0]["name"]
    (settings.backup_dir / name.replace(".db", ".secret_key")).write_text("k" * 40)
    assert client.get("/api/v1/config/backups", headers=ADMIN).get_json()["items"][0]["has_secret_key"] is True
    with tarfile.open(fileobj=io.BytesIO(client.get(f"/api/v1/config/backups/{name}", headers=ADMIN).data)) as tar:
        assert sorted(tar.getnames()) == sorted([name, name.replace(".db", ".secret_key")])


@pytest.mark.parametrize("name", ["../haul.db", "..%2fhaul.db", "%2e%2e%2fhaul.db", "%2e%2e", "..",
                                  "%2Fetc%2Fpasswd", "haul.db", "haul-x.db%00", "haul-..db", "secret_key",
                                  "haul-20261202-083000.secret_key"])
def test_download_names_outside_the_listing_are_refused(app, client, settings, name):
    client.post("/api/v1/config/backups", headers=ADMIN)
    # Files that exist beside and above the folder, which a joined path would reach.
    (settings.backup_dir / "haul.db").write_bytes(b"SQLite format 3\x00 not a listed backup")
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/api/v1/config/backups/{name}", headers=ADMIN)
        assert response.status_code == 404, (method, name, response.status_code)
    response = client.post(f"/api/v1/config/backups/{name}/restore", headers=ADMIN)
    assert response.status_code in (404, 405), (name, response.status_code)
    assert (settings.backup_dir / "haul.db").exists()


def test_a_symlink_in_the_folder_is_not_a_backup(app, client, settings, tmp_path):
    client.post("/api/v1/config/backups", headers=ADMIN)
    outside = tmp_path / "outside.db"
    with sqlite3.connect(outside) as connection:
        connection.execute("CREATE TABLE t (x)")
    (settings.backup_dir / "haul-20200101-000000.db").symlink_to(outside)
    names = [b["name"] for b in client.get("/api/v1/config/backups", headers=ADMIN).get_json()["items"]]
    assert "haul-20200101-000000.db" not in names
    assert_api_error(client.get("/api/v1/config/backups/haul-20200101-000000.db", headers=ADMIN), 404)


ROUTES = [("get", "/api/v1/config/backups"), ("post", "/api/v1/config/backups"),
          ("get", "/api/v1/config/backups/haul-20261202-083000.db"),
          ("delete", "/api/v1/config/backups/haul-20261202-083000.db"),
          ("post", "/api/v1/config/backups/haul-20261202-083000.db/restore"),
          ("get", "/api/v1/config/housekeeping"), ("patch", "/api/v1/config/housekeeping"),
          ("get", "/api/v1/config/export"), ("get", "/api/v1/config/export?include_password_hashes=true"),
          ("post", "/api/v1/config/import?dry_run=false"), ("post", "/api/v1/history/cleanup")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_users_and_anonymous_callers_are_refused_on_every_route(app, client, api_callers, method, path):
    body = {"version": 1, "users": [{"username": "alice", "role": "admin"}]} if "import" in path else {}
    anonymous = getattr(client, method)(path, json=body)
    assert_api_error(anonymous, 401)
    for caller in (api_callers["user"], api_callers["read"], api_callers["submit"]):
        assert_api_error(getattr(client, method)(path, json=body, headers=caller), 403)
    # The attempted escalation above changed nothing.
    assert api_callers.alice.role == "user"


def test_postgresql_installs_are_told_to_use_pg_dump(app, client, settings, monkeypatch):
    pg = dataclasses.replace(settings, database_url="postgresql://haul@localhost/haul")
    monkeypatch.setitem(app.config, "HAUL", pg)
    listed = client.get("/api/v1/config/backups", headers=ADMIN).get_json()
    assert listed["available"] is False and "pg_dump" in listed["detail"]
    refused = assert_api_error(client.post("/api/v1/config/backups", headers=ADMIN), 409, "backup_unavailable")
    assert "pg_dump" in refused["detail"]


def test_latest_names_the_newest_backup_for_the_health_page(app, settings):
    from webapp.services.admin import backup

    assert backup.latest(settings) is None
    first = backup.create(settings)
    newest = backup.latest(settings)
    assert newest["name"] == first.name and newest["age_seconds"] >= 0 and newest["size"] > 0


def test_prune_keeps_the_newest_regular_backups_and_the_pre_restore_copies(app, settings):
    import os

    from webapp.services.admin import backup

    folder = settings.backup_dir
    folder.mkdir()
    made = []
    for day in range(1, 5):
        path = folder / f"haul-2026120{day}-030000.db"
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000 + day * 86400,) * 2)
        made.append(path.name)
    kept_copy = folder / "haul-before-restore-20261201-000000.db"
    kept_copy.write_bytes(b"x")
    os.utime(kept_copy, (1_600_000_000,) * 2)
    assert backup.prune(settings, keep=2) == [made[1], made[0]]
    assert sorted(p.name for p in folder.iterdir()) == sorted([made[2], made[3], kept_copy.name])


@pytest.mark.timeout(280)
def test_the_backup_config_and_cleanup_routes_conform_to_the_openapi_document(app, client, settings):
    """Schemathesis on this part's operations (the shared fuzz test leaves them out: it runs in
    the session's data dir, where these would write backups): no 5xx, answers as documented."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(("/api/v1/config/", "/api/v1/history/cleanup"))]
    assert len(operations) == 10, [(op.method, op.path) for op in operations]
    for operation in operations:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            from schemathesis.specs.openapi.checks import positive_data_acceptance

            case.call_and_validate(headers=ADMIN, excluded_checks=[positive_data_acceptance])

        check()
