"""Turning a unit's outcome into accepted and rejected records, in plan order.

Why plan order: the novelty pool makes each decision depend on earlier ones (a candidate is
rejected if it is too close to an instruction already accepted). If decisions were taken in
completion order, which depends on latencies, an interrupted and resumed run would accept a
different set than an uninterrupted one. So outcomes wait in a small reorder buffer
(:class:`Committer` holds them by plan position) and are decided strictly in plan order: the
unit at the commit frontier is decided as soon as its outcome is there, then the next, and so
on. The engine bounds how far dispatch may run ahead of the frontier, which bounds the buffer.

Deciding one unit: every valid candidate gets its provenance ``meta`` (PRODUCT.md) and is
validated as a record; then the instruction filters, then novelty (ROUGE-L F1 above the
threshold against the pool, which holds the seeds and every accepted instruction). Survivors
are accepted and join the pool. Everything else becomes a rejection with its reason.
Candidates arrive validated by the parser (pydantic and the JSON Schema) and the meta is
built here from validated parts, so records are not validated a second time.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from generator.generate.executor import UnitOutcome
from generator.generate.filters import InstructionFilter
from generator.generate.journal import UnitCommit
from generator.generate.plan import PoolView, WorkUnit
from generator.records import Ref, record_id, utcnow
from generator.redact import redact_text
from generator.textsim import NoveltyIndex


@dataclass
class Provenance:
    """What every record of a generation says about where it came from."""

    model: str
    provider: str
    policy: Ref
    prompt: Ref
    fmt: str
    template: str
    fingerprint: str
    source_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # by document path
    redact_before_send: bool = False  # chunks were redacted before they left the machine
    api_base: str | None = None  # the server that answered (scrubbed): the gate resolves by it


@dataclass
class Tally:
    """Counters for progress, the summary and the early warning."""

    units: int = 0
    replies: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one example detail
    # Spent by this session's calls (the engine adds each journaled call).
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0  # prompt tokens the provider read from its prompt cache
    cache_hits: int = 0  # calls answered by the cross-run call cache (nothing paid)
    cache_corrupt: int = 0  # corrupt call-cache entries ignored (those calls were sent)


def record_texts(fmt: str, fields: dict[str, Any]) -> tuple[str, str]:
    """(instruction, output) of validated record fields, as the record types define them."""
    if fmt == "alpaca":
        return fields["instruction"], fields["output"]
    if fmt == "completion":
        return fields["prompt"], fields["completion"]
    turns = fields["messages"]
    # as ChatRecord.instruction_text: every user turn (follow-ups make a conversation new)
    user = "\n".join(m["content"] for m in turns if m["role"] == "user" and m.get("content"))
    # an assistant turn that only calls tools has no text (its arguments are not an answer)
    answers = (m["content"] for m in turns if m["role"] == "assistant" and m.get("content"))
    return user, "\n".join(answers)


def filter_text(fmt: str, fields: dict[str, Any], instruction: str) -> str:
    """The text the instruction filters judge: a conversation's opening question (follow-ups
    lean on earlier answers and may rightly be short), else the instruction."""
    if fmt != "chat":
        return instruction
    return next(m["content"] for m in fields["messages"] if m["role"] == "user")


class Committer:
    """Decides units in plan order and hands back what to write (see module docstring)."""

    def __init__(
        self,
        prov: Provenance,
        novelty: NoveltyIndex,
        threshold: float,
        instruction_filter: InstructionFilter | None,
        pool: PoolView,
        tally: Tally,
    ) -> None:
        self.prov = prov
        self.novelty = novelty
        self.threshold = threshold
        self.filter = instruction_filter
        self.pool = pool
        self.tally = tally
        # The same for every record of the run: dumped once (records only serialise them).
        self._policy, self._prompt = prov.policy.model_dump(), prov.prompt.model_dump()

    def decide(self, unit: WorkUnit, outcome: UnitOutcome, tag: str = "") -> UnitCommit:
        """The records, rejections and pool entries of one unit (mutates the pool).

        ``tag`` makes rejection ids unique per session for a unit that stays pending (its
        provider call failed) and may fail again on a later run."""
        c, now = unit.chunk, utcnow()
        source = {
            "path": c.doc_path,
            "doc_sha256": c.doc_sha256,
            "chunk_id": c.id,
            "span": list(c.span),
        }
        base = {
            "unit": unit.id,
            "model": self.prov.model,
            "template": self.prov.template,
            "source": source,
            "created_at": now,
        }
        rejections = [{**r, **base} for r in outcome.rejections]
        records: list[tuple[str, str]] = []
        pool: list[dict[str, str]] = []
        n = max(1, len(outcome.valid))
        u = outcome.usage
        usage = {
            "prompt_tokens": u.prompt_tokens // n,
            "completion_tokens": u.completion_tokens // n,
            "cost_usd": None if u.cost_usd is None else round(u.cost_usd / n, 10),
        }
        for i, fields in enumerate(outcome.valid):
            meta: dict[str, Any] = {
                "id": record_id(unit.id, str(i)),
                "format": self.prov.fmt,
                "provider": self.prov.provider,
                "model": self.prov.model,
                "policy": self._policy,
                "api_base": self.prov.api_base,
                "prompt": self._prompt,
                "source": source,
                "created_at": now,
                "usage": usage,
            }
            info = self.prov.source_info.get(c.doc_path)
            if info is not None:
                meta["source_info"] = info
            if unit.members and len(unit.members) > 1:  # grounded in a group of chunks
                meta["source_chunks"] = list(unit.members)
            if self.prov.redact_before_send:
                meta["redaction"] = {"before_send": True, "found": redact_text(c.text)[1]}
            if outcome.reasoning:  # stripped from the answer; exported only on request
                meta["reasoning"] = outcome.reasoning
                if len(outcome.valid) > 1:  # one reply's thinking over several records
                    meta["reasoning_shared"] = len(outcome.valid)
            if outcome.cache is not None:  # answered by the call cache: its provenance
                meta["cache"] = outcome.cache
            # The fields were validated (pydantic and JSON Schema) by the parser and the meta
            # is built here from validated parts: no second validation per record.
            instruction, output = record_texts(self.prov.fmt, fields)
            if self.filter is not None:
                ok, why = self.filter.check(filter_text(self.prov.fmt, fields, instruction), output)
                if not ok:
                    raw = json.dumps(fields, ensure_ascii=False)
                    rejections.append(
                        {"reason": f"filter:{why}", "detail": why, "raw": raw, **base}
                    )
                    continue
            match = self.novelty.search(instruction, self.threshold)
            if match is not None:
                detail = f"ROUGE-L {match.score:.2f} > {self.threshold} with {match.text[:120]!r}"
                raw = json.dumps(fields, ensure_ascii=False)
                rejections.append({"reason": "not_novel", "detail": detail, "raw": raw, **base})
                continue
            self.novelty.add(instruction)
            example = {
                "instruction": instruction,
                "input": fields.get("input", ""),
                "output": output,
            }
            self.pool.add(unit.pos, example)
            pool.append(example)
            records.append((meta["id"], json.dumps({**fields, "meta": meta}, ensure_ascii=False)))
        rejections = [
            {"id": record_id(unit.id, "rejection", str(i), tag), **rej}
            for i, rej in enumerate(rejections)
        ]
        self._count(outcome, len(records), rejections)
        return UnitCommit(
            unit_id=unit.id,
            unit_pos=unit.pos,
            chunk_id=c.id,
            template=self.prov.template,
            idx=unit.idx + 1000 * unit.part,
            fingerprint=self.prov.fingerprint,
            status="done" if outcome.error is None else "failed",
            records=records,
            rejections=rejections,
            pool=pool,
        )

    def _count(self, outcome: UnitOutcome, accepted: int, rejections: list[dict]) -> None:
        t = self.tally
        t.units += 1
        t.replies += outcome.fresh_calls or (1 if outcome.error is None else 0)
        t.accepted += accepted
        t.rejected += len(rejections)
        for rej in rejections:
            t.reasons[rej["reason"]] += 1
            t.examples.setdefault(rej["reason"], str(rej.get("detail") or "")[:160])
