"""The licence gate for a preference pair: both answers, each judged from the run's journal.

A pair holds text two models may have written (or one model and a reviewer). Each side
names the record the run journaled for it (``meta.pair.<side>.id``, in ``gen_records`` or
the derive stages' ``kind_records``); the gate judges each side as a record of its own,
from what the journal says produced it, and the stricter verdict wins: a pair is exported
only when both sides may be, and a side whose model is blocked for the use blocks the pair.
The pair is counted once in the export's figures.
"""

from __future__ import annotations

from typing import Any

from generator.export.gate import ORDER, Decision, Gate
from generator.export.provenance import Evidence
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
    return evaluate_pair(gate, record.meta)


def rejudge(gate: Gate, meta: Meta, provenance: Any) -> Decision:
    """``verify``: the decision for an exported record from the provenance recorded beside
    it (a pair: each side's); malformed provenance raises ValueError."""
    if meta.format != "preference":
        return gate.evaluate(meta, Evidence.from_dict(provenance, meta))
    sides = provenance.get("pair") if isinstance(provenance, dict) else None
    if not isinstance(sides, dict) or not isinstance((meta.model_extra or {}).get("pair"), dict):
        raise ValueError("no provenance of the pair's two sides recorded beside it")
    return evaluate_pair(gate, meta, sides)


def evaluate_pair(gate: Gate, meta: Meta, evidence: dict[str, Any] | None = None) -> Decision:
    """Both sides judged as records of their own (from the journal, or from ``evidence``
    recorded per side), the stricter verdict for the pair, counted once."""
    pair = (meta.model_extra or {})["pair"]
    sides = {}
    for name in ("chosen", "rejected"):
        side = _side_meta(pair[name])
        ev = None if evidence is None else Evidence.from_dict(evidence.get(name), side)
        sides[name] = gate.evaluate(side, ev, count=False)
    worst = max(sides.values(), key=lambda d: ORDER[d.verdict])
    checks = list(dict.fromkeys(c for d in sides.values() for c in d.checks))
    whys = [f"{name} side: {d.why}" for name, d in sides.items() if d.why]
    notes = tuple(dict.fromkeys(n for d in sides.values() for n in d.notes))
    decision = Decision(
        worst.policy_id,
        worst.verdict,
        checks,
        all(d.exported for d in sides.values()),
        accepted=tuple(sorted({a for d in sides.values() for a in d.accepted})),
        why="; ".join(whys),
        notes=notes,
    )
    decision.evidence = {"pair": {name: d.evidence for name, d in sides.items()}}
    gate._count(decision)
    return decision
