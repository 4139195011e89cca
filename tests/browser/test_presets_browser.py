"""Presets in a real browser against a live stack: an admin creates a preset in Settings on a
phone (a refusal shown next to its field first, then the yt-dlp options it turns into), picks
it on the queue page and sends a link; the job carries the preset.
Screenshot: docs/screenshots/settings-presets-phone.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import PHONE, shot


@pytest.fixture
def phone_page(new_context, _admin_session) -> Page:
    context = new_context(viewport=PHONE, storage_state=_admin_session["storage"], is_mobile=True, has_touch=True)
    return context.new_page()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"


def test_create_a_preset_then_pick_it_on_the_queue_page(phone_page, media_site):
    page = phone_page
    page.goto("/settings")
    page.locator(".settings-tabs").get_by_role("link", name="Presets").click()
    page.wait_for_url("**/settings/presets")
    expect(page.locator("#preset-audio")).to_contain_text("built-in")
    no_sideways_scroll(page)

    page.get_by_role("link", name="New preset").click()
    page.wait_for_url("**/settings/presets/new")
    form = page.locator("#preset-form")
    form.get_by_label("Name", exact=True).fill("talk")
    form.get_by_label("Label").fill("Talk (mp3)")
    form.get_by_label("Kind").select_option("audio")
    form.get_by_label("Audio format").select_option("mp3")
    form.get_by_label("Bitrate (kbit/s)").fill("128")
    form.get_by_label("File name template").fill("../{title}")
    no_sideways_scroll(page)

    # A path in the template: refused, the message next to the field, what was typed kept.
    form.get_by_role("button", name="Create preset").click()
    error = page.locator("#p-filename_template-error")
    expect(error).to_contain_text("names a file, not a path")
    expect(page.locator("#p-filename_template")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#p-label")).to_have_value("Talk (mp3)")

    page.locator("#p-filename_template").fill("{uploader} - {title}")
    page.get_by_role("button", name="Show yt-dlp options").click()
    dry_run = page.locator("#preset-dry-run-ytdlp")
    expect(dry_run).to_contain_text("FFmpegExtractAudio")
    expect(dry_run).to_contain_text('"preferredcodec": "mp3"')
    shot(page, "settings-presets-phone", full_page=True)

    page.get_by_role("button", name="Create preset").click()
    page.wait_for_url("**/settings/presets")
    row = page.locator("#preset-talk")
    expect(row).to_contain_text("Talk (mp3)")
    expect(row).to_contain_text("Audio · mp3 · 128 kbit/s")

    # The queue page offers it by its label; the job sent with it carries it.
    page.goto("/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.locator("details.options:not(.collection-options) > summary").click()
    preset = page.get_by_label("Preset")
    expect(preset.locator("option").first).to_have_text("Default (Best available)")
    preset.select_option(label="Talk (mp3)")
    link = media_site.video_clip_url("presets-browser")
    page.get_by_role("textbox", name=re.compile("^Links")).fill(link)
    page.get_by_role("button", name="Add to queue").click()
    expect(page.locator("#add-links .notice.success")).to_contain_text("Queued 1 link")
    job = page.locator("li.job", has=page.locator(f'a.job-title[href="{link}"]'))
    expect(job.locator(".job-meta")).to_contain_text("· talk")
