"""Exact and near dedup on real-looking text with planted duplicates."""

from __future__ import annotations

from collections import Counter

import pytest

from generator.curate.exact_dedup import ExactDedupConfig, ExactDedupStep
from generator.curate.near_dedup import (
    NearDedupConfig,
    NearDedupStep,
    UnionFind,
    make_lsh,
    shingle_arrays,
)
from generator.curate.normalize import jaccard, normalize, shingle_hashes
from generator.records import parse_record
from tests.curate.corpus import as_rows, corpus, edit


def _records(items):
    return [parse_record(r) for r in as_rows(items)]


def test_normalize_folds_unicode_case_space_and_punctuation():
    assert normalize("  Ｈｅｌｌｏ,\tWORLD!!  ") == "hello world"
    assert normalize("Net\u00a030 days — paid.") == normalize("net 30 days paid")


def test_reordered_sentences_keep_the_same_shingles_and_a_changed_word_does_not():
    text = "Refunds go to the card used. They take five days. Ask finance for help."
    moved = "They take five days. Ask finance for help. Refunds go to the card used."
    assert jaccard(shingle_hashes(text), shingle_hashes(moved)) == 1.0
    changed = text.replace("five", "seven")
    assert 0.4 < jaccard(shingle_hashes(text), shingle_hashes(changed)) < 1.0


def test_lsh_bands_favour_recall_at_the_threshold():
    lsh = make_lsh(0.8, 128, 0.99)
    b, r = lsh.b, lsh.r
    assert b * r <= 128
    assert 1 - (1 - 0.8**r) ** b > 0.98  # a pair at the threshold is found
    assert 1 - (1 - 0.4**r) ** b < 0.05  # an unrelated pair rarely becomes a candidate


def test_union_find_groups():
    uf = UnionFind(5)
    uf.union(0, 3)
    uf.union(3, 4)
    assert sorted(sorted(g) for g in uf.groups().values()) == [[0, 3, 4], [1], [2]]


def test_planted_duplicates_found_with_high_recall_and_few_false_drops():
    items = corpus(3000, 300, seed=11)
    records = _records(items)
    exact, near = ExactDedupStep(), NearDedupStep()
    kept = list(near.run(exact.run(records)))
    removed = {e.record.meta.id: e for e in exact.excluded + near.excluded}
    planted = [it for it in items if it.source]
    distinct = [it for it in items if not it.source]
    found = [it for it in planted if it.key in removed]
    wrongly = [it for it in distinct if it.key in removed]
    assert len(found) / len(planted) >= 0.95, Counter(it.edit for it in planted if it not in found)
    assert len(wrongly) / len(distinct) <= 0.01
    assert len(kept) == len(records) - len(removed)
    # Every removed duplicate names a record that stayed.
    kept_ids = {r.meta.id for r in kept}
    assert all(e.duplicate_of in kept_ids for e in removed.values())


def test_near_dedup_alone_catches_word_and_reorder_edits():
    items = corpus(1500, 200, seed=5)
    near = NearDedupStep()
    list(near.run(_records(items)))
    removed = {e.record.meta.id for e in near.excluded}
    for kind in ("word", "reorder", "punctuation", "whitespace"):
        planted = [it for it in items if it.edit == kind]
        hit = sum(it.key in removed for it in planted)
        assert hit / len(planted) >= 0.95, (kind, hit, len(planted))
    assert all(e.reason == "near_duplicate" and e.duplicate_of for e in near.excluded)


def test_exact_dedup_keeps_first_and_names_it():
    a = {
        "instruction": "How do I reset my VPN token?",
        "output": "Open the self-service portal, choose VPN, then reset. It takes a minute.",
        "meta": {"id": "a", "format": "alpaca"},
    }
    b = dict(a, instruction="how do i RESET my  VPN token", meta={"id": "b", "format": "alpaca"})
    c = dict(a, output="Call the service desk.", meta={"id": "c", "format": "alpaca"})
    step = ExactDedupStep()
    kept = list(step.run([parse_record(x) for x in (a, b, c)]))
    assert [r.meta.id for r in kept] == ["a"]
    assert [(e.record.meta.id, e.reason, e.duplicate_of) for e in step.excluded] == [
        ("b", "exact_duplicate_example", "a"),
        ("c", "exact_duplicate_instruction", "a"),
    ]
    only_example = ExactDedupStep(ExactDedupConfig(on_instruction=False))
    assert len(list(only_example.run([parse_record(x) for x in (a, b, c)]))) == 2


def test_near_dedup_keeps_the_best_scored_record_of_a_cluster():
    items = corpus(50, 0, seed=3)
    q, out = items[0].instruction, items[0].output
    rows = as_rows(items[:1])
    copy = dict(rows[0], output=edit(q, out, "word", __import__("random").Random(1))[1])
    copy["meta"] = {"id": "better", "format": "alpaca", "curation": {"quality": {"score": 0.9}}}
    rows[0]["meta"]["curation"] = {"quality": {"score": 0.4}}
    step = NearDedupStep()
    kept = list(step.run([parse_record(r) for r in [*rows, copy]]))
    assert [r.meta.id for r in kept] == ["better"]
    assert step.excluded[0].duplicate_of == "better"
    assert kept[0].meta.curation["near_dedup"]["cluster_size"] == 2


@pytest.mark.parametrize("text", ["Reset VPN.", "ok", ""])
def test_short_texts_get_character_shingles(text):
    arr = shingle_arrays([text], NearDedupConfig())[0]
    assert len(arr) >= (1 if text else 0)
