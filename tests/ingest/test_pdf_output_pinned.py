"""What ingesting a PDF stores is pinned: documents, chunks and chunk ids exactly as before
the PDF speed work (issue 21), on the sample manual and on a generated many-page PDF.

The digests were taken with the reader and pipeline as they were before that work; a
change to extraction, tidying, headings, chunking, token counts or the stored JSON changes
them. If a change is meant to alter the output, say so and take new digests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
from pathlib import Path

from generator.ingest.pipeline import IngestSettings, ingest_folder
from generator.store import Journal

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "product" / "fieldlog-x2-user-manual.pdf"
WORDS = [
    "the",
    "device",
    "logger",
    "must",
    "record",
    "soil",
    "moisture",
    "every",
    "interval",
    "and",
    "upload",
    "it",
    "before",
    "the",
    "alarm",
    "threshold",
    "is",
    "reached",
    "while",
    "calibration",
    "of",
    "each",
    "probe",
    "follows",
    "the",
    "schedule",
]
STAMP = 1_767_225_600  # 2026-01-01 00:00 UTC: file times are part of the document


def generated_pdf() -> bytes:
    """Twelve-odd pages: nested bookmarked headings, long paragraphs, bullets, a table and
    a word hyphenated at a line end (fpdf2 pinned, fixed date: the same bytes each time)."""
    from fpdf import FPDF

    rng = random.Random(21)
    pdf = FPDF(format="A4")
    pdf.set_title("Generated field guide")
    pdf.set_author("QA")
    pdf.set_creation_date(dt.datetime(2026, 2, 16, 9, 30, tzinfo=dt.UTC))
    pdf.add_page()
    for chapter in range(1, 5):
        pdf.set_font("Helvetica", "B", 16)
        pdf.start_section(f"Chapter {chapter}", level=0)
        pdf.multi_cell(0, 8, f"Chapter {chapter}", new_x="LMARGIN", new_y="NEXT")
        for part in range(1, 4):
            pdf.set_font("Helvetica", "B", 12)
            pdf.start_section(f"{chapter}.{part} Part", level=1)
            pdf.multi_cell(0, 7, f"{chapter}.{part} Part", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            for _ in range(4):
                words = rng.choices(WORDS, k=rng.randint(60, 160))
                pdf.multi_cell(0, 5.5, " ".join(words).capitalize() + ".", new_x="LMARGIN")
                pdf.ln(2)
            pdf.multi_cell(0, 5.5, "- a bullet about re-\ncalibration", new_x="LMARGIN")
        with pdf.table() as table:
            for row in (("Probe", "Interval"), ("soil", "15 min"), ("water", "1 h")):
                cells = table.row()
                for cell in row:
                    cells.cell(cell)
    return bytes(pdf.output())


def stored(tmp_path: Path) -> tuple[list[dict], list[dict]]:
    """Documents and chunks as the journal stores them after ingesting both PDFs."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copyfile(SAMPLE, docs / "manual.pdf")
    (docs / "guide.pdf").write_bytes(generated_pdf())
    for path in docs.iterdir():
        os.utime(path, (STAMP, STAMP))
    with Journal(tmp_path / "run") as journal:
        results = ingest_folder(docs, journal, IngestSettings())
        assert [r.status for r in results] == ["ingested", "ingested"]
        documents = [json.loads(d.model_dump_json()) for d in journal.documents()]
        chunks = [json.loads(c.model_dump_json()) for c in journal.chunks()]
    return documents, chunks


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def test_generated_pdf_is_the_same_bytes_each_time():
    assert generated_pdf() == generated_pdf()


def test_documents_chunks_and_ids_are_as_before(tmp_path: Path):
    documents, chunks = stored(tmp_path)
    by_doc = {d["path"]: [c["id"] for c in chunks if c["doc_path"] == d["path"]] for d in documents}
    assert [(d["path"], len(d["pages"]), len(by_doc[d["path"]])) for d in documents] == [
        ("guide.pdf", PINNED["guide_pages"], PINNED["guide_chunks"]),
        ("manual.pdf", 3, PINNED["manual_chunks"]),
    ]
    assert by_doc["guide.pdf"][:3] == PINNED["guide_first_ids"]
    assert by_doc["manual.pdf"][:3] == PINNED["manual_first_ids"]
    for d in documents:  # one document at a time: a failure names the file
        assert digest([d]) == PINNED["documents"][d["path"]], d["path"]
    assert digest(chunks) == PINNED["chunks"]


PINNED: dict = {  # taken before the speed work (commit a60ae53's reader and pipeline)
    "guide_pages": 9,
    "guide_chunks": 12,
    "manual_chunks": 3,
    "guide_first_ids": [
        "1a9cb1b4da7f80612a0a3f8f",
        "520814251d64accd5788296b",
        "cc2314a67c5081d389c4f09a",
    ],
    "manual_first_ids": [
        "af55662cdf6d98de7056bb56",
        "84773d5fd19f80a130f2a60c",
        "d05ab56c9a5b7ccd8ce0165f",
    ],
    "documents": {
        "guide.pdf": "fec87c81da04a40ceadb5daf19a930b275bdf22d1b76d1457f5b293e808d1653",
        "manual.pdf": "1701b69ddb26a64e6e008689a886b3ed031cde11da559acd11cc984b11c89609",
    },
    "chunks": "f5250d4b1fd10118bdb6300477f940c0271576be0babd62044c1ba04acc75206",
}
