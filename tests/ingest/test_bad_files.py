"""Every kind of bad file gives exactly one clear reason; the good files still ingest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.ingest.pipeline import IngestSettings, ingest_folder
from generator.store import Journal
from tests.ingest.conftest import (
    PARAGRAPH,
    docx_bytes,
    encrypted_pdf_bytes,
    image_only_pdf_bytes,
    pdf_bytes,
    write,
)

CP1252_TEXT = (
    "Café rules: the per diem is 28 € per day. Naïve façade, Straße, déjà vu, garçon.\n" * 5
)


def _build_folder(docs: Path, outside: Path) -> None:
    write(docs / "good.md", f"# Good\n\n{PARAGRAPH}\n")
    write(docs / "good.pdf", pdf_bytes([PARAGRAPH, PARAGRAPH]))
    write(docs / "good.docx", docx_bytes())
    write(docs / "sub" / "good.html", f"<html><body><main><h1>Hi</h1><p>{PARAGRAPH}</p></main>")
    write(docs / "owner-only.pdf", encrypted_pdf_bytes(user_password=""))
    write(docs / "bad" / "corrupt.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage" * 3)
    write(docs / "bad" / "not-a-pdf.pdf", b"hello, I am text pretending to be a PDF")
    write(docs / "bad" / "locked.pdf", encrypted_pdf_bytes(user_password="s3cret"))
    good_pdf = pdf_bytes([PARAGRAPH, PARAGRAPH])
    write(docs / "bad" / "truncated.pdf", good_pdf[: len(good_pdf) * 2 // 5])
    write(docs / "bad" / "empty.pdf", b"")
    write(docs / "bad" / "scan.pdf", image_only_pdf_bytes())
    write(docs / "bad" / "empty.txt", b"")
    write(docs / "bad" / "binary.txt", bytes(range(256)) * 40)
    write(docs / "bad" / "corrupt.docx", b"PK\x03\x04 this is not really a zip archive")
    write(docs / "bad" / "ole.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    write(docs / "bad" / "huge.md", "# Big\n\n" + "word " * 60_000)  # 300 kB > limit below
    write(docs / "enc" / "cp1252.txt", CP1252_TEXT.encode("cp1252"))
    write(docs / "enc" / "utf16.txt", ("Ünïcödé policy text. " * 20).encode("utf-16"))
    write(
        docs / "enc" / "utf16le-nobom.md", ("# Über\n\nGrüße aus Köln. " * 20).encode("utf-16-le")
    )
    write(docs / ".hidden.md", "# secret\n")
    write(docs / ".git" / "config.md", "# not scanned\n")
    write(docs / "data.xlsx", b"PK\x03\x04 spreadsheet")
    write(outside / "outside.md", "# Outside\n\nmust not be read\n")
    os.symlink(outside / "outside.md", docs / "link-out.md")
    os.symlink(outside, docs / "dir-out")
    os.symlink(docs / "good.md", docs / "link-in.md")
    os.symlink(docs / "missing.md", docs / "broken.md")


EXPECTED = {
    "bad/corrupt.pdf": ("error", "corrupt PDF"),
    "bad/not-a-pdf.pdf": ("error", "corrupt PDF"),
    "bad/locked.pdf": ("error", "encrypted PDF"),
    "bad/truncated.pdf": ("error", "corrupt PDF"),
    "bad/empty.pdf": ("error", "empty file"),
    "bad/scan.pdf": ("error", "no text: the PDF has no text layer"),
    "bad/empty.txt": ("error", "empty file"),
    "bad/binary.txt": ("error", "binary data"),
    "bad/corrupt.docx": ("error", "corrupt DOCX"),
    "bad/ole.docx": ("error", "encrypted or legacy Word file"),
    "bad/huge.md": ("error", "too large"),
    ".hidden.md": ("skipped", "hidden file"),
    ".git": ("skipped", "hidden folder"),
    "data.xlsx": ("skipped", "unknown type"),
    "link-out.md": ("skipped", "symlink leaves the folder"),
    "dir-out": ("skipped", "symlink leaves the folder"),
    "broken.md": ("error", "broken symlink"),
}
GOOD = {
    "good.md",
    "good.pdf",
    "good.docx",
    "sub/good.html",
    "owner-only.pdf",
    "link-in.md",
    "enc/cp1252.txt",
    "enc/utf16.txt",
    "enc/utf16le-nobom.md",
}


def test_each_bad_file_has_one_clear_reason_and_good_files_ingest(docs: Path, tmp_path: Path):
    _build_folder(docs, tmp_path / "outside")
    with Journal(tmp_path / "run") as journal:
        results = ingest_folder(docs, journal, IngestSettings(max_file_mb=0.2))
        by_path = {r.path: r for r in results}
        assert len(by_path) == len(results), "one result per file"
        assert set(by_path) == set(EXPECTED) | GOOD
        for path, (status, reason) in EXPECTED.items():
            r = by_path[path]
            assert r.status == status, (path, r)
            assert r.reason.startswith(reason), (path, r.reason)
            assert "\n" not in r.reason and len(r.reason) < 200
        for path in GOOD:
            assert by_path[path].status == "ingested", (path, by_path[path].reason)
            assert by_path[path].chunks >= 1
        stored = {d.path: d for d in journal.documents()}
        assert set(stored) == GOOD
        assert {row["path"] for row in journal.skipped()} == set(EXPECTED)
        # the real encodings were found, not replaced by garbage
        assert "Café" in stored["enc/cp1252.txt"].text and "28 €" in stored["enc/cp1252.txt"].text
        assert stored["enc/cp1252.txt"].encoding == "cp1252"
        assert "Ünïcödé policy text." in stored["enc/utf16.txt"].text
        assert stored["enc/utf16le-nobom.md"].headings[0].text == "Über"
        assert "must not be read" not in "".join(d.text for d in stored.values())


def test_latin1_text_is_decoded(docs: Path, tmp_path: Path):
    text = "Résumé of the façade works in Zürich: no euro sign in latin-1. " * 8
    write(docs / "latin1.txt", text.encode("latin-1"))
    with Journal(tmp_path / "run") as journal:
        [result] = ingest_folder(docs, journal, IngestSettings())
        assert result.status == "ingested"
        assert "Résumé of the façade works in Zürich" in journal.document("latin1.txt").text


@pytest.mark.parametrize("ext", [".txt", ".md", ".html", ".pdf", ".docx"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=3000))
def test_nothing_crashes_on_random_bytes(tmp_path: Path, ext: str, data: bytes):
    folder = tmp_path / f"fuzz{ext}"
    folder.mkdir(exist_ok=True)
    write(folder / f"file{ext}", data)
    with Journal(tmp_path / f"run{ext}") as journal:
        [result] = ingest_folder(folder, journal, IngestSettings())
    assert result.status in ("ingested", "error")
    if result.status == "error":
        assert result.reason and "\n" not in result.reason
