"""Markdown (``.md``, ``.markdown``): YAML front matter into metadata, setext headings
(``Title`` underlined with ``===``/``---``) rewritten as ``#`` lines, the rest kept as written.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from generator.ingest.archive import ZipLimits
from generator.ingest.base import Parsed, Reader, tidy
from generator.ingest.text import decode_text

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_SETEXT = re.compile(r"^(=+|-+)[ \t]*$")
_SETEXT_ANY = re.compile(r"\n(?:=+|-+)[ \t]*(?:\n|$)")  # literal prefix: a fast scan
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^[ \t]*([#>|*+-]|\d+[.)]\s|$)|^ {4}")


def split_front_matter(text: str) -> tuple[dict[str, Any], str, str | None]:
    """(metadata, body, problem): YAML front matter parsed safely; a broken block is kept as
    text and its problem returned, so the document still ingests."""
    m = _FRONT.match(text)
    if not m:
        return {}, text, None
    try:
        data = yaml.safe_load(m.group(1) or "") or {}
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {}, text, f"front matter is not valid YAML: {problem}"
    if not isinstance(data, dict):
        return {}, text, "front matter is not a mapping"
    return data, text[m.end() :], None


def setext_to_atx(text: str) -> str:
    """Rewrite setext headings as ATX lines, outside fenced code blocks."""
    if not _SETEXT_ANY.search(text):
        return text
    lines = text.split("\n")
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)[0]
            fence = mark if fence is None else (None if fence == mark else fence)
            out.append(line)
            continue
        prev = out[-1] if out else ""
        if (
            fence is None
            and _SETEXT.match(line)
            and prev.strip()
            and not _BLOCK_START.match(prev)
            and (len(out) < 2 or not out[-2].strip())  # a one-line paragraph only
        ):
            level = "#" if line.lstrip()[0] == "=" else "##"
            out[-1] = f"{level} {prev.strip()}"
            continue
        out.append(line)
    return "\n".join(out)


class MarkdownReader(Reader):
    """Markdown with optional front matter; ``title`` from front matter, else the first H1."""

    name = "md"
    extensions = (".md", ".markdown")

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        text, encoding = decode_text(data, path)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        meta, body, problem = split_front_matter(text)
        if problem:
            meta = {"front_matter_problem": problem}
        title = meta.get("title") if isinstance(meta.get("title"), str) else None
        return Parsed(text=tidy(setext_to_atx(body)), title=title, encoding=encoding, metadata=meta)


READER = MarkdownReader()
