"""`instructforge review`: sampled human review of a run.

``review RUN`` starts (or resumes) the terminal loop; ``review export|import|status`` move
the sample to and from JSONL/CSV and print the outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from generator.atomic import atomic_write_text
from generator.curate.quality import journal_source_text
from generator.errors import ConfigError
from generator.review import io as review_io
from generator.review.loop import review_loop
from generator.review.session import prepare, render_markdown, summary
from generator.review.store import ReviewStore, reviewer_name
from generator.runfolder import open_run_folder
from generator.store import Journal


class _DefaultStart(TyperGroup):
    """``review RUN ...`` means ``review start RUN ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


review_app = typer.Typer(
    cls=_DefaultStart,
    no_args_is_help=True,
    help="Sampled human review: `review RUN` starts or resumes the loop; "
    "`review export|import|status RUN` for external tools and the outcome.",
)

RunArg = typer.Argument(..., help="The run folder.", show_default=False)
# Honoured when the sample is drawn; once it has been, a different value is refused.
SampleOpt = typer.Option(
    None, "--sample", min=1, help="Sample size (default max(50, 5% of the set)); fixed once drawn."
)
SeedOpt = typer.Option(None, help="Seed of the stratified sample (default 0); fixed once drawn.")


def _fmt(path: Path, fmt: str | None) -> str:
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"--format must be csv or jsonl, not {fmt!r}")
    return fmt


@review_app.command("start")
def start(
    run: Path = RunArg,
    sample: int | None = SampleOpt,
    seed: int | None = SeedOpt,
    reviewer: str | None = typer.Option(None, help="Reviewer name (default $USER)."),
) -> None:
    """Review records one by one: accept, reject with a reason, edit, skip or quit."""
    with _open(run) as journal:
        store = ReviewStore(journal)
        info = _prepare(store, run, sample, seed)
        typer.echo(
            f"review queue: {info['flagged']} flagged by curation + {info['sample_size']} "
            f"sampled of {info['population']} ({info['strata']} strata, seed {info['seed']})"
        )
        counts = review_loop(store, journal_source_text(journal), Console(), reviewer=reviewer)
        typer.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
        _write_report(run, store)


@review_app.command("export")
def export(
    run: Path = RunArg,
    out: Path = typer.Option(..., "--out", help="File to write (.jsonl or .csv)."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: by suffix)."),
    sample: int | None = SampleOpt,
    seed: int | None = SeedOpt,
) -> None:
    """Write the review queue for an external review tool."""
    with _open(run) as journal:
        store = ReviewStore(journal)
        _prepare(store, run, sample, seed)
        n = review_io.export_sample(store, out, _fmt(out, fmt))
    typer.echo(f"wrote {n} items to {out}")


@review_app.command("import")
def import_(
    run: Path = RunArg,
    file: Path = typer.Argument(..., help="Reviewed JSONL or CSV file."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: by suffix)."),
    reviewer: str | None = typer.Option(None, help="Reviewer for rows without one."),
) -> None:
    """Read decisions made in an external tool back into the journal."""
    with _open(run) as journal:
        store = ReviewStore(journal)
        if not store.has_sample():
            raise ConfigError(f"{run}: no review sample yet; run `review export` first")
        n, errors = review_io.import_decisions(
            store, file, _fmt(file, fmt), reviewer or reviewer_name()
        )
        for line in errors:
            typer.echo(line, err=True)
        typer.echo(f"imported {n} decisions ({len(errors)} rows refused)")
        _write_report(run, store)


@review_app.command("status")
def status(run: Path = RunArg) -> None:
    """Print the review outcome: decisions, acceptance rate, estimated defect rate."""
    with _open(run) as journal:
        typer.echo(_write_report(run, ReviewStore(journal)))


@contextlib.contextmanager
def _open(run: Path) -> Iterator[Journal]:
    """The run's journal, the run locked and its records healed for the whole command."""
    with open_run_folder(run, "review", need_journal=True, heal=True) as folder:
        yield folder.journal


def _prepare(store: ReviewStore, run: Path, sample: int | None, seed: int | None) -> dict:
    """Draw or resume the queue; say so when fewer records exist than --sample asked for."""
    info = prepare(store, run, sample, seed)
    if sample is not None and info["sample_size"] < sample:
        typer.echo(
            f"note: --sample {sample} asked for more than the {info['population']} records "
            f"there are; the sample holds all {info['sample_size']}",
            err=True,
        )
    return info


def _write_report(run: Path, store: ReviewStore) -> str:
    text = render_markdown(summary(store))
    atomic_write_text(run / "curation" / "review_report.md", text)  # never half a report
    return text


def register(app: Any) -> None:
    app.add_typer(review_app, name="review")
