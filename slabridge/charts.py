"""Server-side SVG charts: self-contained markup, nothing loaded from anywhere.

:func:`met_chart` draws one bar per data point (met % of closed cycles) with the breached count in
its title, grouped by series; the console and ``slabridge report --html`` embed it as it is.
"""

from __future__ import annotations

from html import escape

BAR, GAP, HEIGHT, LEFT, BOTTOM = 18, 10, 160, 36, 54


def met_chart(title: str, points: list[tuple[str, float | None, int]]) -> str:
    """An SVG bar chart: ``points`` are (label, met %, breached); a bar with no closed cycle is drawn empty."""
    width = LEFT + len(points) * (BAR + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} '
             f'{HEIGHT + BOTTOM}" width="{width}" height="{HEIGHT + BOTTOM}" aria-labelledby="t">'
             f'<title id="t">{escape(title)}</title>']
    for pct in (0, 50, 100):
        y = HEIGHT - pct * (HEIGHT - 10) / 100
        parts.append(f'<line x1="{LEFT}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{pct}%</text>')
    for index, (label, pct, breached) in enumerate(points):
        x = LEFT + GAP + index * (BAR + GAP)
        height = 0 if pct is None else pct * (HEIGHT - 10) / 100
        state = "none" if pct is None else "met" if pct >= 95 else "low"
        text = f"{label}: {'no closed cycle' if pct is None else f'{pct:g}% met'}, {breached} breached"
        parts.append(f'<rect class="bar {state}" x="{x}" y="{HEIGHT - height:.1f}" width="{BAR}" '
                     f'height="{max(height, 1):.1f}" data-label="{escape(label)}"><title>{escape(text)}</title></rect>'
                     f'<text x="{x + BAR / 2}" y="{HEIGHT + 12}" transform="rotate(40 {x + BAR / 2} {HEIGHT + 12})" '
                     f'class="axis">{escape(label[-12:])}</text>')
    parts.append("</svg>")
    return "".join(parts)
