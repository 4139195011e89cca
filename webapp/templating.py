"""Jinja filters every page uses: sizes, speeds, durations and dates people can read, page links,
and a collection's counts (its row on the queue page and its history entry)."""
from __future__ import annotations

from flask import Flask

from webapp import window_view
from webapp.core.readable import human_bytes, human_duration, local_datetime
from webapp.services.queue import children as collection_children


def page_links(page: int, pages: int | None) -> list[int | None]:
    """Page links around the current one: 1 … 4 5 [6] 7 8 … 20 (None is a gap)."""
    pages = pages or page
    wanted = {1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)}
    numbers: list[int | None] = []
    for number in sorted(wanted):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def register(app: Flask) -> None:
    app.add_template_global(page_links, "page_links")
    app.add_template_global(collection_children.summary, "collection_summary")
    # The download windows on the queue page: a job's "starts at 01:00 (in 3 h)", the toolbar's banner.
    app.add_template_global(window_view.scheduled_label, "scheduled_label")
    app.add_template_global(window_view.banner, "window_banner")
    app.add_template_filter(human_bytes, "bytes")
    app.add_template_filter(human_duration, "duration")
    app.add_template_filter(local_datetime, "when")
