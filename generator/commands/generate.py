"""``instructforge generate DOCS --out RUN --model MODEL``: documents in, validated and
tagged records out; re-running the same command resumes.

Exit codes: 0 done (also when ``--records`` was reached); 2 usage or configuration error
(unknown model, missing API key, changed settings without ``--force-new-settings``);
4 stopped by a guard (``--max-cost``, circuit breaker), resumable; 130 Ctrl-C, resumable.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from generator.errors import ConfigError


def _price(value: str | None) -> tuple[float | None, float | None]:
    if not value:
        return None, None
    try:
        inp, out = (float(x) for x in value.split(","))
    except ValueError as exc:
        raise ConfigError(f"--price {value!r}: give INPUT,OUTPUT in USD per 1M tokens") from exc
    return inp, out


def generate(
    docs: Path = typer.Argument(..., help="Folder of documents; ingested first if needed."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (created; re-use to resume)."),
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="LiteLLM model string (openai/gpt-4o-mini, anthropic/..., "
        "ollama/..., openai/NAME with --api-base) or mock/NAME (offline).",
    ),
    template: str = typer.Option("qa", "--template", "-t", help="Prompt template id or file."),
    seeds: Path = typer.Option(
        None, "--seeds", help="Seed tasks (JSONL) for self-instruct; default: generic tasks."
    ),
    records: int = typer.Option(None, "--records", min=1, help="Stop once N are accepted."),
    per_chunk: int = typer.Option(
        None, "--per-chunk", min=1, help="Records asked for per chunk (default: the template's)."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="Calls in flight."),
    rpm: int = typer.Option(None, "--rpm", min=1, help="Cap on requests per minute."),
    tpm: int = typer.Option(None, "--tpm", min=1, help="Cap on tokens per minute."),
    max_cost: float = typer.Option(
        None, "--max-cost", min=0, help="Stop (exit 4, resumable) before spending more USD."
    ),
    price: str = typer.Option(
        None, "--price", help="INPUT,OUTPUT USD per 1M tokens for a model without a known price."
    ),
    context_window: int = typer.Option(
        None, "--context-window", min=256, help="Context window in tokens (overrides LiteLLM's)."
    ),
    cache: Path = typer.Option(
        None,
        "--cache",
        metavar="DIR",
        help="Answer a request identical to one an earlier run made from this call cache "
        "folder instead of the provider (hits cost 0; default off: generation wants novelty).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print calls, tokens and cost to expect; send nothing."
    ),
    api_base: str = typer.Option(None, "--api-base", help="Base URL of the model server."),
    api_key_env: str = typer.Option(
        None,
        "--api-key-env",
        metavar="NAME",
        help="Environment variable holding the key for --api-base (its name is recorded, "
        "never the value). Without it a server other than the provider's own gets no key.",
    ),
    force_new_settings: bool = typer.Option(
        False, "--force-new-settings", help="Accept changed model/template/seeds on this RUN."
    ),
    workers: str = typer.Option(
        "auto",
        "--workers",
        help="Processes making the calls: 0 = this process; auto = one extra process from "
        "--concurrency 32 on (past what one core drives).",
    ),
    pool_lag: int = typer.Option(
        64,
        "--pool-lag",
        min=1,
        help="Self-instruct: a call shows pool examples only from "
        "calls at least this many places earlier (keeps resumed runs identical).",
    ),
    max_retries: int = typer.Option(5, "--max-retries", min=0, help="Retries of transient errors."),
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds per call."),
    redact_before_send: bool = typer.Option(
        False,
        "--redact-before-send",
        help="Replace personal data and secrets in each chunk (<EMAIL>, <OPENAI_KEY>, ...) "
        "before it is sent to the provider; records say so in meta.redaction.",
    ),
    tools: Path = typer.Option(
        None,
        "--tools",
        metavar="FILE",
        help="Tool catalogue (JSON or YAML list of JSON Schema functions) for a tool-calling "
        "template such as tool-use; validated on load.",
    ),
) -> None:
    """Generate instruction records from DOCS with MODEL into RUN (records.jsonl, rejected.jsonl,
    run.sqlite). Every call, record and rejection is journaled as it happens: re-running the
    same command resumes without paying twice, even after a crash."""
    from generator.generate.outputs import RECORDS_FILE, REJECTED_FILE
    from generator.generate.progress import reasons_table, summary_table
    from generator.generate.runner import run_generate
    from generator.generate.settings import GenerateSettings

    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    price_in, price_out = _price(price)
    try:
        settings = GenerateSettings(
            docs=str(docs), run_dir=str(out), model=model, template=template,
            seeds=str(seeds) if seeds else None, per_chunk=per_chunk, records=records,
            concurrency=concurrency, rpm=rpm, tpm=tpm, max_cost=max_cost, api_base=api_base,
            cache_dir=str(cache) if cache else None,
            api_key_env=api_key_env,
            workers=workers, context_window=context_window, price_in_per_m=price_in,
            price_out_per_m=price_out, max_retries=max_retries, timeout_s=timeout,
            dry_run=dry_run, pool_lag=pool_lag,
            force_new=force_new_settings, redact_before_send=redact_before_send,
            tools=str(tools) if tools else None,
        )  # fmt: skip
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(" ".join(str(exc).split("\n")[1:3]).strip() or str(exc)) from exc
    result = run_generate(settings, console, err)
    if result.ingest_note:
        err.print(result.ingest_note)
    if result.estimate is not None:
        e = result.estimate
        cost = (
            "unknown (no price for this model: use --price)"
            if e.cost_usd is None
            else (f"${e.cost_usd:.4f}")
        )
        console.print(
            f"dry run: {e.calls} calls to make ({e.skipped_done} already done), about "
            f"{e.prompt_tokens:,} prompt + {e.completion_tokens:,} completion tokens, "
            f"estimated cost {cost}. Nothing was sent."
        )
        return
    console.print(
        summary_table(
            result.tally, elapsed=result.elapsed, chunks_done=result.chunks_done,
            chunks_total=result.chunks_total, total_accepted=result.total_accepted,
        )
    )  # fmt: skip
    reasons = reasons_table(result.tally)
    if reasons is not None:
        console.print(reasons)
    if result.tally.cache_corrupt:
        err.print(
            f"[yellow]warning:[/yellow] {result.tally.cache_corrupt} corrupt call-cache "
            "entries were ignored and their calls sent again (the new replies replaced them)"
        )
    if result.left_pending:
        err.print(
            f"[yellow]warning:[/yellow] {result.left_pending} calls failed at the provider "
            "(see rejected.jsonl); their work is still pending: re-run the same command to "
            "retry them"
        )
    console.print(f"records: {out / RECORDS_FILE}   rejected: {out / REJECTED_FILE}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
