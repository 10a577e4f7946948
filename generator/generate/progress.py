"""Live progress and the final summary of a generation run (rich).

On a terminal a live bar shows chunks done, records accepted and rejected, tokens, cost and
the rate; elsewhere (CI, pipes) nothing is redrawn and only warnings and the summary print.
The summary table lists counts, tokens, cost and the top rejection reasons with an example.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from generator.generate.budget import Estimate
from generator.generate.commit import Tally

if TYPE_CHECKING:
    from generator.generate.engine import Engine

TOP_REASONS = 8


class LiveProgress:
    """The engine's observer: a rich progress bar plus warnings on stderr."""

    def __init__(self, console: Console, err_console: Console, total_chunks: int, done: int):
        self.console = console
        self.err = err_console
        self.start = time.monotonic()
        self.progress = Progress(
            TextColumn("generate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("chunks | {task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("", total=total_chunks, completed=done, stats="")
        self._last = 0.0

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, engine: Engine) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and engine.chunks_done < engine.chunks_total:
            return  # redraw at most 10 times a second
        self._last = now
        t = engine.tally
        rate = t.accepted / max(1e-9, now - self.start)
        stats = (
            f"accepted {t.accepted} rejected {t.rejected} | tokens "
            f"{t.prompt_tokens + t.completion_tokens:,} | ${t.cost_usd:.4f} | {rate:.1f} rec/s"
        )
        self.progress.update(self.task, completed=engine.chunks_done, stats=stats)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def summary_table(
    tally: Tally, *, elapsed: float, chunks_done: int, chunks_total: int, total_accepted: int
) -> Table:
    """The end-of-run table: this session's work and the run's totals."""
    table = Table(title="generate: summary", box=box.SIMPLE, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    seen = tally.accepted + tally.rejected
    rate = f"{100 * tally.accepted / seen:.0f}%" if seen else "-"
    rows = [
        ("chunks done", f"{chunks_done} / {chunks_total}"),
        ("records accepted (this session)", str(tally.accepted)),
        ("records rejected (this session)", str(tally.rejected)),
        ("acceptance rate", rate),
        ("records in the run (this generation)", str(total_accepted)),
        ("provider calls (failed)", f"{tally.calls - tally.cache_hits} ({tally.failed_calls})"),
        (
            "answered by the call cache (corrupt entries)",
            f"{tally.cache_hits} ({tally.cache_corrupt})",
        ),
        ("tokens in / out", f"{tally.prompt_tokens:,} / {tally.completion_tokens:,}"),
        ("tokens in from prompt cache", f"{tally.cached_tokens:,}"),
        ("cost (this session)", f"${tally.cost_usd:.4f}"),
        (
            "cost per accepted record",
            f"${tally.cost_usd / tally.accepted:.6f}" if tally.accepted else "-",
        ),
        ("time", f"{elapsed:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def reasons_table(tally: Tally) -> Table | None:
    if not tally.reasons:
        return None
    table = Table(title="top rejection reasons", box=box.SIMPLE)
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("example")
    for reason, n in tally.reasons.most_common(TOP_REASONS):
        table.add_row(reason, str(n), tally.examples.get(reason, "")[:100])
    return table


def estimate_table(e: Estimate) -> Table:
    """``--dry-run``: the plan's cost sync and through the batch API, without and with the
    prompt caching its shared static prefix should get."""
    table = Table(title="dry run: estimated cost", box=box.SIMPLE)
    table.add_column("")
    table.add_column("sync", justify="right")
    table.add_column("--batch", justify="right")

    def usd(v: float | None) -> str:
        return "-" if v is None else f"${v:.4f}"

    table.add_row("no prompt caching", usd(e.cost_usd), usd(e.batch_cost_usd))
    share = 100 * e.cached_tokens / e.prompt_tokens if e.prompt_tokens else 0.0
    table.add_row(
        f"expected caching ({e.cached_tokens:,} tokens, {share:.0f}% of input; shared "
        f"prefix {e.prefix_tokens:,} tokens)",
        usd(e.cost_cached_usd),
        usd(e.batch_cost_cached_usd),
    )
    return table
