"""Grounding highlight: which words of the answer appear in the source chunk.

Words are compared lower-cased, letters and digits only, short and very common words left
out (they match everything). The source is cut into segments ``(text, found)`` for the
template to escape and mark, so no HTML is ever built from record text here.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "had",
        "her",
        "was",
        "one",
        "our",
        "out",
        "has",
        "him",
        "his",
        "how",
        "its",
        "may",
        "new",
        "now",
        "old",
        "see",
        "two",
        "who",
        "did",
        "get",
        "let",
        "say",
        "she",
        "too",
        "use",
        "that",
        "with",
        "have",
        "this",
        "will",
        "your",
        "from",
        "they",
        "them",
        "than",
        "then",
        "what",
        "when",
        "were",
        "which",
        "while",
        "would",
        "there",
        "their",
        "about",
        "into",
        "also",
        "some",
        "such",
        "only",
        "other",
        "could",
        "should",
        "each",
        "more",
        "most",
        "over",
        "very",
        "just",
        "like",
    ]
)


def words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in STOP}


def segments(text: str, wanted: set[str]) -> list[tuple[str, bool]]:
    """``text`` cut into runs, each marked True when it is a wanted word."""
    out: list[tuple[str, bool]] = []
    last = 0
    for m in _WORD.finditer(text):
        if m.group().lower() in wanted:
            if m.start() > last:
                out.append((text[last : m.start()], False))
            out.append((m.group(), True))
            last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out


def grounding(answer: str, source: str | None) -> dict[str, object]:
    """The source's segments with the answer's words marked, the answer's segments with the
    words found in the source marked, and the share of answer words found."""
    answer_words = words(answer)
    if source is None:
        return {"source": [], "answer": [(answer, False)], "share": None}
    found = answer_words & words(source)
    share = len(found) / len(answer_words) if answer_words else None
    return {"source": segments(source, found), "answer": segments(answer, found), "share": share}
