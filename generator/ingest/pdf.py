"""PDF (``.pdf``) through pypdf: text page by page, page numbers kept.

Each page's text starts at a recorded offset (``Document.pages``), so a chunk knows the pages
it covers. Bookmarks (the outline) become ``#`` heading lines on their pages. Encrypted files
are opened with the empty password when the author set only an owner password; otherwise
they are refused with one clear line, like corrupt files. Dates and author from the PDF's
info dictionary go into metadata.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits
from generator.ingest.base import Parsed, Reader, tidy

# pypdf reports recoverable problems through logging; its lines would garble the progress
# bar, and unrecoverable ones reach us as exceptions that become the file's one error line.
_pypdf_log = logging.getLogger("pypdf")
_pypdf_log.addHandler(logging.NullHandler())
_pypdf_log.propagate = False


def _outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """Page index -> [(level, title)] from the bookmarks; empty when absent or broken."""
    found: dict[int, list[tuple[int, str]]] = {}

    def visit(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                visit(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a broken bookmark must not cost the document
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((min(level, 6), title))

    try:
        visit(reader.outline, 1)
    except Exception:
        return {}
    return found


def _mark_headings(text: str, heads: list[tuple[int, str]]) -> str:
    """Turn the line matching each bookmark title into a ``#`` line (or prepend one)."""
    lines = text.split("\n")
    for level, title in heads:
        key = title.casefold()
        for i, line in enumerate(lines):
            if " ".join(line.split()).casefold() == key:
                lines[i] = "#" * level + " " + title
                break
        else:
            lines.insert(0, "#" * level + " " + title)
    return "\n".join(lines)


def _info(reader: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        info = reader.metadata
    except Exception:
        return meta
    if not info:
        return meta
    for key, attr in (("created", "creation_date"), ("modified", "modification_date")):
        try:
            value = getattr(info, attr)
        except Exception:  # malformed date strings: keep the raw value
            value = info.get("/CreationDate" if key == "created" else "/ModDate")
        if value:
            meta[key] = value
    for key, attr in (("title", "title"), ("author", "author"), ("subject", "subject")):
        value = getattr(info, attr, None)
        if value and str(value).strip():
            meta[key] = str(value).strip()
    return meta


class PdfReader(Reader):
    """Text of a PDF with its page numbers; bookmarks as headings."""

    name = "pdf"
    extensions = (".pdf",)

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        from pypdf import PdfReader as _Pdf
        from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

        if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
            raise IngestError(path, "corrupt PDF: no PDF header")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                reader = _Pdf(io.BytesIO(data), strict=False)
                if reader.is_encrypted:
                    try:
                        ok = reader.decrypt("")
                    except (DependencyError, NotImplementedError) as exc:
                        raise IngestError(path, f"encrypted PDF: cannot decrypt: {exc}") from exc
                    if not ok:
                        raise IngestError(path, "encrypted PDF: a password is required to open it")
                heads = _outline(reader)
                parts: list[str] = []
                pages: list[tuple[int, int]] = []
                offset = 0
                for index, page in enumerate(reader.pages):
                    page_text = tidy(page.extract_text() or "")
                    if index in heads:
                        page_text = _mark_headings(page_text, heads[index])
                    if parts:
                        offset += 2  # the "\n\n" joining pages
                    pages.append((index + 1, offset))
                    parts.append(page_text)
                    offset += len(page_text)
                meta = _info(reader)
            except IngestError:
                raise
            except FileNotDecryptedError as exc:
                raise IngestError(path, "encrypted PDF: a password is required to open it") from exc
            except PyPdfError as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise IngestError(path, f"corrupt PDF: {detail}") from exc
            except Exception as exc:  # pypdf raises many types on damaged files
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise IngestError(path, f"corrupt PDF: {type(exc).__name__}: {first}") from exc
        text = "\n\n".join(parts)
        if not text.strip():
            raise IngestError(path, "no text: the PDF has no text layer (scanned? OCR is not done)")
        meta["page_count"] = len(pages)
        return Parsed(text=text, title=meta.get("title"), pages=pages, metadata=meta)


READER = PdfReader()
