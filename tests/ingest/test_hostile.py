"""Hostile files stay bounded: zip bombs, HTML deeper than the parser's limit, file names
that are not UTF-8 or hold newlines. Each is reported (or read in full) in bounded time and
memory, and the rest of the folder is ingested."""

from __future__ import annotations

import io
import os
import re
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.errors import IngestError
from generator.ingest.archive import ZipLimits, check_zip
from generator.ingest.pipeline import IngestSettings, ingest_folder
from generator.store import Journal
from tests.ingest.conftest import PARAGRAPH, docx_bytes, write

runner = CliRunner()
EMPTY_PARAGRAPH = b"<w:p/>"


def bomb_docx(xml_bytes: int, *, extra_entries: int = 0, unit: bytes = EMPTY_PARAGRAPH) -> bytes:
    """A valid .docx whose document.xml holds ``xml_bytes`` more of ``unit`` paragraphs,
    written as a stream (the XML is never in memory as a whole)."""
    src = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename != "word/document.xml":
                z.writestr(info.filename, data)
                continue
            cut = data.index(b"<w:body>") + len(b"<w:body>")
            with z.open("word/document.xml", "w", force_zip64=xml_bytes > 2**31) as f:
                f.write(data[:cut])
                block = unit * (1_000_000 // len(unit))
                left = xml_bytes - xml_bytes % len(unit)
                while left > 0:
                    f.write(block[:left])
                    left -= len(block)
                f.write(data[cut:])
        for i in range(extra_entries):
            z.writestr(f"extra/part{i}.xml", b"<a/>")
    return out.getvalue()


def _understate(data: bytes, name: str, size: int) -> bytes:
    """The archive with ``name``'s uncompressed size set to ``size`` in both its local
    header and the central directory (the CRC left alone): headers that lie."""
    buf = bytearray(data)
    raw = name.encode()
    at = 0
    while (at := buf.find(b"PK\x01\x02", at)) >= 0:  # central directory entries
        n = struct.unpack_from("<H", buf, at + 28)[0]
        if bytes(buf[at + 46 : at + 46 + n]) == raw:
            struct.pack_into("<L", buf, at + 24, size)
            local = struct.unpack_from("<L", buf, at + 42)[0]
            struct.pack_into("<L", buf, local + 22, size)
        at += 4
    return bytes(buf)


def _results(docs: Path, run: Path, settings: IngestSettings) -> dict[str, tuple[str, str]]:
    with Journal(run) as journal:
        return {r.path: (r.status, r.reason) for r in ingest_folder(docs, journal, settings)}


# ------------------------------------------------------------------ zip-based files


def test_docx_limited_by_uncompressed_size_not_file_size(docs: Path, tmp_path: Path):
    write(docs / "good.md", f"# Good\n\n{PARAGRAPH}\n")
    write(docs / "fine.docx", docx_bytes())
    bomb = write(docs / "bomb.docx", bomb_docx(3_000_000))
    assert bomb.stat().st_size < 100_000  # small file, large content
    settings = IngestSettings(max_file_mb=1, max_unzipped_mb=1)
    results = _results(docs, tmp_path / "run", settings)
    status, reason = results["bomb.docx"]
    assert status == "error"
    assert re.fullmatch(
        r"zip bomb: DOCX expands to 3\.\d MB, above the limit of 1\.0 MB uncompressed "
        r"\(--max-unzipped-mb\)",
        reason,
    )
    assert results["good.md"][0] == results["fine.docx"][0] == "ingested"


def test_docx_limited_by_entry_count(docs: Path, tmp_path: Path):
    write(docs / "many.docx", bomb_docx(0, extra_entries=60))
    write(docs / "good.md", f"# Good\n\n{PARAGRAPH}\n")
    results = _results(docs, tmp_path / "run", IngestSettings(max_zip_entries=50))
    assert results["many.docx"] == ("error", "zip bomb: DOCX has more than 50 entries")
    assert results["good.md"][0] == "ingested"


def test_entry_count_is_read_from_the_zip64_end_record_before_parsing(monkeypatch):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(66_000):  # past 65,535: the count lives in the zip64 end record
            z.writestr(f"e{i}", b"")

    def listed(*args, **kwargs):
        raise AssertionError("zipfile listed the 66,000 entries before the refusal")

    # refused from the end record alone, before zipfile reads the central directory
    monkeypatch.setattr("generator.ingest.archive.zipfile.ZipFile", listed)
    with pytest.raises(IngestError, match="more than 10,000 entries"):
        check_zip(out.getvalue(), "many.docx", ZipLimits())


def test_lying_headers_are_caught_while_reading():
    # The headers say 1 kB; the entry really inflates to 5 MB. Reading stops at the first
    # limit passed (or at the size the header promised, whose checksum then fails).
    data = _understate(bomb_docx(5_000_000), "word/document.xml", 1_000)
    started = time.monotonic()
    with pytest.raises(IngestError) as caught:
        check_zip(data, "liar.docx", ZipLimits(max_bytes=2_000_000))
    assert time.monotonic() - started < 2
    assert caught.value.reason.startswith(("zip bomb", "corrupt DOCX"))


def test_docx_limited_by_xml_elements():
    data = bomb_docx(600_000)  # 100,000 empty paragraphs, 0.6 MB
    with pytest.raises(IngestError, match="more than 50,000 XML elements"):
        check_zip(data, "deep.docx", ZipLimits(max_xml_elements=50_000))
    check_zip(docx_bytes(), "fine.docx", ZipLimits(max_xml_elements=50_000))


def test_seen_53_mb_of_xml_is_refused_quickly_with_default_limits(docs: Path, tmp_path: Path):
    # Seen: an 879 KB .docx of 53 MB XML ran past three minutes (python-docx builds an
    # object per element). With the default limits it is reported in seconds.
    write(docs / "bomb.docx", bomb_docx(53_000_000))
    write(docs / "good.md", f"# Good\n\n{PARAGRAPH}\n")
    started = time.monotonic()
    results = _results(docs, tmp_path / "run", IngestSettings())
    assert time.monotonic() - started < 20
    status, reason = results["bomb.docx"]
    assert status == "error" and "XML elements" in reason
    assert results["good.md"][0] == "ingested"


def test_gigabyte_of_xml_stays_bounded_in_time_and_memory():
    # Seen: 1 GB of XML took 2.2 GB of memory. Honest headers: refused from the central
    # directory; lying headers: refused while reading. Memory stays at a few buffers.
    honest = bomb_docx(1_000_000_000)
    liar = _understate(honest, "word/document.xml", 10_000)
    for data in (honest, liar):
        tracemalloc.start()
        started = time.monotonic()
        with pytest.raises(IngestError):
            check_zip(data, "big.docx", ZipLimits())
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert elapsed < 5
        assert peak < 20_000_000


def test_docx_of_many_plain_paragraphs_reads_in_time():
    # python-docx resolved the default style of every unstyled paragraph by scanning all
    # styles: 40,000 plain paragraphs took 35 s.
    from generator.ingest.docx import READER

    unit = b"<w:p><w:r><w:t>hello world</w:t></w:r></w:p>"
    data = bomb_docx(2_000_000, unit=unit)
    started = time.monotonic()
    parsed = READER.read(data, "plain.docx")
    # ~2 s quiet, 14 s at load average 9; the old code took 35 s on a quiet machine.
    assert time.monotonic() - started < 30
    assert parsed.text.count("hello world") == 2_000_000 // len(unit)


# ------------------------------------------------------------------ deep HTML


@pytest.mark.parametrize("depth", [300, 5000])
def test_html_deeper_than_the_parser_limit_keeps_its_text(docs: Path, tmp_path: Path, depth):
    page = (
        "<html><body><main><h1>Deep page</h1><p>Before the block.</p>"
        + "<div>" * depth
        + "<p>Inside the deep block.</p>"
        + "</div>" * depth
        + "<p>After the deep block: the refund window is 30 days.</p></main></body></html>"
    )
    write(docs / "deep.html", page)
    with Journal(tmp_path / "run") as journal:
        [result] = ingest_folder(docs, journal, IngestSettings())
        assert (result.status, result.reason) == ("ingested", "")
        text = journal.document("deep.html").text
    for part in ("Before the block.", "Inside the deep block.", "the refund window is 30 days"):
        assert part in text


# ------------------------------------------------------------------ file names


def test_name_not_utf8_gets_one_line_and_the_rest_is_ingested(docs: Path, tmp_path: Path):
    write(docs / "a.md", f"# A\n\n{PARAGRAPH}\n")
    write(docs / "z.md", f"# Z\n\n{PARAGRAPH}\n")
    try:
        with open(os.path.join(os.fsencode(docs), b"bad\xff.md"), "wb") as f:
            f.write(b"# Bad name\n\nSome text.\n")
    except OSError:  # a file system that refuses such names cannot hold the case
        pytest.skip("this file system refuses names that are not UTF-8")
    with open(os.path.join(os.fsencode(docs), b".hidden\xfd.md"), "wb") as f:
        f.write(b"# Hidden\n")
    os.mkdir(os.path.join(os.fsencode(docs), b"dir\xfe"))
    with open(os.path.join(os.fsencode(docs), b"dir\xfe", b"inner.md"), "wb") as f:
        f.write(b"# Inner\n\nSome text.\n")
    run = tmp_path / "run"
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    lines = result.stdout.splitlines()
    bad = [ln for ln in lines if ln.startswith("error")]
    assert bad == [
        "error   bad\\xff.md: file name is not valid UTF-8: rename it to ingest it",
        "error   dir\\xfe: folder name is not valid UTF-8: rename it to ingest it",
    ]
    assert "skipped .hidden\\xfd.md: hidden file" in lines
    with Journal(run) as journal:
        assert [d.path for d in journal.documents()] == ["a.md", "z.md"]


def test_names_with_newlines_are_printed_escaped(docs: Path, tmp_path: Path):
    write(docs / "new\nline.md", f"# Newline\n\n{PARAGRAPH}\n")
    write(docs / "empty\nfile\x1b[31m.md", b"")  # an error line that names it
    run = tmp_path / "run"
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "error   empty\\nfile\\x1b[31m.md: empty file: 0 bytes" in result.stdout.splitlines()
    assert "\x1b[31m" not in result.stdout
    with Journal(run) as journal:  # the real name is what the run keeps
        assert [d.path for d in journal.documents()] == ["new\nline.md"]
