"""Plain aligned text tables for the command line."""

from __future__ import annotations


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    """An aligned table; a cell with several lines spreads its row over several table lines."""
    lines = [[str(h) for h in headers]]
    for row in rows:
        parts = [("" if c is None else str(c)).split("\n") for c in row]
        lines += [[p[i] if i < len(p) else "" for p in parts] for i in range(max(len(p) for p in parts))]
    widths = [max(len(cell) for cell in column) for column in zip(*lines)]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)
