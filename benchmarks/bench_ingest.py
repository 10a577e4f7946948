"""Ingest + chunk throughput and peak memory, on a generated corpus.

Generates (seeded) a corpus of md, txt and html documents of at least 50 MB, and a second
one twice as large, plus a smaller PDF/DOCX set; then ingests each in a fresh child process
pinned to one CPU (so peaks are separate and the figure is one core's) and prints MB/s of
input and peak RSS. Memory should stay flat from 1x to 2x: documents are streamed.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--mb 52] [--keep DIR]``
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


def child(docs: str, run: str) -> None:
    """Ingest ``docs`` into ``run`` on one CPU and print one JSON line of figures."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from generator.ingest.pipeline import IngestSettings, ingest_entries, plan
    from generator.store import Journal

    settings = IngestSettings()
    t0, c0 = time.perf_counter(), time.process_time()
    files = chunks = tokens = errors = size = 0
    with Journal(run) as journal:
        text_chars = 0
        for result in ingest_entries(plan(docs, settings), journal, settings):
            files += 1
            chunks += result.chunks
            tokens += result.tokens
            errors += result.status == "error"
            size += result.size
        text_chars = (
            journal.query("SELECT sum(length(json_extract(data,'$.text'))) AS n FROM documents")[0][
                "n"
            ]
            or 0
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def measure(docs: Path, label: str, work: Path) -> dict:
    run = work / f"run-{label}"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(docs), str(run)],
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
    return fig


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
    ap.add_argument("--child", nargs=2, metavar=("DOCS", "RUN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    t = time.perf_counter()
    for run in work.glob("run-*"):  # runs of an earlier call with --keep
        shutil.rmtree(run)
    if args.reuse and (work / "bin").is_dir():
        one, two, binary = (
            sum(f.stat().st_size for f in (work / d).rglob("*.*")) for d in ("x1", "x2", "bin")
        )
    else:
        one = make_corpus(work / "x1", args.mb, seed=1)
        two = make_corpus(work / "x2", 2 * args.mb, seed=2)
        binary = make_binary_corpus(work / "bin", args.binary_files, seed=3)
    print(
        f"corpus: 1x {one / 1e6:.1f} MB, 2x {two / 1e6:.1f} MB (md/txt/html), "
        f"pdf+docx {binary / 1e6:.1f} MB in {args.binary_files} files; generated in "
        f"{time.perf_counter() - t:.0f} s; work folder {work}"
    )
    print("each row: a fresh child process pinned to one CPU (start-up and imports included);")
    print("MB/s = input bytes / wall time; MB/cpu-s = input bytes / CPU time of the child")
    print(
        f"{'corpus':<12} {'files':>6} {'in MB':>9} {'text MB':>9} {'chunks':>8} "
        f"{'Mtokens':>8} {'wall s':>7} {'MB/s':>7} {'text MB/s':>8} {'cpu s':>6} "
        f"{'MB/cpu-s':>8} {'peakRSS':>8} {'err':>4}"
    )
    figs = [measure(work / "x1" / kind, f"1x {kind}", work) for kind in TYPES]
    figs += [measure(work / "x1", "1x all", work), measure(work / "x2", "2x all", work)]
    figs += [measure(work / "bin" / kind, kind, work) for kind in ("pdf", "docx")]
    for fig in figs:
        show(fig)
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
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
