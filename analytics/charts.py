"""Server-side SVG for the analytics admin page: a daily line chart and the campaign calendar.

Pure functions, data in, markup out (format_html escapes every value); no JavaScript, no chart library.
Every point is a `<circle class="data-point">` and every campaign bar a `<rect class="calendar-bar">` with a
`<title>` tooltip and `data-*` attributes, so the page reads (and tests) without a script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str


def _ceiling(value: float) -> float:
    if value <= 4:
        return 4
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def daily_line_chart(
    *, days: Sequence[date], series: Sequence[Series], width: int = 860, height: int = 240
) -> SafeString:
    left, right, top, bottom = 56, 24, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _ceiling(max((max(s.values, default=0) for s in series), default=0))
    count = len(days)

    def x(i: int) -> str:
        return f"{left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2):.1f}"

    def y(v: float) -> str:
        return f"{top + plot_h - plot_h * v / y_max:.1f}"

    parts = [
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" '
                    'text-anchor="end" fill="#666">{}</text>', left, y(y_max * s / 4), width - right,
                    y(y_max * s / 4), left - 6, f"{float(y(y_max * s / 4)) + 4:.1f}", f"{y_max * s / 4:g}")
        for s in range(5)
    ]  # fmt: skip
    every = max(1, count // 10)
    parts += [
        format_html('<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#666">{}</text>',
                    x(i), height - bottom + 16, d.strftime("%d %b"))
        for i, d in enumerate(days) if i % every == 0 or i == count - 1
    ]  # fmt: skip
    for line in series:
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(line.values))
        parts.append(format_html('<polyline class="series" fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                                 line.colour, points))  # fmt: skip
        parts.append(
            format_html_join(
                "",
                '<circle class="data-point" data-series="{}" data-day="{}" data-value="{}" cx="{}" cy="{}" r="3" '
                'fill="{}"><title>{} {}: {}</title></circle>',
                ((line.name, days[i].isoformat(), v, x(i), y(v), line.colour, days[i].isoformat(), line.name, v)
                 for i, v in enumerate(line.values)),
            )
        )  # fmt: skip
    legend = format_html_join(
        "",
        '<rect x="{}" y="4" width="10" height="10" fill="{}"/><text x="{}" y="13" font-size="12" fill="#333">{}</text>',
        ((left + 8 + 130 * i, s.colour, left + 22 + 130 * i, s.name) for i, s in enumerate(series)),
    )
    body = mark_safe("".join(parts))  # noqa: S308 - every part is built with format_html
    return format_html('<svg xmlns="http://www.w3.org/2000/svg" class="daily-chart" role="img" width="{}" height="{}" '
                       'viewBox="0 0 {} {}" aria-label="{}">{}{}</svg>', width, height, width, height,
                       " and ".join(s.name for s in series) + " per day", body, legend)  # fmt: skip


@dataclass(frozen=True)
class CalendarEntry:
    campaign_id: int
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    url: str


def campaign_calendar(
    *, entries: Sequence[CalendarEntry], start: date, end: date, colours: Mapping[str, str], width: int = 860
) -> SafeString:
    """Campaigns as bars on a time axis from `start` to `end`, one row each, coloured by status."""
    left, right, top, row_h = 200, 16, 28, 22
    height = top + row_h * max(len(entries), 1) + 10
    span = max((end - start).days, 1)
    plot_w = width - left - right

    def x(moment: date) -> float:
        return left + plot_w * min(max((moment - start).days, 0), span) / span

    parts = []
    month = start.replace(day=1)
    while month <= end:
        if month >= start:
            parts.append(format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#eee"/><text x="{}" y="16" '
                                     'font-size="11" fill="#666">{}</text>', f"{x(month):.1f}", top - 6,
                                     f"{x(month):.1f}", height, f"{x(month) + 2:.1f}", month.strftime("%b %Y")))  # fmt: skip
        month = (month.replace(day=28) + (date(2000, 1, 5) - date(2000, 1, 1))).replace(day=1)
    for row, entry in enumerate(entries):
        y = top + row * row_h
        x0, x1 = x(entry.starts_at.date()), x(entry.ends_at.date())
        colour = colours.get(entry.status, "#6c757d")
        parts.append(
            format_html(
                '<a href="{}"><text x="{}" y="{}" font-size="12" text-anchor="end" fill="#333">{}</text>'
                '<rect class="calendar-bar calendar-{}" data-campaign-id="{}" data-status="{}" x="{}" y="{}" '
                'width="{}" height="{}" rx="3" fill="{}"><title>{} ({}): {} → {}</title></rect></a>',
                entry.url, left - 8, y + 14, entry.name[:28], entry.status, entry.campaign_id, entry.status,
                f"{x0:.1f}", y + 3, f"{max(x1 - x0, 3):.1f}", row_h - 6, colour, entry.name, entry.status,
                entry.starts_at.date().isoformat(), entry.ends_at.date().isoformat(),
            )
        )  # fmt: skip
    today = date.today()
    if start <= today <= end:
        parts.append(format_html('<line class="calendar-today" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#dc3545" '
                                 'stroke-dasharray="4 3"/>', f"{x(today):.1f}", top - 6, f"{x(today):.1f}", height))  # fmt: skip
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11" fill="#333">{}</text>',
        ((8 + 92 * i, height - 2, colour, 22 + 92 * i, height + 7, status) for i, (status, colour) in
         enumerate(colours.items())),
    )  # fmt: skip
    body = mark_safe("".join(parts))  # noqa: S308 - every part is built with format_html
    return format_html('<svg xmlns="http://www.w3.org/2000/svg" class="campaign-calendar" role="img" width="{}" '
                       'height="{}" viewBox="0 0 {} {}" aria-label="Campaign calendar">{}{}</svg>', width, height + 12,
                       width, height + 12, body, legend)  # fmt: skip
