"""The PDF reader as it was before PDFium (pypdf 7.1.1): the "before" of bench_ingest.py.

Same output shape as ``generator.ingest.pdf.PdfReader`` (tidied page texts joined by a blank
line, page offsets, bookmark headings), so the benchmark can time both on the same files,
through the same pipeline, and diff their text. Not used by the product. Needs pypdf (dev
extra).
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits
from generator.ingest.base import Parsed, Reader, tidy
from generator.ingest.pdf import _mark_headings

# pypdf logs what it repairs; the old reader silenced it the same way
logging.getLogger("pypdf").addHandler(logging.NullHandler())
logging.getLogger("pypdf").propagate = False


def _outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = {}

    def visit(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                visit(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((min(level, 6), title))

    try:
        visit(reader.outline, 1)
    except Exception:
        return {}
    return found


class PypdfReader(Reader):
    """Today's extraction before the switch: pypdf's ``extract_text`` page by page."""

    name = "pdf"
    extensions = (".pdf",)

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        from pypdf import PdfReader

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                reader = PdfReader(io.BytesIO(data), strict=False)
                if reader.is_encrypted and not reader.decrypt(""):
                    raise IngestError(path, "encrypted PDF: a password is required to open it")
                heads = _outline(reader)
                parts: list[str] = []
                pages: list[tuple[int, int]] = []
                offset = 0
                for index, page in enumerate(reader.pages):
                    text = tidy(page.extract_text() or "")
                    if index in heads:
                        text = _mark_headings(text, heads[index])
                    if parts:
                        offset += 2
                    pages.append((index + 1, offset))
                    parts.append(text)
                    offset += len(text)
                title = reader.metadata.title if reader.metadata else None
            except IngestError:
                raise
            except Exception as exc:
                raise IngestError(path, f"corrupt PDF: {type(exc).__name__}") from exc
        meta = {"page_count": len(pages)}
        return Parsed(text="\n\n".join(parts), title=title, pages=pages, metadata=meta)
