"""The text of a comment a helpdesk sends as HTML, with what it quotes marked as quoted.

Rules read a comment's words line by line and leave out the lines a reply quotes
(:func:`slabridge.rules.matching.own_words`: lines that begin with ``>``). Mail
quoted in HTML sits in ``<blockquote>`` (Freshdesk's ``freshdesk_quote``), so its
lines come out with ``> `` before them; tags are dropped, entities read, and each
block element ends a line.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
BLOCKS = frozenset({"address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3",
                    "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr",
                    "ul"})
HIDDEN = frozenset({"head", "script", "style", "title"})


def comment_text(body: str) -> str:
    """``body`` as text if it is HTML (it holds a tag), else as it is."""
    if "<" not in body or not TAG.search(body):
        return body
    parser = _Text()
    parser.feed(body)
    parser.close()
    parser.end_line()
    return "\n".join(parser.lines)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quoted = self.hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in BLOCKS:
            self.end_line()
        self.quoted += tag == "blockquote"
        self.hidden += tag in HIDDEN

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in BLOCKS:
            self.end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.end_line()
        if tag == "blockquote" and self.quoted:
            self.quoted -= 1
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.line.append(data)

    def end_line(self) -> None:
        text = " ".join("".join(self.line).split())
        if text:
            self.lines.append(f"> {text}" if self.quoted else text)
        self.line = []
