"""Ingest + chunk throughput and peak memory, on a generated corpus.

Generates (seeded) a corpus of md, txt and html documents of at least 50 MB, and a second
one twice as large, plus a smaller PDF/DOCX set; then ingests each in a fresh child process
pinned to one CPU (so peaks are separate and the figure is one core's) and prints MB/s of
input and peak RSS. Memory should stay flat from 1x to 2x: documents are streamed. The PDFs
are also read with pypdf, the reader before PDFium, side by side (``pdf_compare.py``): MB of
PDF per CPU-second before and after with their ratio, the text diff, damaged-file counts.
The PDF rows are the best of ``--pdf-repeats`` whole ingests, the two readers taking turns
(on a shared machine one run's CPU time varies by a fifth with the load). Use
``--binary-files 600`` for a corpus five times the default's.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--mb 52] [--keep DIR] [--pdf-only]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.pdf_compare import (  # noqa: E402
    READERS,
    damage_report,
    parse_figures,
    pdf_files,
    read_all,
    text_diff,
)

WORDS = [
    "the",
    "employee",
    "manager",
    "leave",
    "request",
    "approval",
    "days",
    "policy",
    "device",
    "battery",
    "probe",
    "signal",
    "firmware",
    "update",
    "calibration",
    "certificate",
    "warranty",
    "travel",
    "hotel",
    "limit",
    "receipt",
    "expense",
    "security",
    "password",
    "incident",
    "report",
    "laptop",
    "encryption",
    "customer",
    "support",
    "network",
    "antenna",
    "installation",
    "mounting",
    "cable",
    "gland",
    "seal",
    "temperature",
    "humidity",
    "soil",
    "moisture",
    "water",
    "level",
    "logger",
    "cloud",
    "upload",
    "alarm",
    "threshold",
    "interval",
    "schedule",
    "access",
    "review",
    "account",
    "service",
    "desk",
    "within",
    "per",
    "year",
    "month",
    "week",
    "must",
    "should",
    "may",
    "never",
    "always",
    "only",
    "before",
    "after",
    "during",
    "and",
    "or",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "at",
    "by",
    "from",
    "a",
    "an",
    "is",
    "are",
    "be",
    "can",
    "will",
    "this",
    "that",
    "each",
    "every",
]
TYPES = ("md", "txt", "html")


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 22))
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 7)))


def sections(rng: random.Random, target: int) -> list[tuple[int, str, list[str]]]:
    out, size = [], 0
    while size < target:
        level = rng.choice((1, 2, 2, 3, 3, 3))
        title = " ".join(rng.choices(WORDS, k=rng.randint(2, 5))).title()
        paras = [paragraph(rng) for _ in range(rng.randint(1, 6))]
        out.append((level, title, paras))
        size += sum(len(p) for p in paras) + len(title)
    return out


def render(kind: str, secs: list[tuple[int, str, list[str]]], rng: random.Random) -> str:
    if kind == "md":
        parts = ["---\ntitle: Generated handbook\nupdated: 2026-01-01\n---"]
        for level, title, paras in secs:
            parts.append("#" * level + " " + title)
            for p in paras:
                if rng.random() < 0.1:
                    parts.append("\n".join(f"- {sentence(rng)}" for _ in range(4)))
                parts.append(p)
        return "\n\n".join(parts) + "\n"
    if kind == "txt":
        parts = []
        for _, title, paras in secs:
            parts.append(title.upper())
            parts.extend(p[i : i + 90] for p in paras for i in range(0, len(p), 90))
            parts.append("")
        return "\n".join(parts)
    nav = "<nav><ul>" + "".join(f"<li><a href='/{w}'>{w}</a></li>" for w in WORDS[:12])
    body = [
        f"<html><head><title>Page</title><script>var x={rng.random()}</script></head><body>",
        "<div class='cookie-banner'>We use cookies</div><header>Site</header>",
        nav + "</ul></nav><main>",
    ]
    for level, title, paras in secs:
        body.append(f"<h{level}>{title}</h{level}>")
        body.extend(f"<p>{p}</p>" for p in paras)
        if rng.random() < 0.05:
            body.append("<table>" + "<tr><td>a</td><td>b</td><td>c</td></tr>" * 5 + "</table>")
    body.append("</main><footer>Imprint</footer></body></html>")
    return "\n".join(body)


def make_corpus(root: Path, megabytes: float, seed: int) -> int:
    """Write md/txt/html files totalling ``megabytes``; returns the bytes written."""
    rng = random.Random(seed)
    total, n = 0, 0
    goal = int(megabytes * 1_000_000)
    while total < goal:
        kind = TYPES[n % 3]
        text = render(kind, sections(rng, rng.randint(60_000, 400_000)), rng)
        path = root / kind / f"d{n // 100:03d}" / f"doc{n:05d}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        total += len(data)
        n += 1
    return total


def make_binary_corpus(root: Path, files: int, seed: int) -> int:
    from benchmarks.make_samples import render_docx, render_pdf

    rng = random.Random(seed)
    total = 0
    for i in range(files):
        secs = sections(rng, 25_000)
        text = "\n\n".join(
            "\n\n".join(["#" * min(level, 3) + " " + title, *paras]) for level, title, paras in secs
        )
        kind = "pdf" if i % 2 == 0 else "docx"
        path = root / kind / f"doc{i:03d}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        (render_pdf if kind == "pdf" else render_docx)(text, path, title=f"Doc {i}", author="b")
        total += path.stat().st_size
    return total


def child(docs: str, run: str, pdf_reader: str = "pdfium") -> None:
    """Ingest ``docs`` into ``run`` on one CPU and print one JSON line of figures; PDFs
    with ``pdf_reader`` (``pypdf``: the reader before PDFium)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from benchmarks.pdf_compare import reader
    from generator.ingest.base import readers, register
    from generator.ingest.pipeline import IngestSettings, ingest_entries, plan
    from generator.store import Journal

    readers()  # the built-ins first, so the one registered next replaces theirs
    register(reader(pdf_reader))

    settings = IngestSettings()
    t0, c0 = time.perf_counter(), time.process_time()
    files = chunks = tokens = errors = size = 0
    with Journal(run) as journal:
        for result in ingest_entries(plan(docs, settings), journal, settings):
            files += 1
            chunks += result.chunks
            tokens += result.tokens
            errors += result.status == "error"
            size += result.size
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    with Journal(run) as journal:  # a figure for the table, not part of the ingest
        found = journal.query("SELECT sum(length(json_extract(data,'$.text'))) AS n FROM documents")
        text_chars = found[0]["n"] or 0
    print(
        json.dumps(
            {
                "files": files,
                "chunks": chunks,
                "tokens": tokens,
                "errors": errors,
                "bytes": size,
                "text_chars": text_chars,
                "wall": wall,
                "cpu": cpu,
                # the whole process: Python's start and every import too
                "cpu_process": usage.ru_utime + usage.ru_stime,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def measure(docs: Path, label: str, work: Path, pdf_reader: str = "pdfium") -> dict:
    run = work / f"run-{label}".replace(" ", "-")
    shutil.rmtree(run, ignore_errors=True)  # a new run: every file parsed
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(docs), str(run), pdf_reader],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    fig = json.loads(proc.stdout.strip().splitlines()[-1])
    fig["label"] = label
    fig["mb_s"] = fig["bytes"] / 1e6 / fig["wall"]
    fig["text_mb_s"] = fig["text_chars"] / 1e6 / fig["wall"]
    # the machine is shared: MB per CPU-second is what one dedicated core would do
    fig["cpu_mb_s"] = fig["bytes"] / 1e6 / fig["cpu"]
    fig["process_mb_s"] = fig["bytes"] / 1e6 / fig["cpu_process"]
    return fig


def best_of(docs: Path, label: str, work: Path, repeats: int) -> dict[str, dict]:
    """Reader name -> the figures of its fastest whole ingest (least CPU) of ``repeats``,
    the readers taking turns so that both see the same load on a shared machine."""
    runs: dict[str, list[dict]] = {name: [] for name in READERS}
    for _ in range(repeats):
        for name in READERS:
            runs[name].append(measure(docs, f"{label} {name}", work, name))
    return {name: min(figs, key=lambda fig: fig["cpu"]) for name, figs in runs.items()}


def show(fig: dict) -> None:
    print(
        f"{fig['label']:<12} {fig['files']:>6} {fig['bytes'] / 1e6:>9.1f} "
        f"{fig['text_chars'] / 1e6:>9.1f} {fig['chunks']:>8} {fig['tokens'] / 1e6:>8.2f} "
        f"{fig['wall']:>7.1f} {fig['mb_s']:>7.2f} {fig['text_mb_s']:>8.2f} "
        f"{fig['cpu']:>6.1f} {fig['cpu_mb_s']:>8.2f} {fig['peak_mb']:>8.0f} {fig['errors']:>4}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=52.0, help="size of the 1x text corpus")
    ap.add_argument("--binary-files", type=int, default=40, help="PDF + DOCX files")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true", help="reuse the corpus in --keep DIR")
    ap.add_argument("--pdf-only", action="store_true", help="only the PDF before/after part")
    ap.add_argument(
        "--pdf-repeats", type=int, default=5, help="PDF parse passes and ingest runs (best counts)"
    )
    ap.add_argument("--child", nargs=3, metavar=("DOCS", "RUN", "PDF"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    t = time.perf_counter()
    for run in work.glob("run-*"):  # runs of an earlier call with --keep
        shutil.rmtree(run)
    text_dirs = () if args.pdf_only else ("x1", "x2")
    reuse = args.reuse and all((work / d).is_dir() for d in ("bin", *text_dirs))
    sizes = {}
    for folder in text_dirs:
        if reuse:
            sizes[folder] = sum(f.stat().st_size for f in (work / folder).rglob("*.*"))
        else:
            factor, seed = (1, 1) if folder == "x1" else (2, 2)
            sizes[folder] = make_corpus(work / folder, factor * args.mb, seed=seed)
    if reuse:
        binary = sum(f.stat().st_size for f in (work / "bin").rglob("*.*"))
    else:
        binary = make_binary_corpus(work / "bin", args.binary_files, seed=3)
    text_part = (
        ""
        if args.pdf_only
        else (f"1x {sizes['x1'] / 1e6:.1f} MB, 2x {sizes['x2'] / 1e6:.1f} MB (md/txt/html), ")
    )
    print(
        f"corpus: {text_part}pdf+docx {binary / 1e6:.1f} MB in {args.binary_files} files; "
        f"generated in {time.perf_counter() - t:.0f} s; work folder {work}"
    )
    print("each row: a fresh child process pinned to one CPU (start-up and imports included);")
    print("MB/s = input bytes / wall time; MB/cpu-s = input bytes / CPU time of the child")
    print(
        f"{'corpus':<12} {'files':>6} {'in MB':>9} {'text MB':>9} {'chunks':>8} "
        f"{'Mtokens':>8} {'wall s':>7} {'MB/s':>7} {'text MB/s':>8} {'cpu s':>6} "
        f"{'MB/cpu-s':>8} {'peakRSS':>8} {'err':>4}"
    )
    figs = []
    if not args.pdf_only:
        figs += [measure(work / "x1" / kind, f"1x {kind}", work) for kind in TYPES]
        figs += [measure(work / "x1", "1x all", work), measure(work / "x2", "2x all", work)]
        figs += [measure(work / "bin" / "docx", "docx", work)]
    pdf_rows = best_of(work / "bin" / "pdf", "pdf", work, args.pdf_repeats)
    for fig in [*figs, *pdf_rows.values()]:
        show(fig)
    if not args.pdf_only:
        a, b = figs[3], figs[4]
        print(
            f"2x/1x: input {b['bytes'] / a['bytes']:.2f}x, wall {b['wall'] / a['wall']:.2f}x, "
            f"peak RSS {b['peak_mb'] / a['peak_mb']:.2f}x (flat = streamed)"
        )
        for key, what in (("mb_s", "wall clock"), ("cpu_mb_s", "CPU time")):
            slowest = min(f[key] for f in figs[:3])
            print(
                f"md/txt/html target >= 5 MB/s on one core ({what}): slowest type "
                f"{slowest:.2f} MB/s -> {'met' if slowest >= 5 else 'NOT met'}"
            )
    pdf_report(work, pdf_rows, args.pdf_repeats)
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def pdf_report(work: Path, rows: dict[str, dict], repeats: int) -> None:
    """PDF before (pypdf) / after (PDFium): parse and whole-ingest MB per CPU-second, their
    ratio against the 2 MB/cpu-s goal, and how the extracted text differs."""
    parse = parse_figures(work / "bin" / "pdf", work, repeats)
    print("PDF before (pypdf) / after (PDFium), one core, MB of PDF per CPU-second:")
    # one file through the same child: its CPU time is mostly the one-off start (tokenizer
    # load, journal, imports); the corpus run minus it is what more PDFs cost
    one = work / "pdf-one"
    one.mkdir(exist_ok=True)
    first = pdf_files(work / "bin" / "pdf")[0]
    shutil.copyfile(first, one / first.name)
    marginal = {}
    singles = best_of(one, "pdf-one", work, repeats)
    for name in READERS:
        single, full = singles[name], rows[name]
        marginal[name] = {
            "cpu_mb_s": (full["bytes"] - single["bytes"]) / 1e6 / (full["cpu"] - single["cpu"])
        }
    # issue 21 asked for the parse at >= 2 MB/cpu-s; the whole ingest (what a user runs,
    # tokenizer load and other one-off start-up included) is held to 2.5
    for what, before, after, goal in (
        (f"parse only, best of {repeats}", parse["pypdf"], parse["pdfium"], 2.0),
        (f"whole ingest, best of {repeats}", rows["pypdf"], rows["pdfium"], 2.5),
        ("whole ingest minus 1-file run", marginal["pypdf"], marginal["pdfium"], 2.5),
        (
            "whole process (Python, imports)",
            {"cpu_mb_s": rows["pypdf"]["process_mb_s"]},
            {"cpu_mb_s": rows["pdfium"]["process_mb_s"]},
            None,
        ),
    ):
        ratio = after["cpu_mb_s"] / before["cpu_mb_s"]
        verdict = "" if goal is None else "met" if after["cpu_mb_s"] >= goal else "NOT met"
        print(
            f"  {what:<31} before {before['cpu_mb_s']:>5.2f}  after {after['cpu_mb_s']:>5.2f}  "
            f"ratio {ratio:>4.1f}x"
            + ("" if goal is None else f"  goal >= {goal} MB/cpu-s: {verdict}")
        )
    print("text, before -> after, on the corpus (character level):")
    print("\n".join(text_diff(parse["pypdf"]["texts"], parse["pdfium"]["texts"])))
    samples = pdf_files(REPO / "samples")
    print(f"text, before -> after, on the {len(samples)} PDF(s) of samples/:")
    print("\n".join(text_diff(read_all("pypdf", samples), read_all("pdfium", samples))))
    print("damaged files (one clear error line or text; never a crash):")
    print(damage_report(pdf_files(work / "bin" / "pdf")[:6] + samples))


if __name__ == "__main__":
    main()
