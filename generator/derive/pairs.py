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

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.curate.judge import CallLog, spent
from generator.derive.calls import KindClient, render_with
from generator.derive.curation import curate_stage
from generator.derive.store import KindStore, made_by, write_outputs
from generator.errors import ConfigError
from generator.export.writer import read_records, select_inputs
from generator.generate.prompts import load_template
from generator.record_kinds import PreferenceRecord, side_of
from generator.records import AlpacaRecord, ChatRecord, CompletionRecord, Record, record_id, utcnow
from generator.redact import scrub_url_credentials
from generator.store import Journal

OUT = "pairs"
METHODS = ("judge", "review-edit", "flawed")
_TEXT = {"type": "string", "minLength": 1, "maxLength": 4000}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": _TEXT},
    "required": ["answer"],
    "additionalProperties": False,
}
FLAW_SCHEMA = {
    "type": "object",
    "properties": {"answer": _TEXT, "flaw": {"enum": ["wrong_figure", "ungrounded"]}},
    "required": ["answer", "flaw"],
    "additionalProperties": False,
}
RANK_SCHEMA = {
    "type": "object",
    "properties": {"better": {"enum": ["1", "2", "tie"]}, "reason": _TEXT},
    "required": ["better", "reason"],
    "additionalProperties": False,
}
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
    max_cost: float | None = None  # USD for this stage's calls (every session): exit 4 past it
    api_base: str | None = None  # the server of --model and --rival (None: their own host)
    judge_api_base: str | None = None  # judge: the judge's server (None: its own host)


KINDS = ["pair-answer", "pair-judge", "pair-flawed"]


def check_options(s: PairSettings) -> list[str]:
    """Refuse options the method would ignore (ConfigError); the models it calls."""
    given = {
        "--model": s.model,
        "--rival": s.rival,
        "--temperatures": s.temperatures,
        "--judge": s.judge,
        "--max-cost": s.max_cost,
        "--api-base": s.api_base,
        "--judge-api-base": s.judge_api_base,
    }
    used = {
        "judge": set(given),
        "flawed": {"--model", "--max-cost", "--api-base"},
        "review-edit": set(),  # makes no model call: nothing to send, price or bound
    }[s.method]
    extra = [k for k, v in given.items() if v is not None and k not in used]
    if extra:
        why = "it makes no model call" if s.method == "review-edit" else "it does not use them"
        raise ConfigError(f"--method {s.method} does not take {', '.join(extra)}: {why}")
    if s.method == "judge":
        return list(dict.fromkeys(m for m in (s.model, s.rival or s.model, s.judge) if m))
    return [s.model] if s.model else []


def call_budget(s: PairSettings, journal: Journal, models: list[str]) -> Any:
    """The ``--max-cost`` guard of this stage's calls (None: no budget given)."""
    if s.max_cost is None:
        return None
    from generator.generate.budget import CallBudget

    return CallBudget(s.max_cost, spent(journal, KINDS)["cost_usd"], models)


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


def make_pair(rec_meta: dict, prompt: list, chosen: str, rejected: str, pair: dict) -> dict:
    """A validated preference record (JSON) for the record whose meta is ``rec_meta``."""
    meta = {
        "id": record_id("pair", pair["method"], pair["chosen"]["id"], pair["rejected"]["id"]),
        "format": "preference",
        "source": rec_meta.get("source"),
        "created_at": utcnow(),
        "pair": pair,
    }
    if rec_meta.get("source_info") is not None:
        meta["source_info"] = rec_meta["source_info"]
    data = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": meta}
    return PreferenceRecord.model_validate(data).to_dict()


def source_records(run: Path, limit: int | None) -> list[Record]:
    """The records export would read (curated split, curated, else records.jsonl)."""
    out: list[Record] = []
    for _split, path in select_inputs(run).files:
        out += [r for _, r, _ in read_records(path) if r is not None]
    return out[:limit] if limit else out


def answer_side(
    store: KindStore,
    rec: Record,
    client: KindClient,
    text: str,
    usage: dict,
    kind: str,
    extra: dict,
) -> dict:
    """Journal an answer ``client``'s model wrote to ``rec``'s question (``kind_records``)
    and return its side of a pair."""
    meta = made_by(
        client.model,
        client.api_base,
        client.template.ref,
        "preference",
        kind,
        rec.meta.id,
        json.dumps(extra, sort_keys=True),
    )
    meta.update(source=rec.meta.source.model_dump() if rec.meta.source else None, usage=usage)
    src_info = (rec.meta.model_extra or {}).get("source_info")
    if src_info is not None:
        meta["source_info"] = src_info
    store.put(kind, {"answer": text, "of": rec.meta.id, **extra, "meta": meta})
    return side_of(meta, "generated", **extra)


def questions(
    s: PairSettings, journal: Journal, res: PairResult
) -> list[tuple[Record, list[dict[str, str]], str, Any, str]]:
    """(record, prompt turns, its answer, its source chunk, the question as one text) of
    every record a pair can be made from; the others are counted as skipped."""
    out = []
    for rec in source_records(s.run, s.limit):
        split = split_prompt(rec)
        if split is None or rec.meta.source is None:
            res.counts["skipped:not_a_single_answer_record"] += 1
            continue
        question = "\n".join(m["content"] for m in split[0] if m["role"] == "user")
        out.append((rec, split[0], split[1], chunk_for(journal, rec), question))
    return out


def chunk_for(journal: Journal, rec: Record) -> Any:
    """The chunk a record was generated from (an answer is grounded in the same text)."""
    chunk = journal.chunk(rec.meta.source.chunk_id) if rec.meta.source else None
    if chunk is None:
        raise ConfigError(f"record {rec.meta.id}: its source chunk is not in the run's journal")
    return chunk


def _from_reviews(s: PairSettings, journal: Journal, res: PairResult) -> None:
    from generator.records import parse_record
    from generator.review.store import ReviewStore

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
        pair = {
            "method": "review-edit",
            "chosen": side_of(meta, "reviewer", **reviewer),
            "rejected": side_of(meta, "record"),
        }
        res.records.append(make_pair(meta, a[0], b[1], a[1], pair))


def _flaw_made(flaw: str, original: str, flawed: str) -> bool:
    """Whether the copy has the flaw it claims: a wrong figure changes the figures; an
    unsupported claim cannot be told from the text alone, so it must at least differ."""
    if flawed.strip() == original.strip():
        return False
    if flaw == "wrong_figure":
        return sorted(_FIGURE.findall(original)) != sorted(_FIGURE.findall(flawed))
    return True


def _by_flaws(
    s: PairSettings, journal: Journal, store: KindStore, res: PairResult, budget: Any
) -> None:
    if not s.model:
        raise ConfigError(
            "--method flawed needs --model (the model that writes the flawed answers)"
        )
    tpl = load_template("pair-flawed")
    client = KindClient(s.model, journal, tpl, FLAW_SCHEMA, api_base=s.api_base)
    client.budget = budget
    work = [
        (rec, prompt, answer, render_with(tpl, [chunk], [{"instruction": q, "output": answer}]))
        for rec, prompt, answer, chunk, q in questions(s, journal, res)
    ]
    replies = client.ask("pair-flawed", [(r.meta.id, m) for r, _, _, m in work])
    for (rec, prompt, answer, _), (reply, usage) in zip(work, replies, strict=True):
        text, flaw = (reply or {}).get("answer"), (reply or {}).get("flaw")
        if not isinstance(text, str) or flaw not in ("wrong_figure", "ungrounded"):
            res.findings.append({"record": rec.meta.id, "reason": "check_failed:pair-flawed"})
            continue
        if not _flaw_made(flaw, answer, text):
            res.findings.append(
                {"record": rec.meta.id, "reason": f"flaw:not_made:{flaw}", "answer": text}
            )
            continue
        bad = answer_side(store, rec, client, text, usage, "pair-flawed", {"flaw": flaw})
        meta = rec.meta.model_dump(mode="json")
        pair = {"method": "flawed", "chosen": side_of(meta, "record"), "rejected": bad}
        res.records.append(make_pair(meta, prompt, answer, text, pair))


def build_pairs(s: PairSettings, journal: Journal) -> PairResult:
    """Make, journal and write the preference pairs of ``s.run`` (``RUN/pairs/``)."""
    if s.method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {s.method!r}")
    models = check_options(s)
    res = PairResult()
    store = KindStore(journal)
    CallLog(journal)  # the calls table, even when the method makes no call (review-edit)
    budget = call_budget(s, journal, models)
    if s.method == "judge":
        from generator.derive.pair_judge import by_judge

        by_judge(s, journal, store, res, budget)
    elif s.method == "review-edit":
        _from_reviews(s, journal, res)
    else:
        _by_flaws(s, journal, store, res, budget)
    res.records, excluded, curation = curate_stage(
        res.records, res.findings, res.counts, s.run, journal
    )
    for rec in res.records:  # the texts as written, so the gate can tell a swap or an edit
        store.put_texts(rec)
    res.counts["pairs"] = len(res.records)
    res.counts["findings"] = len(res.findings)
    for f in res.findings:
        res.counts["finding:" + f["reason"]] += 1
    report = {
        "method": s.method,
        "model": s.model,
        "rival": s.rival,
        "judge": s.judge,
        "temperatures": s.temperatures,
        "api_base": scrub_url_credentials(s.api_base) if s.api_base else None,
        "judge_api_base": scrub_url_credentials(s.judge_api_base) if s.judge_api_base else None,
        "max_cost": s.max_cost,
        "counts": dict(res.counts),
        "spent": spent(journal, KINDS),
        "curation": curation,
    }
    write_outputs(s.run / OUT, res.records, res.findings, report, [], excluded)
    return res
