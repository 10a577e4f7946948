"""The PDF reader on PDFium: pages, headings, metadata, damaged files, bounds, threads."""

from __future__ import annotations

import io
import os
import re
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.errors import IngestError
from generator.ingest import pdf as pdf_module
from generator.ingest.archive import ZipLimits
from generator.ingest.base import build_document
from generator.ingest.pdf import READER, pdf_date
from tests.ingest.conftest import PARAGRAPH, encrypted_pdf_bytes, image_only_pdf_bytes, pdf_bytes

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "product" / "fieldlog-x2-user-manual.pdf"


def _doc(data: bytes, name: str = "m.pdf"):
    parsed = READER.read(data, name)
    return build_document(parsed, path=name, sha256="0", size=len(data), type_name="pdf")


def _three_pages() -> bytes:
    return pdf_bytes([f"{word} {PARAGRAPH}" for word in ("one", "two", "three")])


def test_sample_manual_pages_headings_and_metadata():
    d = _doc(SAMPLE.read_bytes(), "manual.pdf")
    assert d.title == "FieldLog X2 User Manual"
    assert [p for p, _ in d.pages] == [1, 2, 3]
    assert d.metadata["created"] == "2026-02-16T09:30:00+00:00"  # as pypdf gave it
    assert d.metadata["author"] == "Larkspur Instruments GmbH" and d.metadata["page_count"] == 3
    heads = [(h.level, h.text) for h in d.headings]
    assert heads[:4] == [
        (1, "FieldLog X2 User Manual"),
        (2, "1. Safety information"),
        (2, "2. What is in the box"),
        (2, "3. Installation"),
    ]
    assert (3, "3.2 Mounting") in heads
    # each heading lies on the page its bookmark points to
    page_of = {h.text: max(n for n, at in d.pages if at <= h.offset) for h in d.headings}
    assert page_of["FieldLog X2 User Manual"] == 1 and page_of["4. First start"] == 2


def test_hyphen_at_a_line_end_is_kept_as_printed():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(60, 6, "A long hyphen-\nated word that wraps over the line end here.")
    text = READER.read(bytes(pdf.output()), "h.pdf").text
    assert "hyphen-\nated" in text and "\ufffe" not in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("D:20260216093000Z", datetime(2026, 2, 16, 9, 30, tzinfo=UTC)),
        (
            "D:20260216093000+02'00'",
            datetime(2026, 2, 16, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "D:20260216093000-05'30",
            datetime(2026, 2, 16, 9, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("D:2026", datetime(2026, 1, 1)),
        ("20260216", datetime(2026, 2, 16)),
        ("D:20261399", "D:20261399"),  # month 13: kept raw, not dropped
        ("yesterday", "yesterday"),
        ("  ", None),
    ],
)
def test_pdf_dates(raw: str, expected: object):
    assert pdf_date(raw) == expected


def test_owner_password_only_opens_and_user_password_is_refused():
    text = READER.read(encrypted_pdf_bytes(user_password=""), "o.pdf").text
    assert "managers answer within five working days." in text
    from pypdf import PdfReader, PdfWriter  # its info dictionary is encrypted too

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_bytes([PARAGRAPH]))))
    writer.add_metadata({"/Title": "Secret title", "/CreationDate": "D:20250101120000Z"})
    writer.encrypt(user_password="", owner_password="o", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    meta = READER.read(out.getvalue(), "o.pdf").metadata
    assert meta["title"] == "Secret title" and meta["created"] == datetime(
        2025, 1, 1, 12, tzinfo=UTC
    )
    with pytest.raises(IngestError) as err:
        READER.read(encrypted_pdf_bytes(user_password="s3cret"), "l.pdf")
    assert err.value.reason == "encrypted PDF: a password is required to open it"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n", "corrupt PDF: not in PDF format or corrupted"),
        (b"hello, I am text pretending to be a PDF", "corrupt PDF: no PDF header"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage" * 3, "corrupt PDF"),
    ],
)
def test_corrupt_and_empty_pdfs_give_one_line(data: bytes, reason: str):
    with pytest.raises(IngestError) as err:
        READER.read(data, "bad.pdf")
    assert err.value.reason.startswith(reason) and "\n" not in err.value.reason


def test_truncated_pdf_is_refused_or_read_never_crashes():
    data = _three_pages()
    for cut in (0.2, 0.5, 0.8, 0.95, 0.99):
        try:
            parsed = READER.read(data[: int(len(data) * cut)], "t.pdf")
        except IngestError as exc:
            assert exc.reason.startswith("corrupt PDF"), exc.reason
        else:
            assert [n for n, _ in parsed.pages] == list(range(1, len(parsed.pages) + 1))


def test_a_damaged_page_keeps_its_number_and_is_listed():
    data = _three_pages()
    start = data.index(b"5 0 obj")  # page 2's page object: blanked, offsets unchanged
    end = data.index(b"endobj", start) + len(b"endobj")
    parsed = READER.read(data[:start] + b" " * (end - start) + data[end:], "d.pdf")
    assert [n for n, _ in parsed.pages] == [1, 2, 3]
    assert parsed.metadata["unreadable_pages"] == [2]
    third = parsed.pages[2][1]
    assert (
        parsed.text[third:].lstrip("# ").startswith("Section 3") and "three" in parsed.text[third:]
    )
    assert "one" in parsed.text[: parsed.pages[1][1]]


def test_image_only_pdf_has_no_text():
    with pytest.raises(IngestError) as err:
        READER.read(image_only_pdf_bytes(), "scan.pdf")
    assert err.value.reason.startswith("no text: the PDF has no text layer")


def test_text_bound_refuses_a_pdf_whose_text_passes_the_limit():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_compression(False)  # no Flate stream: only the text bound can refuse it
    pdf.set_font("Helvetica", "", 11)
    for word in ("one", "two", "three"):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"{word} {PARAGRAPH}")
    data = bytes(pdf.output())
    assert READER.read(data, "ok.pdf", ZipLimits(max_bytes=100_000)).pages
    with pytest.raises(IngestError) as err:
        READER.read(data, "big.pdf", ZipLimits(max_bytes=300))
    assert err.value.reason.startswith("too large: text passes 0.3 kB by page 2")


def test_pdfium_is_entered_by_one_thread_at_a_time(monkeypatch: pytest.MonkeyPatch):
    inside, most = 0, 0
    count = threading.Lock()
    real = pdf_module._page_text

    def spy(doc, index):
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)  # widen the window in which a second thread could enter
        try:
            return real(doc, index)
        finally:
            with count:
                inside -= 1

    monkeypatch.setattr(pdf_module, "_page_text", spy)
    files = [pdf_bytes([f"file {i} {PARAGRAPH}"] * 3) for i in range(6)]
    expected = [READER.read(data, "s.pdf").text for data in files]
    got: dict[int, str] = {}

    def work(i: int) -> None:
        got[i] = READER.read(files[i % 6], "t.pdf").text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    assert [got[i] for i in range(12)] == [expected[i % 6] for i in range(12)]


def _bomb_pdf(content_mb: int) -> bytes:
    """One page whose content stream is a line of text and ``content_mb`` MB of spaces."""
    content = b"BT /F1 12 Tf 72 712 Td (Hello bomb) Tj ET\n" + b" " * (content_mb * 1_000_000)
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_pdf_bomb_is_refused_before_pdfium_inflates_it():
    small = _bomb_pdf(1)
    assert READER.read(small, "ok.pdf", ZipLimits(max_bytes=2_000_000)).text == "Hello bomb"
    bomb = _bomb_pdf(30)  # 30 MB of content in about 30 kB of file
    assert len(bomb) < 60_000
    with pytest.raises(IngestError) as err:
        READER.read(bomb, "bomb.pdf", ZipLimits(max_bytes=5_000_000))
    assert err.value.reason == "PDF bomb: its streams expand past 5.0 MB (--max-unzipped-mb)"


def test_large_images_do_not_count_against_the_stream_bound():
    from fpdf import FPDF
    from PIL import Image

    picture = Image.linear_gradient("L").resize((1600, 1600)).convert("RGB")  # 7.7 MB raw
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 10, "A scanned form with a printed caption.")
    pdf.image(picture, x=10, y=30, w=100)
    parsed = READER.read(bytes(pdf.output()), "scan.pdf", ZipLimits(max_bytes=1_000_000))
    assert "printed caption" in parsed.text


def test_a_child_forked_while_a_thread_reads_a_pdf_can_read_pdfs():
    data = pdf_bytes([PARAGRAPH])
    with pdf_module.PDFIUM_LOCK:  # as if another thread were inside PDFium at the fork
        pid = os.fork()
        if pid == 0:  # the child: must not wait for a lock no thread of it will release
            ok = False
            try:
                ok = "five working days" in READER.read(data, "c.pdf").text
            finally:
                os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the PDFium lock")


def _mark_headings_reference(text: str, heads: list[tuple[int, str]]) -> str:
    """The line-by-line search _mark_headings replaced (one pass per bookmark)."""
    lines = text.split("\n")
    for level, title in heads:
        for i, line in enumerate(lines):
            if " ".join(line.split()).casefold() == title.casefold():
                lines[i] = "#" * level + " " + title
                break
        else:
            lines.insert(0, "#" * level + " " + title)
    return "\n".join(lines)


@pytest.mark.parametrize(
    "heads",
    [
        [(1, "Intro")],
        [(1, "Intro"), (2, "Intro")],  # the same title twice takes two lines
        [(1, "Missing"), (2, "Also missing"), (2, "Usage  notes")],
        [(3, "usage NOTES"), (1, "Intro"), (1, "Gone")],
        [],
    ],
)
def test_bookmark_headings_match_the_line_search_they_replace(heads):
    from generator.ingest.pdf import _mark_headings

    text = "Intro\nSome text\n  usage   notes \nIntro\nmore\n\nend"
    assert _mark_headings(text, heads) == _mark_headings_reference(text, heads)


def _mark_headings_each_line(text: str, heads: list[tuple[int, str]]) -> str:
    """The version before the first-word search (every line normalised, matched against the
    page as it came in): the output the stored chunks were made with."""
    lines = text.split("\n")
    where: dict[str, list[int]] = {}
    for i, line in reversed(list(enumerate(lines))):
        where.setdefault(" ".join(line.split()).casefold(), []).append(i)
    unmatched: list[str] = []
    for level, title in heads:
        free = where.get(title.casefold())
        if free:
            lines[free.pop()] = "#" * level + " " + title
        else:
            unmatched.insert(0, "#" * level + " " + title)
    return "\n".join(unmatched + lines)


_LINE_CHARS = "aAbB ßSs\t\xa0\u2003\x1c\x0bİ#1"


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(st.text(_LINE_CHARS, max_size=12), min_size=1, max_size=8),
    picks=st.lists(st.tuples(st.integers(1, 3), st.integers(0, 9), st.booleans()), max_size=5),
    extra=st.text(_LINE_CHARS, max_size=8),
)
def test_bookmark_headings_match_the_line_search_on_any_whitespace_and_case(lines, picks, extra):
    from generator.ingest.pdf import _mark_headings

    text = "\n".join(lines)
    heads = []
    for level, at, from_text in picks:  # titles as _outline gives them: words, one space
        title = " ".join((lines[at % len(lines)] if from_text else extra).split())
        heads.append((level, title.upper() if at % 3 == 0 else title))
    assert _mark_headings(text, heads) == _mark_headings_each_line(text, heads)


def _expands_past_by_inflating_all(data: bytes, limit: int) -> bool:
    """The bound before streams that cannot reach the limit were skipped: every Flate
    stream (images aside) inflated and counted."""
    from generator.ingest.pdf_bounds import _STREAM, _inflated, _is_image

    total = 0
    for match in _STREAM.finditer(data):
        if data[max(match.start() - 3, 0) : match.start()] == b"end":
            continue
        if match.end() >= len(data) or data[match.end()] & 0x0F != 8:
            continue
        if not _is_image(data, match.start()):
            total += _inflated(data, match.end(), limit - total)
            if total > limit:
                return True
    return False


@pytest.mark.parametrize("pdf", ["bomb", "pages", "sample"])
def test_the_stream_bound_decides_as_inflating_every_stream_would(pdf: str):
    from generator.ingest.pdf_bounds import check_streams

    data = {
        "bomb": lambda: _bomb_pdf(3),
        "pages": lambda: pdf_bytes([PARAGRAPH * 40] * 6),
        "sample": SAMPLE.read_bytes,
    }[pdf]()
    inflated = sum(  # what all its streams inflate to: the limits tried lie around it
        len(zlib.decompressobj().decompress(data[m.end() :]))
        for m in re.finditer(rb"(?<!end)stream\r?\n", data)
        if m.end() < len(data) and data[m.end()] & 0x0F == 8
    )
    for limit in sorted({1, inflated // 3, inflated - 1, inflated, inflated + 1, 10 * inflated}):
        limit = max(limit, 1)
        expected = _expands_past_by_inflating_all(data, limit)
        try:
            check_streams(data, "x.pdf", ZipLimits(max_bytes=limit))
            refused = False
        except IngestError:
            refused = True
        assert refused == expected, (pdf, limit, inflated)
    assert _expands_past_by_inflating_all(data, inflated - 1)
    assert not _expands_past_by_inflating_all(data, 10 * inflated)


def test_page_text_through_raw_calls_is_what_pypdfium2s_text_range_gives():
    import pypdfium2 as pdfium

    from generator.ingest.pdf import _page_text

    hyphen = pdf_bytes(["A long hyphen-\nated word " + PARAGRAPH * 3])
    for data in (SAMPLE.read_bytes(), hyphen, _three_pages(), image_only_pdf_bytes()):
        doc = pdfium.PdfDocument(data)
        try:
            for index in range(len(doc)):
                page = doc.get_page(index)
                expected = page.get_textpage().get_text_range().replace("\ufffe", "-\n")
                page.close()
                assert _page_text(doc, index) == expected
        finally:
            doc.close()


def test_casefolding_keeps_lines_and_whitespace_where_they_were():
    """What _mark_headings relies on to search the casefolded page: no character gains or
    loses whitespace or a newline by casefolding (all of Unicode, this Python's tables)."""
    import sys

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        folded = char.casefold()
        if char.isspace():
            assert folded == char, hex(code)
        else:
            assert folded and not any(c.isspace() for c in folded), hex(code)
