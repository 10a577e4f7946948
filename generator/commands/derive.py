"""``instructforge pairs RUN ...`` (preference pairs) and ``instructforge evalset RUN ...``
(a held-out evaluation set): stages over a run folder (``generator/derive/``)."""

from __future__ import annotations

from pathlib import Path

import typer

from generator.errors import ConfigError


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"


def pairs_cmd(
    run: Path = typer.Argument(..., help="Run folder whose records the pairs are made from."),
    method: str = typer.Option(..., "--method", help="judge | review-edit | flawed"),
    model: str | None = typer.Option(
        None, "--model", help="Answers (judge: side A) or flawed copies."
    ),
    rival: str | None = typer.Option(None, "--rival", help="judge: the second side's model."),
    temperatures: str | None = typer.Option(
        None, "--temperatures", help="judge: one model at two temperatures, e.g. 0.2,1.0"
    ),
    judge: str | None = typer.Option(None, "--judge", help="judge: the model that ranks."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many records."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", min=0, help="Stop (exit 4, resumable) before spending more USD."
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", help="OpenAI-compatible server of --model and --rival."
    ),
    judge_api_base: str | None = typer.Option(
        None, "--judge-api-base", help="judge: OpenAI-compatible server of --judge."
    ),
) -> None:
    """Make preference pairs into RUN/pairs/ (findings held in RUN/pairs/review.jsonl)."""
    from generator.derive.pairs import PairSettings, build_pairs
    from generator.runfolder import open_run_folder

    temps = None
    if temperatures is not None:
        try:
            a, b = (float(x) for x in temperatures.split(","))
        except ValueError as exc:
            raise ConfigError(
                f"--temperatures {temperatures!r}: give two numbers, e.g. 0.2,1.0"
            ) from exc
        temps = (a, b)
    settings = PairSettings(
        run, method, model, rival, temps, judge, limit, max_cost, api_base, judge_api_base
    )
    with open_run_folder(run, "pairs", need_journal=True, heal=True) as folder:
        res = build_pairs(settings, folder.journal)
    typer.echo(f"pairs: {_counts(dict(res.counts))}")
    typer.echo(f"written: {run / 'pairs' / 'records.jsonl'}")


def evalset_cmd(
    run: Path = typer.Argument(..., help="Run folder whose held-out documents to use."),
    model: str = typer.Option(..., "--model", help="Model that writes the questions."),
    train_run: list[Path] = typer.Option(
        [], "--train-run", help="Another run whose training documents must be held out."
    ),
    per_chunk: int = typer.Option(2, "--per-chunk", min=0, help="Single-hop items per chunk."),
    multihop: int = typer.Option(1, "--multihop", min=0, help="Two-hop items per chunk pair."),
    max_chunks: int | None = typer.Option(None, "--max-chunks", min=1, help="Chunks per document."),
    api_base: str | None = typer.Option(None, "--api-base", help="OpenAI-compatible server URL."),
) -> None:
    """Make an evaluation set into RUN/eval/ from documents no training record used."""
    from generator.derive.evalset import EvalSettings, build_evalset
    from generator.runfolder import open_run_folder

    settings = EvalSettings(run, model, list(train_run), per_chunk, multihop, max_chunks, api_base)
    with open_run_folder(run, "evalset", need_journal=True, heal=True) as folder:
        res = build_evalset(settings, folder.journal)
    typer.echo(f"evalset: {len(res.records)} items; {_counts(dict(res.counts))}")
    if res.skipped_docs:
        typer.echo(f"held out: skipped {len(res.skipped_docs)} document(s) used for training")
    if res.findings:
        typer.echo(
            f"{len(res.findings)} call(s) failed or unusable: see {run / 'eval' / 'review.jsonl'}"
        )
    typer.echo(f"written: {run / 'eval' / 'records.jsonl'}")


def register(app: typer.Typer) -> None:
    app.command("pairs")(pairs_cmd)
    app.command("evalset")(evalset_cmd)
