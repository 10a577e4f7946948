"""Quality and grounding: a heuristic score for every record, and (optionally) an
LLM-as-judge score through the provider layer (``curate/judge.py``).

The heuristic score is the weighted mean of four parts in [0, 1]:

- length adequacy: answers shorter than ``min_output_tokens`` (too little information)
  or longer than ``max_output_tokens`` lose points smoothly;
- repetition: share of repeated word 3-grams and repeated lines (degenerate loops);
- formatting: unbalanced code fences, leftover JSON/markup, refusal boilerplate, an answer
  that stops mid-sentence;
- grounding: the share of the answer's content words and numbers that occur in the source
  chunk the record came from. A number in the answer that is not in the source weighs
  double: invented figures are the costliest hallucination in policy and manual data.

Scores go to ``meta.curation.quality``; dedup keeps the best-scored record of a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Destination, Step
from generator.curate.registry import StepContext, register_step
from generator.records import Record
from generator.tokens import count_tokens

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+|\d+(?:[.,]\d+)*%?")
_NUMBER = re.compile(r"^\d")
_STOP_TEXT = """
a an the and or but if then else of to in on at by for with from as is are was were be been
being it its this that these those there here which who whom whose what when where why how
not no yes do does did done can could should would may might must will shall you your yours
we our ours they their them he she his her i me my mine also than so such very just only any
all each every some more most other into over under about after before between through
during without within up down out off again further once both few own same too has have had
having one two use used using
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
_REFUSAL = re.compile(
    r"\b(?:as an ai(?: language model)?|i (?:cannot|can't|am unable to) (?:help|assist|provide)|"
    r"i'm sorry, but)\b",
    re.I,
)


def content_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in STOPWORDS]


def grounding(answer: str, source: str) -> float:
    """Share of the answer's content words (numbers weigh double) found in the source."""
    words = content_words(answer)
    if not words:
        return 0.0
    src = set(content_words(source))
    total = supported = 0.0
    for w in words:
        weight = 2.0 if _NUMBER.match(w) else 1.0
        total += weight
        if w in src or (len(w) > 4 and w.rstrip("s") in src):
            supported += weight
    return supported / total


def repetition(text: str) -> float:
    """1.0 for no repetition, towards 0 for degenerate loops."""
    words = text.lower().split()
    grams = list(zip(words, words[1:], words[2:], strict=False))
    gram_rep = 1 - len(set(grams)) / len(grams) if len(grams) >= 4 else 0.0
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line_rep = 1 - len(set(lines)) / len(lines) if len(lines) >= 3 else 0.0
    return max(0.0, 1.0 - 1.5 * max(gram_rep, line_rep))


def formatting(text: str) -> float:
    score = 1.0
    if text.count("```") % 2:
        score -= 0.4
    if re.search(r'^\s*[{\[]\s*"', text) or re.search(r"</?(?:document|div|span|br)\b", text):
        score -= 0.4
    if _REFUSAL.search(text):
        score -= 0.6
    stripped = text.rstrip()
    if stripped and stripped[-1].isalpha() and len(stripped.split()) > 12:
        score -= 0.2  # long answer that stops mid-sentence
    return max(0.0, score)


def _default_weights() -> dict[str, float]:
    return {"length": 1.0, "repetition": 1.0, "formatting": 1.0, "grounding": 2.0}


def _default_floors() -> dict[str, float]:
    return {"length": 0.5, "repetition": 0.5, "formatting": 0.5, "grounding": 0.5}


class QualityConfig(BaseModel):
    """``quality:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_output_tokens: int = Field(10, ge=0)
    max_output_tokens: int = Field(1500, ge=1)
    weights: dict[str, float] = Field(default_factory=_default_weights)
    # A record leaves the set when its overall score is below ``min_score`` or any part is
    # below its floor: an averaged score would let a fluent but invented answer through.
    min_score: float = Field(0.6, ge=0, le=1)
    min_parts: dict[str, float] = Field(default_factory=_default_floors)
    action: Destination = "excluded"  # or "review"
    # Optional LLM-as-judge (curate/judge.py); None: heuristic only.
    judge_model: str | None = None
    judge_threshold: float = Field(7.0, ge=1, le=10)
    judge_action: Destination = "review"


# judge([(record, source text), ...]) -> [verdict or None per record]; see curate/judge.py
Judge = Callable[[list[tuple[Record, str | None]]], list[dict[str, Any] | None]]


class QualityStep(Step):
    """Score every record; drop or send to review those below the thresholds."""

    name = "quality"

    def __init__(
        self,
        config: QualityConfig | None = None,
        source_text: Callable[[Record], str | None] | None = None,
        judge: Judge | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.config = config or QualityConfig()
        self.source_text = source_text or (lambda _r: None)
        self.judge = judge
        self.batch_size = batch_size
        self.judge_spent: Callable[[], dict[str, Any]] | None = None  # set by the factory
        self.scores: list[float] = []

    def _length(self, tokens: int) -> float:
        lo, hi = self.config.min_output_tokens, self.config.max_output_tokens
        if tokens < lo:
            return tokens / lo if lo else 1.0
        if tokens > hi:
            return max(0.0, 1 - (tokens - hi) / hi)
        return 1.0

    def score(self, record: Record) -> dict[str, Any]:
        out = record.output_text()
        parts = {
            "length": self._length(count_tokens(out)),
            "repetition": repetition(out),
            "formatting": formatting(out),
        }
        source = self.source_text(record)
        if source:
            parts["grounding"] = grounding(out, source)
        weights = {k: w for k, w in self.config.weights.items() if k in parts}
        total = sum(weights.values()) or 1.0
        score = sum(parts[k] * w for k, w in weights.items()) / total
        return {"score": round(score, 4), "parts": {k: round(v, 4) for k, v in parts.items()}}

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        batch: list[Record] = []
        for record in records:
            self.seen += 1
            if self._passes_heuristic(record):
                batch.append(record)
            if len(batch) >= self.batch_size:
                yield from self._judge_batch(batch)
                batch = []
        yield from self._judge_batch(batch)

    def _passes_heuristic(self, record: Record) -> bool:
        result = self.score(record)
        self.annotate(record, **result)
        self.scores.append(result["score"])
        parts = result["parts"]
        below = [k for k, v in parts.items() if v < self.config.min_parts.get(k, 0.0)]
        if below or result["score"] < self.config.min_score:
            weakest = min(below or parts, key=lambda k: parts[k])
            self.exclude(
                record, f"low_quality:{weakest}", destination=self.config.action, details=result
            )
            return False
        return True

    def _judge_batch(self, batch: list[Record]) -> Iterator[Record]:
        """Judge a batch at once (calls run concurrently), then keep or route each record."""
        verdicts: list[dict[str, Any] | None] = (
            self.judge([(r, self.source_text(r)) for r in batch])
            if self.judge and batch
            else [None] * len(batch)
        )
        for record, verdict in zip(batch, verdicts, strict=True):
            if self.judge is not None:
                if verdict is None:  # failed or unparsable: a finding, never a pass
                    self.annotate(record, judge={"status": "failed"})
                    self.check_failed(record, "quality judge: call failed or reply unparsable")
                    continue
                self.annotate(record, judge=verdict)
                if verdict["score"] < self.config.judge_threshold:
                    self.exclude(
                        record,
                        "judge_below_threshold",
                        destination=self.config.judge_action,
                        details=verdict,
                    )
                    continue
            self.kept += 1
            yield record

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["scores"] = list(self.scores)
        if self.judge_spent is not None:
            data["judge"] = self.judge_spent()
        return data


def quality_of(record: Record) -> float | None:
    """The best known quality of a record in [0, 1] (a judge score wins), for dedup."""
    q = record.meta.curation.get("quality") or {}
    judge = q.get("judge") or {}
    if isinstance(judge.get("score"), int | float):
        return float(judge["score"]) / 10
    score = q.get("score")
    return float(score) if isinstance(score, int | float) else None


def journal_source_text(journal: Any) -> Callable[[Record], str | None]:
    """A ``source_text`` function reading each record's chunk from a run journal."""
    cache: dict[str, str | None] = {}

    def text_of(chunk_id: str) -> str | None:
        if chunk_id not in cache:
            chunk = journal.chunk(chunk_id)
            cache[chunk_id] = chunk.text if chunk else None
        return cache[chunk_id]

    def lookup(record: Record) -> str | None:
        src = record.meta.source
        if src is None:
            return None
        # a record grounded in a group of chunks (generate/grounding.py) is judged on all
        group = (record.meta.model_extra or {}).get("source_chunks")
        if isinstance(group, list) and group:
            texts = [text_of(str(c)) for c in group]
            return None if any(t is None for t in texts) else "\n\n".join(texts)  # type: ignore[arg-type]
        return text_of(src.chunk_id)

    return lookup


def _build(config: QualityConfig, ctx: StepContext) -> QualityStep:
    source = journal_source_text(ctx.journal) if ctx.journal is not None else None
    if not config.judge_model:
        return QualityStep(config, source_text=source)
    from generator.curate.judge import client_for

    client = client_for(config.judge_model, ctx.journal, ctx.run_dir)
    step = QualityStep(config, source_text=source, judge=client.quality)
    step.judge_spent = client.spent
    step.check_client = client
    return step


register_step("quality", QualityConfig, order=30, factory=_build)(QualityStep)
