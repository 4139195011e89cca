"""Charts as SVG text, drawn on the server for the /stats page: columns over time (stacked:
completed and failed, or bytes) and horizontal bars per site.

Pure: numbers and words in, SVG text out (no Flask, no database). Every word that came from
outside (a site's name above all) is escaped, so a domain called "<script>" is text.

How they look on any screen and in either theme:
- the SVG has a viewBox and no fixed size: the page's CSS gives it `width: 100%`;
- colours are CSS classes (`chart-completed`, `chart-failed`, `chart-bytes`, `chart-axis` …) that
  static/css/stats.css maps to the theme's custom properties, with `currentColor` as the
  fallback fill, so light and dark both work and nothing is hard-coded here;
- a column chart labels at most 12 buckets, and marks every other label `tick-minor`, which
  the CSS hides on a phone (6 labels there);
- each bar's <title> is its tooltip; the <svg> is role="img" with a <title> and <desc> naming
  what it shows (the page adds the numbers as a table too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 480  # user units; a phone draws them ~0.7 px each, a desktop card ~1.2 px
COLUMN_HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 30  # room for the value axis and the bucket labels
MAX_LABELS = 12
ROW_HEIGHT = 38  # a site's row: its label above, its bar below (so long names fit a phone)
BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


@dataclass(frozen=True)
class Segment:
    """One part of a bar: its class (its colour), its value, and its word in the tooltip."""

    kind: str
    value: float
    word: str


@dataclass(frozen=True)
class Column:
    """One bucket: the short axis label, the tooltip's heading, and its stacked parts."""

    label: str
    heading: str
    segments: tuple[Segment, ...]

    @property
    def total(self) -> float:
        return sum(segment.value for segment in self.segments)


@dataclass(frozen=True)
class Row:
    """One site: its name, a note after it (e.g. the success rate), and its stacked parts."""

    label: str
    note: str
    segments: tuple[Segment, ...]

    @property
    def total(self) -> float:
        return sum(segment.value for segment in self.segments)


@dataclass(frozen=True)
class Scale:
    """A value axis: its top, its step, and how a value reads (a count, or bytes in one unit)."""

    top: float
    step: float
    divisor: float = 1.0
    unit: str = ""

    def text(self, value: float) -> str:
        number = value / self.divisor
        shown = f"{number:.0f}" if number == int(number) else f"{number:.1f}"
        return f"{shown} {self.unit}".strip()


def nice_step(rough: float) -> float:
    """The 1, 2, 2.5 or 5 × 10^n at or above `rough` (axis steps people read at a glance)."""
    if rough <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 2.5, 5, 10):
        if rough <= factor * power + 1e-12:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def count_scale(largest: float, ticks: int = 4) -> Scale:
    """Whole-number steps from 0 to at least `largest` (1 when there is nothing)."""
    step = max(1.0, math.ceil(nice_step(largest / ticks))) if largest > 0 else 1.0
    return Scale(top=max(step * math.ceil(largest / step), step), step=step)


def byte_scale(largest: float, ticks: int = 4) -> Scale:
    """Steps in the unit `largest` reads best in (KB, MB, GB … in powers of 1024)."""
    power = 0
    while largest >= 1024 ** (power + 1) and power < len(BYTE_UNITS) - 1:
        power += 1
    divisor = 1024.0 ** power
    step = nice_step(largest / divisor / ticks) if largest > 0 else 1.0
    top = max(step * math.ceil(largest / divisor / step), step)
    return Scale(top=top * divisor, step=step * divisor, divisor=divisor, unit=BYTE_UNITS[power])


def _number(value: float) -> str:
    """A coordinate, short: 12.5, not 12.500000001."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, description: str, height: float, kind: str) -> list[str]:
    ids = f"{chart_id}-title {chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {_number(height)}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-labelledby="{escape(ids)}" focusable="false">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]


def _tooltip(heading: str, segments: tuple[Segment, ...], value_text) -> str:
    parts = ", ".join(f"{value_text(segment.value)} {segment.word}".strip() for segment in segments)
    return f"{heading}: {parts}" if parts else heading


def column_chart(columns: list[Column], *, chart_id: str, title: str, description: str,
                 scale: Scale | None = None, value_text=None, empty_text: str = "Nothing in this period") -> str:
    """A column per bucket, its segments stacked from the bottom, with a value axis on the left
    and bucket labels below. `scale` defaults to whole counts; `value_text` formats a value in
    the tooltips (default: the scale's)."""
    scale = scale or count_scale(max((column.total for column in columns), default=0))
    value_text = value_text or scale.text
    plot_width, plot_height = WIDTH - LEFT - RIGHT, COLUMN_HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    out = _open(chart_id, title, description, COLUMN_HEIGHT, "columns")

    out.append('<g class="chart-axis">')
    tick = 0.0
    while tick <= scale.top + 1e-9:
        y = baseline - tick / scale.top * plot_height
        out.append(f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_number(y)}" y2="{_number(y)}" '
                   f'stroke="currentColor"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_number(y + 4)}" text-anchor="end" fill="currentColor">'
                   f'{escape(scale.text(tick))}</text>')
        tick += scale.step
    out.append("</g>")

    count = len(columns)
    if count == 0 or all(column.total == 0 for column in columns):
        middle_x, middle_y = _number(LEFT + plot_width / 2), _number(TOP + plot_height / 2)
        out.append(f'<text class="chart-empty" x="{middle_x}" y="{middle_y}" text-anchor="middle" '
                   f'fill="currentColor">{escape(empty_text)}</text>')
    slot = plot_width / max(count, 1)
    bar_width = max(slot * 0.72, 1.0)
    every = max(1, math.ceil(count / MAX_LABELS))
    for index, column in enumerate(columns):
        x = LEFT + index * slot
        out.append('<g class="chart-bucket">')
        out.append(f"<title>{escape(_tooltip(column.heading, column.segments, value_text))}</title>")
        # The whole slot takes the pointer, so a tiny bar's tooltip is easy to reach.
        out.append(f'<rect class="chart-hit" x="{_number(x)}" y="{TOP}" width="{_number(slot)}" '
                   f'height="{_number(plot_height)}" fill="transparent"/>')
        top = baseline
        for segment in column.segments:
            if segment.value <= 0:
                continue
            height = max(segment.value / scale.top * plot_height, 0.5)
            top -= height
            left = _number(x + (slot - bar_width) / 2)
            out.append(f'<rect class="chart-bar chart-{escape(segment.kind)}" x="{left}" y="{_number(top)}" '
                       f'width="{_number(bar_width)}" height="{_number(height)}" fill="currentColor"/>')
        out.append("</g>")
        if index % every == 0:
            minor = " tick-minor" if (index // every) % 2 else ""
            out.append(f'<text class="chart-label{minor}" x="{_number(x + slot / 2)}" y="{_number(baseline + 18)}" '
                       f'text-anchor="middle" fill="currentColor">{escape(column.label)}</text>')
    out.append(f'<line class="chart-baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_number(baseline)}" '
               f'y2="{_number(baseline)}" stroke="currentColor"/>')
    out.append("</svg>")
    return "\n".join(out)


def bar_rows(rows: list[Row], *, chart_id: str, title: str, description: str, value_text=None,
             empty_text: str = "Nothing in this period") -> str:
    """A horizontal bar per row, longest first as given: the row's label and note above its bar
    (a long site name keeps the whole width on a phone), its total at the bar's end."""
    value_text = value_text or (lambda value: f"{value:.0f}")
    largest = max((row.total for row in rows), default=0) or 1
    height = max(len(rows), 1) * ROW_HEIGHT + 8
    bar_space = WIDTH - 48  # room for the total after the longest bar
    out = _open(chart_id, title, description, height, "rows")
    if not rows:
        out.append(f'<text class="chart-empty" x="{WIDTH / 2:.0f}" y="{ROW_HEIGHT / 2 + 4:.0f}" text-anchor="middle" '
                   f'fill="currentColor">{escape(empty_text)}</text>')
    for index, row in enumerate(rows):
        y = index * ROW_HEIGHT + 4
        out.append('<g class="chart-row">')
        heading = f"{row.label} · {row.note}" if row.note else row.label
        out.append(f"<title>{escape(_tooltip(heading, row.segments, value_text))}</title>")
        out.append(f'<rect class="chart-hit" x="0" y="{y}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="transparent"/>')
        note = f' <tspan class="chart-note">{escape(row.note)}</tspan>' if row.note else ""
        out.append(f'<text class="chart-row-label" x="0" y="{y + 14}" fill="currentColor">'
                   f'{escape(row.label)}{note}</text>')
        x = 0.0
        for segment in row.segments:
            if segment.value <= 0:
                continue
            width = max(segment.value / largest * bar_space, 1.0)
            out.append(f'<rect class="chart-bar chart-{escape(segment.kind)}" x="{_number(x)}" y="{y + 20}" '
                       f'width="{_number(width)}" height="12" rx="2" fill="currentColor"/>')
            x += width
        out.append(f'<text class="chart-value" x="{_number(x + 6)}" y="{y + 30}" fill="currentColor">'
                   f'{escape(value_text(row.total))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)
