"""``runs show``: the run's preference pairs and evaluation items, from their stages'
reports, when made; an unreadable report is shown as such, never skipped."""

from __future__ import annotations

import json
from pathlib import Path

from generator.commands.runs import run_stats
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl


def test_pairs_are_counted(generated: Path) -> None:
    assert "preference pairs" not in cli("runs", "show", generated).output
    assert run_stats(generated)["derived"] == {}
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", "mock/judge")  # fmt: skip
    assert r.exit_code == 0, r.output
    n = len(read_jsonl(generated / "pairs" / "records.jsonl"))
    shown = cli("runs", "show", generated)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())  # the table wraps long lines
    assert f"preference pairs {n} (judge, judge mock/judge); 0 held for review" in text
    assert run_stats(generated)["derived"]["pairs"]["counts"]["pairs"] == n


def test_eval_items_are_counted_and_an_unreadable_report_is_shown(ingested: Path) -> None:
    r = cli("evalset", ingested, "--model", "mock/q", "--max-chunks", "3")
    assert r.exit_code == 0, r.output
    items = read_jsonl(ingested / "eval" / "records.jsonl")
    two = sum(1 for i in items if i["hops"] == 2)
    report = json.loads((ingested / "eval" / "report.json").read_text())
    docs = len(report["held_out_documents"])
    text = " ".join(cli("runs", "show", ingested).output.split())
    want = f"evaluation items {len(items)} ({len(items) - two} single-hop, {two} two-hop) from"
    assert f"{want} {docs} held-out documents" in text
    (ingested / "eval" / "report.json").write_text("{not json")
    shown = cli("runs", "show", ingested)
    assert shown.exit_code == 0 and "unreadable eval/report.json" in " ".join(shown.output.split())
