"""Deterministic work units and the requests they send.

A *work unit* is one call's worth of work: (generation fingerprint, chunk id, part, call
index). Units are listed in a stable order (chunks by document path and position, then part,
then call index), and a unit's id hashes those parts, so an interrupted run and a fresh one
plan the same units with the same ids. ``--per-chunk N`` asks for N records per chunk,
spread over ``ceil(N / records_per_call)`` units.

Context check: before anything is sent, the rendered prompt plus the expected output
(the template's ``max_tokens``) is compared with the model's context window. A chunk that
does not fit is split by tokens into parts that do (each part is then planned like a chunk
and keeps the parent chunk's id, with its own span); a template that cannot fit even an empty
chunk is refused before the run starts. Nothing is sent to fail.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from generator.errors import ConfigError
from generator.generate.grounding import group_chunks
from generator.generate.prompts import PromptTemplate, render
from generator.generate.seeding import Example
from generator.records import Chunk, record_id
from generator.tokens import count_tokens, encoding_for

# Tokens kept free for chat-format framing that a text count does not see (role tags).
FRAMING_TOKENS = 16
MIN_PART_TOKENS = 64


@dataclass(frozen=True)
class WorkUnit:
    """One call's worth of work, in plan order (``pos``)."""

    pos: int
    id: str
    chunk: Chunk  # the chunk (or, after a split, the part of it) the call is about
    part: int  # 0 unless the chunk had to be split
    idx: int  # call index within the chunk (part)
    n: int  # records asked for
    calls: int = 1  # units planned for the same chunk (part)
    members: tuple[str, ...] = ()  # a grounding: group's chunk ids (grounding.py)


def unit_id(fingerprint: str, chunk_id: str, part: int, idx: int) -> str:
    return record_id("unit", fingerprint, chunk_id, str(part), str(idx))


def prompt_tokens(messages: Sequence[dict[str, str]], model: str) -> int:
    text = "\n".join(m["content"] for m in messages)
    return count_tokens(text, model) + FRAMING_TOKENS + 4 * len(messages)


class ContextFitter:
    """Splits chunks that would not fit the model's context window with the prompt.

    ``overhead`` is measured once by rendering the template around an empty chunk with the
    longest in-context examples that could be shown (an upper bound for self-instruct).
    """

    def __init__(
        self,
        template: PromptTemplate,
        model: str,
        window: int | None,
        examples: list[dict[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.model = model
        self.window = window
        self.max_tokens = template.sampling.max_tokens
        empty = Chunk(
            id="x", doc_path="x", doc_sha256="0" * 64, index=0, text="", span=(0, 0), tokens=0
        )
        self.overhead = prompt_tokens(render(template, empty, examples, tools=tools), model)
        if window is not None:
            self.budget = window - self.overhead - self.max_tokens
            if self.budget < MIN_PART_TOKENS:
                raise ConfigError(
                    f"template {template.id!r} needs {self.overhead} prompt tokens plus "
                    f"{self.max_tokens} for the reply, more than {model!r}'s context window of "
                    f"{window} leaves for a document chunk; use a model with a larger window, "
                    "a smaller max_tokens in the template, or --context-window if the window "
                    "is really larger"
                )
        else:
            self.budget = None

    def fit(self, chunk: Chunk) -> list[Chunk]:
        """``[chunk]`` if it fits, else its parts (same id, narrower spans)."""
        if self.budget is None:
            return [chunk]
        enc = encoding_for(self.model)
        tokens = enc.encode(chunk.text, disallowed_special=())
        if len(tokens) <= self.budget:
            return [chunk]
        n_parts = math.ceil(len(tokens) / self.budget)
        size = math.ceil(len(tokens) / n_parts)
        text, offsets = enc.decode_with_offsets(tokens)
        if text != chunk.text:  # should not happen with tiktoken; be safe: one part per cut
            offsets = [round(i * len(chunk.text) / len(tokens)) for i in range(len(tokens))]
        parts = []
        for p in range(n_parts):
            a = offsets[p * size]
            b = offsets[(p + 1) * size] if (p + 1) * size < len(tokens) else len(chunk.text)
            start = chunk.span[0] + a
            parts.append(
                chunk.model_copy(
                    update={
                        "text": chunk.text[a:b],
                        "span": (start, start + (b - a)),
                        "tokens": min(size, len(tokens) - p * size),
                    }
                )
            )
        return parts


def plan_units(
    chunks: Iterable[Chunk],
    template: PromptTemplate,
    fingerprint: str,
    per_chunk: int | None,
    fitter: ContextFitter,
) -> list[WorkUnit]:
    """Every unit of a generation, in the stable plan order."""
    rpc = template.records_per_call
    want = per_chunk or rpc
    calls = math.ceil(want / rpc)
    units: list[WorkUnit] = []
    if template.grounding is not None:  # a few related chunks of one document per call
        groups = list(group_chunks(chunks, template.grounding))
    else:
        groups = [(chunk, ()) for chunk in chunks]
    for chunk, members in groups:
        for part, piece in enumerate(fitter.fit(chunk)):
            for idx in range(calls):
                n = min(rpc, want - idx * rpc)
                uid = unit_id(fingerprint, chunk.id, part, idx)
                units.append(WorkUnit(len(units), uid, piece, part, idx, n, calls, members))
    return units


class PoolView:
    """The machine-made examples, ordered by the plan position of the unit that made them.

    Unit ``pos`` may show only examples made by units before ``pos - lag``: whether such a
    unit is done does not depend on timing (the engine dispatches ``pos`` only once every
    unit before ``pos - lag`` is decided), so its prompt is the same in an interrupted and
    resumed run as in an uninterrupted one.
    """

    def __init__(self, entries: Iterable[tuple[int, dict[str, str]]] = ()) -> None:
        self._keys: list[tuple[int, int]] = []
        self._items: list[dict[str, str]] = []
        self._n = 0
        for pos, ex in entries:
            self.add(pos, ex)

    def add(self, pos: int, example: dict[str, str]) -> None:
        key = (pos, self._n)
        self._n += 1
        at = bisect.bisect(self._keys, key)
        self._keys.insert(at, key)
        self._items.insert(at, example)

    def visible(self, pos: int, lag: int) -> int:
        """How many examples (a prefix) unit ``pos`` may see."""
        return bisect.bisect_left(self._keys, (pos - lag, -1))

    def sample(
        self, pos: int, lag: int, seeds: Sequence[Example], rng: random.Random, k: int, n_pool: int
    ) -> list[dict[str, str]]:
        """k examples: up to ``n_pool`` from the visible pool, the rest from the seeds,
        shuffled (Self-Instruct's mix). Index sampling keeps this O(k), not O(pool)."""
        m = self.visible(pos, lag)
        picked = [self._items[i] for i in rng.sample(range(m), min(n_pool, m, k))]
        from_seeds = rng.sample(range(len(seeds)), min(k - len(picked), len(seeds)))
        chosen = picked + [seeds[i].as_dict() for i in from_seeds]
        rng.shuffle(chosen)
        return chosen
