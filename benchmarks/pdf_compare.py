"""PDF before/after for bench_ingest.py: pypdf (the reader before) against PDFium (today's).

Two figures per reader, on one CPU: the parse alone (the reader's ``read`` over the corpus,
bytes already in memory, the two readers' passes alternating in one child process, best pass
each, after a warm-up file so imports do not count), and the whole ingest (bench_ingest's
``child`` with that reader registered, a fresh process each). Then a character-level diff of
the two readers' text on the corpus and on the PDFs of ``samples/``: rapidfuzz's normalised
Indel similarity per file (100 = identical) and the most frequent differing snippets.

Run alone: ``.venv/bin/python benchmarks/pdf_compare.py DIR_WITH_PDFS``
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

READERS = ("pypdf", "pdfium")


def reader(name: str):
    """The PDF reader called ``name``: ``pypdf`` (before) or ``pdfium`` (the product's)."""
    if name == "pypdf":
        from benchmarks.pypdf_reference import PypdfReader

        return PypdfReader()
    from generator.ingest.pdf import READER

    return READER


def pdf_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.pdf"))


def read_all(name: str, files: list[Path]) -> dict[str, dict]:
    """Path -> {text, pages, headings} or {error} for every file, with reader ``name``."""
    from generator.errors import IngestError
    from generator.ingest.base import scan_headings

    pdf = reader(name)
    out: dict[str, dict] = {}
    for path in files:
        try:
            parsed = pdf.read(path.read_bytes(), path.name)
        except IngestError as exc:
            out[str(path)] = {"error": exc.reason}
            continue
        heads = [(h.level, h.text) for h in scan_headings(parsed.text)]
        out[str(path)] = {"text": parsed.text, "pages": len(parsed.pages), "headings": heads}
    return out


def parse_child(docs: str, out: str, repeats: int) -> None:
    """Time both readers on the PDFs under ``docs`` in alternating passes (so both see the
    same load on a shared machine); texts to ``out``, figures as one JSON line."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    files = pdf_files(Path(docs))
    blobs = [path.read_bytes() for path in files]
    pdfs = {name: reader(name) for name in READERS}
    for pdf in pdfs.values():
        pdf.read(blobs[0], files[0].name)  # warm-up: lazy imports are a one-off cost
    best = dict.fromkeys(READERS, float("inf"))
    for _ in range(repeats):
        for name, pdf in pdfs.items():
            c0 = time.process_time()
            for data, path in zip(blobs, files, strict=True):
                pdf.read(data, path.name)
            best[name] = min(best[name], time.process_time() - c0)
    texts = {name: read_all(name, files) for name in READERS}
    Path(out).write_text(json.dumps(texts), encoding="utf-8")
    size = sum(map(len, blobs))
    print(
        json.dumps(
            {name: {"files": len(files), "bytes": size, "cpu": best[name]} for name in READERS}
        )
    )


def parse_figures(docs: Path, work: Path, repeats: int) -> dict[str, dict]:
    """Reader name -> {files, bytes, cpu, cpu_mb_s, texts}, from one child process."""
    out = work / "pdf-texts.json"
    proc = subprocess.run(
        [sys.executable, __file__, "--parse-child", str(docs), str(out), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    figs = json.loads(proc.stdout.strip().splitlines()[-1])
    texts = json.loads(out.read_text(encoding="utf-8"))
    for name, fig in figs.items():
        fig["cpu_mb_s"] = fig["bytes"] / 1e6 / fig["cpu"]
        fig["texts"] = texts[name]
    return figs


def _shown(snippet: str) -> str:
    return repr(snippet) if len(snippet) <= 30 else repr(snippet[:27] + "...")


def text_diff(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Lines describing how ``after``'s extraction differs from ``before``'s, per file."""
    from rapidfuzz.distance import Indel, Levenshtein

    ratios, lines, typical = [], [], Counter()
    same_pages = same_heads = both = 0
    for path in sorted(before):
        a, b = before[path], after.get(path, {"error": "missing"})
        if "error" in a or "error" in b:
            lines.append(
                f"  {Path(path).name}: before {a.get('error', 'ok')}, now {b.get('error', 'ok')}"
            )
            continue
        both += 1
        ratios.append(100 * Indel.normalized_similarity(a["text"], b["text"]))
        same_pages += a["pages"] == b["pages"]
        same_heads += [tuple(h) for h in a["headings"]] == [tuple(h) for h in b["headings"]]
        for op in Levenshtein.opcodes(a["text"], b["text"]):
            if op.tag != "equal":
                old = a["text"][op.src_start : op.src_end]
                new = b["text"][op.dest_start : op.dest_end]
                typical[(_shown(old), _shown(new))] += 1
    if ratios:
        lines.insert(
            0,
            f"  {both} files read by both: text similarity min {min(ratios):.2f}, median "
            f"{statistics.median(ratios):.2f}, mean {statistics.fmean(ratios):.2f} (100 = same); "
            f"{sum(r == 100 for r in ratios)} identical; same page count {same_pages}/{both}, "
            f"same headings {same_heads}/{both}",
        )
    for (old, new), n in typical.most_common(8):
        lines.append(f"  {n:>5} x  {old} -> {new}")
    return lines


def damaged(data: bytes, rng: random.Random) -> list[bytes]:
    """Broken copies of one PDF: truncated, bytes flipped, a run of zeros, xref gone."""
    n = len(data)
    out = [data[: int(n * cut)] for cut in (0.1, 0.3, 0.5, 0.7, 0.9, 0.98)]
    for _ in range(4):
        flipped = bytearray(data)
        for _ in range(5):
            flipped[rng.randrange(200, n)] = rng.randrange(256)
        out.append(bytes(flipped))
    out.append(data[: n // 2] + b"\0" * 2000 + data[n // 2 + 2000 :])
    at = data.rfind(b"xref")
    out.append(data[:at] + b"junk" + data[at + 4 :])
    return out


def damage_report(files: list[Path]) -> str:
    """How many damaged copies each reader still reads (and with how many pages)."""
    from generator.errors import IngestError

    rng = random.Random(5)
    variants = [v for path in files for v in damaged(path.read_bytes(), rng)]
    read = {}
    for name in READERS:
        pdf, ok = reader(name), []
        for data in variants:
            try:
                ok.append(len(pdf.read(data, "damaged.pdf").pages))
            except IngestError:  # anything else would be a crash: let it show
                ok.append(None)
        read[name] = ok
    both = sum(a is not None and b is not None for a, b in zip(*read.values(), strict=True))
    counts = ", ".join(
        f"{name} reads {sum(x is not None for x in ok)}" for name, ok in read.items()
    )
    return f"  {len(variants)} damaged copies of {len(files)} PDFs: {counts}; both read {both}"


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--parse-child":
        parse_child(argv[1], argv[2], int(argv[3]))
        return
    with tempfile.TemporaryDirectory() as work:
        figs = parse_figures(Path(argv[0]), Path(work), repeats=5)
    for name, fig in figs.items():
        print(
            f"{name:<7} {fig['files']} files {fig['bytes'] / 1e6:.2f} MB: "
            f"{fig['cpu_mb_s']:.2f} MB/cpu-s"
        )
    print("\n".join(text_diff(figs["pypdf"]["texts"], figs["pdfium"]["texts"])))


if __name__ == "__main__":
    main(sys.argv[1:])
