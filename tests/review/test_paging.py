"""The review store's paging reads (what the web review page shows) agree with the whole
queue's (``items``, ``pending``, ``latest``), older journals are brought up to date, and a
queue is not read again while ``curation/review.jsonl`` is unchanged."""

from __future__ import annotations

from pathlib import Path

from generator.review import session
from generator.review.session import prepare
from generator.review.store import REVIEW_MIGRATIONS, ReviewStore, text_digest
from generator.store import Journal
from tests.review.test_review import _records


def _queue(journal: Journal, n: int = 30) -> ReviewStore:
    store = ReviewStore(journal)
    recs = _records(n)
    store.save_sample([(r, "flagged" if i % 4 == 0 else "sample", "s", None)
                       for i, r in enumerate(recs)], {"sample_size": n})  # fmt: skip
    return store


def _agrees(store: ReviewStore) -> None:
    pending = [it.position for it in store.pending()]
    assert store.remaining() == len(pending)
    assert store.next_pending(-1) == (pending[0] if pending else None)
    for p in pending:
        later = [q for q in pending if q > p] or pending
        assert store.next_pending(p) == later[0]
    assert [it.position for it in store.page(-1, 1000, status="pending")] == pending
    latest = store.latest()
    for it in store.items():
        d = latest.get(it.record_id)
        valid = d if d and d["text_sha256"] in (None, text_digest(it.record)) else None
        got = store.decision_on(it.record_id)
        assert (got and got["id"]) == (valid and valid["id"]), it.record_id
        for status in ("accept", "reject", "edit"):
            hits = {x.record_id for x in store.page(-1, 1000, status=status)}
            assert (it.record_id in hits) == bool(valid and valid["decision"] == status)


def test_paging_reads_agree_with_the_whole_queue(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        store = _queue(journal)
        _agrees(store)
        items = store.items()
        store.decide(items[0].record_id, "accept", reviewer="t")
        store.decide(items[1].record_id, "reject", reason="off", reviewer="t")
        store.decide(items[1].record_id, "skip", reviewer="t")  # a skip keeps the reject
        store.decide(items[2].record_id, "accept", reviewer="t")
        store.decide(items[2].record_id, "reject", reason="second look", reviewer="t")
        _agrees(store)
        changed = items[0].record.model_copy(deep=True)  # a new text: its accept is void
        changed.output = "A different answer."
        assert store.append_items([(changed, "flagged", "s", "again")]) == 1
        old = items[3].record.model_copy(deep=True)  # a decision made on another text
        old.output = "An older answer."
        store.decide(items[3].record_id, "accept", reviewer="t", before=old)
        _agrees(store)
        assert store.remaining() == 30 - 2
        assert [it.position for it in store.page(4, 3)] == [5, 6, 7]
        assert {it.origin for it in store.page(-1, 100, origin="flagged")} == {"flagged"}
        found = store.page(-1, 100, contains="answer number 17,")
        assert [it.record_id for it in found] == [items[17].record_id]
        assert store.rank(5) == 5 and store.neighbours(0) == (None, 1)
        assert store.at(10_000).position == 29 and store.find("nope") is None


def test_an_older_journal_gets_digests_and_decided_flags(tmp_path: Path) -> None:
    recs = _records(6)
    with Journal(tmp_path / "run") as journal:
        journal.migrate("review", REVIEW_MIGRATIONS[:2])  # the journal before paging
        journal.conn.executemany(
            "INSERT INTO review_items VALUES (?,?,?,?,?,?)",
            [(r.meta.id, i, "sample", "s", None, r.to_json()) for i, r in enumerate(recs)],
        )
        journal.conn.execute(
            "INSERT INTO review_decisions(record_id, decision, reviewer, at, text_sha256)"
            " VALUES (?, 'accept', 't', 'now', ?), (?, 'reject', 't', 'now', 'other text')",
            (recs[0].meta.id, text_digest(recs[0]), recs[1].meta.id),
        )
    with Journal(tmp_path / "run") as journal:
        store = ReviewStore(journal)
        rows = journal.query("SELECT text_sha256, decided FROM review_items ORDER BY position")
        assert [r["text_sha256"] for r in rows] == [text_digest(r) for r in recs]
        assert [r["decided"] for r in rows] == [1, 0, 0, 0, 0, 0]
        _agrees(store)


def test_an_unchanged_flagged_file_is_not_read_again(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    (run / "curation").mkdir(parents=True)
    recs = _records(12)
    (run / "records.jsonl").write_text("".join(r.to_json() + "\n" for r in recs[:10]))
    flagged = run / "curation" / "review.jsonl"
    flagged.write_text(recs[10].to_json() + "\n")
    reads: list[Path] = []
    real = session.read_jsonl
    monkeypatch.setattr(session, "read_jsonl", lambda p: reads.append(p) or real(p))
    with Journal(run) as journal:
        store = ReviewStore(journal)
        prepare(store, run, None, None)
        assert store.count("flagged") == 1
        reads.clear()
        prepare(store, run, None, None)
        assert reads == []  # nothing new: the queue is not read again
        tmp = flagged.with_suffix(".tmp")  # curate replaces the file
        tmp.write_text(recs[10].to_json() + "\n" + recs[11].to_json() + "\n")
        tmp.replace(flagged)
        prepare(store, run, None, None)
        assert reads == [flagged] and store.count("flagged") == 2
        assert store.meta("flagged_file")
