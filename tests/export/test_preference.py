"""Preference exports: TRL (standard and conversational) and OpenAI's preference format,
round trips back into the record model, loading with ``datasets``, and the licence gate on
both sides of a pair (from the run's journal; the stricter verdict wins)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from generator.derive.store import KindStore
from generator.errors import ExportRefused
from generator.export.job import ExportOptions, run_export
from generator.policies import load_policies
from generator.record_kinds import PreferenceRecord, side_of
from generator.records import Ref
from generator.store import open_run
from tests.export._build import QUESTIONS, journal_records, meta, read_jsonl, write_jsonl

GOOD = "openai/gpt-4o-mini"


def _answer(i: int, model: str, text: str) -> dict:
    pol = load_policies()["openai" if model.startswith("openai/") else "mock"]
    m = meta(i, "alpaca", pol, model=model)
    m.update(id=f"ans-{model}-{i}", format="preference")
    return {"answer": text, "meta": m}


def _run(tmp_path: Path, rival: str = GOOD, claim: str | None = None, system: bool = False) -> Path:
    """A run whose pairs' chosen sides are generated records (gen_records) and rejected
    sides answers of ``rival`` (kind_records); ``claim``: the model the pair file says the
    rejected side came from (a tampered copy)."""
    run = tmp_path / "run"
    originals, answers, pairs = [], [], []
    for i, (q, a) in enumerate(QUESTIONS[:6]):
        rec = {
            "instruction": q,
            "input": "",
            "output": a,
            "meta": meta(i, "alpaca", load_policies()["openai"]),
        }
        bad = _answer(i, rival, a.replace("25", "32") + " Probably.")
        originals.append(rec)
        answers.append(bad)
        rejected = side_of(bad["meta"], "generated")
        if claim:
            rejected["model"] = claim
        prompt = [{"role": "user", "content": q}]
        if system and i % 2:
            prompt.insert(0, {"role": "system", "content": "Answer from the handbook."})
        pair = {"prompt": prompt, "chosen": a, "rejected": bad["answer"],
                "meta": {"id": f"pair-{i}", "format": "preference",
                         "pair": {"method": "flawed", "chosen": side_of(rec["meta"], "record"),
                                  "rejected": rejected}}}  # fmt: skip
        pairs.append(PreferenceRecord.model_validate(pair).to_dict())
    write_jsonl(run / "records.jsonl", originals)
    journal_records(run, originals)
    journal = open_run(run)
    store = KindStore(journal)
    for a in answers:
        store.put("pair-flawed", a)
    journal.close()
    write_jsonl(run / "pairs" / "records.jsonl", pairs)
    return run


def _export(run: Path, out: Path, fmt: str, use: str = "evaluation", **kw):
    return run_export(ExportOptions(run, fmt, use, out, **kw))


def _back(out: Path, fmt: str) -> list[PreferenceRecord]:
    rows, metas = read_jsonl(out / "train.jsonl"), read_jsonl(out / "meta.jsonl")
    back = []
    for row, m in zip(rows, metas, strict=True):
        if fmt == "trl-preference":
            prompt, chosen, rejected = (
                [{"role": "user", "content": row["prompt"]}],
                row["chosen"],
                row["rejected"],
            )
        elif fmt == "trl-preference-chat":
            prompt, chosen, rejected = (
                row["prompt"],
                row["chosen"][0]["content"],
                row["rejected"][0]["content"],
            )
            assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        else:
            prompt = row["input"]["messages"]
            chosen = row["preferred_output"][0]["content"]
            rejected = row["non_preferred_output"][0]["content"]
        data = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": m["meta"]}
        back.append(PreferenceRecord.model_validate(data))
    return back


@pytest.mark.parametrize("fmt", ["trl-preference", "trl-preference-chat", "openai-preference"])
def test_round_trip_and_load(tmp_path: Path, fmt: str) -> None:
    run = _run(tmp_path)
    res = _export(run, tmp_path / "out", fmt)
    assert res.n_exported == 6 and res.gate.stats.outcomes == {"allow": 6}
    originals = [json.loads(x) for x in (run / "pairs" / "records.jsonl").read_text().splitlines()]
    back = _back(tmp_path / "out", fmt)
    assert [b.to_dict() for b in back] == [
        PreferenceRecord.model_validate(o).to_dict() for o in originals
    ]
    ds = datasets.load_dataset("json", data_dir=str(tmp_path / "out"))
    assert list(ds) == ["train"] and ds["train"].num_rows == 6
    cols = set(ds["train"].column_names)
    want = (
        {"input", "preferred_output", "non_preferred_output"}
        if fmt == "openai-preference"
        else {"prompt", "chosen", "rejected"}
    )
    assert cols == want
    sidecar = read_jsonl(tmp_path / "out" / "meta.jsonl")[0]
    assert set(sidecar["provenance"]["pair"]) == {"chosen", "rejected"}  # both sides' evidence


def test_trl_conversational_rows_pass_trl_style_checks(tmp_path: Path) -> None:
    """The shape TRL's data utilities expect (a list of {role, content} turns; the prompt
    ends with the user's turn), checked directly; tests/export/test_trl.py runs TRL itself."""
    run = _run(tmp_path, system=True)
    _export(run, tmp_path / "out", "trl-preference-chat")
    for row in read_jsonl(tmp_path / "out" / "train.jsonl"):
        for key in ("prompt", "chosen", "rejected"):
            assert isinstance(row[key], list) and all(
                set(t) == {"role", "content"} for t in row[key]
            )
        assert row["prompt"][-1]["role"] == "user"


def test_standard_trl_refuses_a_prompt_it_cannot_hold(tmp_path: Path) -> None:
    run = _run(tmp_path, system=True)
    res = _export(run, tmp_path / "out", "trl-preference")
    lossy = [e for e in res.exclusions if e.stage == "conversion"]
    assert len(lossy) == 3 and "trl-preference-chat" in lossy[0].reason and res.n_exported == 3


def test_one_side_blocked_blocks_the_pair(tmp_path: Path) -> None:
    run = _run(tmp_path, rival="mock/flaw")  # mock output: blocked for training
    with pytest.raises(ExportRefused) as err:
        _export(run, tmp_path / "out", "openai-preference", use="internal-fine-tune")
    assert "rejected side: block by policy mock" in str(err.value)
    # for evaluation the mock side needs review: accepted by name, the pair goes out
    res = _export(run, tmp_path / "ev", "openai-preference", accept_review=("mock",))
    assert res.n_exported == 6 and res.gate.stats.outcomes == {"review-accepted": 6}


def test_the_gate_reads_the_journal_not_the_pair(tmp_path: Path) -> None:
    # the pair file claims the rejected side came from OpenAI; the journal says mock
    run = _run(tmp_path, rival="mock/flaw", claim=GOOD)
    with pytest.raises(ExportRefused, match="block by policy mock"):
        _export(run, tmp_path / "out", "trl-preference", use="internal-fine-tune")


def test_not_a_pair_is_excluded_and_pairs_need_their_file(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run / "pairs" / "records.jsonl").unlink()
    with pytest.raises(Exception, match="instructforge pairs"):
        _export(run, tmp_path / "out", "trl-preference")


def test_a_preference_pack_verifies_and_a_forged_side_is_caught(tmp_path: Path) -> None:
    from generator.errors import PackAltered
    from generator.export.verify import verify_pack
    from tests.export.test_verify import _reseal

    run = _run(tmp_path, rival="mock/flaw")
    out = tmp_path / "pack"
    _export(run, out, "trl-preference-chat", accept_review=("mock",))
    verify_pack(out)  # both sides re-judged from the evidence recorded beside each pair
    # a forger drops the mock side's evidence and reseals: the re-run gate refuses
    rows = read_jsonl(out / "meta.jsonl")
    for r in rows:
        del r["provenance"]["pair"]["rejected"]
    (out / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _reseal(out)
    with pytest.raises(PackAltered, match="provenance"):
        verify_pack(out)


def test_manifest_and_card_name_both_sides_models(tmp_path: Path) -> None:
    run = _run(tmp_path, rival="mock/flaw")
    _export(run, tmp_path / "out", "openai-preference", accept_review=("mock",))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    counts = json.dumps(manifest)
    assert '"mock/flaw": 6' in counts and f'"{GOOD}": 6' in counts
    card = (tmp_path / "out" / "README.md").read_text()
    assert "mock/flaw" in card and GOOD in card and "unknown" not in card.split("Providers:")[0]


def test_a_side_the_journal_does_not_hold_is_unverified(tmp_path: Path) -> None:
    run = _run(tmp_path)
    path = run / "pairs" / "records.jsonl"
    rows = read_jsonl(path)
    rows[0]["meta"]["pair"]["rejected"]["id"] = "never-journaled"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = _export(run, tmp_path / "out", "trl-preference", use="evaluation")
    held = [e for e in res.exclusions if e.stage == "gate"]
    assert [e.id for e in held] == ["pair-0"] and "journal does not hold" in held[0].reason
    assert res.n_exported == 5


# --------------------------------------------------------------- judge-ranked pairs

SIDE = "deepseek/deepseek-chat"  # its terms allow training competing models
TPL = Ref(id="pair-answer", version="1", sha256="ab" * 32)


def _ranked_run(
    tmp_path: Path, judge: str | None = GOOD, claim: str | None = None, method: str = "judge"
) -> Path:
    """A run of judge-ranked pairs: both sides answers of ``SIDE`` (kind_records), ranked
    by ``judge`` as the run journaled it (None: no judge journaled); ``claim``: the judge
    the pair file names (a tampered copy)."""
    from generator.derive.store import made_by

    run = tmp_path / "ranked"
    run.mkdir(parents=True)
    journal = open_run(run, create=True)
    store = KindStore(journal)
    pairs = []
    for i, (q, a) in enumerate(QUESTIONS[:4]):
        src = meta(i, "alpaca", load_policies()["openai"])["source"]
        sides = []
        for n, text in enumerate((a, "It depends on the team.")):
            m = made_by(SIDE, None, TPL, "preference", "pair-answer", str(i), str(n))
            m["source"] = src
            store.put("pair-answer", {"answer": text, "of": f"rec-{i}", "meta": m})
            sides.append(side_of(m, "generated", temperature=[0.2, 1.0][n]))
        pid = f"rpair-{i}"
        ranking = {"model": claim or judge or GOOD, "rubric": TPL.model_dump(), "orders": 2}
        if judge:
            ref = Ref(id="pair-judge", version="1", sha256="cd" * 32)
            store.put_judge(
                pid, sides[0]["id"], sides[1]["id"], made_by(judge, None, ref, "preference", pid)
            )
        pair = {"prompt": [{"role": "user", "content": q}], "chosen": a,
                "rejected": "It depends on the team.",
                "meta": {"id": pid, "format": "preference", "source": src,
                         "pair": {"method": method, "chosen": sides[0], "rejected": sides[1],
                                  "judge": ranking}}}  # fmt: skip
        pairs.append(PreferenceRecord.model_validate(pair).to_dict())
    journal.close()
    write_jsonl(run / "pairs" / "records.jsonl", pairs)
    return run


def test_a_judge_blocked_for_the_use_blocks_the_pair(tmp_path: Path) -> None:
    # both answers may train a competing model; the judge's (OpenAI's) terms forbid it
    with pytest.raises(ExportRefused) as err:
        _export(_ranked_run(tmp_path / "a"), tmp_path / "out", "trl-preference", "competing-model")
    assert "judge: block by policy openai" in str(err.value)
    res = _export(_ranked_run(tmp_path / "b", judge=SIDE), tmp_path / "ok", "trl-preference",
                  "competing-model")  # fmt: skip
    assert res.n_exported == 4 and res.gate.stats.outcomes == {"allow": 4}
    assert res.gate.stats.judges == {SIDE: 4}


def test_a_tampered_judge_claim_changes_nothing(tmp_path: Path) -> None:
    run = _ranked_run(tmp_path / "a", judge=GOOD, claim=SIDE)  # claims an allowed judge
    with pytest.raises(ExportRefused, match="judge: block by policy openai"):
        _export(run, tmp_path / "out", "trl-preference", "competing-model")
    run = _ranked_run(tmp_path / "b", judge=SIDE, claim="mock/judge")  # claims a blocked one
    res = _export(run, tmp_path / "ok", "trl-preference", "competing-model")
    assert res.n_exported == 4 and res.gate.stats.outcomes == {"allow": 4}


@pytest.mark.parametrize("method", ["judge", "flawed"])
def test_a_ranked_pair_whose_judge_the_journal_lacks_is_held(tmp_path: Path, method: str) -> None:
    # "flawed": the pair file hides the ranking, but its sides are journaled as ranked answers
    run = _ranked_run(tmp_path, judge=None, method=method)
    with pytest.raises(ExportRefused) as err:
        _export(run, tmp_path / "out", "trl-preference", "competing-model")
    assert "judge: review needed (the run's journal holds no judge" in str(err.value)
    assert "--accept-review unknown" in str(err.value)
    res = _export(run, tmp_path / "acc", "trl-preference", "evaluation", accept_review=("unknown",))
    assert res.n_exported == 4 and res.gate.stats.outcomes == {"review-accepted": 4}
    assert res.gate.stats.judges == {"unknown": 4}


def test_verify_re_judges_the_judge_and_catches_a_forged_one(tmp_path: Path) -> None:
    from generator.errors import PackAltered
    from generator.export.verify import verify_pack
    from tests.export.test_verify import _reseal

    run = _ranked_run(tmp_path)
    out = tmp_path / "pack"
    _export(run, out, "trl-preference-chat", "evaluation")
    verify_pack(out)
    rows = read_jsonl(out / "meta.jsonl")
    assert {r["provenance"]["pair"]["judge"]["model"] for r in rows} == {GOOD}

    def relabel(m):  # the pack re-labelled for a use the judge's terms forbid
        m["export"]["flags"]["use"] = "competing-model"

    _reseal(out, relabel)
    with pytest.raises(PackAltered, match="judge: block by policy openai"):
        verify_pack(out)
    for forge, match in (
        (lambda p: p.pop("judge"), "no provenance of the pair's judge"),
        (lambda p: p["judge"].update(model="mock/judge"), "gate now refuses"),
    ):
        _export(run, tmp_path / "p2", "trl-preference-chat", "evaluation")
        forged = read_jsonl(tmp_path / "p2" / "meta.jsonl")
        for r in forged:
            forge(r["provenance"]["pair"])
        (tmp_path / "p2" / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forged))
        _reseal(tmp_path / "p2")
        with pytest.raises(PackAltered, match=match):
            verify_pack(tmp_path / "p2")
        import shutil

        shutil.rmtree(tmp_path / "p2")


def test_manifest_card_and_legal_pack_name_the_judge(tmp_path: Path) -> None:
    _export(_ranked_run(tmp_path), tmp_path / "out", "openai-preference", "evaluation")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["by_judge_model"] == {GOOD: 4}
    assert manifest["counts"]["by_model"] == {SIDE: 4}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Judge models" in card and f"`{GOOD}`: 4" in card
    legal = (tmp_path / "out" / "LEGAL_REVIEW.md").read_text()
    assert f"ranked by judge model: `{GOOD}` (4)" in legal and f"`{SIDE}` (4)" in legal
