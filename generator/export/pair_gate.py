"""The licence gate for a preference pair: both answers, each judged from the run's journal.

A pair holds text two models may have written (or one model and a reviewer). Each side
names the record the run journaled for it (``meta.pair.<side>.id``, in ``gen_records`` or
the derive stages' ``kind_records``); the gate judges each side as a record of its own,
from what the journal says produced it, and the stricter verdict wins: a pair is exported
only when both sides may be, and a side whose model is blocked for the use blocks the pair.
The pair is counted once in the export's figures.

A judge-ranked pair (``--method judge``) also carries the judge model's output: the ranking
decides which answer is chosen, and a preference label is model output used for training.
So the judge is judged too, from the judge the run journaled for the pair's two sides
(``pair_judges``), never from ``meta.pair.judge`` (the record's own claim); a judge-ranked
pair whose judge the journal does not hold is ``unknown`` (held for review). ``verify``
re-judges the judge from the ``judge`` evidence recorded beside the pair.
"""

from __future__ import annotations

from typing import Any

from generator.export.gate import ORDER, Check, Decision, Gate
from generator.export.pair_texts import check_texts
from generator.export.provenance import Evidence
from generator.policies import UNKNOWN_ID
from generator.record_kinds import PreferenceRecord
from generator.records import Meta, Record


def _side_meta(side: dict[str, Any]) -> Meta:
    keep = {k: v for k, v in side.items() if k not in ("origin",)}
    return Meta.model_validate({**keep, "format": "preference"})


def makers(record: Record) -> list[tuple[str | None, str | None]]:
    """(model, provider) of what wrote the record: for a pair, each distinct side's."""
    if not isinstance(record, PreferenceRecord):
        return [(record.meta.model, record.meta.provider)]
    pair = record.pair
    return list(dict.fromkeys((s.model, s.provider) for s in (pair.chosen, pair.rejected)))


def evaluate_record(gate: Gate, record: Record) -> Decision:
    """The gate's decision for any record; a pair is judged side by side."""
    if not isinstance(record, PreferenceRecord):
        return gate.evaluate(record.meta)
    return evaluate_pair(gate, record.meta, record=record)


def rejudge(gate: Gate, meta: Meta, provenance: Any) -> Decision:
    """``verify``: the decision for an exported record from the provenance recorded beside
    it (a pair: each side's); malformed provenance raises ValueError."""
    if meta.format != "preference":
        return gate.evaluate(meta, Evidence.from_dict(provenance, meta))
    sides = provenance.get("pair") if isinstance(provenance, dict) else None
    if not isinstance(sides, dict) or not isinstance((meta.model_extra or {}).get("pair"), dict):
        raise ValueError("no provenance of the pair's two sides recorded beside it")
    return evaluate_pair(gate, meta, sides)


def _judge_meta(data: dict[str, Any]) -> Meta:
    keep = ("id", "model", "provider", "policy", "prompt", "api_base")
    return Meta.model_validate({k: data.get(k) for k in keep} | {"format": "preference"})


def _unknown_judge(gate: Gate) -> Decision:
    pol = gate.policies[UNKNOWN_ID]
    v = pol.uses[gate.use]  # type: ignore[index]
    why = (
        "the run's journal holds no judge for this judge-ranked pair: whose terms bind its "
        f"ranking is unknown. {v.reason}"
    )
    d = gate.decide(pol.id, [Check("policy", pol.id, v.verdict, why, v.clause, v.url)])
    d.evidence = {"origin": "unknown"}
    return d


def _judge(gate: Gate, pair: dict[str, Any], evidence: dict[str, Any] | None) -> Decision | None:
    """The decision for the judge whose ranking made the pair: from the run's journal
    (``pair_judges``), or from the ``judge`` evidence recorded beside it (``verify``); never
    from ``meta.pair.judge``, the record's own claim. None: the pair was not ranked."""
    ids = [str((pair.get(n) or {}).get("id")) for n in ("chosen", "rejected")]
    if evidence is None:
        needed = pair.get("method") == "judge" or gate.provenance.ranked(*ids)
        data = gate.provenance.judge(*ids)
        if data is None:
            return _unknown_judge(gate) if needed else None
        meta = _judge_meta(data)
        bases = (data.get("api_base"),)
        ev = Evidence(
            "generated", meta.model, bases, data.get("policy"), (), None, "api_base" not in data
        )
    else:
        data = evidence.get("judge")
        if data is None:
            if pair.get("method") == "judge":
                raise ValueError("no provenance of the pair's judge recorded beside it")
            return None
        if isinstance(data, dict) and data.get("origin") == "unknown":
            return _unknown_judge(gate)
        if not isinstance(data, dict) or not data.get("id"):
            raise ValueError("malformed provenance of the pair's judge")
        meta = _judge_meta(data)
        ev = Evidence.from_dict(data, meta)
    d = gate.evaluate(meta, ev, count=False)
    d.evidence = {**(d.evidence or {}), "id": meta.id, "policy": data.get("policy")}
    return d


def _texts(gate: Gate, meta: Meta, record: PreferenceRecord, pid: str) -> Any:
    """(a blocking decision when the pair's prompt and texts are not the journaled ones in
    the journaled order, else None; the sha256 of the journaled texts)."""
    pair = (meta.model_extra or {})["pair"]
    prompt = [m.model_dump(mode="json") for m in record.prompt]
    texts = (record.chosen, record.rejected)
    wrong, hashes = check_texts(gate.provenance.connection, meta.id, pair, texts, prompt)
    if wrong is None:
        return None, hashes
    why = f"pair {wrong}: the preference is not the one the run made (re-run instructforge pairs)"
    return gate.decide(pid, [Check("integrity", "pair", "block", why, "run journal", "")]), None


def evaluate_pair(
    gate: Gate,
    meta: Meta,
    evidence: dict[str, Any] | None = None,
    record: PreferenceRecord | None = None,
) -> Decision:
    """Both sides judged as records of their own (from the journal, or from ``evidence``
    recorded per side) and, for a judge-ranked pair, the judge too (its ranking is model
    output used for training); the stricter verdict for the pair, counted once. ``record``:
    its prompt and texts are checked against the journal (a swap or an edit blocks it)."""
    pair = (meta.model_extra or {})["pair"]
    parts = {}
    for name in ("chosen", "rejected"):
        side = _side_meta(pair[name])
        ev = None if evidence is None else Evidence.from_dict(evidence.get(name), side)
        parts[name] = gate.evaluate(side, ev, count=False)
    hashes = None
    if record is not None:
        wrong, hashes = _texts(gate, meta, record, parts["chosen"].policy_id)
        if wrong is not None:
            parts["texts"] = wrong
    judge = _judge(gate, pair, evidence)
    if judge is not None:
        parts["judge"] = judge
        model = (judge.evidence or {}).get("model")
        gate.stats.judges[model or "unknown"] += 1
    worst = max(parts.values(), key=lambda d: ORDER[d.verdict])
    checks = list(dict.fromkeys(c for d in parts.values() for c in d.checks))
    label = {
        "chosen": "chosen side",
        "rejected": "rejected side",
        "judge": "judge",
        "texts": "texts",
    }
    whys = [f"{label[name]}: {d.why}" for name, d in parts.items() if d.why]
    notes = tuple(dict.fromkeys(n for d in parts.values() for n in d.notes))
    decision = Decision(
        worst.policy_id,
        worst.verdict,
        checks,
        all(d.exported for d in parts.values()),
        accepted=tuple(sorted({a for d in parts.values() for a in d.accepted})),
        why="; ".join(whys),
        notes=notes,
    )
    decision.evidence = {"pair": {name: d.evidence for name, d in parts.items() if name != "texts"}}
    if hashes is not None:  # what verify checks the pack's row against
        decision.evidence["texts"] = hashes
    gate._count(decision)
    return decision
