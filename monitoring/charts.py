"""Server-side SVG charts for the admin dashboards: no JavaScript, no CDN, no chart library.

Pure functions: data in, markup out (escaped with format_html). Each data point is a `<circle
class="data-point">` with a `<title>` (the browser's tooltip) and `data-*` attributes, so the page
can be tested and read without a script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    colour: str


def _nice_ceiling(value: int) -> int:
    """4, 5, 10, 20, 50… ≥ value, so the axis labels (quarters) are round numbers."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def hourly_line_chart(
    *, hours: Sequence[datetime], series: Sequence[Series], width: int = 860, height: int = 260
) -> SafeString:
    """A line chart with one point per hour for each series, a y axis with 4 gridlines, hour labels."""
    left, right, top, bottom = 48, 28, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    count = len(hours)

    # Coordinates as text: format_html escapes its arguments into strings before formatting.
    def x(index: int) -> str:
        return f"{left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2):.1f}"

    def y(value: float) -> str:
        return f"{top + plot_h - plot_h * value / y_max:.1f}"

    parts: list[str] = []
    for step in range(5):
        value = y_max * step / 4
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#666">{}</text>',
                left, y(value), width - right, y(value), left - 6, f"{float(y(value)) + 4:.1f}", f"{value:g}",
            )
        )  # fmt: skip
    label_every = max(1, count // 12)
    for index, hour in enumerate(hours):
        if index % label_every == 0 or index == count - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#666">{}</text>',
                    x(index), height - bottom + 16, hour.strftime("%H:00"),
                )
            )  # fmt: skip
    for line in series:
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(line.values))
        parts.append(
            format_html(
                '<polyline class="series series-{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                line.name.lower().replace(" ", "-"), line.colour, points,
            )
        )  # fmt: skip
        parts.append(
            format_html_join(
                "",
                '<circle class="data-point" data-series="{}" data-hour="{}" data-value="{}" cx="{}" '
                'cy="{}" r="3" fill="{}"><title>{} {}: {}</title></circle>',
                (
                    (line.name, hours[i].isoformat(), v, x(i), y(v), line.colour,
                     hours[i].strftime("%Y-%m-%d %H:00"), line.name, v)
                    for i, v in enumerate(line.values)
                ),
            )
        )  # fmt: skip
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="{}" font-size="12" fill="#333">{}</text>',
        ((left + 8 + 130 * i, 4, s.colour, left + 22 + 130 * i, 13, s.name) for i, s in enumerate(series)),
    )
    body = mark_safe("".join(parts))  # noqa: S308 - every part above is built with format_html
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="hourly-chart" role="img" width="{}" height="{}" '
        'viewBox="0 0 {} {}" aria-label="{}">{}{}</svg>',
        width, height, width, height, " and ".join(s.name for s in series) + " per hour", body, legend,
    )  # fmt: skip
