"""Evaluation sets: mock end to end (single- and two-hop items whose citations are real
spans of the source), held out by document at build and again at export, the lm-eval task
and JSONL loaded the way their tools load them."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import jinja2
import pytest
import yaml

from generator.export.job import ExportOptions, run_export
from generator.record_kinds import EvalRecord
from generator.records import parse_record
from generator.store import Journal
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl


def _evalset(run: Path, *args: str):
    return cli("evalset", run, "--model", "mock/q", "--max-chunks", "3", *args)


def test_items_cite_real_spans_single_and_two_hop(ingested: Path) -> None:
    r = _evalset(ingested)
    assert r.exit_code == 0, r.output
    items = [parse_record(d) for d in read_jsonl(ingested / "eval" / "records.jsonl")]
    assert all(isinstance(i, EvalRecord) for i in items)
    hops = {i.hops for i in items}
    assert hops == {1, 2}
    j = Journal(ingested)
    for item in items:
        for c in item.citations:
            doc = j.document(c.path)
            assert doc.text[c.start : c.end] == c.text and doc.sha256 == c.doc_sha256
        if item.hops == 2:
            assert len({c.chunk_id for c in item.citations}) == 2
    # a quote that is not verbatim in the source is rejected with its reason, not kept
    rejected = read_jsonl(ingested / "eval" / "rejected.jsonl")
    assert all(x["reason"].startswith(("citation:", "schema")) for x in rejected)
    report = json.loads((ingested / "eval" / "report.json").read_text())
    assert report["counts"]["accepted_1hop"] + report["counts"]["accepted_2hop"] == len(items)


def test_documents_used_for_training_are_skipped(generated: Path) -> None:
    trained = {r["meta"]["source"]["doc_sha256"] for r in read_jsonl(generated / "records.jsonl")}
    r = _evalset(generated, "--multihop", "0")
    assert r.exit_code == 0, r.output
    items = read_jsonl(generated / "eval" / "records.jsonl")
    assert items and not {i["meta"]["source"]["doc_sha256"] for i in items} & trained
    report = json.loads((generated / "eval" / "report.json").read_text())
    assert len(report["skipped_training_documents"]) == len(trained) > 0
    # with every document trained on, there is nothing to hold out: a usage error
    other = generated.parent / "other"
    r = cli("generate", generated.parent / "docs", "--out", other, "--model", "mock/echo")
    assert r.exit_code == 0, r.output
    r = _evalset(other)
    assert r.exit_code == 2 and "no held-out document" in r.output


def test_failed_calls_are_findings_not_passes(ingested: Path) -> None:
    r = cli("evalset", ingested, "--model", "mock/q?malformed=1", "--max-chunks", "2")
    assert r.exit_code == 0, r.output
    assert read_jsonl(ingested / "eval" / "records.jsonl") == []
    findings = read_jsonl(ingested / "eval" / "review.jsonl")
    assert findings and all(f["reason"].startswith("check_failed:evalset") for f in findings)


def _export(run: Path, out: Path, fmt: str = "eval-jsonl"):
    return run_export(ExportOptions(run, fmt, "evaluation", out, accept_review=("mock",)))


def test_held_out_checked_again_at_export(ingested: Path, tmp_path: Path) -> None:
    assert _evalset(ingested).exit_code == 0
    items = read_jsonl(ingested / "eval" / "records.jsonl")
    res = _export(ingested, tmp_path / "ok")
    assert res.n_exported == len(items)
    # later, a training record is made from one of the eval documents
    doc = items[0]["meta"]["source"]
    train = {"instruction": "Q?", "input": "", "output": "A.",
             "meta": {"id": "t1", "format": "alpaca", "source": doc}}  # fmt: skip
    (ingested / "records.jsonl").write_text(json.dumps(train) + "\n")
    res = _export(ingested, tmp_path / "leak")
    held = [e for e in res.exclusions if e.reason.startswith("held_out")]
    same_doc = [i for i in items if i["meta"]["source"]["doc_sha256"] == doc["doc_sha256"]]
    assert len(held) == len(same_doc) > 0
    assert res.n_exported == len(items) - len(same_doc)


def test_unreadable_training_runs_refuse_the_export(ingested: Path, tmp_path: Path) -> None:
    assert _evalset(ingested).exit_code == 0
    report = ingested / "eval" / "report.json"
    data = json.loads(report.read_text())
    data["train_runs"].append(str(tmp_path / "gone"))
    report.write_text(json.dumps(data))
    with pytest.raises(Exception, match="held-out check"):
        _export(ingested, tmp_path / "out")


def test_tampered_citation_is_excluded(ingested: Path, tmp_path: Path) -> None:
    assert _evalset(ingested).exit_code == 0
    path = ingested / "eval" / "records.jsonl"
    items = read_jsonl(path)
    c = items[0]["citations"][0]
    c["start"], c["end"] = c["start"] + 1, c["end"] + 1  # same length, wrong place
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    res = _export(ingested, tmp_path / "out")
    assert next(e.reason for e in res.exclusions if e.stage == "input").startswith("citation:")


def test_lm_eval_task_loads_and_renders(ingested: Path, tmp_path: Path) -> None:
    assert _evalset(ingested).exit_code == 0
    out = tmp_path / "lm"
    res = _export(ingested, out, "lm-eval")
    task = yaml.safe_load((out / "task.yaml").read_text())
    assert task["output_type"] == "generate_until" and task["test_split"] == "test"
    files = {k: str(out / v) for k, v in task["dataset_kwargs"]["data_files"].items()}
    ds = datasets.load_dataset(task["dataset_path"], data_files=files)["test"]
    assert len(ds) == res.n_exported
    env = jinja2.Environment()
    row = ds[0]
    assert env.from_string(task["doc_to_text"]).render(**row).startswith("Question: ")
    assert env.from_string(task["doc_to_target"]).render(**row) == row["answer"]
    # the whole folder loads as data without picking up task.yaml or the sidecars
    assert list(datasets.load_dataset("json", data_dir=str(out))) == ["test"]
    # round trip: rows plus their sidecar provenance are eval records again
    metas = read_jsonl(out / "meta.jsonl")
    # judged from the journal: model and API base as the evalset stage recorded them
    assert {(m["provenance"]["origin"], m["provenance"]["base_unknown"]) for m in metas} == {
        ("generated", False)
    }
    rows = read_jsonl(out / "test.jsonl")
    back = [
        EvalRecord.model_validate({**r, "meta": m["meta"]})
        for r, m in zip(rows, metas, strict=True)
    ]
    assert [b.question for b in back] == [r["question"] for r in rows]
    from generator.export.verify import verify_pack

    verify_pack(out)  # the sealed pack, task.yaml included, verifies
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["name"]: f["kind"] for f in manifest["files"]}["task.yaml"] == "config"


def test_generate_refuses_a_derive_template(tmp_path: Path) -> None:
    from tests.generate.engine_helpers import gen, make_docs

    r = gen(make_docs(tmp_path / "d"), tmp_path / "run", "--template", "eval")
    assert r.exit_code == 2 and "instructforge evalset" in r.output


def test_eval_formats_serve_evaluation_only(ingested: Path, tmp_path: Path) -> None:
    assert _evalset(ingested).exit_code == 0
    r = cli("export", ingested, "--format", "lm-eval", "--use", "internal-fine-tune",
            "--out", tmp_path / "x")  # fmt: skip
    assert r.exit_code == 2 and "is for --use evaluation" in r.output
    report = json.loads((ingested / "eval" / "report.json").read_text())
    assert report["spent"]["calls"] == report["counts"]["calls"] > 0


_LM_EVAL = r"""
import json, os, sys
os.chdir(sys.argv[1])  # the task's data file path is relative to the export folder
from lm_eval.tasks import TaskManager, get_task_dict
name = "instructforge_heldout"
task = get_task_dict([name], TaskManager(include_path="."))[name]
docs = list(task.test_docs())
doc = docs[0]
target = task.doc_to_target(doc)
right = task.process_results(doc, [target])["exact_match"]
wrong = task.process_results(doc, ["Nothing in the handbook says so."])["exact_match"]
print(json.dumps({"n": len(docs), "text": task.doc_to_text(doc), "target": target,
                  "question": doc["question"], "answer": doc["answer"],
                  "right": right, "wrong": wrong}))
"""


def test_lm_evaluation_harness_loads_the_task_and_scores_it(ingested: Path, tmp_path: Path):
    """lm-evaluation-harness itself (dev dependency) reads task.yaml from the export folder,
    loads the held-out items and scores an answer with the task's metric; no model runs."""
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is in the dev extra")
    from tests.export._build import run_datasets_child

    assert _evalset(ingested).exit_code == 0
    out = tmp_path / "lm"
    res = _export(ingested, out, "lm-eval")
    got = run_datasets_child(_LM_EVAL, out, tmp_path)
    assert got["n"] == res.n_exported > 0
    assert got["text"] == f"Question: {got['question']}\nAnswer:"
    assert got["target"] == got["answer"]
    assert got["right"] == 1.0 and got["wrong"] == 0.0
