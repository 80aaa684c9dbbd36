"""Command-line tables and progress bars."""

import io

from slabridge import tables


def test_a_table_aligns_columns_and_spreads_a_multi_line_cell_over_lines():
    text = tables.render_table(["customer", "met"], [["acme", 3], ["northwind\nclinic", None]])
    lines = text.splitlines()
    assert lines[0].split() == ["customer", "met"]
    assert set(lines[1]) == {"─"}
    assert lines[2].split() == ["acme", "3"] and lines[2].index("3") == lines[0].index("met")
    assert lines[3].strip() == "northwind" and lines[4].strip() == "clinic"


def test_progress_draws_on_a_terminal_and_is_silent_on_a_pipe(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, drawn in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr("sys.stderr", stream)
        with tables.progress("replaying", total=4) as bar:
            for _ in range(4):
                bar.advance()
        assert ("4/4" in stream.getvalue()) is drawn, stream.getvalue()
