"""Mock replies for the derive stages' schemas (``derive/``), recognised by their fields:

- ``question``/``answer``/``quotes`` records (evaluation items): the question asks about a
  sentence, the answer is that sentence, the quote is it verbatim (a real substring of the
  ``<document>`` block); when ``quotes`` needs two items, one sentence of each of the first
  two document blocks (a two-hop item);
- ``answer`` alone (a pair side): the document sentence sharing most words with the
  ``<question>``; the ``variant`` (model name and temperature) picks either that sentence
  or a vague, unsupported answer, so two models or settings can disagree;
- ``answer`` with ``flaw`` (a deliberately flawed answer): the ``<answer>`` given with its
  first figure changed (``wrong_figure``), or with an invented claim (``ungrounded``);
- ``better``/``reason`` (a ranking): the ``<answer n=…>`` whose words the document holds
  best; equal support is a ``tie``.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

_BLOCK = re.compile(r"<(document)\b[^>]*>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_TAG = r"<{0}\b[^>]*>(.*?)</{0}>"
_WORD = re.compile(r"[a-z0-9]+")
_VAGUE = "It depends on the situation; check with someone who knows the details."
_INVENTED = " This also applies to all contractors worldwide since 1999."


def _user(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _tag(text: str, name: str) -> list[str]:
    return [m.strip() for m in re.findall(_TAG.format(name), text, re.DOTALL | re.IGNORECASE)]


def _blocks(text: str) -> list[list[str]]:
    from generator.providers.mock_records import sentences

    return [sentences(b.group(2)) for b in _BLOCK.finditer(text)] or [sentences(text)]


def _eval_items(text: str, n: int, two_hop: bool, rng: random.Random) -> list[dict[str, Any]]:
    from generator.providers.mock_records import _topic

    blocks = _blocks(text)
    levels = ("easy", "medium", "hard")
    items = []
    for i in range(n):
        first = blocks[0][(rng.randrange(len(blocks[0])) + i) % len(blocks[0])]
        quotes = [first]
        question = f"What does the text state about {_topic(first)}?"
        if two_hop and len(blocks) > 1:
            second = blocks[1][(i + 1) % len(blocks[1])]
            quotes.append(second)
            question = f"How do {_topic(first)} and {_topic(second)} relate?"
        items.append(
            {
                "question": question,
                "answer": " ".join(quotes),
                "quotes": quotes,
                "difficulty": "hard" if two_hop else levels[i % 3],
            }
        )
    return items


def _answer(text: str, variant: str) -> str:
    question = " ".join(_tag(text, "question"))
    sents = [s for b in _blocks(text) for s in b]
    best = max(sents, key=lambda s: len(_words(s) & _words(question)))
    weak = int(hashlib.sha256(variant.encode()).hexdigest(), 16) % 2
    return _VAGUE if weak else best


def _flawed(text: str) -> dict[str, str]:
    given = " ".join(_tag(text, "answer")) or "The answer."
    figure = re.search(r"\d+", given)
    if figure:
        wrong = str(int(figure.group(0)) + 7)
        return {
            "answer": given[: figure.start()] + wrong + given[figure.end() :],
            "flaw": "wrong_figure",
        }
    return {"answer": given + _INVENTED, "flaw": "ungrounded"}


def _rank(text: str) -> dict[str, str]:
    source = _words(" ".join(" ".join(b) for b in _blocks(text)))
    answers = _tag(text, "answer")
    if len(answers) < 2:
        return {"better": "tie", "reason": "fewer than two answers to compare"}
    scores = [len(_words(a) & source) / max(1, len(_words(a))) for a in answers[:2]]
    if abs(scores[0] - scores[1]) < 1e-9:
        return {"better": "tie", "reason": "both answers are equally supported"}
    better = "1" if scores[0] > scores[1] else "2"
    return {"better": better, "reason": f"answer {better} is better supported by the source"}


def kind_records(
    record_schema: dict[str, Any] | None,
    messages: list[dict[str, Any]],
    n: int,
    rng: random.Random,
    variant: str = "",
) -> list[dict[str, Any]] | None:
    """Records for a derive-stage schema, or None when the schema is not one of theirs."""
    props = (record_schema or {}).get("properties") or {}
    text = _user(messages)
    if {"question", "answer", "quotes"} <= set(props):
        two_hop = (props["quotes"].get("minItems") or 1) >= 2
        return _eval_items(text, n, two_hop, rng)
    if set(props) == {"answer"}:
        return [{"answer": _answer(text, variant)}]
    if set(props) == {"answer", "flaw"}:
        return [_flawed(text)]
    if set(props) == {"better", "reason"}:
        return [_rank(text)]
    return None
