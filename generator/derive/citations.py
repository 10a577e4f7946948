"""Citation spans: a quoted sentence located in its source to character offsets, and a span
checked to be exactly the document's text there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.records import Chunk, Document


def locate(quote: str, chunks: Sequence[Chunk], doc: Document) -> dict[str, Any] | None:
    """The citation of ``quote`` (stripped) in the first of ``chunks`` that holds it
    verbatim, as offsets into ``doc.text``; None when no chunk does, or the chunk is not
    where the document says it is."""
    text = quote.strip()
    if not text:
        return None
    for chunk in chunks:
        at = chunk.text.find(text)
        if at < 0:
            continue
        start = chunk.span[0] + at
        cit = {
            "path": doc.path,
            "doc_sha256": doc.sha256,
            "chunk_id": chunk.id,
            "start": start,
            "end": start + len(text),
            "text": text,
        }
        if span_problem(cit, doc) is None:
            return cit
    return None


def span_problem(citation: dict[str, Any], doc: Document | None) -> str | None:
    """Why a citation is not a real span of ``doc`` (None: it is)."""
    if doc is None:
        return f"source document {citation.get('path')!r} is not in the run's journal"
    if citation.get("doc_sha256") != doc.sha256:
        return f"{doc.path}: cited a different version of the document"
    start, end = citation.get("start"), citation.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        return f"{doc.path}: span [{start}, {end}) is not a span"
    if doc.text[start:end] != citation.get("text"):
        return f"{doc.path}: text at [{start}, {end}) is not the quoted text"
    return None
