"""Grounding a call in a few related chunks of one document (``grounding:`` in a template).

A template with ``grounding: {chunks: 3}`` is planned over groups instead of single chunks:
up to 3 consecutive chunks of the same document, and with ``same_section`` (the default)
only chunks under the same top-level heading, so that a conversation's follow-ups can reach
the next part of the same topic. The group is one :class:`Chunk` for the rest of the
pipeline: the first chunk's id (its anchor), the texts joined (an overlap kept once), the span from
the first chunk's start to the last one's end (one stretch of the document, since the chunks
are consecutive), the shared heading path. Its member chunk ids go into each record's
``meta.source_chunks``, where curation's grounding check finds every text the record was
written from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from generator.records import Chunk


class Grounding(BaseModel):
    """``grounding:`` of a template: how many related chunks one call sees."""

    model_config = ConfigDict(extra="forbid")

    chunks: int = Field(3, ge=1, le=12)
    same_section: bool = True  # only chunks under the same top-level heading


def _section(chunk: Chunk) -> str | None:
    return chunk.heading_path[0] if chunk.heading_path else None


def _common_prefix(paths: list[list[str]]) -> list[str]:
    out: list[str] = []
    for parts in zip(*paths, strict=False):
        if any(p != parts[0] for p in parts):
            break
        out.append(parts[0])
    return out


def _joined(group: list[Chunk]) -> str:
    """The group's text, each overlap (a chunk repeating the end of the one before, as
    ingest's ``--overlap`` makes them) kept once; chunks whose text is not exactly their
    span are joined by a blank line."""
    exact = all(len(c.text) == c.span[1] - c.span[0] for c in group)
    text, end = group[0].text, group[0].span[1]
    for c in group[1:]:
        if exact and c.span[0] <= end:  # adjacent or overlapping
            text += c.text[end - c.span[0] :]
        else:
            text += "\n\n" + c.text
        end = c.span[1]
    return text


def merge(group: list[Chunk]) -> Chunk:
    """One chunk standing for a group of consecutive chunks of one document."""
    if len(group) == 1:
        return group[0]
    first, last = group[0], group[-1]
    return first.model_copy(
        update={
            "text": _joined(group),
            "span": (first.span[0], last.span[1]),
            "heading_path": _common_prefix([c.heading_path for c in group]),
            "tokens": sum(c.tokens for c in group),
            "pages": sorted({p for c in group for p in c.pages}),
        }
    )


def group_chunks(
    chunks: Iterable[Chunk], rule: Grounding
) -> Iterator[tuple[Chunk, tuple[str, ...]]]:
    """(merged chunk, member chunk ids) for each group, in plan order (chunks arrive by
    document path, then position)."""
    group: list[Chunk] = []
    for chunk in chunks:
        related = (
            bool(group)
            and chunk.doc_path == group[-1].doc_path
            and chunk.index == group[-1].index + 1
        )
        if related and rule.same_section:
            related = _section(chunk) == _section(group[0])
        if group and (not related or len(group) >= rule.chunks):
            yield merge(group), tuple(c.id for c in group)
            group = []
        group.append(chunk)
    if group:
        yield merge(group), tuple(c.id for c in group)
