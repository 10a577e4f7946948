"""End to end: the real generation engine with the mock provider, then the licence gate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from generator.errors import ExportRefused
from generator.export.job import ExportOptions, run_export
from generator.policies import load_policies
from generator.records import parse_record
from tests.conftest import REPO, SAMPLES


@pytest.mark.slow
def test_mock_generated_run_through_the_gate(tmp_path) -> None:
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "generate",
            str(SAMPLES / "handbook"),
            "--out",
            str(run),
            "--model",
            "mock/test",
            "--records",
            "4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [
        parse_record(json.loads(x)) for x in (run / "records.jsonl").read_text().splitlines()
    ]
    assert records and all(r.meta.policy.id == "mock" for r in records)
    assert records[0].meta.policy.sha256 == load_policies()["mock"].sha256

    with pytest.raises(ExportRefused, match="nothing may be exported"):  # mock: block
        run_export(ExportOptions(run, "openai-chat", "internal-fine-tune", tmp_path / "a"))
    res = run_export(ExportOptions(run, "openai-chat", "evaluation", tmp_path / "b", ("mock",)))
    assert res.n_exported == len(records)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["run"]["config"]["model"] == "mock/test"
    spent = manifest["usage"]["generate"]  # the run's calls, tokens and cost
    assert spent["calls"] >= 1 and spent["prompt_tokens"] > 0 and spent["cache_hits"] == 0
    assert manifest["counts"]["by_policy_and_verdict"] == {
        "mock": {"review-accepted": len(records)}
    }
