"""``pairs --method judge``: two answers to each record's question, ranked by a judge.

Side A is ``--model`` (at the first ``--temperatures`` value), side B ``--rival`` (or the
same model at the second value); both answer from the record's source chunk with the
``pair-answer`` template and are journaled with their own model. The judge ranks each pair
twice, once with either answer shown first: a pair is made only when both verdicts pick the
same answer, so a judge's position bias cannot decide it (judges are known to favour the
first answer shown). A tie, verdicts that follow the position (``judge:inconsistent``), an
unusable or failed ranking, a failed answer, or two equal answers is a finding for review.
The judge of every pair is journaled (``pair_judges``): its terms bind the pair too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.derive.calls import KindClient, render_with
from generator.derive.pairs import (
    ANSWER_SCHEMA,
    RANK_SCHEMA,
    PairResult,
    PairSettings,
    answer_side,
    make_pair,
    questions,
)
from generator.derive.store import KindStore, made_by
from generator.errors import ConfigError
from generator.generate.prompts import load_template
from generator.records import Chunk, Record
from generator.store import Journal


@dataclass
class _Item:
    rec: Record
    prompt: list[dict[str, str]]
    chunk: Chunk
    question: str
    texts: list[str] | None = None
    sides: list[dict[str, Any]] | None = None


def _clients(s: PairSettings, journal: Journal) -> list[KindClient]:
    if not s.model or not s.judge:
        raise ConfigError("--method judge needs --model and --judge")
    if s.rival is None and s.temperatures is None:
        raise ConfigError("--method judge needs a second side: --rival MODEL or --temperatures A,B")
    tpl = load_template("pair-answer")
    t = s.temperatures or (None, None)
    return [
        KindClient(s.model, journal, tpl, ANSWER_SCHEMA, temperature=t[0], api_base=s.api_base),
        KindClient(
            s.rival or s.model, journal, tpl, ANSWER_SCHEMA, temperature=t[1], api_base=s.api_base
        ),
    ]


def _answered(
    items: list[_Item], clients: list[KindClient], store: KindStore, res: PairResult
) -> list[_Item]:
    """Both sides' answers for every item; items without two different answers are findings."""
    tpl = clients[0].template
    batch = [
        (it.rec.meta.id, render_with(tpl, [it.chunk], [{"instruction": it.question}]))
        for it in items
    ]
    replies = [c.ask("pair-answer", batch) for c in clients]
    kept = []
    for it, got in zip(items, zip(*replies, strict=True), strict=True):
        texts = [(reply or {}).get("answer") for reply, _ in got]
        if not all(isinstance(x, str) and x.strip() for x in texts):
            res.findings.append({"record": it.rec.meta.id, "reason": "check_failed:pair-answer"})
            continue
        if texts[0].strip() == texts[1].strip():
            res.findings.append({"record": it.rec.meta.id, "reason": "same_answer"})
            continue
        it.texts = texts
        it.sides = [
            answer_side(store, it.rec, c, x, usage, "pair-answer", {"temperature": c.temperature})
            for c, x, (_, usage) in zip(clients, texts, got, strict=True)
        ]
        kept.append(it)
    return kept


def by_judge(
    s: PairSettings, journal: Journal, store: KindStore, res: PairResult, budget: Any = None
) -> None:
    clients = _clients(s, journal)
    judge_tpl = load_template("pair-judge")
    judge = KindClient(s.judge or "", journal, judge_tpl, RANK_SCHEMA, api_base=s.judge_api_base)
    for c in (*clients, judge):  # one --max-cost over every call of the stage
        c.budget = budget
    items = [_Item(rec, p, chunk, q) for rec, p, _, chunk, q in questions(s, journal, res)]
    items = _answered(items, clients, store, res)
    orders = ((0, 1), (1, 0))  # each pair judged with either answer shown first
    verdicts = []
    for order in orders:
        batch = []
        for it in items:
            texts = it.texts or []
            shown = [{"instruction": it.question, "output": texts[i]} for i in order]
            batch.append((it.rec.meta.id, render_with(judge_tpl, [it.chunk], shown)))
        verdicts.append([v for v, _usage in judge.ask("pair-judge", batch)])
    for it, got in zip(items, zip(*verdicts, strict=True), strict=True):
        bests = [(v or {}).get("better") for v in got]
        if any(b not in ("1", "2") for b in bests):
            why = "judge:tie" if "tie" in bests else "check_failed:pair-judge"
            res.findings.append({"record": it.rec.meta.id, "reason": why, "judge": list(got)})
            continue
        wins = {order[int(b) - 1] for order, b in zip(orders, bests, strict=True)}
        if len(wins) != 1:  # the verdict followed the position, not the answers
            res.findings.append(
                {"record": it.rec.meta.id, "reason": "judge:inconsistent", "judge": list(got)}
            )
            continue
        win = wins.pop()
        sides, texts = it.sides or [], it.texts or []
        ranking = {
            "model": s.judge,
            "rubric": judge_tpl.ref.model_dump(),
            "reasons": [(v or {}).get("reason") for v in got],
            "orders": 2,
        }
        pair = {"method": "judge", "chosen": sides[win], "rejected": sides[1 - win]}
        meta = it.rec.meta.model_dump(mode="json")
        made = make_pair(meta, it.prompt, texts[win], texts[1 - win], {**pair, "judge": ranking})
        pid = made["meta"]["id"]
        # the ranking is the judge's output: journaled with its model and API base, so the
        # gate judges the judge from the run (meta.pair.judge is only the record's claim)
        ranked_by = made_by(judge.model, judge.api_base, judge_tpl.ref, "preference", pid)
        store.put_judge(pid, pair["chosen"]["id"], pair["rejected"]["id"], ranked_by)
        res.records.append(made)
