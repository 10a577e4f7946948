"""The judge's calls go through the cross-run call cache (on by default for curation): a
second run curating the same records pays no call; ``call_cache: off`` pays again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import respx
from httpx import Response
from typer.testing import CliRunner

from generator.cli import app
from generator.curate import judge
from generator.providers.resilience import RetryPolicy
from generator.store import Journal
from tests.curate.corpus import write_run
from tests.curate.test_fail_closed import _chat

URL = "https://api.openai.com/v1/chat/completions"
VERDICT = '{"accuracy": 9, "relevance": 9, "clarity": 8, "usefulness": 8, "rationale": "ok"}'


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge, "RETRY_POLICY", RetryPolicy(max_attempts=2, initial=0, jitter=0))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge-0000000000000000000000000")


def _run(tmp_path: Path, name: str, n: int = 12) -> Path:
    return write_run(tmp_path / name, n)


def _config(tmp_path: Path, **extra: object) -> Path:
    cfg = tmp_path / "curate.yaml"
    quality = {"min_score": 0, "min_parts": {}, "judge_model": "openai/gpt-4o-mini"}
    data = {"steps": ["exact_dedup", "quality"], "report": {"plots": False}, "quality": quality}
    cfg.write_text(json.dumps({**data, **extra}))
    return cfg


def _curate(run: Path, cfg: Path) -> tuple[int, str, int]:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(return_value=Response(200, json=_chat(VERDICT)))
        res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    return res.exit_code, res.output, route.call_count


def _judge_rows(run: Path) -> tuple[int, int, float]:
    with Journal(run) as journal:
        row = journal.query(
            "SELECT count(*) n, sum(cache_hit) hits, sum(cost_usd) usd FROM judge_calls"
        )[0]
    return row["n"], row["hits"] or 0, row["usd"] or 0.0


def test_second_curation_of_the_same_records_makes_no_call(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    code, out, paid = _curate(_run(tmp_path, "one"), cfg)
    assert code == 0, out
    assert paid > 0
    assert list((tmp_path / "xdg-cache" / "instructforge" / "calls").glob("*/*.json"))
    two = _run(tmp_path, "two")
    code, out, calls = _curate(two, cfg)
    assert code == 0, out
    assert calls == 0
    n, hits, usd = _judge_rows(two)
    assert n == hits == paid and usd == 0.0  # answered from the cache, paid nothing


def test_call_cache_off_pays_again(tmp_path: Path) -> None:
    cfg = _config(tmp_path, call_cache="off")
    code, out, paid = _curate(_run(tmp_path, "one"), cfg)
    assert code == 0, out
    assert not (tmp_path / "xdg-cache" / "instructforge" / "calls").exists()
    code, out, calls = _curate(_run(tmp_path, "two"), cfg)
    assert code == 0, out
    assert calls == paid > 0


def test_cache_folder_from_the_settings(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    cfg = _config(tmp_path, call_cache=str(folder))
    code, out, paid = _curate(_run(tmp_path, "one"), cfg)
    assert code == 0, out
    assert len(list(folder.glob("*/*.json"))) == paid
