"""Export sidecars never load as data (issue 16, item 9): Hugging Face ``datasets`` (offline,
in a child process with its own HF_HOME) reads an export folder with ``data_dir``, with
``data_files`` globs and through the card, and gets only the exported examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.export.card import size_category
from generator.export.job import ExportOptions, run_export
from generator.export.writer import SPLITS, sidecar_name, sidecar_names
from generator.policies import load_policies
from tests.export._build import alpaca, make_run, run_datasets_child

_LOAD = """
import json, socket, sys
def refuse(self, address):
    raise OSError(f"network access blocked: {address!r}")
socket.socket.connect = refuse
import datasets
out, cache = sys.argv[1], sys.argv[2]
ways = {
    "data_dir": lambda: datasets.load_dataset("json", data_dir=out, cache_dir=cache),
    "globs": lambda: datasets.load_dataset(
        "json",
        data_files={"train": f"{out}/train*.jsonl", "validation": f"{out}/validation*.jsonl"},
        cache_dir=cache,
    ),
    "train_glob": lambda: datasets.load_dataset(
        "json", data_files=f"{out}/train*.jsonl", cache_dir=cache
    ),
    "card": lambda: datasets.load_dataset(out, cache_dir=cache),
}
result = {}
for name, load in ways.items():
    try:
        ds = load()
        result[name] = {s: {"n": len(d), "columns": sorted(d.column_names)} for s, d in ds.items()}
    except Exception as exc:  # a glob that matches nothing (no validation split)
        result[name] = {"error": type(exc).__name__}
print(json.dumps(result))
"""


def _load_every_way(out: Path, tmp_path: Path) -> dict:
    return run_datasets_child(_LOAD, out, tmp_path)


COLUMNS = ["input", "instruction", "output"]


def test_a_split_export_loads_only_its_data(tmp_path: Path) -> None:
    pol = load_policies()["openai"]
    records = [alpaca(i, pol) for i in range(12)]
    out = tmp_path / "o"
    run_export(
        ExportOptions(
            make_run(tmp_path, records[:10], validation=records[10:]), "alpaca", "evaluation", out
        )
    )
    names = {p.name for p in out.iterdir()}
    assert {"meta.jsonl", "excluded.jsonl", "manifest.json", "README.md"} <= names
    got = _load_every_way(out, tmp_path)
    want = {
        "train": {"n": 10, "columns": COLUMNS},
        "validation": {"n": 2, "columns": COLUMNS},
    }
    assert got["data_dir"] == want
    assert got["globs"] == want
    assert got["card"] == want
    assert got["train_glob"] == {"train": {"n": 10, "columns": COLUMNS}}


def test_an_unsplit_export_loads_only_its_data(tmp_path: Path) -> None:
    pol = load_policies()["openai"]
    out = tmp_path / "o"
    run = make_run(tmp_path, [alpaca(i, pol) for i in range(7)])
    res = run_export(ExportOptions(run, "alpaca", "evaluation", out))
    assert len(res.plan.files) == 1  # no split
    got = _load_every_way(out, tmp_path)
    want = {"train": {"n": 7, "columns": COLUMNS}}
    assert got["data_dir"] == want and got["card"] == want and got["train_glob"] == want


def test_sidecar_names_have_no_split_word() -> None:
    from datasets.data_files import SPLIT_KEYWORDS  # the words datasets looks for

    words = {w for ws in SPLIT_KEYWORDS.values() for w in ws}
    for name in sidecar_names():
        parts = name.lower().replace("-", ".").replace("_", ".").split(".")
        assert not words & set(parts), name
        assert not any(name.startswith(s) for s in SPLITS), name
    assert {sidecar_name(s) for s in SPLITS} == {"meta.jsonl"}


@pytest.mark.parametrize(
    ("n", "label"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (99_999, "10K<n<100K"),
        (100_000, "100K<n<1M"),
        (5_000_000, "1M<n<10M"),
        (10_000_000, "10M<n<100M"),
        (250_000_000, "100M<n<1B"),
        (2_000_000_000, "1B<n<10B"),
        (20_000_000_000, "10B<n<100B"),
        (200_000_000_000, "100B<n<1T"),
        (2_000_000_000_000, "n>1T"),
    ],
)
def test_size_categories_are_the_hubs_own(n: int, label: str) -> None:
    assert size_category(n) == label
