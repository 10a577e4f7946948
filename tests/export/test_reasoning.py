"""Reasoning traces: always kept apart from the answer at generation (journal and
``meta.reasoning``), never exported by default (no data file or sidecar holds them), and with
``export --keep-reasoning`` placed per format; openai-chat refuses the flag."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.export.job import ExportOptions, run_export
from generator.policies import load_policies
from tests.export._build import alpaca, chat, completion, make_run, read_jsonl
from tests.generate.engine_helpers import gen, make_docs, query

THOUGHT = "The user asks about leave; the handbook says 25 days. SECRET-TRACE-42"


def _with_reasoning(records: list[dict], shared: int | None = None) -> list[dict]:
    for r in records:
        r["meta"]["reasoning"] = THOUGHT
        if shared:
            r["meta"]["reasoning_shared"] = shared
    return records


@pytest.fixture
def pol():
    return load_policies()["openai"]


def _all_text(out: Path) -> str:
    parts = []
    for f in sorted(out.iterdir()):
        if f.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(f).to_pylist()))
        else:
            parts.append(f.read_text(encoding="utf-8"))
    return "\n".join(parts)


FORMATS = ["openai-chat", "trl-chat", "sharegpt", "parquet", "alpaca", "prompt-completion"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reasoning_is_never_exported_by_default(tmp_path: Path, pol, fmt: str) -> None:
    maker = alpaca if fmt in ("alpaca", "prompt-completion") else chat
    run = make_run(tmp_path, _with_reasoning([maker(i, pol) for i in range(12)]))
    out = tmp_path / "o"
    res = run_export(ExportOptions(run, fmt, "evaluation", out))
    assert res.n_exported == 12
    assert "SECRET-TRACE-42" not in _all_text(out)  # data, meta sidecar, card, manifest
    assert "<think>" not in _all_text(out)


def test_keep_reasoning_places_it_per_format(tmp_path: Path, pol) -> None:
    run = make_run(tmp_path, _with_reasoning([chat(i, pol, turns=2) for i in range(12)]))

    def export(fmt: str) -> Path:
        out = tmp_path / fmt
        run_export(ExportOptions(run, fmt, "evaluation", out, keep_reasoning=True))
        return out

    trl = read_jsonl(export("trl-chat") / "train.jsonl")[0]["messages"]
    assert trl[-1]["reasoning_content"] == THOUGHT  # the final assistant turn only
    assert "reasoning_content" not in trl[1] and "<think>" not in trl[-1]["content"]
    share = read_jsonl(export("sharegpt") / "train.jsonl")[0]["conversations"]
    assert share[-1]["value"].startswith(f"<think>\n{THOUGHT}\n</think>\n\n")
    assert "<think>" not in share[1]["value"]
    table = pq.read_table(export("parquet") / "train.parquet").to_pylist()
    assert table[0]["messages"][-1]["content"].startswith("<think>\n")
    meta = read_jsonl(tmp_path / "trl-chat" / "meta.jsonl")[0]["meta"]
    assert meta["reasoning"] == THOUGHT  # kept in the provenance too once exported


def test_keep_reasoning_in_alpaca_and_completion_outputs(tmp_path: Path, pol) -> None:
    records = [alpaca(i, pol) for i in range(6)] + [completion(i, pol) for i in range(6, 12)]
    run = make_run(tmp_path, _with_reasoning(records, shared=3))
    out = tmp_path / "a"
    res = run_export(ExportOptions(run, "alpaca", "evaluation", out, keep_reasoning=True))
    rows = read_jsonl(out / "train.jsonl")
    assert all(r["output"].startswith("<think>\n") for r in rows)
    assert any("share one reply's reasoning" in w for w in res.warnings)
    assert (
        json.loads((out / "manifest.json").read_text())["export"]["flags"]["keep_reasoning"] is True
    )


def test_records_without_reasoning_are_counted(tmp_path: Path, pol) -> None:
    records = _with_reasoning([chat(i, pol) for i in range(6)]) + [
        chat(i, pol) for i in range(6, 12)
    ]
    run = make_run(tmp_path, records)
    res = run_export(
        ExportOptions(run, "trl-chat", "evaluation", tmp_path / "o", keep_reasoning=True)
    )
    assert any("6 of 12 exported records have no reasoning" in w for w in res.warnings)


def test_openai_chat_refuses_keep_reasoning_before_writing(tmp_path: Path, pol) -> None:
    run = make_run(tmp_path, _with_reasoning([chat(i, pol) for i in range(12)]))
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        ["export", str(run), "--format", "openai-chat", "--use", "evaluation", "--out", str(out),
         "--keep-reasoning"],
    )  # fmt: skip
    assert res.exit_code == 2 and "openai-chat has no place for reasoning" in res.output
    assert not out.exists()


def test_generation_keeps_reasoning_apart_without_any_flag(tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "docs", topics=("leave", "travel"))
    run = tmp_path / "run"
    res = gen(docs, run, "--template", "chat", model="mock/echo?think=1")
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    assert records
    for rec in records:
        assert "draft" in rec["meta"]["reasoning"]  # the mock's <think> text
        assert rec["meta"]["reasoning_shared"] >= 2  # the template asks for several a call
        assert "draft" not in json.dumps(rec["messages"])  # stripped from the answer
    journaled = query(run, "SELECT reasoning FROM gen_calls WHERE status='ok'")
    assert journaled and all(r[0] and "draft" in r[0] for r in journaled)
