"""PDF (``.pdf``) through PDFium (pypdfium2): text page by page, page numbers kept.

Each page's text starts at a recorded offset (``Document.pages``), so a chunk knows the pages
it covers; a damaged page that PDFium cannot load keeps its number with no text and is listed
in ``metadata["unreadable_pages"]`` (a file none of whose pages loads is refused). Bookmarks
(the outline) become ``#`` heading lines on their pages. Encrypted files open without a
password when the author set only an owner password; otherwise they are refused with one
clear line, like corrupt files. Dates and author from the PDF's info dictionary go into
metadata. Like an archive, a PDF is bounded by ``--max-unzipped-mb``: its Flate streams
before PDFium opens it (:mod:`generator.ingest.pdf_bounds`), then its extracted text.

PDFium is not thread-safe: every call into it holds :data:`PDFIUM_LOCK`, so threads of one
process (a threaded worker) take turns; separate processes each load their own copy (the
library is loaded at the first PDF, and a forked child gets a fresh lock).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits, size_text
from generator.ingest.base import Parsed, Reader, tidy
from generator.ingest.pdf_bounds import check_streams

# One call into PDFium at a time in this process (it keeps global state without locks).
PDFIUM_LOCK = threading.Lock()


def _fresh_lock_after_fork() -> None:
    # A fork copies the lock as it was: held, if another thread was inside PDFium then,
    # and the child's only thread would wait for ever at its first PDF.
    global PDFIUM_LOCK
    PDFIUM_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_after_fork)

# pypdfium2 logs recoverable oddities (a circular bookmark); they would garble the progress
# bar, and unrecoverable ones reach us as exceptions that become the file's one error line.
_pdfium_log = logging.getLogger("pypdfium2")
_pdfium_log.addHandler(logging.NullHandler())
_pdfium_log.propagate = False

# PDFium's load error codes (FPDF_ERR_*) -> the start of our one line.
_LOAD_ERRORS = {
    2: "corrupt PDF: file not found or could not be opened",
    3: "corrupt PDF: not in PDF format or corrupted",
    4: "encrypted PDF: a password is required to open it",
    5: "encrypted PDF: unsupported security scheme",
}


def pdf_date(raw: str) -> datetime | str | None:
    """A PDF date (``D:YYYYMMDDHHmmSS+HH'mm'``, later parts optional) as a datetime; the
    raw string when it does not parse, None when empty."""
    text = raw.strip()
    if not text:
        return None
    body = text[2:] if text.startswith("D:") else text
    digits = len(body) - len(body.lstrip("0123456789"))
    stamp, zone = body[:digits], body[digits:].replace("'", "")
    if digits < 4 or digits % 2 or digits > 14:
        return text
    parts = [int(stamp[0:4])] + [int(stamp[i : i + 2]) for i in range(4, digits, 2)]
    parts += [1, 1, 0, 0, 0][len(parts) - 1 :]
    try:
        tz = None
        if zone[:1] in ("Z", "z"):
            tz = UTC
        elif zone[:1] in ("+", "-") and zone[1:3].isdigit():
            minutes = int(zone[1:3]) * 60 + (int(zone[3:5]) if zone[3:5].isdigit() else 0)
            tz = timezone((-1 if zone[0] == "-" else 1) * timedelta(minutes=minutes))
        return datetime(*parts[:6], tzinfo=tz)  # type: ignore[misc]
    except ValueError:
        return text


def _outline(doc: Any) -> dict[int, list[tuple[int, str]]]:
    """Page index -> [(level, title)] from the bookmarks; empty when absent or broken."""
    found: dict[int, list[tuple[int, str]]] = {}
    try:
        for mark in doc.get_toc(max_depth=15):
            title = " ".join((mark.get_title() or "").split())
            dest = mark.get_dest()
            page = dest.get_index() if dest is not None else None
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((min(mark.level + 1, 6), title))
    except Exception:  # a broken outline must not cost the document
        return {}
    return found


def _mark_headings(text: str, heads: list[tuple[int, str]]) -> str:
    """Turn the line matching each bookmark title into a ``#`` line (or prepend one).

    A line matches a title when they are equal after collapsing whitespace and casefolding;
    a title takes the first matching line not taken by an earlier title."""
    # Casefolding keeps every line and every whitespace character where it was (a test
    # checks all of Unicode), so lines are found in the folded text by the title's first word
    # and only those lines are compared (normalising every line cost a tenth of a PDF's
    # ingest once, then a fortieth)
    folded = text.casefold()
    lines = text.split("\n")
    after: dict[str, int] = {}  # title -> where its next search starts in ``folded``
    unmatched: list[str] = []
    for level, title in heads:
        key = title.casefold()
        found = _find_line(folded, key, after.get(key, 0))
        if found is None:
            unmatched.insert(0, "#" * level + " " + title)  # each one goes on top
            continue
        index, after[key] = found
        lines[index] = "#" * level + " " + title
    return "\n".join(unmatched + lines)


def _find_line(folded: str, key: str, pos: int) -> tuple[int, int] | None:
    """(index, end + 1) of the first line from offset ``pos`` (a line start) of ``folded``
    whose words are those of ``key``, or None."""
    words = key.split()
    if key != " ".join(words):
        return None  # a line's words joined by one space never equal it
    while pos <= len(folded):
        start = at = pos
        if words:  # the next line holding the first word (a blank title: the next line)
            at = folded.find(words[0], pos)
            if at < 0:
                return None
            newline = folded.rfind("\n", pos, at)
            start = pos if newline < 0 else newline + 1
        end = folded.find("\n", at)
        end = len(folded) if end < 0 else end
        if folded[start:end].split() == words:
            return folded.count("\n", 0, start), end + 1
        pos = end + 1
    return None


def _info(doc: Any) -> dict[str, Any]:
    try:
        info = doc.get_metadata_dict(skip_empty=True)
    except Exception:
        return {}
    meta: dict[str, Any] = {}
    for key, name in (("created", "CreationDate"), ("modified", "ModDate")):
        value = pdf_date(info.get(name, ""))
        if value:
            meta[key] = value
    for key, name in (("title", "Title"), ("author", "Author"), ("subject", "Subject")):
        value = " ".join(info.get(name, "").split())
        if value:
            meta[key] = value
    return meta


def _page_text(doc: Any, index: int) -> str:
    """The text of page ``index`` as PDFium reads it (raw calls: pypdfium2's page and
    text-page objects cost a twentieth of the parse and are not needed here)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as fpdf

    page = fpdf.FPDF_LoadPage(doc.raw, index)
    if not page:
        raise pdfium.PdfiumError("Failed to load page.")
    try:
        textpage = fpdf.FPDFText_LoadPage(page)
        if not textpage:
            raise pdfium.PdfiumError("Failed to load text page.")
        try:
            text = _text_of(fpdf, textpage)
        finally:
            fpdf.FPDFText_ClosePage(textpage)
    finally:
        fpdf.FPDF_ClosePage(page)
    # PDFium joins a word hyphenated at a line end and marks the hyphen U+FFFE: put back
    # what the page shows, as the text layer had it
    return text.replace("\ufffe", "-\n")


def _text_of(fpdf: Any, textpage: Any) -> str:
    """All text of a text page, as pypdfium2's ``get_text_range()`` gives it: characters
    PDFium leaves out of the text at either end are skipped, so that it never reads past
    the range (crbug.com/pdfium/2079)."""
    count = fpdf.FPDFText_CountChars(textpage)
    if count < 0:
        import pypdfium2 as pdfium

        raise pdfium.PdfiumError("Failed to get character count.")
    first, last = 0, count - 1
    while first <= last and fpdf.FPDFText_GetTextIndexFromCharIndex(textpage, first) == -1:
        first += 1
    while last > first and fpdf.FPDFText_GetTextIndexFromCharIndex(textpage, last) == -1:
        last -= 1
    if first > last:
        return ""
    size = (
        fpdf.FPDFText_GetTextIndexFromCharIndex(textpage, last)
        + 2
        - fpdf.FPDFText_GetTextIndexFromCharIndex(textpage, first)
    )
    buffer = (ctypes.c_ushort * size)()
    written = fpdf.FPDFText_GetText(textpage, first, last - first + 1, buffer)
    # UTF-16 units, the last one the terminating NUL
    return bytes(memoryview(buffer).cast("B")[: max(written - 1, 0) * 2]).decode(
        "utf-16-le", "ignore"
    )


def _open(data: bytes, path: str) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in _LOAD_ERRORS:
            raise IngestError(path, _LOAD_ERRORS[exc.err_code]) from exc
        if exc.err_code == 0:  # opened, but it has no page
            raise IngestError(path, "corrupt PDF: no pages") from exc
        raise IngestError(path, f"corrupt PDF: {str(exc).splitlines()[0]}") from exc


class PdfReader(Reader):
    """Text of a PDF with its page numbers; bookmarks as headings."""

    name = "pdf"
    extensions = (".pdf",)

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        import pypdfium2 as pdfium

        if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
            raise IngestError(path, "corrupt PDF: no PDF header")
        check_streams(data, path, limits)  # before PDFium inflates a bomb whole
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        unreadable: list[int] = []
        offset = 0
        with PDFIUM_LOCK:
            doc = _open(data, path)
            try:
                heads = _outline(doc)
                for index in range(len(doc)):
                    try:
                        page_text = tidy(_page_text(doc, index))
                    except pdfium.PdfiumError:  # a damaged page: keep its number, note it
                        page_text = ""
                        unreadable.append(index + 1)
                    if index in heads:
                        page_text = _mark_headings(page_text, heads[index])
                    if parts:
                        offset += 2  # the "\n\n" joining pages
                    pages.append((index + 1, offset))
                    parts.append(page_text)
                    offset += len(page_text)
                    # like an archive, a small PDF can hold a huge text: same bound
                    if offset > limits.max_bytes:
                        raise IngestError(
                            path,
                            f"too large: text passes {size_text(limits.max_bytes)} by page "
                            f"{index + 1} (--max-unzipped-mb)",
                        )
                meta = _info(doc)
            finally:
                doc.close()
        text = "\n\n".join(parts)
        if unreadable and len(unreadable) == len(pages):
            raise IngestError(path, f"corrupt PDF: none of its {len(pages)} pages loads")
        if not text.strip():
            raise IngestError(path, "no text: the PDF has no text layer (scanned? OCR is not done)")
        meta["page_count"] = len(pages)
        if unreadable:
            meta["unreadable_pages"] = unreadable
        return Parsed(text=text, title=meta.get("title"), pages=pages, metadata=meta)


READER = PdfReader()
