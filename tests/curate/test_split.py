"""Seeded grouped split and the leakage check."""

from __future__ import annotations

import pytest

from generator.curate.config import SplitConfig
from generator.curate.split import check_leakage, groups, split_records, validation_size
from generator.errors import LeakageError
from generator.records import parse_record
from tests.curate.corpus import as_rows, corpus


def _records(n_distinct: int, n_dups: int, seed: int = 2):
    items = corpus(n_distinct, n_dups, seed=seed)
    return items, [parse_record(r) for r in as_rows(items)]


def test_validation_size_rules():
    cfg = SplitConfig()
    assert validation_size(1000, cfg) == 100
    assert validation_size(100, cfg) == 20  # the minimum wins over 10%
    assert validation_size(30, cfg) == 6  # the minimum never takes more than a fifth
    assert validation_size(36, cfg) == 7
    assert validation_size(3, cfg) == 1
    assert validation_size(1, cfg) == 0


def test_split_is_seeded_grouped_and_leak_free():
    items, records = _records(600, 60)
    cfg = SplitConfig()
    a = split_records(records, cfg, seed=1)
    b = split_records([r.model_copy(deep=True) for r in records], cfg, seed=1)
    assert [r.meta.id for r in a.validation] == [r.meta.id for r in b.validation]
    c = split_records([r.model_copy(deep=True) for r in records], cfg, seed=2)
    assert [r.meta.id for r in a.validation] != [r.meta.id for r in c.validation]
    assert len(a.validation) == 66 and len(a.train) == 594
    side = {r.meta.id: r.meta.curation["split"] for r in records}
    for it in items:  # a planted duplicate always lands beside its original
        if it.source:
            assert side[it.key] == side[it.source]
    check_leakage(a.train, a.validation)  # passes


def test_group_by_source_keeps_documents_on_one_side():
    rows = as_rows(corpus(200, 0, seed=4))
    for k, row in enumerate(rows):
        row["meta"]["source"] = {
            "path": f"doc{k % 10}.md",
            "doc_sha256": "x",
            "chunk_id": "c",
            "span": [0, 1],
        }
    records = [parse_record(r) for r in rows]
    cfg = SplitConfig(group_by_source=True)
    assert len(groups(records, cfg)) == 10
    parts = split_records(records, cfg, seed=0)
    assert {r.meta.source.path for r in parts.train}.isdisjoint(
        {r.meta.source.path for r in parts.validation}
    )
    check_leakage(parts.train, parts.validation, cfg)
    with pytest.raises(LeakageError, match="source document"):
        check_leakage(parts.train + parts.validation[:1], parts.validation, cfg)


def test_leakage_check_fails_loudly_on_a_leaky_split():
    items, records = _records(300, 40, seed=9)
    by_id = {r.meta.id: r for r in records}
    planted = [it for it in items if it.source and it.edit == "word"]
    train = [r for r in records if r.meta.id != planted[0].key]
    val = [by_id[planted[0].key]]  # its original stays in train: a near duplicate leaks
    with pytest.raises(LeakageError, match="near-duplicate pair"):
        check_leakage(train, val)
    exact = next(it for it in items if it.source and it.edit == "case")
    train = [r for r in records if r.meta.id != exact.key]
    with pytest.raises(LeakageError, match="exact duplicate example"):
        check_leakage(train, [by_id[exact.key]])
    with pytest.raises(LeakageError, match="record id"):
        check_leakage(records[:10], records[9:12])
