"""A pair's chosen and rejected texts are checked against what produced them (the run's
journal: the judge's ranking of two journaled answers, the reviewer's edit, the answer made
flawed on purpose), never taken from the pair file: a swap or an edit of either side is
refused at export and caught by ``verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.errors import PackAltered
from generator.export.verify import verify_pack
from tests.export._build import read_jsonl
from tests.export.test_preference import _export, _ranked_run, _run
from tests.export.test_verify import _reseal


def _rewrite(run: Path, change) -> None:
    path = run / "pairs" / "records.jsonl"
    rows = read_jsonl(path)
    change(rows[0])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _swap_texts(row: dict) -> None:
    row["chosen"], row["rejected"] = row["rejected"], row["chosen"]


def _swap_everything(row: dict) -> None:  # texts and the sides' provenance both
    _swap_texts(row)
    pair = row["meta"]["pair"]
    pair["chosen"], pair["rejected"] = pair["rejected"], pair["chosen"]


@pytest.mark.parametrize("build", [_run, _ranked_run], ids=["flawed", "judge"])
@pytest.mark.parametrize("change", [_swap_texts, _swap_everything], ids=["texts", "all"])
def test_a_swapped_pair_is_refused_at_export(tmp_path: Path, build, change) -> None:
    run = build(tmp_path)
    first = read_jsonl(run / "pairs" / "records.jsonl")[0]["meta"]["id"]
    _rewrite(run, change)
    res = _export(run, tmp_path / "out", "trl-preference", accept_review=("mock", "unknown"))
    held = [e for e in res.exclusions if e.stage == "gate"]
    assert [e.id for e in held] == [first]
    assert held[0].verdict == "block" and "swapped" in held[0].reason
    assert res.n_exported == len(read_jsonl(run / "pairs" / "records.jsonl")) - 1


@pytest.mark.parametrize("side", ["chosen", "rejected"])
def test_an_edited_side_is_refused_at_export(tmp_path: Path, side: str) -> None:
    run = _run(tmp_path)

    def edit(row: dict) -> None:
        row[side] = row[side] + " (edited)"

    _rewrite(run, edit)
    res = _export(run, tmp_path / "out", "openai-preference")
    held = [e for e in res.exclusions if e.stage == "gate"]
    assert [e.id for e in held] == ["pair-0"] and held[0].verdict == "block"
    assert f"{side} text differs from" in held[0].reason
    assert res.n_exported == 5


@pytest.mark.parametrize("fmt", ["trl-preference", "trl-preference-chat", "openai-preference"])
def test_verify_catches_sides_swapped_in_the_pack(tmp_path: Path, fmt: str) -> None:
    run = _run(tmp_path)
    out = tmp_path / "pack"
    _export(run, out, fmt)
    verify_pack(out)
    rows = read_jsonl(out / "train.jsonl")
    keys = ("preferred_output", "non_preferred_output") if fmt == "openai-preference" else (
        "chosen", "rejected")  # fmt: skip
    rows[1][keys[0]], rows[1][keys[1]] = rows[1][keys[1]], rows[1][keys[0]]
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _reseal(out)  # a forger recomputes every hash
    with pytest.raises(PackAltered, match=r"pair-1\): chosen and rejected are swapped"):
        verify_pack(out)


def test_verify_needs_the_journaled_texts_beside_a_pair(tmp_path: Path) -> None:
    run = _run(tmp_path)
    out = tmp_path / "pack"
    _export(run, out, "trl-preference")
    rows = read_jsonl(out / "meta.jsonl")
    for r in rows:
        r["provenance"].pop("texts")
    (out / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _reseal(out)
    with pytest.raises(PackAltered, match=r"pair-0.*no sha256 of the journaled texts"):
        verify_pack(out)
