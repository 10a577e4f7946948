"""``export --push-to-hub``: tested at the HTTP level against a loopback fake of the Hub
(``fake_hub.py``) through the real ``huggingface_hub`` client. The gate runs first (a refused
export sends nothing), only the data and the card go up unless ``--push-legal``, and the
token comes from HF_TOKEN only and appears nowhere but the Authorization header."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.policies import load_policies
from tests.export._build import chat, make_run
from tests.export.fake_hub import FakeHub

TOKEN = "hf_FAKEtoken0123456789abcdef"
PUBLIC = {"train.jsonl", "validation.jsonl", "README.md"}  # not trl_dataset.py (local paths)
LEGAL = {"meta.jsonl", "excluded.jsonl", "manifest.json", "LEGAL_REVIEW.md"}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield fake


def _run(tmp_path: Path, policy: str = "openai") -> Path:
    pol = load_policies()[policy]
    recs = [chat(i, pol) for i in range(12)]
    return make_run(tmp_path, recs[:10], validation=recs[10:])


def _export(run: Path, out: Path, *extra: str, use: str = "evaluation"):
    return CliRunner().invoke(
        app,
        ["export", str(run), "--format", "openai-chat", "--use", use, "--out", str(out),
         "--trainer-config", "trl", "--push-to-hub", "acme/handbook-qa", *extra],
    )  # fmt: skip


def test_push_uploads_data_and_card_only(hub: FakeHub, tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = _export(_run(tmp_path), out)
    assert res.exit_code == 0, res.output
    assert set(hub.files) == PUBLIC
    for name, data in hub.files.items():
        assert data == (out / name).read_bytes()  # byte for byte what was exported
    assert hub.repos == [
        {"name": "handbook-qa", "organization": "acme", "visibility": "private", "type": "dataset"}
    ]
    authed = [r for r in hub.requests if r["path"].startswith("/api/") and "agent" not in r["path"]]
    assert authed and all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in authed)
    assert "pushed 3 files to dataset acme/handbook-qa" in res.output
    assert TOKEN not in res.output
    assert all(TOKEN not in p.read_text(errors="replace") for p in out.iterdir())


def test_push_legal_adds_the_sidecars_and_legal_pack(hub: FakeHub, tmp_path: Path) -> None:
    res = _export(_run(tmp_path), tmp_path / "o", "--push-legal")
    assert res.exit_code == 0, res.output
    assert set(hub.files) == PUBLIC | LEGAL


def test_a_refused_export_sends_nothing(hub: FakeHub, tmp_path: Path) -> None:
    run = _run(tmp_path, policy="mock")  # mock output is blocked for training
    res = _export(run, tmp_path / "o", use="internal-fine-tune")
    assert res.exit_code == 3, res.output
    assert hub.requests == [] and hub.files == {}


def test_no_token_is_a_usage_error_before_anything_is_written(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    out = tmp_path / "o"
    res = _export(_run(tmp_path), out)
    assert res.exit_code == 2 and "set HF_TOKEN" in res.output
    assert not out.exists() and hub.requests == []
    res = _export(_run(tmp_path / "b"), out, "--push-to-hub", "not a repo")
    assert res.exit_code == 2


def test_push_legal_without_push_is_refused(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        ["export", str(_run(tmp_path)), "--format", "openai-chat", "--use", "evaluation",
         "--out", str(tmp_path / "o"), "--push-legal"],
    )  # fmt: skip
    assert res.exit_code == 2 and "--push-legal applies only with --push-to-hub" in res.output


def test_a_hub_refusal_is_one_line_and_the_export_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHub(fail=403) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        out = tmp_path / "o"
        res = _export(_run(tmp_path), out)
    assert res.exit_code == 1
    assert "--push-to-hub acme/handbook-qa" in res.output and "403" in res.output
    assert "Traceback" not in res.output and TOKEN not in res.output
    assert (out / "train.jsonl").is_file() and (out / "manifest.json").is_file()
