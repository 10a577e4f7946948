"""Pages nested deeper than the HTML parser allows, made shallow without losing text.

libxml2 stops building the tree at a fixed depth (256 levels, 2048 with its "huge" option)
and silently drops everything after the deep block. :func:`flatten` rewrites such a page
with the standard library's event parser (no depth limit, no recursion): tags deeper than
``max_depth`` are left out, their text stays in place, so the page parses completely.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

MAX_DEPTH = 1000  # well under libxml2's 2048, leaving room for the elements it inserts
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)


class _Flattener(HTMLParser):
    def __init__(self, max_depth: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_depth = max_depth
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, written)

    @staticmethod
    def _tag(tag: str, attrs: list[tuple[str, str | None]], close: str = "") -> str:
        parts = [tag] + [k if v is None else f'{k}="{escape(v)}"' for k, v in attrs]
        return "<" + " ".join(parts) + close + ">"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.out.append(self._tag(tag, attrs))
            return
        written = len(self.stack) < self.max_depth
        self.out.append(self._tag(tag, attrs) if written else " ")
        self.stack.append((tag, written))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs, " /"))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                break
        else:
            return  # an end tag nothing opened: dropped, as a browser would
        while len(self.stack) > i:
            name, written = self.stack.pop()
            self.out.append(f"</{name}>" if written else " ")

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] in ("script", "style"):
            if self.stack[-1][1]:  # raw text elements: no entities inside
                self.out.append(data)
        else:
            self.out.append(escape(data, quote=False))


def flatten(text: str, max_depth: int = MAX_DEPTH) -> str:
    """``text`` with no element deeper than ``max_depth``; all text kept (comments and
    doctype dropped)."""
    parser = _Flattener(max_depth)
    parser.feed(text)
    parser.close()
    for name, written in reversed(parser.stack):
        parser.out.append(f"</{name}>" if written else "")
    return "".join(parser.out)
