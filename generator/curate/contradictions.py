"""Contradictory answers: records that ask the same question but answer it differently.

Questions (instruction plus input) are grouped by ``same_question``: the same content words
(or an added qualifier), never a template question naming other entities, and every group a
set of mutually same questions (no chains). Inside a group, answers that normalise alike
(case, whitespace, punctuation) are one answer: later copies are duplicates and never
conflict. Every pair of the distinct answers is then compared:

- ``numbers``: both answers state figures (amounts, days, versions, dates) and the sets
  differ — "5 days" vs "10 days" is the typical contradiction of policy data;
- ``negation``: the answers share most content words but exactly one is negated
  ("may"/"may not", "is allowed"/"is not allowed");
- ``low_similarity``: ROUGE-L F1 of the answers below ``min_answer_similarity``.

A group with a disagreeing pair is flagged; optionally an LLM judge then decides whether it
is a real contradiction or a paraphrase. The default action sends the whole group to human
review, as Self-Instruct dropped whole tasks whose instances disagreed; the duplicates of a
flagged group's answers are excluded as duplicates of the copy under review (otherwise a
copy would slip past the review into the data).

Conversations are compared on their first exchange only (the first user turn and the
assistant's answer to it): later turns answer follow-ups that depend on earlier answers, so
two conversations that open with the same question may rightly go different ways after it,
and their later answers are not answers to the same question. A conversation whose first
answer copies a flagged one but which goes on differently is reviewed with the group, not
dropped as a duplicate.

The step runs before exact dedup on purpose: dedup on the instruction would keep one of two
conflicting answers silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import combinations
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Destination, Step
from generator.curate.normalize import normalize
from generator.curate.quality import content_words
from generator.curate.registry import StepContext, register_step
from generator.curate.same_question import question_groups
from generator.records import ChatRecord, Record
from generator.textsim import rouge_l

_NUM = re.compile(r"\d+(?:[.,:/]\d+)*")
_NEG = re.compile(r"\b(?:not|no|never|cannot|can't|won't|isn't|aren't|doesn't|don't|none)\b", re.I)


def numbers(text: str) -> frozenset[str]:
    return frozenset(m.group().replace(",", "") for m in _NUM.finditer(text))


def disagreement(a: str, b: str, min_similarity: float) -> str | None:
    """Why two answers to the same question disagree, or None if they agree."""
    if normalize(a) == normalize(b):
        return None
    na, nb = numbers(a), numbers(b)
    if na and nb and na != nb:
        return "numbers"
    wa, wb = set(content_words(a)), set(content_words(b))
    overlap = len(wa & wb) / max(1, min(len(wa), len(wb)))
    if overlap >= 0.6 and bool(_NEG.search(a)) != bool(_NEG.search(b)):
        return "negation"
    if rouge_l(a, b) < min_similarity:
        return "low_similarity"
    return None


def first_exchange(record: Record) -> tuple[str, str]:
    """(question, answer) compared: instruction plus input and the output; for a chat, the
    first user turn and the first assistant turn after it."""
    if isinstance(record, ChatRecord):
        return record.first_exchange()
    return f"{record.instruction_text()}\n{record.input_text()}".strip(), record.output_text()


def _goes_on(record: Record, copied: Record) -> bool:
    """Whether a conversation whose first answer copies ``copied``'s continues with turns
    of its own (then it is not a duplicate of ``copied``)."""
    if not isinstance(record, ChatRecord) or sum(m.role == "user" for m in record.messages) < 2:
        return False
    return normalize(record.example_text()) != normalize(copied.example_text())


class ContradictionConfig(BaseModel):
    """``contradictions:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Jaccard of the content words when one question adds words to the other (see
    # same_question); 1 = only questions with the same content words are the same.
    question_threshold: float = Field(0.7, gt=0, le=1)
    min_answer_similarity: float = Field(0.25, ge=0, le=1)
    action: Destination = "review"
    judge_model: str | None = None  # optional: an LLM decides contradiction vs paraphrase


# judge([(question, [answers...])]) -> [True (contradiction) | False | None (failed)]
GroupJudge = Callable[[list[tuple[str, list[str]]]], list[bool | None]]


class ContradictionStep(Step):
    """Flag groups of same-question records with disagreeing answers."""

    name = "contradictions"

    def __init__(
        self, config: ContradictionConfig | None = None, judge: GroupJudge | None = None
    ) -> None:
        super().__init__()
        self.config = config or ContradictionConfig()
        self.judge = judge
        self.groups: list[dict[str, Any]] = []  # for the report

    @staticmethod
    def question(record: Record) -> str:
        return first_exchange(record)[0]

    @staticmethod
    def answer(record: Record) -> str:
        return first_exchange(record)[1]

    def question_groups(self, records: list[Record]) -> list[list[int]]:
        return question_groups([self.question(r) for r in records], self.config.question_threshold)

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        items = list(records)
        self.seen += len(items)
        # (distinct answers, {duplicate: the distinct answer it copies}, conflicts) per group
        flagged: list[tuple[list[int], dict[int, int], list[tuple[str, str, str]]]] = []
        for group in self.question_groups(items):
            first: dict[str, int] = {}
            copies: dict[int, int] = {}
            for i in group:
                copies[i] = first.setdefault(normalize(self.answer(items[i])), i)
            distinct = [i for i in group if copies[i] == i]
            conflicts = []
            for i, j in combinations(distinct, 2):
                why = disagreement(
                    self.answer(items[i]),
                    self.answer(items[j]),
                    self.config.min_answer_similarity,
                )
                if why:
                    conflicts.append((items[i].meta.id, items[j].meta.id, why))
            if conflicts:
                dups = {i: rep for i, rep in copies.items() if i != rep}
                flagged.append((distinct, dups, conflicts))
        verdicts: list[bool | None] = [True] * len(flagged)
        if self.judge is not None and flagged:
            verdicts = self.judge(
                [
                    (self.question(items[g[0]]), [self.answer(items[i]) for i in g])
                    for g, _, _ in flagged
                ]
            )
        # the judge clears paraphrases; a group it could not judge is a finding (fail closed)
        unjudged = {id(f[0]) for f, v in zip(flagged, verdicts, strict=True) if v is None}
        flagged = [f for f, v in zip(flagged, verdicts, strict=True) if v is not False]
        out_of_set: set[int] = set()
        for n, (group, dups, conflicts) in enumerate(flagged, start=1):
            kinds = sorted({why for _, _, why in conflicts})
            self.groups.append(
                {
                    "group": n,
                    "question": self.question(items[group[0]])[:200],
                    "records": [items[i].meta.id for i in group],
                    "answers": [self.answer(items[i])[:200] for i in group],
                    "conflicts": [{"a": a, "b": b, "why": w} for a, b, w in conflicts],
                    "duplicates": {items[i].meta.id: items[r].meta.id for i, r in dups.items()},
                }
            )
            judged = id(group) not in unjudged
            for i in group:
                out_of_set.add(i)
                self.annotate(items[i], group=n, conflicts=kinds)
                self._flag(items[i], n, kinds, judged)
            for i, rep in dups.items():
                out_of_set.add(i)
                if _goes_on(items[i], items[rep]):
                    # only its first answer is a copy: the conversation is reviewed with its
                    # group, not dropped as a duplicate of another conversation
                    self.annotate(items[i], group=n, conflicts=kinds, copies=items[rep].meta.id)
                    self._flag(items[i], n, kinds, judged)
                    continue
                self.exclude(
                    items[i],
                    "duplicate_in_contradiction_group",
                    duplicate_of=items[rep].meta.id,
                    details={"group": n},
                )
        for idx, record in enumerate(items):
            if idx not in out_of_set:
                self.kept += 1
                yield record

    def _flag(self, record: Record, n: int, kinds: list[str], judged: bool) -> None:
        """A member of contradiction group ``n`` (the last one in :attr:`groups`): sent
        where the config says, or, when the judge could not rule on the group, a finding."""
        if not judged:
            why = "contradiction judge: call failed or reply unparsable"
            self.check_failed(record, why, {"group": n, "conflicts": kinds})
            return
        self.exclude(
            record,
            f"contradiction:{'+'.join(kinds)}",
            destination=self.config.action,
            details={"group": n, "members": self.groups[-1]["records"]},
        )

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["groups"] = self.groups
        return data


def _build(config: ContradictionConfig, ctx: StepContext) -> ContradictionStep:
    if not config.judge_model:
        return ContradictionStep(config)
    from generator.curate.judge import client_for

    client = client_for(config.judge_model, ctx.journal, ctx.run_dir)
    step = ContradictionStep(config, judge=client.contradiction)
    step.check_client = client
    return step


register_step("contradictions", ContradictionConfig, order=35, factory=_build)(ContradictionStep)
