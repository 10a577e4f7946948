"""``instructforge curate RUN [--config curate.yaml] [--goal G]`` and
``instructforge curate --input FILE.jsonl --out RUN``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from generator.cluster.connect import open_cluster, parse_spec
from generator.errors import ConfigError

GOALS = ("style", "format", "domain", "capability")


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def curate_cmd(
    run: Path | None = typer.Argument(None, help="Run folder whose records.jsonl to curate."),
    input_file: Path | None = typer.Option(
        None, "--input", help="Curate this file instead (JSONL or a JSON array of records)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder for --input's results."),
    config: Path | None = typer.Option(None, "--config", help="curate.yaml with settings."),
    goal: str | None = typer.Option(
        None, "--goal", help="Fine-tuning goal for size guidance: " + "|".join(GOALS)
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Run the steps on Dask workers: local:N (N worker processes on this machine, "
        "loopback only) or tcp://HOST:PORT (a running scheduler). Same files as without it.",
    ),
) -> None:
    """Filter, dedup and split records; write RUN/curation/ and print a table per step."""
    from generator.curate.pipeline import curate
    from generator.runfolder import open_run_folder

    if input_file is not None:
        if out is None or run is not None:
            raise ConfigError("--input FILE.jsonl needs --out RUN (and no RUN argument)")
        run_dir = out
    elif run is None:
        raise ConfigError("give a RUN folder, or --input FILE.jsonl --out RUN")
    else:
        if out is not None:
            raise ConfigError("--out is only used with --input")
        run_dir = run
    if goal is not None and goal not in GOALS:
        raise ConfigError(f"--goal must be one of {', '.join(GOALS)}, not {goal!r}")
    if cluster is not None:
        parse_spec(cluster)  # refused before anything is created
    fresh = input_file is not None  # RUN is the output: created, or a run; never foreign
    with contextlib.ExitStack() as stack:
        engine = None
        if cluster is not None:
            engine = stack.enter_context(open_cluster(cluster, say=typer.echo, summary=typer.echo))
        with open_run_folder(run_dir, "curate", create=fresh, heal=not fresh):
            result = curate(
                run_dir, input_file=input_file, config_path=config, goal=goal, cluster=engine
            )

    for p in result.problems:
        typer.echo(f"warning: {input_file or run_dir / 'records.jsonl'}: {p}", err=True)
    for w in dict.fromkeys(result.warnings):
        typer.echo(f"warning: {w}", err=True)
    rows = []
    for s in result.stats:
        dropped = s["dropped"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "-"
        rows.append([s["step"], str(s["in"]), str(s["kept"]), str(sum(dropped.values())), reasons])
    typer.echo(_table(["step", "in", "kept", "dropped", "reasons"], rows))
    c = result.counts
    line = f"curated {c['curated']} of {c['input']} records"
    if "train" in c:
        line += f"; train {c['train']}, validation {c['validation']} (leakage check passed)"
    if c.get("review"):
        line += f"; {c['review']} for review"
    failed = sum((s.get("check_failed") or {}).get("records", 0) for s in result.stats)
    if failed:
        line += f" ({failed} because a check could not run)"
    if c.get("bad_lines"):
        line += f"; {c['bad_lines']} bad input line(s) skipped"
    typer.echo(line)
    typer.echo(f"report: {result.report or result.out_dir}")


def register(app: typer.Typer) -> None:
    app.command("curate")(curate_cmd)
