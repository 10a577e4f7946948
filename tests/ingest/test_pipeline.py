"""Streaming ingestion into the journal: re-runs skip unchanged files, changes are applied."""

from __future__ import annotations

from pathlib import Path

from generator.ingest.chunking import ChunkSettings
from generator.ingest.pipeline import IngestSettings, ingest_entries, ingest_folder, plan
from generator.store import Journal
from tests.ingest.conftest import PARAGRAPH, write


def _statuses(results) -> dict[str, str]:
    return {r.path: r.status for r in results}


def test_reingest_skips_unchanged_and_applies_changes(docs: Path, tmp_path: Path):
    write(docs / "a.md", f"# A\n\n{PARAGRAPH}\n")
    write(docs / "b.txt", f"B\n\n{PARAGRAPH}\n")
    write(docs / "c.md", f"# C\n\n{PARAGRAPH}\n")
    settings = IngestSettings()
    with Journal(tmp_path / "run") as journal:
        first = ingest_folder(docs, journal, settings)
        assert _statuses(first) == {"a.md": "ingested", "b.txt": "ingested", "c.md": "ingested"}
        ids = {c.id for c in journal.chunks()}

        again = ingest_folder(docs, journal, settings)
        assert _statuses(again) == {"a.md": "unchanged", "b.txt": "unchanged", "c.md": "unchanged"}
        assert [(r.chunks, r.tokens) for r in again] == [(r.chunks, r.tokens) for r in first]
        assert {c.id for c in journal.chunks()} == ids

        write(docs / "a.md", f"# A\n\nChanged. {PARAGRAPH}\n")
        (docs / "c.md").unlink()
        write(docs / "b.txt", b"")  # a good file that turned bad
        third = ingest_folder(docs, journal, settings)
        assert _statuses(third) == {"a.md": "ingested", "b.txt": "error", "c.md": "removed"}
        assert [d.path for d in journal.documents()] == ["a.md"]
        assert "Changed." in journal.document("a.md").text
        assert {c.doc_path for c in journal.chunks()} == {"a.md"}
        assert [(r["path"], r["kind"]) for r in journal.skipped()] == [("b.txt", "error")]


def test_changed_chunk_settings_rechunk_everything(docs: Path, tmp_path: Path):
    write(docs / "a.md", "# A\n\n" + (PARAGRAPH + "\n\n") * 20)
    with Journal(tmp_path / "run") as journal:
        ingest_folder(docs, journal, IngestSettings())
        before = {c.id for c in journal.chunks()}
        small = IngestSettings(ChunkSettings(max_tokens=100, overlap=10))
        [result] = ingest_folder(docs, journal, small)
        assert result.status == "ingested"
        after = list(journal.chunks())
        assert not before & {c.id for c in after}
        assert max(c.tokens for c in after) <= 100 and len(after) == result.chunks
        assert journal.get_setting("ingest")["chunker"] == small.chunks.key()


def test_documents_are_streamed_one_at_a_time(docs: Path, tmp_path: Path):
    for i in range(5):
        write(docs / f"d{i}.md", f"# Doc {i}\n\n{PARAGRAPH}\n")
    settings = IngestSettings()
    with Journal(tmp_path / "run") as journal:
        stream = ingest_entries(plan(docs, settings), journal, settings)
        for n in range(1, 6):
            result = next(stream)
            assert result.status == "ingested"
            # each result is stored before the next file is read
            assert journal.query("SELECT count(*) AS n FROM documents")[0]["n"] == n
        assert list(stream) == []


def test_chunks_reference_their_document(docs: Path, tmp_path: Path):
    write(docs / "x" / "a.md", "# A\n\n## B\n\n" + (PARAGRAPH + "\n\n") * 30)
    with Journal(tmp_path / "run") as journal:
        ingest_folder(docs, journal, IngestSettings(ChunkSettings(max_tokens=120, overlap=20)))
        d = journal.document("x/a.md")
        assert d.metadata["file_modified"].endswith("Z")  # the date of last resort
        chunks = list(journal.chunks("x/a.md"))
        assert len(chunks) > 3
        for c in chunks:
            assert c.doc_sha256 == d.sha256 and c.doc_path == "x/a.md"
            assert d.text[c.span[0] : c.span[1]] == c.text
            assert c.heading_path[:1] == ["A"]


def test_a_run_folder_inside_the_documents_is_not_scanned(docs: Path):
    write(docs / "a.md", f"# A\n\n{PARAGRAPH}\n")
    with Journal(docs / "run") as journal:
        first = _statuses(ingest_folder(docs, journal, IngestSettings()))
        second = _statuses(ingest_folder(docs, journal, IngestSettings()))
    assert first == {"a.md": "ingested", "run": "skipped"}
    assert second == {"a.md": "unchanged", "run": "skipped"}
