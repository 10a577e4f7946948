"""The API base a run talks to is part of its provenance: recorded (without user:pass@) in
every record and in config.json, and part of the settings fingerprint, so a resumed run
cannot mix records made under two hosts' terms."""

from __future__ import annotations

import json

from generator.generate.settings import GenerateSettings, check_fingerprint
from tests.generate.engine_helpers import gen, read_jsonl

BASE = "http://alice:pa55word@127.0.0.1:9/v1"
CLEAN = "http://***@127.0.0.1:9/v1"


def test_api_base_is_recorded_scrubbed_and_fingerprinted(docs, tmp_path) -> None:
    run = tmp_path / "run"
    res = gen(docs, run, "--api-base", BASE, "--records", "3")
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    assert records and {r["meta"]["api_base"] for r in records} == {CLEAN}
    config = (run / "config.json").read_text()
    assert "pa55word" not in config and json.loads(config)["api_base"] == CLEAN
    assert "pa55word" not in (run / "records.jsonl").read_text()

    other = gen(docs, run, "--api-base", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1")
    assert other.exit_code == 2, other.output
    assert "api_base" in other.output and "pa55word" not in other.output


def test_fingerprint_keeps_runs_without_api_base_unchanged() -> None:
    plain = GenerateSettings(docs="d", run_dir="r", model="openai/gpt-4o")
    assert "api_base" not in plain.fingerprint()  # old runs keep their fingerprint
    hosted = GenerateSettings(docs="d", run_dir="r", model="openai/gpt-4o", api_base=BASE)
    assert hosted.fingerprint()["api_base"] == CLEAN
    assert plain.fingerprint_hash() != hosted.fingerprint_hash()
    other = BASE.replace("alice:pa55word", "bob:0ther")
    same = GenerateSettings(docs="d", run_dir="r", model="openai/gpt-4o", api_base=other)
    assert same.fingerprint_hash() == hosted.fingerprint_hash()  # credentials are not terms
    check_fingerprint(plain.fingerprint(), plain.fingerprint(), force=False)
