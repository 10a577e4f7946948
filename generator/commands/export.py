"""``instructforge export RUN --format F --use USE --out DIR``: the licence gate, the dataset
files and the legal review pack."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from generator.export.job import ExportResult

# Static so `--help` does not import every exporter; tests/export checks it against the registry.
FORMATS_HELP = (
    "alpaca, alpaca-json, eval-jsonl, lm-eval, openai-chat, openai-preference, parquet, "
    "prompt-completion, sharegpt, trl-chat, trl-preference, trl-preference-chat"
)
USES_HELP = "evaluation, internal-fine-tune, commercial, competing-model, public-release"


def export_cmd(
    run: Path = typer.Argument(..., help="The run folder (from generate and/or curate)."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"Output format: {FORMATS_HELP}."),
    use: str = typer.Option(..., "--use", help=f"Intended use, judged by the gate: {USES_HELP}."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the dataset and legal pack."),
    accept_review: list[str] = typer.Option(
        [],
        "--accept-review",
        help="Export records whose verdict is 'review' because of this policy id or source "
        "label (repeatable). Recorded with your name and the time in the manifest.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse the whole export (exit 3) if any record is not 'allow'."
    ),
    no_meta: bool = typer.Option(
        False, "--no-meta", help="Drop provenance meta (default: a sidecar meta.jsonl)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files of an earlier export."),
    system_prompt: str = typer.Option(
        None,
        "--system-prompt",
        help="Chat formats: system message added to examples that have none. Other formats: "
        "the system prompt your trainer adds, so chat records carrying exactly it convert.",
    ),
    target_model: str = typer.Option(
        None,
        "--target-model",
        help="openai-chat: model to fine-tune, for the per-example token limit "
        "(default gpt-4o-mini-2024-07-18).",
    ),
    epochs: int = typer.Option(
        None, "--epochs", help="openai-chat: epochs for the training-token estimate."
    ),
    language: str = typer.Option("en", "--language", help="Language code for the dataset card."),
    require_review: str = typer.Option(
        None,
        "--require-review",
        help="Only records human review lets through: 'accepted' (accepted or edited by a "
        "reviewer) or 'accepted-or-unsampled' (also records never sampled). Edits are applied.",
    ),
    trainer_config: str = typer.Option(
        None,
        "--trainer-config",
        metavar="TRAINERS",
        help="Also write config snippets for these trainers (comma-separated): trl "
        "(trl_dataset.py), axolotl (axolotl_datasets.yaml), llamafactory (dataset_info.json).",
    ),
    push_to_hub: str = typer.Option(
        None,
        "--push-to-hub",
        metavar="OWNER/NAME",
        help="After the export, upload its data files and card to this Hugging Face "
        "dataset repo (created private if new); token from HF_TOKEN.",
    ),
    push_legal: bool = typer.Option(
        False,
        "--push-legal",
        help="With --push-to-hub: also upload meta.jsonl, excluded.jsonl, manifest.json and "
        "LEGAL_REVIEW.md (they name your documents and reviewers).",
    ),
    keep_reasoning: bool = typer.Option(
        False,
        "--keep-reasoning",
        help="Put the model's reasoning (kept in meta) into the examples: trl-chat "
        "reasoning_content, <think> in the answer for the other formats; openai-chat has no "
        "place for it. Never by default.",
    ),
) -> None:
    """Run the export of ``run`` (the command help is ``HELP``)."""
    from generator.export.job import ExportOptions, run_export
    from generator.export.trainers import parse_trainers
    from generator.runfolder import open_run_folder

    opts = ExportOptions(
        run=run, fmt=fmt, use=use, out=out, accept_review=tuple(accept_review), strict=strict,
        no_meta=no_meta, force=force, system_prompt=system_prompt, target_model=target_model,
        epochs=epochs, language=language, require_review=require_review,
        keep_reasoning=keep_reasoning, push_to_hub=push_to_hub, push_legal=push_legal,
        trainer_config=parse_trainers(trainer_config),
    )  # fmt: skip
    with open_run_folder(run, "export", heal=True, writes_to=out):
        res = run_export(opts)
    _print(res)


def _print(res: ExportResult) -> None:
    con = Console(highlight=False)
    for w in res.warnings:
        con.print(f"[yellow]warning:[/] {escape(w)}")
    table = Table(title=f"Licence gate: use {res.options.use}")
    cols = ("allow", "review-accepted", "review", "block")
    for name in ("policy", *cols):
        table.add_column(name, justify="left" if name == "policy" else "right")
    for pid, per in sorted(res.gate.stats.per_policy.items()):
        table.add_row(pid, *(str(per.get(c, 0)) for c in cols))
    con.print(table)
    if res.exclusions:
        ex = Table(title=f"Excluded: {len(res.exclusions)} records")
        ex.add_column("stage")
        ex.add_column("reason")
        ex.add_column("records", justify="right")
        reasons = Counter((e.stage, e.reason) for e in res.exclusions)
        for (stage, reason), n in reasons.most_common(10):
            ex.add_row(stage, reason, str(n))
        if len(reasons) > 10:
            ex.add_row("", f"... {len(reasons) - 10} more reasons in excluded.jsonl", "")
        con.print(ex)
    for name, rep in res.validation.items():
        state = "[green]ok[/]" if rep.ok else f"[red]{len(rep.errors)} problem(s)[/]"
        # Epochs and training tokens belong to the training file; a validation file is only
        # evaluated on, so it gets its checks and token distribution.
        cost = (
            f"; ~{rep.training_tokens} training tokens ({rep.epochs} epochs)"
            if rep.is_training
            else ""
        )
        con.print(
            f"OpenAI check of {name} ({rep.role} file): {state}; {rep.n_examples} examples, "
            f"tokens/example median {rep.tokens.get('median', 0)} max "
            f"{rep.tokens.get('max', 0)} (limit {rep.limit}){cost}"
        )
        for issue in rep.errors[:10]:
            con.print(f"  {issue}")
    splits = ", ".join(f"{s} {n}" for s, n in res.exported.items())
    con.print(f"exported {res.n_exported} of {res.total} records ({splits}) to {res.options.out}")
    con.print(f"legal review pack: {res.options.out / 'LEGAL_REVIEW.md'}, manifest.json")
    snippets = [f.name for f in res.files if f.kind == "trainer"]
    if snippets:
        con.print(f"trainer configs: {', '.join(snippets)}")
    if res.pushed is not None:
        con.print(
            f"pushed {len(res.pushed.files)} files to dataset {res.pushed.repo}: "
            f"{', '.join(res.pushed.files)}"
        )


HELP = (
    "Export a run's records through the licence gate, with a legal review pack.\n\n"
    "Every record is judged by the policy it was generated under and the labels of its source "
    "document: 'block' is never exported, 'review' only with --accept-review naming it. Writes "
    "the dataset (train/validation when the run has a curated split), provenance sidecars, "
    "manifest.json, LEGAL_REVIEW.md, a dataset card README.md and excluded.jsonl. Exit 3 when "
    "the gate refuses (--strict, or nothing may be exported)."
)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the root app."""
    app.command("export", help=HELP)(export_cmd)
