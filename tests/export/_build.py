"""Records and run folders built in tests (real records through the pydantic models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generator.curate.manifest import config_info, input_info, write_manifest
from generator.policies import Policy
from generator.records import Ref, parse_record

QUESTIONS = [
    ("How many days of annual leave do full-time staff get?", "Full-time staff get 25 days."),
    ("Who approves remote work requests?", "Your line manager approves them in the HR portal."),
    ("How often must passwords be changed?", "Only after a suspected compromise, per policy 4.2."),
    ("Where are expense receipts submitted?", "Upload them to the finance portal within 30 days."),
    ("What is the on-call rotation length?", "One week, handed over on Monday at 10:00."),
    ("Which laptops may store customer data?", "Only managed laptops with disk encryption."),
    ("How do I report a phishing email?", "Use the Report button or forward it to security."),
    ("When is the quarterly all-hands held?", "In the second week after quarter close."),
    ("What is the travel booking tool?", "Book trips through the company travel portal."),
    ("Who owns the product manual?", "The documentation team in the product group."),
    ("How long are backups kept?", "Daily backups are kept for 35 days."),
    ("What is the parental leave policy?", "Parents get 20 weeks of paid leave."),
]


def meta(
    i: int,
    fmt: str,
    policy: Policy | Ref | None,
    model: str = "openai/gpt-4o-mini",
    labels: list[str] | None = None,
    prompt: str = "qa",
) -> dict[str, Any]:
    ref = policy.ref() if isinstance(policy, Policy) else policy
    m: dict[str, Any] = {
        "id": f"rec-{fmt}-{i:04d}",
        "format": fmt,
        "provider": model.split("/")[0],
        "model": model,
        "policy": ref.model_dump() if ref else None,
        "api_base": None,  # as generation writes it: the provider's own host
        "prompt": {"id": prompt, "version": "1", "sha256": "ab" * 32},
        "source": {
            "path": "handbook/leave.md",
            "doc_sha256": "cd" * 32,
            "chunk_id": f"chunk-{i}",
            "span": [0, 100],
        },
        "created_at": "2026-11-25T10:00:00Z",
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.0001},
    }
    if labels is not None:
        m["source_info"] = {
            "labels": labels,
            "updated": "2026-01-05",
            "review_by": None,
            "superseded_by": None,
            "date_origin": "sources.yaml",
            "matched": ["handbook/**"],
        }
    return m


def alpaca(i: int, policy: Policy | Ref | None, **kw: Any) -> dict[str, Any]:
    q, a = QUESTIONS[i % len(QUESTIONS)]
    inp = "Context: the 2026 staff handbook." if i % 2 else ""
    return {"instruction": q, "input": inp, "output": a, "meta": meta(i, "alpaca", policy, **kw)}


def chat(
    i: int, policy: Policy | Ref | None, system: str | None = None, turns: int = 1, **kw: Any
) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    for t in range(turns):
        q, a = QUESTIONS[(i + t) % len(QUESTIONS)]
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return {"messages": msgs, "meta": meta(i, "chat", policy, **kw)}


def completion(i: int, policy: Policy | Ref | None, **kw: Any) -> dict[str, Any]:
    q, a = QUESTIONS[i % len(QUESTIONS)]
    return {"prompt": q, "completion": a, "meta": meta(i, "completion", policy, **kw)}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    for r in records:
        parse_record(r)  # every test record is a valid record of our model
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def journal_records(run: Path, records: list[dict[str, Any]]) -> None:
    """Put records in the run's journal as generation would (``gen_records``): the licence
    gate trusts only what the journal holds."""
    from generator.generate.journal import GenJournal
    from generator.store import open_run

    journal = open_run(run, create=True)
    try:
        GenJournal(journal)
        with journal.transaction() as conn:
            conn.executemany(
                "INSERT INTO gen_records(id, unit_id, chunk_id, data) VALUES (?,?,?,?)",
                [(r["meta"]["id"], "unit", "chunk", json.dumps(r)) for r in records],
            )
    finally:
        journal.close()


def make_run(
    root: Path,
    records: list[dict[str, Any]],
    validation: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    generated: bool = True,
) -> Path:
    """A run folder: records.jsonl, or curation/train + validation when ``validation``.
    ``generated``: the records are in the run's journal too (else: data from elsewhere)."""
    run = root / "run"
    if validation is None:
        write_jsonl(run / "records.jsonl", records)
    else:
        write_jsonl(run / "records.jsonl", records + validation)
        write_jsonl(run / "curation" / "train.jsonl", records)
        write_jsonl(run / "curation" / "validation.jsonl", validation)
        stamp_curation(run)
    if generated:
        journal_records(run, records + (validation or []))
    if config is not None:
        (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return run


def stamp_curation(run: Path) -> None:
    """The manifest ``curate`` writes: curation/ made from records.jsonl with defaults."""
    from generator.curate.config import load_config

    write_manifest(
        run / "curation",
        input_info(run / "records.jsonl", run),
        config_info(load_config(None), None, {}),
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_datasets_child(script: str, out: Path, tmp_path: Path) -> Any:
    """Run ``script`` (argv: OUT, cache dir) in a child process whose Hugging Face caches and
    HOME lie inside ``tmp_path``, hub and datasets offline; the JSON of its last line."""
    import os
    import subprocess
    import sys

    home, hf = tmp_path / "home", tmp_path / "hf"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(hf),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for var in ("HF_DATASETS_CACHE", "HF_HUB_CACHE", "HF_MODULES_CACHE", "HUGGINGFACE_HUB_CACHE"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out), str(hf / "datasets")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
