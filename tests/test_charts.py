"""webapp/core/charts.py: the SVG parses, a bar per bucket, escaped words, scales people read,
and the page's chart builders (webapp/stats/figures.py) label buckets as expected."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from webapp.core import charts
from webapp.stats import figures

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def columns(*pairs):
    return [charts.Column(f"d{n}", f"Day {n}", (charts.Segment("completed", done, "completed"),
                                                 charts.Segment("failed", failed, "failed")))
            for n, (done, failed) in enumerate(pairs)]


def buckets(root):
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-bucket"]


def test_column_chart_parses_with_a_bar_per_bucket():
    root = parse(charts.column_chart(columns((3, 1), (0, 0), (5, 0), (0, 2)), chart_id="c", title="Downloads",
                                     description="Four days"))
    assert root.get("viewBox") == "0 0 480 220" and root.get("width") is None  # the CSS sizes it
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Downloads" and root.find(f"{SVG}desc").text == "Four days"
    groups = buckets(root)
    assert len(groups) == 4
    bars = [[rect.get("class") for rect in g.iter(f"{SVG}rect") if "chart-bar" in rect.get("class")] for g in groups]
    assert bars == [["chart-bar chart-completed", "chart-bar chart-failed"], [], ["chart-bar chart-completed"],
                    ["chart-bar chart-failed"]]
    assert [g.find(f"{SVG}title").text for g in groups][0] == "Day 0: 3 completed, 1 failed"


def test_column_heights_follow_the_values_and_stack():
    root = parse(charts.column_chart(columns((4, 4), (8, 0)), chart_id="c", title="t", description="d"))
    first, second = ([rect for rect in g.iter(f"{SVG}rect") if "chart-bar" in rect.get("class")]
                     for g in buckets(root))
    height = lambda rect: float(rect.get("height"))  # noqa: E731
    assert height(first[0]) == pytest.approx(height(first[1]))
    assert height(second[0]) == pytest.approx(height(first[0]) + height(first[1]))
    # Stacked: the failed part sits right on top of the completed one.
    assert float(first[1].get("y")) + height(first[1]) == pytest.approx(float(first[0].get("y")))


def test_hostile_words_are_escaped_text():
    hostile = '<script>alert("x")</script>'
    svg = charts.bar_rows([charts.Row(hostile, "50 % success", (charts.Segment("completed", 1, "completed"),))],
                          chart_id="s", title=hostile, description=hostile)
    assert "<script>" not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == hostile  # parsed back, it is the same words, as text
    label = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "chart-row-label")
    assert label.text.strip() == hostile and not list(label.iter(f"{SVG}script"))
    assert not list(root.iter(f"{SVG}script"))
    column_svg = charts.column_chart([charts.Column(hostile, hostile, ())], chart_id='x"y', title="t", description="d")
    assert "<script>" not in column_svg and parse(column_svg).get("id") == 'x"y'


def test_rows_chart_has_a_bar_per_site_longest_for_the_busiest():
    rows = [charts.Row("a.example", "75 % success", (charts.Segment("completed", 3, "completed"),
                                                     charts.Segment("failed", 1, "failed"))),
            charts.Row("b.example", "", (charts.Segment("completed", 2, "completed"),))]
    root = parse(charts.bar_rows(rows, chart_id="s", title="Sites", description="two"))
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-row"]
    assert len(groups) == 2
    width = lambda g: sum(float(r.get("width")) for r in g.iter(f"{SVG}rect") if "chart-bar" in r.get("class"))  # noqa
    assert width(groups[0]) == pytest.approx(2 * width(groups[1]))
    assert groups[0].find(f"{SVG}title").text == "a.example · 75 % success: 3 completed, 1 failed"
    assert max(float(r.get("width")) + float(r.get("x")) for r in root.iter(f"{SVG}rect")
               if "chart-bar" in r.get("class")) <= charts.WIDTH  # nothing beyond the viewBox


def test_empty_charts_say_so():
    root = parse(charts.column_chart([], chart_id="e", title="t", description="d", empty_text="No downloads"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-empty"] == ["No downloads"]
    root = parse(charts.bar_rows([], chart_id="e", title="t", description="d", empty_text="None"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-empty"] == ["None"]


def test_no_colour_is_hard_coded():
    drawn = [charts.column_chart(columns((1, 1)), chart_id="c", title="t", description="d"),
             charts.bar_rows([charts.Row("a", "", (charts.Segment("failed", 1, "failed"),))], chart_id="r",
                             title="t", description="d")]
    for svg in drawn:
        assert "#" not in svg  # colours come from the CSS classes (the theme's variables) or currentColor
        fills = {element.get("fill") for element in parse(svg).iter() if element.get("fill")}
        strokes = {element.get("stroke") for element in parse(svg).iter() if element.get("stroke")}
        assert fills <= {"currentColor", "transparent"} and strokes <= {"currentColor"}


def test_labels_thin_out_on_many_buckets():
    root = parse(charts.column_chart(columns(*[(1, 0)] * 60), chart_id="c", title="t", description="d"))
    labels = [t for t in root.iter(f"{SVG}text") if (t.get("class") or "").startswith("chart-label")]
    assert len(labels) <= charts.MAX_LABELS
    shown_on_phones = [t for t in labels if "tick-minor" not in t.get("class")]
    assert 1 <= len(shown_on_phones) <= charts.MAX_LABELS // 2
    assert len(buckets(root)) == 60  # every bucket keeps its bar and tooltip


@pytest.mark.parametrize("largest,top,step", [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (40, 40, 10),
                                              (97, 100, 25), (1234, 1500, 500)])
def test_count_scale(largest, top, step):
    scale = charts.count_scale(largest)
    assert (scale.top, scale.step) == (top, step)


def test_byte_scale_reads_in_one_unit():
    scale = charts.byte_scale(3.4 * 1024 ** 2)
    assert scale.unit == "MB" and scale.top >= 3.4 * 1024 ** 2
    assert scale.text(scale.step) in ("1 MB", "2 MB")
    assert charts.byte_scale(0).text(0) == "0 B"


def test_bucket_words():
    assert figures.bucket_words("2026-03-04T13:00:00Z", "hour") == ("13:00", "Wed 4 Mar 13:00 UTC")
    assert figures.bucket_words("2026-03-04T00:00:00Z", "day") == ("4 Mar", "Wed 4 Mar 2026")
    assert figures.bucket_words("2026-03-02T00:00:00Z", "week") == ("2 Mar", "Week of 2 Mar 2026")
    assert figures.bucket_words("2026-03-01T00:00:00Z", "month") == ("Mar 26", "March 2026")


def test_page_choices_fall_back_to_what_goes_together():
    assert figures.choose("all", "hour") == ("all", "month")
    assert figures.choose("decade", None) == ("month", "day")
    assert figures.choose("today", "hour") == ("today", "hour")
    assert figures.choose("year", "<b>") == ("year", "week")


def test_outcome_chart_from_a_timeline():
    timeline = [{"timestamp": f"2026-03-0{n}T00:00:00Z", "completed": n, "failed": 1, "cancelled": 0,
                 "total_size_bytes": n * 1024} for n in range(1, 6)]
    root = parse(figures.outcome_chart(timeline, "day"))
    assert len(buckets(root)) == 5
    assert buckets(root)[0].find(f"{SVG}title").text == "Sun 1 Mar 2026: 1 completed, 1 failed"
    root = parse(figures.bytes_chart(timeline, "day"))
    assert buckets(root)[1].find(f"{SVG}title").text == "Mon 2 Mar 2026: 2.0 KB"
