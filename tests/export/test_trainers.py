"""``export --trainer-config trl,axolotl,llamafactory``: each snippet is loaded the way its
trainer loads data (Hugging Face ``datasets``, offline, in a child process) with the snippet's
own field mappings, and must give back every exported example with the right roles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.export.job import ExportOptions, run_export
from generator.export.trainers import parse_trainers
from generator.policies import load_policies
from tests.export._build import alpaca, chat, make_run, read_jsonl, run_datasets_child

ALL = ("trl", "axolotl", "llamafactory")

# Loads each snippet as its trainer would and reports what the trainer would see.
_LOAD = r"""
import json, runpy, socket, sys
def refuse(self, address):
    raise OSError(f"network access blocked: {address!r}")
socket.socket.connect = refuse
import datasets, yaml
out, cache = sys.argv[1], sys.argv[2]
report = {}

# TRL: the snippet's own load()
ds = runpy.run_path(f"{out}/trl_dataset.py")["load"]()
report["trl"] = {s: {"columns": sorted(d.column_names), "rows": d.to_list()} for s, d in ds.items()}

# axolotl: its datasets entries, mapped as chat_template / alpaca / user-defined types
def axolotl(entry):
    d = datasets.load_dataset(entry["ds_type"], data_files=entry["path"], split=entry["split"],
                              cache_dir=cache)
    kind = entry["type"]
    if kind == "chat_template":
        prop = entry["message_property_mappings"]
        roles = {v: k for k, vs in (entry.get("roles") or {}).items() for v in vs}
        def turn(m):
            return {"role": roles.get(m[prop["role"]], m[prop["role"]]),
                    "content": m[prop["content"]]}
        return [[turn(m) for m in ex[entry["field_messages"]]] for ex in d]
    if kind == "alpaca":
        return [[ex["instruction"], ex["input"], ex["output"]] for ex in d]
    return [[ex[kind["field_instruction"]], ex[kind["field_output"]]] for ex in d]

cfg = yaml.safe_load(open(f"{out}/axolotl_datasets.yaml"))
report["axolotl"] = {"train": axolotl(cfg["datasets"][0])}
if "test_datasets" in cfg:
    report["axolotl"]["validation"] = axolotl(cfg["test_datasets"][0])

# LLaMA-Factory: dataset_info.json entries; sharegpt turns must alternate user/assistant
def llamafactory(entry):
    path = entry["file_name"]
    builder = "parquet" if path.endswith(".parquet") else "json"
    d = datasets.load_dataset(builder, data_files=path, split="train", cache_dir=cache)
    cols = entry["columns"]
    if entry.get("formatting") != "sharegpt":
        return [[ex[c] for c in cols.values()] for ex in d]
    t = entry["tags"]
    out = []
    for ex in d:
        msgs = ex[cols["messages"]]
        system = msgs[0][t["content_tag"]] if msgs[0][t["role_tag"]] == t["system_tag"] else None
        turns = msgs[1:] if system is not None else msgs
        want = [t["user_tag"], t["assistant_tag"]]
        assert all(m[t["role_tag"]] == want[i % 2] for i, m in enumerate(turns)), msgs
        assert len(turns) % 2 == 0
        out.append({"system": system, "turns": [m[t["content_tag"]] for m in turns]})
    return out

info = json.load(open(f"{out}/dataset_info.json"))
report["llamafactory"] = {name: llamafactory(e) for name, e in info.items()}

# the snippets beside the data are never loaded as data (data_dir, and the card's configs)
builder = "parquet" if any(n.endswith(".parquet") for n in __import__("os").listdir(out)) \
    else "json"
report["data_dir"] = {s: len(d) for s, d in
                      datasets.load_dataset(builder, data_dir=out, cache_dir=cache).items()}
report["card"] = {s: len(d) for s, d in datasets.load_dataset(out, cache_dir=cache).items()}
print(json.dumps(report))
"""


@pytest.fixture
def pol():
    return load_policies()["openai"]


def _run(tmp_path: Path, records: list[dict], val: list[dict]) -> Path:
    return make_run(tmp_path, records, validation=val)


def _export(run: Path, fmt: str, out: Path, trainers: tuple[str, ...] = ALL):
    return run_export(ExportOptions(run, fmt, "evaluation", out, trainer_config=trainers))


def _turns(rec: dict) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]


@pytest.mark.parametrize("fmt", ["openai-chat", "trl-chat", "sharegpt", "parquet"])
def test_chat_exports_load_through_every_trainer_snippet(tmp_path: Path, pol, fmt: str) -> None:
    recs = [chat(i, pol, system="Answer from the handbook." if i % 2 else None, turns=1 + i % 3)
            for i in range(12)]  # fmt: skip
    run = _run(tmp_path, recs[:10], recs[10:])
    out = tmp_path / "o"
    res = _export(run, fmt, out)
    kinds = {f.name: f.kind for f in res.files}
    assert all(kinds[n] == "trainer" for n in ("trl_dataset.py", "axolotl_datasets.yaml",
                                                "dataset_info.json"))  # fmt: skip
    got = run_datasets_child(_LOAD, out, tmp_path)
    assert got["data_dir"] == got["card"] == {"train": 10, "validation": 2}
    want = {"train": [_turns(r) for r in recs[:10]], "validation": [_turns(r) for r in recs[10:]]}
    for split, rows in want.items():
        trl = got["trl"][split]
        assert "messages" in trl["columns"]
        assert [[{"role": m["role"], "content": m["content"]} for m in r["messages"]]
                for r in trl["rows"]] == rows  # fmt: skip
        assert got["axolotl"][split] == rows
        lf = got["llamafactory"][f"o_{split}"]
        assert [x["turns"] for x in lf] == [
            [m["content"] for m in r if m["role"] != "system"] for r in rows
        ]
        assert [x["system"] for x in lf] == [
            next((m["content"] for m in r if m["role"] == "system"), None) for r in rows
        ]


@pytest.mark.parametrize("fmt", ["alpaca", "alpaca-json", "prompt-completion", "parquet"])
def test_single_turn_exports_load_through_every_trainer_snippet(
    tmp_path: Path, pol, fmt: str
) -> None:
    recs = [alpaca(i, pol) for i in range(12)]
    run = _run(tmp_path, recs[:10], recs[10:])
    out = tmp_path / "o"
    _export(run, fmt, out)
    got = run_datasets_child(_LOAD, out, tmp_path)
    for split, part in (("train", recs[:10]), ("validation", recs[10:])):
        prompts = [r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "") for r in part]
        trl = got["trl"][split]
        assert trl["columns"] == ["completion", "prompt"]  # TRL's prompt-completion type
        assert [r["prompt"] for r in trl["rows"]] == prompts
        assert [r["completion"] for r in trl["rows"]] == [r["output"] for r in part]
        ax = got["axolotl"][split]
        lf = got["llamafactory"][f"o_{split}"]
        if fmt in ("alpaca", "alpaca-json", "parquet"):
            fields = [[r["instruction"], r["input"], r["output"]] for r in part]
        else:
            fields = [[p, r["output"]] for p, r in zip(prompts, part, strict=True)]
        assert ax == fields and lf == fields


def test_llamafactory_is_refused_for_tool_calls_and_nothing_is_written(tmp_path: Path) -> None:
    from tests.export.test_tool_export import tool_record

    pol = load_policies()["openai"]
    run = make_run(tmp_path, [tool_record(i, pol) for i in range(12)])
    out = tmp_path / "o"
    with pytest.raises(ConfigError, match="LLaMA-Factory reads"):
        _export(run, "openai-chat", out)
    assert not out.exists() or not any(out.iterdir())
    res = _export(run, "trl-chat", out, ("trl", "axolotl"))
    assert res.n_exported == 12 and (out / "trl_dataset.py").is_file()


def test_bad_trainer_names_are_a_usage_error() -> None:
    assert parse_trainers("TRL, axolotl,trl") == ("trl", "axolotl")
    with pytest.raises(ConfigError, match="unknown unsloth"):
        parse_trainers("trl,unsloth")


def test_snippets_are_sealed_in_the_manifest_and_not_loaded_as_data(tmp_path: Path, pol) -> None:
    from generator.errors import PackAltered
    from generator.export.verify import verify_pack

    recs = [chat(i, pol) for i in range(12)]
    out = tmp_path / "o"
    _export(_run(tmp_path, recs[:10], recs[10:]), "openai-chat", out)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    assert (
        listed["dataset_info.json"]["kind"] == "trainer" and listed["dataset_info.json"]["sha256"]
    )
    verify_pack(out)  # the snippets are checked like every other file
    (out / "trl_dataset.py").write_text("import os\n")
    with pytest.raises(PackAltered, match=r"trl_dataset\.py"):
        verify_pack(out)
    assert len(read_jsonl(out / "train.jsonl")) == 10


_LOAD_PAIRS = r"""
import json, runpy, socket, sys
def refuse(self, address):
    raise OSError(f"network access blocked: {address!r}")
socket.socket.connect = refuse
import datasets, yaml
out, cache = sys.argv[1], sys.argv[2]
ds = runpy.run_path(f"{out}/trl_dataset.py")["load"]()["train"]
report = {"trl": ds.to_list()}
cfg = yaml.safe_load(open(f"{out}/axolotl_datasets.yaml"))
entry = cfg["datasets"][0]
t = entry["type"]
d = datasets.load_dataset(entry["ds_type"], data_files=entry["path"], split="train",
                          cache_dir=cache)
report["axolotl"] = {"rl": cfg["rl"], "rows": [
    [t["prompt_format"].format(prompt=ex[t["field_prompt"]]),
     t["chosen_format"].format(chosen=ex[t["field_chosen"]]),
     t["rejected_format"].format(rejected=ex[t["field_rejected"]])] for ex in d]}
(name, e), = json.load(open(f"{out}/dataset_info.json")).items()
d = datasets.load_dataset("json", data_files=e["file_name"], split="train", cache_dir=cache)
report["llamafactory"] = {"ranking": e["ranking"],
                         "rows": [[ex[c] for c in e["columns"].values()] for ex in d]}
print(json.dumps(report))
"""


def test_preference_snippets_load_pairs_for_dpo(tmp_path: Path) -> None:
    """TRL's standard preference rows (what the trl-preference export writes) through the
    DPO snippets of each trainer."""
    from generator.export.trainers import DataFiles, snippets

    out = tmp_path / "p"
    out.mkdir()
    pairs = [
        {"prompt": f"How many leave days in year {i}?", "chosen": "25 days.", "rejected": "40."}
        for i in range(5)
    ]
    (out / "train.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    files = DataFiles("p", "preference", "json", {"train": out / "train.jsonl"})
    for name, text in snippets(ALL, files).items():
        (out / name).write_text(text)
    assert "DPOTrainer" in (out / "trl_dataset.py").read_text()
    got = run_datasets_child(_LOAD_PAIRS, out, tmp_path)
    rows = [[p["prompt"], p["chosen"], p["rejected"]] for p in pairs]
    assert [[r["prompt"], r["chosen"], r["rejected"]] for r in got["trl"]] == rows
    assert got["axolotl"] == {"rl": "dpo", "rows": rows}
    assert got["llamafactory"] == {"ranking": True, "rows": rows}
    chat = DataFiles("p", "preference_chat", "json", {"train": out / "train.jsonl"})
    assert "trl_dataset.py" in snippets(("trl",), chat)
    for trainer in ("axolotl", "llamafactory"):
        with pytest.raises(ConfigError, match="conversational preference"):
            snippets((trainer,), chat)


def test_a_real_preference_export_hands_off_to_dpo(tmp_path: Path) -> None:
    """The pairs stage's export (trl-preference) through every trainer's DPO snippet; the
    OpenAI preference and evaluation formats have no trainer mapping (refused up front)."""
    from tests.export.test_preference import _run as pairs_run

    run = pairs_run(tmp_path)
    out = tmp_path / "p"
    res = run_export(ExportOptions(run, "trl-preference", "evaluation", out, trainer_config=ALL))
    assert res.n_exported == 6
    got = run_datasets_child(_LOAD_PAIRS, out, tmp_path)
    rows = [[r["prompt"], r["chosen"], r["rejected"]] for r in read_jsonl(out / "train.jsonl")]
    assert [[r["prompt"], r["chosen"], r["rejected"]] for r in got["trl"]] == rows
    assert got["axolotl"]["rows"] == rows and got["llamafactory"]["rows"] == rows
    for fmt in ("openai-preference", "eval-jsonl"):
        with pytest.raises(ConfigError, match="no trainer mapping"):
            run_export(
                ExportOptions(run, fmt, "evaluation", tmp_path / fmt, trainer_config=("trl",))
            )
        assert not (tmp_path / fmt).exists()
