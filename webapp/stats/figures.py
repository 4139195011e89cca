"""What the /stats page draws: the services' figures turned into charts (webapp/core/charts.py)
with labels people read, and the choices of its period picker.
"""
from __future__ import annotations

from datetime import datetime, timezone

from webapp.core import charts
from webapp.core.readable import human_bytes
from webapp.services.library import stats

PERIOD_CHOICES = (("today", "Today"), ("week", "Last 7 days"), ("month", "Last 30 days"),
                  ("year", "Last 365 days"), ("all", "All time"))
GROUP_CHOICES = (("hour", "Hour"), ("day", "Day"), ("week", "Week"), ("month", "Month"))
# Each period's grouping unless one is chosen: a few dozen columns at most.
DEFAULT_GROUPING = {"today": "hour", "week": "day", "month": "day", "year": "week", "all": "month"}
GROUP_WORDS = {"hour": "hour", "day": "day", "week": "week", "month": "month"}


def choose(period: str | None, group_by: str | None) -> tuple[str, str]:
    """The period and grouping to show: the asked ones when they go together, else the defaults
    (a page forgives a hand-edited URL; the API refuses it with 422)."""
    period = period if period in DEFAULT_GROUPING else "month"
    if group_by not in stats.GROUPINGS or (group_by == "hour" and period not in stats.HOURLY_PERIODS):
        group_by = DEFAULT_GROUPING[period]
    return period, group_by


def _moment(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def bucket_words(timestamp: str, group_by: str) -> tuple[str, str]:
    """(the short axis label, the tooltip's heading) of a bucket starting at `timestamp` (UTC)."""
    moment = _moment(timestamp)
    day = f"{moment.day} {moment:%b}"
    if group_by == "hour":
        return f"{moment:%H}:00", f"{moment:%a} {day} {moment:%H}:00 UTC"
    if group_by == "day":
        return day, f"{moment:%a} {day} {moment:%Y}"
    if group_by == "week":
        return day, f"Week of {day} {moment:%Y}"
    return f"{moment:%b %y}", f"{moment:%B %Y}"


def outcome_chart(timeline: list[dict], group_by: str) -> str:
    """Completed (below) and failed (stacked above) downloads per bucket."""
    columns = []
    for bucket in timeline:
        label, heading = bucket_words(bucket["timestamp"], group_by)
        columns.append(charts.Column(label, heading, (
            charts.Segment("completed", bucket["completed"], "completed"),
            charts.Segment("failed", bucket["failed"], "failed"))))
    completed = sum(bucket["completed"] for bucket in timeline)
    failed = sum(bucket["failed"] for bucket in timeline)
    return charts.column_chart(
        columns, chart_id="chart-downloads", title=f"Downloads per {GROUP_WORDS[group_by]}: completed and failed",
        description=f"{len(columns)} columns; {completed} completed and {failed} failed in all.",
        empty_text="No downloads in this period")


def bytes_chart(timeline: list[dict], group_by: str) -> str:
    """The bytes downloaded per bucket."""
    columns = []
    for bucket in timeline:
        label, heading = bucket_words(bucket["timestamp"], group_by)
        columns.append(charts.Column(label, heading, (charts.Segment("bytes", bucket["total_size_bytes"], ""),)))
    total = sum(bucket["total_size_bytes"] for bucket in timeline)
    scale = charts.byte_scale(max((bucket["total_size_bytes"] for bucket in timeline), default=0))
    return charts.column_chart(
        columns, chart_id="chart-bytes", title=f"Bytes downloaded per {GROUP_WORDS[group_by]}",
        description=f"{len(columns)} columns; {human_bytes(total)} in all.", scale=scale, value_text=human_bytes,
        empty_text="Nothing downloaded in this period")


def sites_chart(sites: list[dict]) -> str:
    """A bar per site, the busiest first: completed, failed and cancelled side by side in one bar."""
    rows = []
    for site in sites:
        rate = f"{site['success_rate']:g} % success" if site["success_rate"] is not None else "no result yet"
        rows.append(charts.Row(site["platform"], rate, (
            charts.Segment("completed", site["completed"], "completed"),
            charts.Segment("failed", site["failed"], "failed"),
            charts.Segment("cancelled", site["cancelled"], "cancelled"))))
    return charts.bar_rows(rows, chart_id="chart-sites", title="Downloads per site",
                           description=f"The {len(rows)} busiest sites with their success rate.",
                           empty_text="No downloads in this period")
