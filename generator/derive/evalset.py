"""``instructforge evalset RUN --model M``: an evaluation set from the run's documents that
no training record was made from.

Held out by document: documents used by training records of the run (and of every
``--train-run``) are skipped, and the list of training runs is kept in
``RUN/eval/report.json`` so export checks it again. Single-hop items come from one chunk
(template ``eval``), two-hop items from two neighbouring chunks of one document (template
``eval-multihop``). Every quote is located in the source to character offsets; an item whose
quote is not verbatim in its chunks, or a two-hop item that does not cite both chunks, is
rejected with its reason. A call that failed or gave an unusable reply is a finding
(``review.jsonl``), never an empty pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.derive.calls import KindClient, render_with
from generator.derive.citations import locate
from generator.derive.heldout import training_documents
from generator.derive.store import KindStore, made_by, write_outputs
from generator.errors import ConfigError
from generator.generate.prompts import PromptTemplate, load_template
from generator.record_kinds import EvalRecord
from generator.records import Chunk, Document
from generator.store import Journal

OUT = "eval"
DIFFICULTY = ("easy", "medium", "hard")


def item_schema(n: int, hops: int) -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": 2000}
    item = {
        "type": "object",
        "properties": {
            "question": text,
            "answer": text,
            "quotes": {"type": "array", "minItems": hops, "maxItems": 4, "items": text},
            "difficulty": {"enum": list(DIFFICULTY)},
        },
        "required": ["question", "answer", "quotes", "difficulty"],
        "additionalProperties": False,
    }
    records = {"type": "array", "minItems": 1, "maxItems": max(1, n), "items": item}
    return {"type": "object", "properties": {"records": records}, "required": ["records"],
            "additionalProperties": False}  # fmt: skip


@dataclass
class EvalSettings:
    run: Path
    model: str
    train_runs: list[Path] = field(default_factory=list)
    per_chunk: int = 2  # single-hop questions per chunk
    multihop: int = 1  # two-hop questions per pair of neighbouring chunks
    max_chunks: int | None = None  # per document (None: all)
    api_base: str | None = None


@dataclass
class EvalResult:
    records: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    skipped_docs: dict[str, str] = field(default_factory=dict)  # path -> training run
    counts: Counter[str] = field(default_factory=Counter)
    spent: dict[str, Any] = field(default_factory=dict)


def _units(doc: Document, chunks: list[Chunk], s: EvalSettings) -> list[tuple[str, list[Chunk]]]:
    chunks = chunks[: s.max_chunks] if s.max_chunks else chunks
    units: list[tuple[str, list[Chunk]]] = [("single", [c]) for c in chunks if s.per_chunk]
    if s.multihop:
        units += [("multi", [a, b]) for a, b in zip(chunks, chunks[1:], strict=False)]
    return units


def _item(
    raw: Any, unit: list[Chunk], doc: Document, hops: int
) -> tuple[dict[str, Any] | None, str]:
    """(record fields, "") or (None, reason)."""
    if not isinstance(raw, dict):
        return None, "schema: item is not an object"
    quotes = raw.get("quotes")
    if not isinstance(quotes, list) or not quotes or not all(isinstance(q, str) for q in quotes):
        return None, "schema: quotes must be a list of strings"
    cites = []
    for q in quotes:
        cit = locate(q, unit, doc)
        if cit is None:
            return None, f"citation:not_in_source: {q[:80]!r} is not verbatim in the source"
        cites.append(cit)
    if hops == 2 and len({c["chunk_id"] for c in cites}) < 2:
        return None, "citation:one_chunk: a two-hop item must cite both chunks"
    fields = {"question": raw.get("question"), "answer": raw.get("answer"), "citations": cites,
              "difficulty": raw.get("difficulty"), "hops": hops}  # fmt: skip
    return fields, ""


def build_evalset(s: EvalSettings, journal: Journal, console: Any = None) -> EvalResult:
    """Make, check, journal and write the evaluation set of ``s.run``."""
    single, multi = load_template("eval"), load_template("eval-multihop")
    for tpl in (single, multi):
        if tpl.format != "eval":
            raise ConfigError(f"template {tpl.id!r} must have format eval")
    used = training_documents([s.run, *s.train_runs])
    res = EvalResult()
    store = KindStore(journal)
    clients: dict[str, tuple[PromptTemplate, KindClient, int]] = {}
    for kind, tpl, hops, n in (("single", single, 1, s.per_chunk), ("multi", multi, 2, s.multihop)):
        client = KindClient(s.model, journal, tpl, item_schema(n, hops), api_base=s.api_base)
        clients[kind] = (tpl, client, n)
    work: dict[str, list[tuple[str, list[Chunk], Document]]] = {"single": [], "multi": []}
    for doc in journal.documents():
        if doc.sha256 in used:
            res.skipped_docs[doc.path] = used[doc.sha256]
            continue
        for kind, unit in _units(doc, list(journal.chunks(doc.path)), s):
            uid = f"{kind}:{'+'.join(c.id for c in unit)}"
            work[kind].append((uid, unit, doc))
    if not any(work.values()):
        raise ConfigError(
            f"{s.run}: no held-out document: every document of the run was used for training "
            "records (ingest documents kept for evaluation into the run, or make it a new run)"
        )
    for kind, units in work.items():
        tpl, client, n = clients[kind]
        hops = 2 if kind == "multi" else 1
        batch = [(uid, render_with(tpl, unit, n=n)) for uid, unit, _ in units]
        for (uid, unit, doc), (reply, usage) in zip(units, client.ask(f"eval-{kind}", batch), strict=True):
            res.counts["calls"] += 1
            items = reply.get("records") if isinstance(reply, dict) else None
            if not isinstance(items, list):
                res.findings.append({"unit": uid, "reason": f"check_failed:evalset-{kind}",
                                     "detail": "the call failed or its reply was unusable"})  # fmt: skip
                continue
            for i, raw in enumerate(items):
                fields, why = _item(raw, unit, doc, hops)
                meta = made_by(s.model, s.api_base, tpl.ref, "eval", uid, str(i))
                c0 = unit[0]
                meta["source"] = {"path": doc.path, "doc_sha256": doc.sha256, "chunk_id": c0.id,
                                  "span": list(c0.span)}  # fmt: skip
                meta["usage"] = {k: (v // max(1, len(items)) if isinstance(v, int) else v)
                                 for k, v in usage.items()}  # fmt: skip
                if fields is not None:
                    try:
                        rec = EvalRecord.model_validate({**fields, "meta": meta}).to_dict()
                    except ValidationError as exc:
                        fields, why = None, f"schema: {exc.errors()[0]['msg']}"
                if fields is None:
                    res.rejected.append({"unit": uid, "reason": why, "raw": raw})
                    res.counts["rejected:" + why.split(": ")[0]] += 1
                    continue
                store.put("eval", rec)
                res.records.append(rec)
                res.counts[f"accepted_{hops}hop"] += 1
    res.spent = clients["single"][1].spent()
    report = {
        "model": s.model,
        "train_runs": [str(p) for p in [s.run, *s.train_runs]],
        "held_out_documents": sorted({r["meta"]["source"]["path"] for r in res.records}),
        "skipped_training_documents": res.skipped_docs,
        "counts": dict(res.counts),
        "findings": len(res.findings),
        "spent": res.spent,
    }
    write_outputs(s.run / OUT, res.records, res.findings, report, res.rejected)
    return res
