"""``instructforge runs show RUN``: status, progress, acceptance by reason, tokens and cost,
read from the run's journal only (nothing is recomputed or sent); the preference pairs and
evaluation items of the run, from their stages' reports, when made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)


def run_stats(run: Path) -> dict[str, Any]:
    """Everything ``runs show`` prints, as a dict (also handy for tests and scripts)."""
    from generator.derive.store import stage_reports
    from generator.generate.journal import GenJournal
    from generator.generate.settings import FINGERPRINT_KEY
    from generator.generate.setup import PLAN_KEY
    from generator.runfolder import live_holder
    from generator.store import open_run

    with open_run(run) as journal:
        GenJournal(journal)  # make sure the tables exist (a run that only ran ingest)
        q = journal.query
        plan = journal.get_setting(PLAN_KEY) or {}
        fp = plan.get("fp")
        session = q("SELECT * FROM gen_sessions ORDER BY id DESC LIMIT 1")
        calls = q(
            "SELECT status, COALESCE(error_code, 'ok') AS code, COUNT(*) AS n,"
            " SUM(prompt_tokens) AS pt, SUM(completion_tokens) AS ct, SUM(cost_usd) AS cost,"
            " SUM(cached_tokens) AS cached"
            " FROM gen_calls WHERE cache_hit=0 GROUP BY status, code ORDER BY n DESC"
        )
        cache = q(
            "SELECT COALESCE(SUM(cache_hit), 0) AS hits, COALESCE(SUM(cache_corrupt), 0) AS bad"
            " FROM gen_calls"
        )[0]
        units = q(
            "SELECT status, COUNT(*) AS n FROM gen_units WHERE fingerprint=? GROUP BY status",
            (fp,),
        )
        reasons = q(
            "SELECT reason, COUNT(*) AS n FROM gen_rejections GROUP BY reason ORDER BY n DESC"
        )
        return {
            "fingerprint": journal.get_setting(FINGERPRINT_KEY) or {},
            "documents": q("SELECT COUNT(*) AS n FROM documents")[0]["n"],
            "chunks": q("SELECT COUNT(*) AS n FROM chunks")[0]["n"],
            "units_total": plan.get("units", 0),
            "units": {r["status"]: r["n"] for r in units},
            "records": q("SELECT COUNT(*) AS n FROM gen_records")[0]["n"],
            "rejections": {r["reason"]: r["n"] for r in reasons},
            "calls": {r["code"]: r["n"] for r in calls},
            "prompt_tokens": sum(r["pt"] or 0 for r in calls),
            "completion_tokens": sum(r["ct"] or 0 for r in calls),
            "cost_usd": sum(r["cost"] or 0.0 for r in calls),
            "cached_tokens": sum(r["cached"] or 0 for r in calls),
            "cache_hits": cache["hits"],
            "cache_corrupt": cache["bad"],
            "session": dict(session[0]) if session else None,
            "sessions": q("SELECT COUNT(*) AS n FROM gen_sessions")[0]["n"],
            "holder": live_holder(Path(run)),
            "derived": stage_reports(Path(run)),  # pairs / eval reports, when made
        }


def _running(holder: dict[str, Any] | None, started: str) -> str:
    """A session whose end was never written: running, or it ended without a word."""
    if holder is None:
        return (
            f"not running: stopped (disk full?) or killed without recording how, after "
            f"starting at {started}; re-run the command to resume"
        )
    return f"running (pid {holder['pid']}, {holder.get('command', '?')}) since {started}"


def _status(s: dict[str, Any]) -> str:
    sess = s["session"]
    if sess is None:
        return "not generated yet (ingest only)"
    note = f" - {sess['message']}" if sess.get("message") else ""
    of = f"(session {sess['id']} of {s['sessions']}){note}"
    if sess["status"] == "running":  # or it ended unrecorded: a full disk, a kill -9
        return f"{_running(s['holder'], sess['started_at'])} {of}"
    return f"{sess['status']} at {sess['ended_at'] or sess['started_at']} {of}"


@runs_app.command("show")
def show(run: Path = typer.Argument(..., help="Run folder.")) -> None:
    """Print a run's status, counts, acceptance rate by reason, tokens and cost."""
    s = run_stats(run)
    console = Console(highlight=False)
    fp = s["fingerprint"]
    table = Table(title=f"run {run}", box=box.SIMPLE, show_header=False)
    table.add_column("what")
    table.add_column("value")
    done = s["units"].get("done", 0) + s["units"].get("failed", 0)
    accepted, rejected = s["records"], sum(s["rejections"].values())
    seen = accepted + rejected
    prompt = fp.get("prompt_ref") or {}
    rows = [
        ("status", _status(s)),
        (
            "model / template",
            f"{fp.get('model', '-')} / {prompt.get('id', fp.get('template', '-'))}",
        ),
        ("documents / chunks", f"{s['documents']} / {s['chunks']}"),
        ("work units done", f"{done} / {s['units_total']}"),
        ("records accepted", str(accepted)),
        ("rejections", str(rejected)),
        ("acceptance rate", f"{100 * accepted / seen:.1f}%" if seen else "-"),
        ("provider calls", ", ".join(f"{k} {v}" for k, v in s["calls"].items()) or "0"),
        ("call cache", f"{s['cache_hits']} hits ({s['cache_corrupt']} corrupt entries ignored)"),
        ("tokens in / out", f"{s['prompt_tokens']:,} / {s['completion_tokens']:,}"),
        ("tokens in from prompt cache", f"{s['cached_tokens']:,}"),
        ("cost", f"${s['cost_usd']:.4f}"),
    ]
    from generator.derive.store import report_line

    names = {"pairs": "preference pairs", "eval": "evaluation items"}
    rows += [(names[k], report_line(k, r)) for k, r in s["derived"].items()]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if s["rejections"]:
        why = Table(title="rejections by reason", box=box.SIMPLE)
        why.add_column("reason")
        why.add_column("count", justify="right")
        why.add_column("share of candidates", justify="right")
        for reason, n in s["rejections"].items():
            why.add_row(reason, str(n), f"{100 * n / seen:.1f}%")
        console.print(why)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
