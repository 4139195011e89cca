"""How a subscription reads on its pages: when it runs next, what its last run did, and the
sparkline of its recent runs (an inline SVG drawn here, so it needs no script and no image
request, and reads the same on a phone)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# The sparkline's box in SVG units (the page scales it); one bar per run, up to 20 runs.
SPARK_WIDTH, SPARK_HEIGHT, SPARK_SLOTS = 100, 24, 20
# A run that queued nothing still shows: a stub the height of this, coloured by its status.
SPARK_MIN_BAR = 3
_STATUS_WORDS = {"completed": "completed", "failed": "failed", "skipped": "skipped",
                 "listing": "checking", "downloading": "downloading"}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """ "in 5 min", "3 h ago", "now": a time near now, in the words a glance needs."""
    if moment is None:
        return ""
    now = _utc(now or datetime.now(UTC))
    seconds = (_utc(moment) - now).total_seconds()
    gap = abs(seconds)
    if gap < 45:
        return "now"
    if gap < 3600:
        amount = f"{round(gap / 60)} min"
    elif gap < 86400 * 2:
        amount = f"{round(gap / 3600)} h"
    else:
        amount = f"{round(gap / 86400)} days"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def last_result(last_run: dict | None) -> tuple[str, str]:
    """The last run in a few words, and its tone (a chip class): "12 new · 12 downloaded"."""
    if not last_run:
        return "Not checked yet", "queued"
    status = last_run.get("status")
    if status == "skipped":
        return "skipped", "cancelled"
    if status == "failed":
        return last_run.get("error") or "failed", "failed"
    if status == "listing":
        return "checking…", "downloading"
    new = last_run.get("new") or 0
    parts = [f"{new} new"]
    if status == "downloading":
        parts.append(f"{last_run.get('downloaded') or 0} of {last_run.get('queued') or 0} downloaded")
    else:
        parts.append(f"{last_run.get('downloaded') or 0} downloaded")
    if last_run.get("failed"):
        parts.append(f"{last_run['failed']} failed")
    return " · ".join(parts), ("downloading" if status == "downloading" else "completed")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status: str
    label: str


@dataclass(frozen=True)
class Sparkline:
    bars: list[Bar]
    label: str
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT


def sparkline(recent: list[dict]) -> Sparkline:
    """Bars for the recent runs (oldest first): height = items queued, class = status."""
    recent = list(recent)[-SPARK_SLOTS:]
    slot = SPARK_WIDTH / SPARK_SLOTS
    highest = max((run.get("queued") or 0 for run in recent), default=0) or 1
    offset = SPARK_SLOTS - len(recent)  # the newest run is always at the right edge
    bars = []
    for index, run in enumerate(recent):
        queued = run.get("queued") or 0
        height = max(SPARK_MIN_BAR, round(queued / highest * SPARK_HEIGHT, 1))
        status = run.get("status") or "completed"
        word = _STATUS_WORDS.get(status, status)
        bars.append(Bar(x=round((offset + index) * slot + slot * 0.15, 2), y=round(SPARK_HEIGHT - height, 1),
                        width=round(slot * 0.7, 2), height=height, status=status,
                        label=f"{word}, {queued} queued"))
    return Sparkline(bars=bars, label=_describe(recent))


def _describe(recent: list[dict]) -> str:
    if not recent:
        return "No runs yet"
    counts: dict[str, int] = {}
    for run in recent:
        word = _STATUS_WORDS.get(run.get("status"), run.get("status") or "completed")
        counts[word] = counts.get(word, 0) + 1
    tally = ", ".join(f"{count} {word}" for word, count in counts.items())
    last = recent[-1]
    return (f"Last {len(recent)} run{'s' if len(recent) != 1 else ''}: {tally}; "
            f"the latest queued {last.get('queued') or 0}")


def run_duration(run) -> float | None:
    """Seconds from a run's start to its end (None while it goes on, or when skipped at once)."""
    if run.finished_at is None or run.started_at is None:
        return None
    return max(0.0, (_utc(run.finished_at) - _utc(run.started_at)).total_seconds())
