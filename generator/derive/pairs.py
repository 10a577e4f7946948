"""``instructforge pairs RUN --method judge|review-edit|flawed``: preference pairs.

* ``judge``: two models (``--model A --rival B``) or one model at two temperatures
  (``--temperatures 0.2,1.0``) answer each record's question from its source chunk
  (template ``pair-answer``); a judge model ranks the two with the ``pair-judge`` rubric,
  the answers shown in an order drawn from the record id (position bias does not pick the
  winner). A tie, a failed or unusable ranking, a failed answer or two equal answers is a
  finding (``review.jsonl``), never a silent pick.
* ``review-edit``: every reviewer edit in the review journal: the edited answer is chosen,
  the original rejected (an edit that changed the question is a finding: the original does
  not answer the edited question).
* ``flawed``: the run's record is chosen over a deliberately flawed copy of its answer
  (template ``pair-flawed``: a wrong figure, or a claim the source does not support); a
  copy whose flaw was not made (a "wrong figure" with the same figures, an unchanged
  answer) is a finding.

Every answer a model wrote here is journaled (``kind_records``) with its own model, so the
licence gate judges each side of a pair from the journal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.derive.calls import KindClient, render_with
from generator.derive.store import KindStore, made_by, write_outputs
from generator.errors import ConfigError
from generator.export.writer import read_records, select_inputs
from generator.generate.prompts import load_template
from generator.record_kinds import PreferenceRecord, side_of
from generator.records import AlpacaRecord, ChatRecord, CompletionRecord, Record, record_id, utcnow
from generator.store import Journal

OUT = "pairs"
METHODS = ("judge", "review-edit", "flawed")
_TEXT = {"type": "string", "minLength": 1, "maxLength": 4000}
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": _TEXT}, "required": ["answer"],
                 "additionalProperties": False}  # fmt: skip
FLAW_SCHEMA = {"type": "object", "properties": {"answer": _TEXT,
               "flaw": {"enum": ["wrong_figure", "ungrounded"]}},
               "required": ["answer", "flaw"], "additionalProperties": False}  # fmt: skip
RANK_SCHEMA = {"type": "object", "properties": {"better": {"enum": ["1", "2", "tie"]},
               "reason": _TEXT}, "required": ["better", "reason"],
               "additionalProperties": False}  # fmt: skip
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass
class PairSettings:
    run: Path
    method: str
    model: str | None = None  # answers (judge: side A) or the flawed copies
    rival: str | None = None  # judge: side B's model (default: --model)
    temperatures: tuple[float, float] | None = None  # judge: one model, two settings
    judge: str | None = None  # judge: the ranking model
    limit: int | None = None


@dataclass
class PairResult:
    records: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def split_prompt(rec: Record) -> tuple[list[dict[str, str]], str] | None:
    """(prompt turns ending with the user's, the answer) of a record, or None."""
    if isinstance(rec, AlpacaRecord):
        user = f"{rec.instruction}\n\n{rec.input}" if rec.input.strip() else rec.instruction
        return [{"role": "user", "content": user}], rec.output
    if isinstance(rec, CompletionRecord):
        return [{"role": "user", "content": rec.prompt}], rec.completion
    if isinstance(rec, ChatRecord) and not rec.openai_extras():
        turns = [m.model_dump(mode="json") for m in rec.messages]
        if len(turns) >= 2 and turns[-1]["role"] == "assistant" and turns[-2]["role"] == "user":
            return turns[:-1], turns[-1]["content"]
    return None


def _pair(rec_meta: dict, prompt: list, chosen: str, rejected: str, pair: dict) -> dict:
    meta = {"id": record_id("pair", pair["method"], pair["chosen"]["id"], pair["rejected"]["id"]),
            "format": "preference", "source": rec_meta.get("source"), "created_at": utcnow(),
            "pair": pair}  # fmt: skip
    if rec_meta.get("source_info") is not None:
        meta["source_info"] = rec_meta["source_info"]
    data = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": meta}
    return PreferenceRecord.model_validate(data).to_dict()


def _records(run: Path, limit: int | None) -> list[Record]:
    out: list[Record] = []
    for _split, path in select_inputs(run).files:
        out += [r for _, r, _ in read_records(path) if r is not None]
    return out[:limit] if limit else out


def _answer_side(store: KindStore, rec: Record, client: KindClient, text: str, usage: dict,
                 kind: str, extra: dict) -> dict:  # fmt: skip
    meta = made_by(client.model, client.api_base, client.template.ref, "preference",
                   kind, rec.meta.id, json.dumps(extra, sort_keys=True))  # fmt: skip
    meta.update(source=rec.meta.source.model_dump() if rec.meta.source else None, usage=usage)
    src_info = (rec.meta.model_extra or {}).get("source_info")
    if src_info is not None:
        meta["source_info"] = src_info
    store.put(kind, {"answer": text, "of": rec.meta.id, **extra, "meta": meta})
    return side_of(meta, "generated", **extra)


def _chunk_for(journal: Journal, rec: Record) -> Any:
    chunk = journal.chunk(rec.meta.source.chunk_id) if rec.meta.source else None
    if chunk is None:
        raise ConfigError(f"record {rec.meta.id}: its source chunk is not in the run's journal")
    return chunk


def _by_judge(s: PairSettings, journal: Journal, store: KindStore, res: PairResult) -> None:
    if not s.model or not s.judge:
        raise ConfigError("--method judge needs --model and --judge (and --rival or --temperatures)")
    answer_tpl, judge_tpl = load_template("pair-answer"), load_template("pair-judge")
    t = s.temperatures or (None, None)
    if s.rival is None and s.temperatures is None:
        raise ConfigError("--method judge needs a second side: --rival MODEL or --temperatures A,B")
    sides = [KindClient(s.model, journal, answer_tpl, ANSWER_SCHEMA, temperature=t[0]),
             KindClient(s.rival or s.model, journal, answer_tpl, ANSWER_SCHEMA, temperature=t[1])]
    judge = KindClient(s.judge, journal, judge_tpl, RANK_SCHEMA)
    work = []
    for rec in _records(s.run, s.limit):
        split = split_prompt(rec)
        if split is None or rec.meta.source is None:
            res.counts["skipped:not_a_single_answer_record"] += 1
            continue
        chunk = _chunk_for(journal, rec)
        question = "\n".join(m["content"] for m in split[0] if m["role"] == "user")
        work.append((rec, split[0], chunk, question))
    msgs = [render_with(answer_tpl, [c], [{"instruction": q}]) for _, _, c, q in work]
    replies = [c.ask("pair-answer", [(r.meta.id, m) for (r, *_), m in zip(work, msgs, strict=True)])
               for c in sides]  # fmt: skip
    ranked = []
    for k, (rec, prompt, chunk, question) in enumerate(work):
        got = [replies[0][k], replies[1][k]]
        texts = [(g[0] or {}).get("answer") for g in got]
        if not all(isinstance(x, str) and x.strip() for x in texts):
            res.findings.append({"record": rec.meta.id, "reason": "check_failed:pair-answer"})
            continue
        if texts[0].strip() == texts[1].strip():
            res.findings.append({"record": rec.meta.id, "reason": "same_answer"})
            continue
        side = [_answer_side(store, rec, c, x, g[1], "pair-answer",
                             {"temperature": c.temperature})
                for c, x, g in zip(sides, texts, got, strict=True)]  # fmt: skip
        flip = int(hashlib.sha256(rec.meta.id.encode()).hexdigest(), 16) % 2 == 1
        shown = [1, 0] if flip else [0, 1]
        exs = [{"instruction": question, "output": texts[i]} for i in shown]
        ranked.append((rec, prompt, texts, side, shown, render_with(judge_tpl, [chunk], exs)))
    verdicts = judge.ask("pair-judge", [(r.meta.id, m) for r, *_, m in ranked])
    for (rec, prompt, texts, side, shown, _), (v, _usage) in zip(ranked, verdicts, strict=True):
        better = (v or {}).get("better")
        if better not in ("1", "2"):
            why = "judge:tie" if better == "tie" else "check_failed:pair-judge"
            res.findings.append({"record": rec.meta.id, "reason": why, "judge": v})
            continue
        win = shown[int(better) - 1]
        lose = 1 - win
        pair = {"method": "judge", "chosen": side[win], "rejected": side[lose],
                "judge": {"model": s.judge, "rubric": judge_tpl.ref.model_dump(),
                          "reason": (v or {}).get("reason"), "shown_first": side[shown[0]]["id"]}}  # fmt: skip
        res.records.append(_pair(rec.meta.model_dump(mode="json"), prompt, texts[win], texts[lose], pair))


def _from_reviews(s: PairSettings, journal: Journal, res: PairResult) -> None:
    from generator.review.store import ReviewStore
    from generator.records import parse_record

    ReviewStore(journal)  # the tables exist (empty) even when nobody reviewed yet
    rows = journal.query(
        "SELECT record_id, reviewer, at, before, after FROM review_decisions d WHERE id ="
        " (SELECT max(id) FROM review_decisions WHERE record_id=d.record_id) AND decision='edit'"
    )
    for row in rows:
        before, after = (parse_record(json.loads(row[k])) for k in ("before", "after"))
        a, b = split_prompt(before), split_prompt(after)
        if a is None or b is None:
            res.findings.append({"record": row["record_id"], "reason": "edit:not_a_single_answer"})
            continue
        if a[0] != b[0]:
            res.findings.append({"record": row["record_id"], "reason": "edit:changed_the_question"})
            continue
        if a[1].strip() == b[1].strip():
            res.counts["skipped:edit_left_answer_unchanged"] += 1
            continue
        meta = before.meta.model_dump(mode="json")
        reviewer = {"reviewer": row["reviewer"], "at": row["at"]}
        pair = {"method": "review-edit", "chosen": side_of(meta, "reviewer", **reviewer),
                "rejected": side_of(meta, "record")}  # fmt: skip
        res.records.append(_pair(meta, a[0], b[1], a[1], pair))


def _flaw_made(flaw: str, original: str, flawed: str) -> bool:
    if flawed.strip() == original.strip():
        return False
    if flaw == "wrong_figure":
        return sorted(_FIGURE.findall(original)) != sorted(_FIGURE.findall(flawed))
    return True


def _by_flaws(s: PairSettings, journal: Journal, store: KindStore, res: PairResult) -> None:
    if not s.model:
        raise ConfigError("--method flawed needs --model (the model that writes the flawed answers)")
    tpl = load_template("pair-flawed")
    client = KindClient(s.model, journal, tpl, FLAW_SCHEMA)
    work = []
    for rec in _records(s.run, s.limit):
        split = split_prompt(rec)
        if split is None or rec.meta.source is None:
            res.counts["skipped:not_a_single_answer_record"] += 1
            continue
        q = "\n".join(m["content"] for m in split[0] if m["role"] == "user")
        work.append((rec, split, render_with(tpl, [_chunk_for(journal, rec)], [{"instruction": q, "output": split[1]}])))
    replies = client.ask("pair-flawed", [(r.meta.id, m) for r, _, m in work])
    for (rec, (prompt, answer), _), (reply, usage) in zip(work, replies, strict=True):
        text, flaw = (reply or {}).get("answer"), (reply or {}).get("flaw")
        if not isinstance(text, str) or flaw not in ("wrong_figure", "ungrounded"):
            res.findings.append({"record": rec.meta.id, "reason": "check_failed:pair-flawed"})
            continue
        if not _flaw_made(flaw, answer, text):
            res.findings.append({"record": rec.meta.id, "reason": f"flaw:not_made:{flaw}", "answer": text})
            continue
        bad = _answer_side(store, rec, client, text, usage, "pair-flawed", {"flaw": flaw})
        meta = rec.meta.model_dump(mode="json")
        pair = {"method": "flawed", "chosen": side_of(meta, "record"), "rejected": bad}
        res.records.append(_pair(meta, prompt, answer, text, pair))


def build_pairs(s: PairSettings, journal: Journal) -> PairResult:
    """Make, journal and write the preference pairs of ``s.run`` (``RUN/pairs/``)."""
    if s.method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {s.method!r}")
    res = PairResult()
    store = KindStore(journal)
    if s.method == "judge":
        _by_judge(s, journal, store, res)
    elif s.method == "review-edit":
        _from_reviews(s, journal, res)
    else:
        _by_flaws(s, journal, store, res)
    res.counts["pairs"] = len(res.records)
    res.counts["findings"] = len(res.findings)
    for f in res.findings:
        res.counts["finding:" + f["reason"]] += 1
    report = {"method": s.method, "model": s.model, "rival": s.rival, "judge": s.judge,
              "temperatures": s.temperatures, "counts": dict(res.counts)}  # fmt: skip
    write_outputs(s.run / OUT, res.records, res.findings, report, [])
    return res
