"""Settings → Backups in a real browser against a live stack: an admin backs up now and sees the
backup listed, exports the configuration, and checks a configuration file (the dry run's report,
nothing changed until Apply), then applies it.
Screenshot: docs/screenshots/backups.png.
"""
from __future__ import annotations

import json

from playwright.sync_api import expect

from browser.conftest import shot


def test_back_up_now_and_check_an_import(admin_page, tmp_path):
    page = admin_page
    page.goto("/settings")
    page.locator(".settings-tabs").get_by_role("link", name="Backups").click()
    page.wait_for_url("**/settings/backups")
    expect(page.get_by_role("heading", name="Backups", level=1)).to_be_visible()

    rows_before = page.locator("#backup-list tbody tr").count()
    page.get_by_role("button", name="Back up now").click()
    expect(page.locator("#backups-message")).to_contain_text("created")
    expect(page.locator("#backup-list tbody tr")).to_have_count(rows_before + 1)
    name = page.locator("#backup-list tbody tr").first.get_attribute("data-backup")
    assert name and name.startswith("haul-") and name.endswith(".db")
    expect(page.get_by_role("link", name=f"Download {name}")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    exported = json.loads(open(download.value.path()).read())
    assert exported["version"] == 1 and "password_hash" not in json.dumps(exported)

    label = f"Browser {tmp_path.name[-6:]}"
    exported["presets"].append({"name": f"b{tmp_path.name[-6:]}".lower()[:16], "label": label})
    document = tmp_path / "config.json"
    document.write_text(json.dumps(exported))
    page.locator("#import-file").set_input_files(str(document))
    page.get_by_role("button", name="Check").click()
    report = page.locator("#import-report")
    expect(report).to_have_attribute("data-valid", "true")
    expect(report).to_have_attribute("data-applied", "false")
    expect(report.locator('tr[data-section="presets"] [data-count="created"]')).to_have_text("1")
    expect(page.locator("#backups-message")).to_contain_text("Dry run")
    # The toasts (they go by themselves after a few seconds) would cover the report in the picture.
    page.evaluate("document.querySelectorAll('#toasts .toast').forEach(toast => toast.remove())")
    shot(page, "backups", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#import-report")).to_have_attribute("data-applied", "true")
    page.goto("/settings/presets")
    expect(page.get_by_text(label).first).to_be_visible()
