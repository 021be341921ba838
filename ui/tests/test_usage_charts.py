"""The usage charts: inline SVG built from a usage series, with scales that hold for no data,
one point and large numbers."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from ui import charts

SINCE = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
DAY = {"since": SINCE, "until": SINCE + timedelta(days=1), "granularity": "hour", "step": 3600}
NO_CALLS = {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "tokens": 0}


def point(hour, requests, errors=0, p50=None, p99=None):
    time = (SINCE + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")
    return {"time": time, "requests": requests, "errors": errors, "p50_ms": p50, "p99_ms": p99}


def totals(series):
    return {
        "requests": sum(p["requests"] for p in series),
        "errors": sum(p["errors"] for p in series),
        "p50_ms": 5.0 if series else None,
        "p99_ms": 25.0 if series else None,
        "tokens": 0,
    }


def parse(svg):
    return ET.fromstring(str(svg))  # noqa: S314 - our own SVG, checked to be well-formed


def rects(svg, css):
    return [r for r in parse(svg).iter("rect") if r.get("class") == css]


def labels(svg):
    return [t.text for t in parse(svg).iter("text")]


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (None, 1), (1, 1), (7, 10), (12, 20), (50, 50), (9.9, 10), (0.3, 0.5), (3.4e6, 5e6)],
)
def test_the_y_axis_ends_at_a_round_number_at_or_above_the_largest_value(value, ceiling):
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0"), (2.5, "2.5"), (12, "12"), (1500, "1.5k"), (5e6, "5M")]
)
def test_axis_labels_are_short(value, text):
    assert charts.compact(value) == text


def test_no_calls_is_an_empty_chart_with_an_axis_and_a_name():
    svg = parse(charts.requests_chart([], totals=totals([]), **DAY))
    assert svg.get("role") == "img"
    assert svg.find("title").text == "Requests per hour"
    assert svg.get("aria-label") == "Requests per hour: 0 requests, 0 errors in total."
    assert not list(svg.iter("rect"))
    assert labels(charts.requests_chart([], totals=totals([]), **DAY))[:3] == ["0", "0.5", "1"]
    latency = charts.latency_chart([], totals=NO_CALLS, **DAY)
    assert parse(latency).get("aria-label") == "Latency per hour (p50 and p99): no calls."


def test_one_point_is_one_full_height_bar_in_its_own_slot():
    series = [point(6, 10, errors=5, p50=5.0, p99=25.0)]
    svg = charts.requests_chart(series, totals=totals(series), **DAY)
    [bar] = rects(svg, "bar")
    [errors] = rects(svg, "bar errors")
    slot = charts.PLOT_WIDTH / 24
    assert float(bar.get("x")) == pytest.approx(charts.LEFT + 6.5 * slot - 0.4 * slot, abs=0.01)
    assert float(bar.get("height")) == pytest.approx(charts.PLOT_HEIGHT)
    assert float(errors.get("height")) == pytest.approx(charts.PLOT_HEIGHT / 2)
    assert bar.find("title").text == "2026-03-01T06:00:00Z: 10 requests, 5 errors"
    assert labels(svg)[3:] == ["03-01 00:00", "03-01 12:00", "03-01 23:00"]

    latency = parse(charts.latency_chart(series, totals=totals(series), **DAY))
    assert len(list(latency.iter("circle"))) == 2  # a dot each for p50 and p99
    assert [t.text for t in latency.iter("text")][:3] == ["0 ms", "25 ms", "50 ms"]


def test_large_numbers_scale_and_label_compactly():
    series = [point(0, 2_500_000, errors=1), point(1, 4_000_000)]
    svg = charts.requests_chart(series, totals=totals(series), **DAY)
    heights = [float(r.get("height")) for r in rects(svg, "bar")]
    assert heights == pytest.approx([charts.PLOT_HEIGHT / 2, charts.PLOT_HEIGHT * 0.8])
    assert labels(svg)[:3] == ["0", "2.5M", "5M"]
    assert "6,500,000 requests, 1 errors" in parse(svg).get("aria-label")


def test_a_period_that_starts_before_since_still_gets_a_slot():
    """A range that does not start on a period boundary: its first period is the one since
    falls in, as in the usage series."""
    since = SINCE + timedelta(minutes=30)
    window = {**DAY, "since": since, "until": since + timedelta(hours=2)}
    series = [point(0, 1), point(2, 1)]
    svg = charts.requests_chart(series, totals=totals(series), **window)
    slot = charts.PLOT_WIDTH / 3
    xs = [float(r.get("x")) + float(r.get("width")) / 2 for r in rects(svg, "bar")]
    assert xs == pytest.approx([charts.LEFT + 0.5 * slot, charts.LEFT + 2.5 * slot], abs=0.01)
