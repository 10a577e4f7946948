"""generate --redact-before-send: personal data and secrets never reach the provider."""

from __future__ import annotations

import json
from pathlib import Path

import respx
from httpx import Response
from typer.testing import CliRunner

from generator.cli import app
from tests.generate.engine_helpers import read_jsonl

EMAIL = "dana.whitfield@larkspur-example.com"
KEY = "sk-proj-4fR9xQ2mT7vB1nK8sL3pZ6wY0aE5cH2j"
PHONE = "+1 415 555 0132"

DOC = f"""# VPN access

Contractors request VPN access through the service portal. Questions about access go to
{EMAIL} or to the help desk on {PHONE}. The staging account key {KEY} must never be shared;
it is rotated every 90 days by the platform team.
"""


def _reply(n: int) -> dict:
    records = [
        {
            "instruction": f"Who handles VPN access questions? ({i})",
            "input": "",
            "output": "Questions about VPN access go to the contact named in the policy.",
        }
        for i in range(n)
    ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": json.dumps({"records": records})},
            }
        ],
        "usage": {"prompt_tokens": 300, "completion_tokens": 80, "total_tokens": 380},
    }


def _generate(tmp_path: Path, monkeypatch, *flags: str) -> tuple[object, list[str], Path]:
    """Run generate against OpenAI at the wire (respx); return result, request bodies, run."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-wire-key-000000000000000000000")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text(DOC, encoding="utf-8")
    run = tmp_path / "run"
    bodies: list[str] = []

    def answer(request):
        bodies.append(request.content.decode())
        return Response(200, json=_reply(3))

    with respx.mock() as router:
        router.post("https://api.openai.com/v1/chat/completions").mock(side_effect=answer)
        args = ["generate", str(docs), "--out", str(run), "--model", "openai/gpt-4o-mini"]
        res = CliRunner().invoke(app, [*args, *flags])
    return res, bodies, run


def test_chunks_are_redacted_at_the_wire_and_records_say_so(tmp_path: Path, monkeypatch) -> None:
    res, bodies, run = _generate(tmp_path, monkeypatch, "--redact-before-send")
    assert res.exit_code == 0, res.output
    assert bodies, "no request reached the wire"
    for body in bodies:
        assert EMAIL not in body and KEY not in body and "555 0132" not in body
        assert "<EMAIL>" in body and "<OPENAI_KEY>" in body
    records = read_jsonl(run / "records.jsonl")
    assert records
    for r in records:
        assert r["meta"]["redaction"]["before_send"] is True
        assert r["meta"]["redaction"]["found"]["EMAIL"] == 1
    config = json.loads((run / "config.json").read_text())
    assert config["redact_before_send"] is True


def test_without_the_flag_the_chunk_is_sent_as_is(tmp_path: Path, monkeypatch) -> None:
    res, bodies, run = _generate(tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    assert any(EMAIL in b for b in bodies)
    assert all("redaction" not in r["meta"] for r in read_jsonl(run / "records.jsonl"))
