"""Server-side SVG charts: self-contained markup, nothing loaded from anywhere.

:func:`met_chart` draws one horizontal bar per data point (met % of closed cycles), labelled on the
left and with the met % and breached count on the right; the console and ``slabridge report --html``
embed it as it is.
"""

from __future__ import annotations

from html import escape

ROW, LABEL, AREA, VALUE, TOP = 22, 230, 220, 150, 22


def met_chart(title: str, points: list[tuple[str, float | None, int]]) -> str:
    """An SVG bar chart: ``points`` are (label, met %, breached); a point with no closed cycle has no bar."""
    width, height = LABEL + AREA + VALUE, TOP + len(points) * ROW + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>']
    for pct in (0, 50, 100):
        x = LABEL + pct * AREA / 100
        parts.append(f'<line x1="{x:g}" x2="{x:g}" y1="{TOP - 6}" y2="{height - 4}" class="grid"/>'
                     f'<text x="{x:g}" y="{TOP - 9}" text-anchor="middle" class="axis">{pct}%</text>')
    for index, (label, pct, breached) in enumerate(points):
        y = TOP + index * ROW
        state = "none" if pct is None else "met" if pct >= 95 else "low"
        value = "no closed cycle" if pct is None else f"{pct:g}% met"
        parts.append(f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end" class="label">{escape(label[:34])}</text>'
                     f'<rect class="bar {state}" x="{LABEL}" y="{y + 4}" width="{(pct or 0) * AREA / 100:.1f}" '
                     f'height="{ROW - 8}" data-label="{escape(label)}"><title>{escape(label)}: {value}, {breached} '
                     f'breached</title></rect>'
                     f'<text x="{LABEL + AREA + 6}" y="{y + 15}" class="value">{value} · {breached} breached</text>')
    parts.append("</svg>")
    return "".join(parts)


def compliance_charts(rows: list[dict], period: str | None) -> list[dict[str, str]]:
    """One chart per customer, a bar per severity x metric (x period) of the compliance report's rows."""
    by_customer: dict[str, list[tuple[str, float | None, int]]] = {}
    for row in rows:
        label = " ".join(str(p) for p in (row.get("period"), row["severity"], row["metric"], row.get("window")) if p)
        by_customer.setdefault(row["customer"], []).append((label, row["met_pct"], row["breached"]))
    return [{"customer": customer, "svg": met_chart(f"{customer}: met % per severity and metric"
                                                    f"{' per ' + period if period else ''}", points)}
            for customer, points in sorted(by_customer.items())]
