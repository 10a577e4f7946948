"""Every format written, read back and checked against the records; conversions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from generator.errors import ConfigError
from generator.export.base import formats
from generator.export.convert import LossyConversion, convert, join_instruction
from generator.export.job import ExportOptions, run_export
from generator.export.sharegpt import FROM_TO_ROLE
from generator.policies import load_policies
from generator.records import AlpacaRecord, ChatRecord, CompletionRecord, parse_record
from tests.export._build import (
    alpaca,
    chat,
    completion,
    make_run,
    read_jsonl,
    run_datasets_child,
)


@pytest.fixture
def pol():
    return load_policies()["openai"]  # evaluation: allow


def _export(run: Path, out: Path, fmt: str, **kw) -> object:
    return run_export(ExportOptions(run, fmt, "evaluation", out, **kw))


def test_cli_help_lists_every_registered_format() -> None:
    from generator.commands.export import FORMATS_HELP

    assert FORMATS_HELP.split(", ") == formats()


def test_alpaca_jsonl_round_trip_through_the_models(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(12)]
    run = make_run(tmp_path, records[:10], validation=records[10:])
    res = _export(run, tmp_path / "o", "alpaca")
    assert "curated split" in res.plan.source
    for split, part in (("train", records[:10]), ("validation", records[10:])):
        rows = read_jsonl(tmp_path / "o" / f"{split}.jsonl")
        metas = [m for m in read_jsonl(tmp_path / "o" / "meta.jsonl") if m["split"] == split]
        assert [m["line"] for m in metas] == list(range(1, len(rows) + 1))
        pairs = zip(rows, metas, strict=True)
        back = [AlpacaRecord.model_validate({**r, "meta": m["meta"]}) for r, m in pairs]
        assert [b.to_dict() for b in back] == [parse_record(r).to_dict() for r in part]
        assert all(set(r) == {"instruction", "input", "output"} for r in rows)


def test_alpaca_json_is_one_array(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(3)]
    _export(make_run(tmp_path, records), tmp_path / "o", "alpaca-json", no_meta=True)
    data = json.loads((tmp_path / "o" / "train.json").read_text())
    assert [d["instruction"] for d in data] == [r["instruction"] for r in records]
    assert not (tmp_path / "o" / "meta.jsonl").exists()


def test_openai_chat_lines_and_system_prompt(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(11)] + [chat(20, pol, system="Be brief.", turns=2)]
    res = _export(
        make_run(tmp_path, records),
        tmp_path / "o",
        "openai-chat",
        system_prompt="You answer from the handbook.",
        no_meta=True,
    )
    text = (tmp_path / "o" / "train.jsonl").read_text()
    assert not text.startswith("[") and len(text.splitlines()) == 12
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(set(r) == {"messages"} for r in rows)  # --no-meta: nothing a trainer rejects
    first = rows[1]["messages"]  # record 1 has an input
    assert first[0] == {"role": "system", "content": "You answer from the handbook."}
    assert first[1]["content"] == join_instruction(records[1]["instruction"], records[1]["input"])
    assert rows[-1]["messages"][0]["content"] == "Be brief."  # a record's own system wins
    assert len(rows[-1]["messages"]) == 5
    for r in rows:
        ChatRecord.model_validate({**r, "meta": {"id": "x", "format": "chat"}})
    assert res.validation["train.jsonl"].ok, res.validation["train.jsonl"].errors


def test_prompt_completion_and_sharegpt_round_trip(tmp_path, pol) -> None:
    records = [completion(i, pol) for i in range(3)] + [chat(5, pol, system="Sys.")]
    run = make_run(tmp_path, records)
    _export(run, tmp_path / "pc", "prompt-completion", system_prompt="Sys.")
    rows = read_jsonl(tmp_path / "pc" / "train.jsonl")
    metas = read_jsonl(tmp_path / "pc" / "meta.jsonl")
    for r, m in zip(rows, metas, strict=True):
        CompletionRecord.model_validate({**r, "meta": {**m["meta"], "format": "completion"}})
    assert rows[3] == {
        "prompt": records[3]["messages"][1]["content"],
        "completion": records[3]["messages"][2]["content"],
    }

    _export(run, tmp_path / "sg", "sharegpt")
    rows = read_jsonl(tmp_path / "sg" / "train.jsonl")
    assert rows[3]["conversations"][0] == {"from": "system", "value": "Sys."}
    back = [
        {
            "messages": [
                {"role": FROM_TO_ROLE[c["from"]], "content": c["value"]} for c in r["conversations"]
            ]
        }
        for r in rows
    ]
    assert back[3]["messages"] == records[3]["messages"]
    assert back[0]["messages"][0] == {"role": "user", "content": records[0]["prompt"]}


def test_parquet_round_trip_with_pyarrow(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(5)]
    _export(make_run(tmp_path, records), tmp_path / "o", "parquet")
    table = pq.read_table(tmp_path / "o" / "train.parquet")
    assert table.column_names == ["instruction", "input", "output", "meta"]
    rows = table.to_pylist()
    back = [
        AlpacaRecord.model_validate(
            {
                **{k: r[k] for k in ("instruction", "input", "output")},
                "meta": json.loads(r["meta"])["meta"],
            }
        )
        for r in rows
    ]
    assert [b.to_dict() for b in back] == [parse_record(r).to_dict() for r in records]

    mixed = [alpaca(0, pol), chat(1, pol)]
    _export(make_run(tmp_path / "m", mixed), tmp_path / "m" / "o", "parquet", no_meta=True)
    table = pq.read_table(tmp_path / "m" / "o" / "train.parquet")
    assert table.column_names == ["messages"]  # a mix of formats is written as chat
    assert table.to_pylist()[1]["messages"] == mixed[1]["messages"]


# Run in a child process so Hugging Face's cache locations (read once, at import) are this
# test's own: HOME, HF_HOME and the caches all point inside tmp_path, the hub and datasets are
# offline, and the child refuses any socket, so nothing is fetched or written elsewhere.
_LOAD = """
import json, socket, sys
def refuse(self, address):
    raise OSError(f"network access blocked: {address!r}")
socket.socket.connect = refuse
import datasets
ds = datasets.load_dataset(sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps({
    "version": datasets.__version__,
    "cache": datasets.config.HF_DATASETS_CACHE.as_posix(),
    "splits": {k: v.to_list() for k, v in ds.items()},
}))
"""


def test_parquet_loads_with_datasets(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(12)]
    out = tmp_path / "o"
    _export(make_run(tmp_path, records[:10], validation=records[10:]), out, "parquet")
    home, hf = tmp_path / "home", tmp_path / "hf"
    got = run_datasets_child(_LOAD, out, tmp_path)
    assert got["version"] == "5.2.0" and got["cache"] == (hf / "datasets").as_posix()
    splits = got["splits"]
    assert sorted(splits) == ["train", "validation"]
    assert [len(splits["train"]), len(splits["validation"])] == [10, 2]
    fields = ("instruction", "input", "output")
    for rows, want in ((splits["train"], records[:10]), (splits["validation"], records[10:])):
        assert [[r[k] for k in fields] for r in rows] == [[w[k] for k in fields] for w in want]
        ids = [json.loads(r["meta"])["meta"]["id"] for r in rows]
        assert ids == [w["meta"]["id"] for w in want]
    assert list(home.rglob("*")) == []  # nothing written to the home folder
    assert any((hf / "datasets").rglob("*.arrow"))  # the cache went where we said


def test_dataset_card_header(tmp_path, pol) -> None:
    records = [alpaca(i, pol) for i in range(12)]
    _export(make_run(tmp_path, records[:10], validation=records[10:]), tmp_path / "o", "alpaca")
    text = (tmp_path / "o" / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "other" and header["language"] == ["en"]
    assert header["size_categories"] == ["n<1K"] and "synthetic" in header["tags"]
    assert "text-generation" in header["task_categories"]
    assert header["configs"][0]["data_files"] == [
        {"split": "train", "path": "train.jsonl"},
        {"split": "validation", "path": "validation.jsonl"},
    ]
    assert "## Provenance and generation" in text and "## Synthetic data" in text


def test_conversions_refuse_lossy_records(tmp_path, pol) -> None:
    multi = parse_record(chat(0, pol, turns=2))
    with pytest.raises(LossyConversion, match="2 user turns"):
        convert(multi, "alpaca")
    sys_rec = parse_record(chat(1, pol, system="House style: be brief."))
    with pytest.raises(LossyConversion, match="system message"):
        convert(sys_rec, "completion")
    assert convert(sys_rec, "alpaca", "House style: be brief.")["output"]

    records = [chat(i, pol) for i in range(3)] + [chat(9, pol, turns=3)]
    res = _export(make_run(tmp_path, records), tmp_path / "o", "alpaca")
    assert res.n_exported == 3
    [ex] = read_jsonl(tmp_path / "o" / "excluded.jsonl")
    assert (
        ex["stage"] == "conversion"
        and ex["id"] == "rec-chat-0009"
        and "3 user turns" in ex["reason"]
    )

    only_multi = [chat(i, pol, turns=2) for i in range(2)]
    with pytest.raises(ConfigError, match="no record could be exported"):
        _export(make_run(tmp_path / "m", only_multi), tmp_path / "m" / "o", "alpaca")
    assert not any((tmp_path / "m" / "o").iterdir())


def test_options_that_do_not_apply_are_refused(tmp_path, pol) -> None:
    run = make_run(tmp_path, [alpaca(0, pol)])
    with pytest.raises(ConfigError, match="target-model"):
        _export(run, tmp_path / "o", "alpaca", target_model="gpt-4o-mini")
    with pytest.raises(ConfigError, match="unknown export format"):
        _export(run, tmp_path / "o", "csv")
