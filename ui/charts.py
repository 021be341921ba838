"""Usage charts as inline SVG, built on the server: no chart library, readable without
JavaScript, and named for screen readers (`role="img"`, a <title>, an aria-label with the
totals). The x axis is the whole range asked for, one slot per period, so gaps show as gaps;
the y axis starts at zero and ends at a round number at or above the largest value."""

import math
from datetime import UTC, datetime

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 8, 22  # room for the axis labels
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
LABEL_FORMATS = {"minute": "%H:%M", "hour": "%m-%d %H:00", "day": "%Y-%m-%d"}


def nice_ceiling(value):
    """The smallest of 1, 2, 5, 10, 20, 50, … (or 0.1, 0.2, 0.5, …) at or above `value`; 1 when
    there is nothing to show, so an empty chart still has an axis."""
    if not value or value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(f * magnitude for f in (1, 2, 5, 10) if value <= f * magnitude * (1 + 1e-9))


def compact(value):
    """12, 2.5, 1.2k, 3.4M: short enough for an axis label."""
    for bound, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"


class Slots:
    """The periods between `since` and `until`: the first starts at or before `since`, on a
    multiple of the step, as the usage series' periods do."""

    def __init__(self, since, until, granularity, step):
        self.granularity = granularity
        self.step = step
        self.start = int(since.timestamp()) // step * step
        self.count = max(1, math.ceil((until.timestamp() - self.start) / step))
        self.width = PLOT_WIDTH / self.count

    def index(self, time):
        """The slot of a series point's `time` (ISO 8601, as usage_series writes it)."""
        return (int(datetime.fromisoformat(time).timestamp()) - self.start) // self.step

    def centre(self, index):
        return LEFT + (index + 0.5) * self.width

    def label(self, index):
        at = datetime.fromtimestamp(self.start + index * self.step, tz=UTC)
        return at.strftime(LABEL_FORMATS[self.granularity])


def _y(value, top):
    return TOP + PLOT_HEIGHT * (1 - value / top)


def _frame(slots, top, unit=""):
    """Grid lines and labels at 0, half and the top of the y axis; the first, middle and last
    periods under the x axis."""
    parts = []
    for value in (0, top / 2, top):
        y = _y(value, top)
        parts.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{compact(value)}{unit}</text>'
        )
    ends = {0: "start", slots.count // 2: "middle", slots.count - 1: "end"}
    for index, anchor in sorted(ends.items()):
        parts.append(
            f'<text x="{slots.centre(index):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{escape(slots.label(index))}</text>"
        )
    return "".join(parts)


def _svg(title, summary, body):
    return mark_safe(  # noqa: S308 - the text in it is escaped; the rest are our numbers
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}"><title>{escape(title)}</title>{body}</svg>'
    )


def requests_chart(series, *, since, until, granularity, step, totals):
    """Requests per period as bars, with each period's errors as a bar over its foot."""
    slots = Slots(since, until, granularity, step)
    top = nice_ceiling(max((point["requests"] for point in series), default=0))
    width = max(slots.width * 0.8, 1)
    bars = []
    for point in series:
        x = slots.centre(slots.index(point["time"])) - width / 2
        tip = escape(f"{point['time']}: {point['requests']:,} requests, {point['errors']:,} errors")
        for value, css in ((point["requests"], "bar"), (point["errors"], "bar errors")):
            if value:
                y = _y(value, top)
                bars.append(
                    f'<rect class="{css}" x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" '
                    f'height="{TOP + PLOT_HEIGHT - y:.2f}"><title>{tip}</title></rect>'
                )
    title = f"Requests per {granularity}"
    summary = f"{title}: {totals['requests']:,} requests, {totals['errors']:,} errors in total."
    return _svg(title, summary, _frame(slots, top) + "".join(bars))


def latency_chart(series, *, since, until, granularity, step, totals):
    """p50 and p99 latency per period as lines, with a dot on each period that had calls."""
    slots = Slots(since, until, granularity, step)
    known = [point for point in series if point["p99_ms"] is not None]
    top = nice_ceiling(max((point["p99_ms"] for point in known), default=0))
    parts = []
    for name in ("p50_ms", "p99_ms"):
        points = [(slots.centre(slots.index(p["time"])), _y(p[name], top)) for p in known]
        path = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
        parts.append(f'<polyline class="line {name}" points="{path}"/>')
        parts += [
            f'<circle class="dot {name}" cx="{x:.2f}" cy="{y:.2f}" r="2.5"/>' for x, y in points
        ]
    title = f"Latency per {granularity} (p50 and p99)"
    if totals["p50_ms"] is None:
        summary = f"{title}: no calls."
    else:
        summary = f"{title}: p50 {totals['p50_ms']} ms, p99 {totals['p99_ms']} ms over the range."
    return _svg(title, summary, _frame(slots, top, " ms") + "".join(parts))
