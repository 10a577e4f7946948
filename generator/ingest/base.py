"""The reader contract and the registry of readers by file extension.

A reader turns the bytes of one file into a :class:`Parsed` document: plain text normalised
to markdown-style heading lines (``# Title``), plus title, pages and metadata. The pipeline
adds what every document needs (path, sha256, size, heading structure) in
:func:`build_document`, so readers stay small. A reader signals a bad file by raising
``IngestError(path, "<short kind>: <detail>")``; anything else it raises is caught by the
pipeline and reported with the exception type.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits
from generator.records import Document, Heading


@dataclass
class Parsed:
    """What a reader extracts from one file."""

    text: str
    title: str | None = None
    pages: list[tuple[int, int]] = field(default_factory=list)  # (page number, char offset)
    encoding: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Reader(ABC):
    """Reads one file type. Subclasses set ``name`` and ``extensions`` and implement read."""

    name: str = ""
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        """Parse the file's bytes; ``path`` (relative) is only for error messages; a reader
        of an archive format refuses one that expands past ``limits``."""


_REGISTRY: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    """Make ``reader`` handle its extensions (a later registration wins, like a plugin)."""
    for ext in reader.extensions:
        _REGISTRY[ext.lower()] = reader
    return reader


def reader_for(path: str) -> Reader | None:
    """The reader for a file name by its extension, or None for an unknown type."""
    _load_builtins()
    return _REGISTRY.get(PurePosixPath(path).suffix.lower())


def readers() -> dict[str, Reader]:
    """Extension -> reader, for every registered type."""
    _load_builtins()
    return dict(_REGISTRY)


def _load_builtins() -> None:
    # Imported lazily so that importing base.py (for the contract) stays cheap.
    if _REGISTRY:
        return
    from generator.ingest import docx, html, markdown, pdf, text

    for mod in (text, markdown, html, pdf, docx):
        register(mod.READER)


# ------------------------------------------------------------------ shared helpers

# Heading lines and code fences (a fence toggles "in code"). Both patterns start with a
# literal newline so the regex engine can skip ahead quickly; the text gets a leading "\n".
_ATX = r"(#{1,6})[ \t]+([^\n]+?)[ \t]*#*[ \t]*\r?(?=\n|$)"
_HEADING_LINE = re.compile(r"\n" + _ATX)
_LINE = re.compile(r"\n(?:" + _ATX + r"|[ \t]{0,3}(`{3,}|~{3,}))")


def scan_headings(text: str) -> list[Heading]:
    """ATX heading lines (``# x``) of ``text``, outside fenced code blocks."""
    if "#" not in text:
        return []
    padded = "\n" + text  # offsets below are in padded text: the line start is m.start()
    if "```" not in text and "~~~" not in text:
        return [
            Heading(level=len(m.group(1)), text=m.group(2), offset=m.start())
            for m in _HEADING_LINE.finditer(padded)
            if m.group(2).strip()
        ]
    headings: list[Heading] = []
    fence: str | None = None
    for m in _LINE.finditer(padded):
        if m.group(3):
            mark = m.group(3)[0]
            if fence is None:
                fence = mark
            elif fence == mark:
                fence = None
        elif fence is None and m.group(2).strip():
            headings.append(Heading(level=len(m.group(1)), text=m.group(2), offset=m.start()))
    return headings


def jsonable(value: Any) -> Any:
    """Metadata values as JSON types: dates become ISO strings, unknown objects strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def tidy(text: str) -> str:
    """Normalise newlines, drop trailing spaces and collapse runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip("\n")


def build_document(
    parsed: Parsed, *, path: str, sha256: str, size: int, type_name: str
) -> Document:
    """A :class:`Document` from a reader's output; refuses documents without any text."""
    if not parsed.text.strip():
        raise IngestError(path, "no text: the file contains no extractable text")
    headings = scan_headings(parsed.text)
    title = (parsed.title or "").strip()
    if not title:
        top = [h for h in headings if h.level == 1] or headings
        title = top[0].text if top else PurePosixPath(path).stem
    return Document(
        path=path,
        sha256=sha256,
        type=type_name,
        title=" ".join(title.split())[:300],
        text=parsed.text,
        headings=headings,
        pages=parsed.pages,
        size_bytes=size,
        encoding=parsed.encoding,
        metadata=jsonable(parsed.metadata),
    )
