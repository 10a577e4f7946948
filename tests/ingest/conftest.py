"""Builders for real test files: PDFs (fpdf2), Word documents (python-docx), text in
several encodings. Each writes to a path and returns it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

PARAGRAPH = (
    "Employees receive thirty working days of paid leave per calendar year. Requests longer "
    "than three days are made two weeks ahead, and managers answer within five working days."
)


def pdf_bytes(pages: list[str], *, title: str = "Test manual", bookmarks: bool = True) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author("QA")
    for i, text in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        heading = f"Section {i}"
        if bookmarks:
            pdf.start_section(heading)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def image_only_pdf_bytes() -> bytes:
    """A page with a picture and no text layer, like a scan without OCR."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def encrypted_pdf_bytes(*, user_password: str, owner_password: str = "owner") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_bytes([PARAGRAPH]))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    doc = docx.Document()
    doc.core_properties.title = "Leave rules"
    doc.add_heading("Leave rules", level=1)
    doc.add_paragraph(PARAGRAPH)
    doc.add_heading("Limits", level=2)
    doc.add_paragraph("First bullet", style="List Bullet")
    doc.add_paragraph("Second bullet", style="List Bullet")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "City", "Limit"
    table.cell(1, 0).text, table.cell(1, 1).text = "Munich", "EUR 200"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d
