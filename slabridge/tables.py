"""Command-line tables and progress bars (rich), plain text when the output is not a terminal."""

from __future__ import annotations

import io
import sys

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    """An aligned table, as text; a cell with several lines spreads its row over several table lines."""
    table = Table(*headers, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=10_000, no_color=True, highlight=False, emoji=False, markup=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


class _Quiet:
    """A progress bar that shows nothing (standard error is not a terminal: a log or a pipe)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self, steps: int = 1) -> None:
        pass


class _Bar:
    def __init__(self, label: str, total: int | None):
        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(file=sys.stderr), transient=False)
        self.task = self.progress.add_task(label, total=total)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task, steps)


def progress(label: str, total: int | None = None):
    """A progress bar on standard error while it is a terminal; nothing at all otherwise.
    ``with progress("replaying", total=n) as bar: bar.advance(k)``."""
    return _Bar(label, total) if sys.stderr.isatty() else _Quiet()
