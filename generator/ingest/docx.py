"""Word documents (``.docx``) through python-docx: paragraphs, headings and tables in order.

Headings are recognised by paragraph style (``Title``, ``Heading 1``...) and written as ``#``
lines; list styles as ``- `` items; tables as ``| a | b |`` rows (merged cells once). Core
properties (title, author, created and modified dates) go into metadata. Password-protected
files are OLE containers, not zip files, and are refused with their own reason.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from typing import Any

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits, check_zip
from generator.ingest.base import Parsed, Reader, tidy

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _describe(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _heading_level(style_name: str) -> int | None:
    name = style_name.strip().lower()
    if name == "title":
        return 1
    m = _HEADING_STYLE.match(name)
    return min(int(m.group(1)), 6) if m else None


def _table_lines(table: Any) -> str:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # python-docx returns a merged cell once per grid column it spans.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()).replace("|", "\\|"))
        if any(cells):
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def _core(doc: Any) -> dict[str, Any]:
    props = doc.core_properties
    meta: dict[str, Any] = {}
    for key in ("title", "author", "subject", "created", "modified", "last_modified_by"):
        value = getattr(props, key, None)
        if value not in (None, ""):
            meta[key] = value
    return meta


class _StyleNames:
    """Paragraph style names, looked up once per style id: python-docx resolves an unstyled
    paragraph's default style by scanning every style (about 1 ms each), which made a
    document of 40,000 plain paragraphs take 35 s."""

    def __init__(self, doc: Any) -> None:
        from docx.enum.style import WD_STYLE_TYPE

        self._get = lambda sid: doc.part.get_style(sid, WD_STYLE_TYPE.PARAGRAPH)
        self._names: dict[str | None, str] = {}

    def __call__(self, paragraph: Any) -> str:
        sid = paragraph._p.style
        name = self._names.get(sid)
        if name is None:
            style = self._get(sid)
            name = self._names[sid] = (style.name or "") if style is not None else ""
        return name


class DocxReader(Reader):
    """Paragraphs, headings by style and tables of a Word document."""

    name = "docx"
    extensions = (".docx",)

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        import docx
        from docx.table import Table

        if data.startswith(_OLE_MAGIC):
            raise IngestError(
                path, "encrypted or legacy Word file: an OLE container, not a .docx (zip)"
            )
        check_zip(data, path, limits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                doc = docx.Document(io.BytesIO(data))
                style_name = _StyleNames(doc)
                blocks: list[str] = []
                for item in doc.iter_inner_content():
                    if isinstance(item, Table):
                        table = _table_lines(item)
                        if table:
                            blocks.append(table)
                        continue
                    text = item.text.strip()
                    if not text:
                        continue
                    style = style_name(item)
                    level = _heading_level(style or "")
                    if level:
                        blocks.append("#" * level + " " + " ".join(text.split()))
                    elif style and style.lower().startswith("list"):
                        blocks.append("- " + text)
                    else:
                        blocks.append(text)
                meta = _core(doc)
            except IngestError:
                raise
            except zipfile.BadZipFile as exc:
                raise IngestError(path, f"corrupt DOCX: not a valid zip file ({exc})") from exc
            except Exception as exc:  # python-docx/lxml raise many types on broken parts
                raise IngestError(path, f"corrupt DOCX: {_describe(exc)}") from exc
        # consecutive list items stay together as one block
        text = "\n\n".join(blocks)
        text = re.sub(r"(?m)^(- .*)\n\n(?=- )", r"\1\n", text)
        return Parsed(text=tidy(text), title=meta.get("title") or None, metadata=meta)


READER = DocxReader()
