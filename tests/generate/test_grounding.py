"""Conversations grounded in a few related chunks of one document (``grounding:``, the
``conversation-sections`` template): grouping rules, the merged text and span, provenance of
every member chunk, and curation's grounding check reading all of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.curate.quality import journal_source_text
from generator.generate.grounding import Grounding, group_chunks
from generator.generate.prompts import load_template
from generator.records import ChatRecord, Chunk, parse_record, turn_problem
from generator.store import open_run
from tests.generate.engine_helpers import gen, read_jsonl

DOC = "".join(f"Sentence number {i} of the leave policy is here. " for i in range(40))


def _chunk(path: str, index: int, start: int, end: int, heading: str) -> Chunk:
    return Chunk(
        id=f"{path}-{index}", doc_path=path, doc_sha256="0" * 64, index=index,
        text=DOC[start:end], span=(start, end), heading_path=[heading, f"part {index}"],
        tokens=(end - start) // 4,
    )  # fmt: skip


def test_groups_stay_in_one_document_one_section_and_in_order() -> None:
    chunks = [
        _chunk("a.md", 0, 0, 300, "Leave"),
        _chunk("a.md", 1, 250, 600, "Leave"),  # overlaps the one before by 50 characters
        _chunk("a.md", 2, 600, 900, "Leave"),
        _chunk("a.md", 3, 900, 1200, "Leave"),  # a 4th: over the limit of 3
        _chunk("a.md", 4, 1200, 1500, "Travel"),  # another section
        _chunk("a.md", 6, 1600, 1900, "Travel"),  # not consecutive (index 5 missing)
        _chunk("b.md", 0, 0, 300, "Travel"),  # another document
    ]
    groups = list(group_chunks(chunks, Grounding(chunks=3)))
    assert [m for _, m in groups] == [
        ("a.md-0", "a.md-1", "a.md-2"),
        ("a.md-3",),
        ("a.md-4",),
        ("a.md-6",),
        ("b.md-0",),
    ]
    merged = groups[0][0]
    assert merged.id == "a.md-0" and merged.span == (0, 900)
    assert merged.text == DOC[0:900]  # the overlap kept once: exactly the document's span
    assert merged.heading_path == ["Leave"]  # what the three share
    loose = list(group_chunks(chunks[3:5], Grounding(chunks=3, same_section=False)))
    assert [m for _, m in loose] == [("a.md-3", "a.md-4")]


def test_template_is_a_conversation_template_with_grounding() -> None:
    tpl = load_template("conversation-sections")
    assert tpl.turns is not None and tpl.turns.limits == (3, 8)
    assert tpl.grounding == Grounding(chunks=3, same_section=True)


@pytest.fixture(scope="module")
def long_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("longdocs")
    for topic in ("leave", "travel"):
        lines = [f"# {topic.title()} policy", ""]
        for s in range(3):
            lines += [f"## {topic.title()} rule {s + 1}", ""]
            lines += [
                f"Rule {s + 1} of the {topic} policy sets limit number {10 * s + k} for staff "
                f"who ask their manager about {topic} in writing."
                for k in range(6)
            ]
            lines.append("")
        (root / f"{topic}.md").write_text("\n".join(lines), encoding="utf-8")
    return root


def test_generate_grounds_each_conversation_in_a_group_of_chunks(
    long_docs: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["ingest", str(long_docs), "--out", str(run), "--max-tokens", "80", "--overlap", "0"]
    )
    assert res.exit_code == 0, res.output
    journal = open_run(run)
    chunks = {c.id: c for c in journal.chunks()}
    journal.close()
    assert len(chunks) >= 6  # several chunks per document
    res = gen(long_docs, run, "--template", "conversation-sections")
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    assert records
    grouped = [r for r in records if "source_chunks" in r["meta"]]
    assert grouped, "no record was grounded in more than one chunk"
    journal = open_run(run)
    source_text = journal_source_text(journal)
    try:
        for rec in grouped:
            parsed = parse_record(rec)
            assert isinstance(parsed, ChatRecord)
            msgs = [m.model_dump() for m in parsed.messages]
            assert turn_problem(msgs, 3, 8) is None
            members = [chunks[c] for c in rec["meta"]["source_chunks"]]
            assert 2 <= len(members) <= 3
            assert len({c.doc_path for c in members}) == 1  # one document
            assert len({c.heading_path[0] for c in members}) == 1  # one section
            src = parsed.meta.source
            assert src is not None and src.chunk_id == members[0].id
            assert tuple(src.span) == (members[0].span[0], members[-1].span[1])
            # curation's grounding check sees the text of every member chunk
            text = source_text(parsed)
            assert text is not None and all(c.text in text for c in members)
            answers = [m["content"] for m in msgs if m["role"] == "assistant"]
            assert all(a in text for a in answers)
    finally:
        journal.close()
