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
    """Turn the line matching each bookmark title into a ``#`` line (or prepend one)."""
    lines = text.split("\n")
    # Each line normalised once (was: once per bookmark, a tenth of a PDF's ingest time);
    # a title takes the first line equal to it not taken by an earlier title.
    where: dict[str, list[int]] = {}
    for i, line in reversed(list(enumerate(lines))):
        where.setdefault(" ".join(line.split()).casefold(), []).append(i)
    unmatched: list[str] = []
    for level, title in heads:
        free = where.get(title.casefold())
        if free:
            lines[free.pop()] = "#" * level + " " + title
        else:
            unmatched.insert(0, "#" * level + " " + title)  # each one goes on top
    return "\n".join(unmatched + lines)


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
    page = doc.get_page(index)
    try:
        textpage = page.get_textpage()
        try:
            # PDFium joins a word hyphenated at a line end and marks the hyphen U+FFFE:
            # put back what the page shows, as the text layer had it
            return textpage.get_text_range().replace("\ufffe", "-\n")
        finally:
            textpage.close()
    finally:
        page.close()


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
