"""``instructforge ingest DOCS --out RUN``: parse and chunk a document folder into a run.

Prints one line per bad file (its path and reason), the files left out on purpose, and a
table per file type; a progress bar runs while files are read (on a terminal). Exit 0 even
when some files are bad (they are reported, the rest is ingested); exit 2 for usage errors.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from generator.cluster.connect import open_cluster, parse_spec
from generator.display import shown_path
from generator.errors import ConfigError
from generator.ingest.archive import DEFAULT_MAX_UNZIPPED_MB, DEFAULT_MAX_ZIP_ENTRIES
from generator.ingest.chunking import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP
from generator.ingest.pipeline import (
    INGESTED,
    UNCHANGED,
    FileResult,
    ParseMap,
    ingest_entries,
    parse_here,
    plan,
)
from generator.ingest.settings import DEFAULT_MAX_FILE_MB, SETTINGS_KEY, resolve
from generator.runfolder import open_run_folder
from generator.tokens import encoding_name

if TYPE_CHECKING:
    from generator.cluster.connect import Cluster

TYPES = ("md", "txt", "html", "pdf", "docx", "other")
COUNTS = ("files", "ingested", "unchanged", "chunks", "tokens", "skipped", "errors")
MAX_SKIPPED_LINES = 20  # hidden/unknown files can be many: show the first ones


def ingest(
    docs: Path = typer.Argument(..., help="Folder of documents (.md .txt .html .pdf .docx)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder; created if missing."),
    max_tokens: int = typer.Option(
        None, "--max-tokens", help=f"Largest chunk, in tokens of --model [{DEFAULT_MAX_TOKENS}]."
    ),
    overlap: int = typer.Option(
        None, "--overlap", help=f"Tokens a chunk repeats from the one before [{DEFAULT_OVERLAP}]."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="Model whose tokenizer counts tokens (o200k for current OpenAI "
        "models, cl100k otherwise).",
    ),
    max_file_mb: float = typer.Option(
        None,
        "--max-file-mb",
        help=f"Files above this size are reported, not read [{DEFAULT_MAX_FILE_MB:g}].",
    ),
    max_unzipped_mb: float = typer.Option(
        None,
        "--max-unzipped-mb",
        help="A .docx (zip) or a PDF's streams or text expanding past this many MB is "
        f"reported, not read [{DEFAULT_MAX_UNZIPPED_MB:g}].",
    ),
    max_zip_entries: int = typer.Option(
        None,
        "--max-zip-entries",
        help=f"A .docx (zip) with more entries is reported, not read [{DEFAULT_MAX_ZIP_ENTRIES}].",
    ),
    reingest: bool = typer.Option(
        False,
        "--reingest",
        help="Accept settings that differ from the ones RUN was ingested with: every "
        "document is parsed and chunked again.",
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        help="Parse on Dask workers: local:N (N worker processes on this machine, loopback "
        "only) or tcp://HOST:PORT (a running scheduler). Same journal as without it.",
    ),
) -> None:
    """Parse and chunk DOCS into the run folder OUT (the command help is ``HELP``)."""
    asked = {
        "max_tokens": max_tokens,
        "overlap": overlap,
        "tokenizer": encoding_name(model) if model else None,
        "max_file_mb": max_file_mb,
        "max_unzipped_mb": max_unzipped_mb,
        "max_zip_entries": max_zip_entries,
    }
    asked = {k: v for k, v in asked.items() if v is not None}
    if not docs.is_dir():
        raise ConfigError(f"document folder not found: {docs}")
    resolve(None, asked, model=model)  # a bad value is refused before RUN is created
    if cluster is not None:
        parse_spec(cluster)  # a bad value is refused before RUN is created
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    results: list[FileResult] = []
    with contextlib.ExitStack() as stack:
        engine = None
        if cluster is not None:
            say = _say(console)
            engine = stack.enter_context(open_cluster(cluster, say=say, summary=say))
        _ingest(docs, out, asked, reingest, model, engine, console, err, results)
    _report(console, results, out)


def _say(console: Console) -> Callable[[str], None]:
    return lambda line: console.print(line, markup=False, soft_wrap=True)


def _ingest(
    docs: Path,
    out: Path,
    asked: dict[str, Any],
    reingest: bool,
    model: str | None,
    engine: Cluster | None,
    console: Console,
    err: Console,
    results: list[FileResult],
) -> None:
    parse: ParseMap = parse_here
    if engine is not None:
        from generator.cluster.ingest import cluster_parser

        parse = cluster_parser(engine)
    with open_run_folder(out, "ingest", create=True) as run:
        journal = run.journal
        settings, note = resolve(
            journal.get_setting(SETTINGS_KEY), asked, reingest=reingest, model=model
        )
        if note:
            err.print(note, markup=False, soft_wrap=True)
        entries = plan(docs, settings, out)
        total = sum(e.size for e in entries if e.kind is None)
        progress = Progress(
            TextColumn("ingest"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        with progress:
            task = progress.add_task("", total=total)
            for result in ingest_entries(
                entries, journal, settings, reingest=reingest, parse=parse
            ):
                results.append(result)
                if result.status in (INGESTED, UNCHANGED, "error"):
                    shown = escape(shown_path(result.path)[-40:])
                    progress.update(task, advance=result.size, description=shown)


def _report(console: Console, results: list[FileResult], out: Path) -> None:
    errors = [r for r in results if r.status == "error"]
    skipped = [r for r in results if r.status == "skipped"]
    removed = [r for r in results if r.status == "removed"]
    for r in errors:
        console.print(f"error   {r.line()}", markup=False, soft_wrap=True)
    for r in skipped[:MAX_SKIPPED_LINES]:
        console.print(f"skipped {r.line()}", markup=False, soft_wrap=True)
    if len(skipped) > MAX_SKIPPED_LINES:
        console.print(
            f"skipped ... and {len(skipped) - MAX_SKIPPED_LINES} more "
            f"(all listed in the run's 'skipped' table)"
        )
    for r in removed:
        console.print(f"removed {r.line()}", markup=False, soft_wrap=True)
    console.print(_table(results))
    done = sum(r.status in (INGESTED, UNCHANGED) for r in results)
    console.print(
        f"{done} documents in {out / 'run.sqlite'}; {len(errors)} errors, {len(skipped)} skipped",
        markup=False,
        soft_wrap=True,
    )


def _table(results: list[FileResult]) -> Table:
    """One row per file type; the reasons for skipped and bad files in the caption."""
    table = Table(title="ingest by file type", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("type")
    for col in COUNTS:
        table.add_column(col, justify="right", min_width=len(col), no_wrap=True)
    by_type: dict[str, list[FileResult]] = defaultdict(list)
    for r in results:
        if r.status != "removed":
            by_type[r.type].append(r)
    totals: Counter[str] = Counter()
    notes = []
    for name in TYPES:
        rows = by_type.get(name)
        if not rows:
            continue
        counts = Counter(r.status for r in rows)
        row = {
            "files": len(rows),
            "ingested": counts[INGESTED],
            "unchanged": counts[UNCHANGED],
            "chunks": sum(r.chunks for r in rows),
            "tokens": sum(r.tokens for r in rows),
            "skipped": counts["skipped"],
            "errors": counts["error"],
        }
        totals.update(row)
        table.add_row(name, *(f"{row[k]:,}" for k in COUNTS))
        reasons = Counter(shown_path(r.reason.split(":")[0]) for r in rows if r.reason)
        if reasons:
            notes.append(f"{name}: " + ", ".join(f"{n} {why}" for why, n in reasons.most_common()))
    table.add_row("all", *(f"{totals[k]:,}" for k in COUNTS), style="bold")
    if notes:
        table.caption = "skipped and errors - " + "; ".join(notes)
        table.caption_justify = "left"
    return table


HELP = (
    "Read every supported file under DOCS (.md .txt .html .pdf .docx), split it into "
    "token-bounded chunks that follow its headings, and store documents and chunks in "
    "RUN/run.sqlite.\n\n"
    "Unchanged files (same sha256 and settings) are not parsed again on a re-run. Hidden "
    "files, unknown types and symlinks leaving DOCS are skipped and listed; bad files "
    "(corrupt or encrypted PDF, empty, binary, undecodable, too large) get one line each "
    "and the rest is ingested; so do .docx files that expand past --max-unzipped-mb or "
    "--max-zip-entries (zip bombs), PDFs that expand past --max-unzipped-mb, and files "
    "whose names are not valid UTF-8.\n\n"
    "A re-run on RUN keeps the settings RUN was ingested with (chunk size, overlap, "
    "tokenizer, size limits); a flag asking for a different value is refused (exit 2) "
    "unless --reingest is given. Exit 0 unless the command itself is wrong (exit 2)."
)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to the root app."""
    app.command("ingest", help=HELP)(ingest)
