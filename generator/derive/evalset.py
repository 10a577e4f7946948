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

import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.derive.calls import KindClient, render_with
from generator.derive.citations import locate
from generator.derive.curation import curate_stage
from generator.derive.heldout import training_documents
from generator.derive.store import KindStore, made_by, source_infos, write_outputs
from generator.errors import ConfigError
from generator.generate.prompts import PromptTemplate, load_template, records_envelope
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
    return records_envelope(item, n)


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
        units += [("multi", [a, b]) for a, b in itertools.pairwise(chunks)]
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
    fields = {
        "question": raw.get("question"),
        "answer": raw.get("answer"),
        "citations": cites,
        "difficulty": raw.get("difficulty"),
        "hops": hops,
    }
    return fields, ""


def _meta(
    s: EvalSettings,
    tpl: PromptTemplate,
    uid: str,
    i: int,
    unit: list[Chunk],
    doc: Document,
    usage: dict[str, Any],
    share: int,
) -> dict[str, Any]:
    """Provenance of item ``i`` of a call: the model, its policy tag, the template, the
    first chunk as the source (every chunk is in the citations), a share of the usage."""
    meta = made_by(s.model, s.api_base, tpl.ref, "eval", uid, str(i))
    c0 = unit[0]
    meta["source"] = {
        "path": doc.path,
        "doc_sha256": doc.sha256,
        "chunk_id": c0.id,
        "span": list(c0.span),
    }
    meta["usage"] = {k: v // share if isinstance(v, int) else v for k, v in usage.items()}
    return meta


class _Builder:
    """One evalset run: the work units, the calls, the checks, the counts."""

    def __init__(self, s: EvalSettings, journal: Journal) -> None:
        self.s, self.journal, self.res = s, journal, EvalResult()
        self.store = KindStore(journal)
        self.infos = source_infos(s.run, journal)

    def units(self, used: dict[str, str]) -> dict[int, list[tuple[str, list[Chunk], Document]]]:
        work: dict[int, list[tuple[str, list[Chunk], Document]]] = {1: [], 2: []}
        for doc in self.journal.documents():
            if doc.sha256 in used:
                self.res.skipped_docs[doc.path] = used[doc.sha256]
                continue
            for kind, unit in _units(doc, list(self.journal.chunks(doc.path)), self.s):
                uid = f"{kind}:{'+'.join(c.id for c in unit)}"
                work[1 if kind == "single" else 2].append((uid, unit, doc))
        return work

    def run(self, hops: int, tpl: PromptTemplate, units: list) -> KindClient:
        n = self.s.per_chunk if hops == 1 else self.s.multihop
        client = KindClient(
            self.s.model, self.journal, tpl, item_schema(n, hops), api_base=self.s.api_base
        )
        batch = [(uid, render_with(tpl, unit, n=n)) for uid, unit, _ in units]
        replies = client.ask(f"eval-{hops}hop", batch)
        for (uid, unit, doc), (reply, usage) in zip(units, replies, strict=True):
            self.res.counts["calls"] += 1
            items = reply.get("records") if isinstance(reply, dict) else None
            if not isinstance(items, list):
                why = f"check_failed:evalset-{hops}hop"
                self.res.findings.append(
                    {
                        "unit": uid,
                        "reason": why,
                        "detail": "the call failed or its reply was unusable",
                    }
                )
                continue
            for i, raw in enumerate(items):
                meta = _meta(self.s, tpl, uid, i, unit, doc, usage, len(items))
                if doc.path in self.infos:
                    meta["source_info"] = self.infos[doc.path]
                self.add(uid, raw, unit, doc, hops, meta)
        return client

    def add(
        self, uid: str, raw: Any, unit: list[Chunk], doc: Document, hops: int, meta: dict[str, Any]
    ) -> None:
        fields, why = _item(raw, unit, doc, hops)
        if fields is not None:
            try:
                rec = EvalRecord.model_validate({**fields, "meta": meta}).to_dict()
            except ValidationError as exc:
                fields, why = None, f"schema: {exc.errors()[0]['msg']}"
        if fields is None:
            self.res.rejected.append({"unit": uid, "reason": why, "raw": raw})
            self.res.counts["rejected:" + why.split(": ")[0]] += 1
            return
        self.store.put("eval", rec)
        self.res.records.append(rec)
        self.res.counts[f"accepted_{hops}hop"] += 1


def build_evalset(s: EvalSettings, journal: Journal) -> EvalResult:
    """Make, check, journal and write the evaluation set of ``s.run`` (``RUN/eval/``)."""
    templates = {1: load_template("eval"), 2: load_template("eval-multihop")}
    for tpl in templates.values():
        if tpl.format != "eval":
            raise ConfigError(f"template {tpl.id!r} must have format eval")
    used = training_documents([s.run, *s.train_runs])
    b = _Builder(s, journal)
    work = b.units(used)
    if not any(work.values()):
        raise ConfigError(
            f"{s.run}: no held-out document: every document of the run was used for training "
            "records (ingest documents kept for evaluation into the run, or make it a new run)"
        )
    clients = [b.run(hops, templates[hops], units) for hops, units in work.items() if units]
    res = b.res
    res.spent = clients[0].spent(["eval-1hop", "eval-2hop"])  # this stage's calls only
    res.records, excluded, curation = curate_stage(
        res.records, res.findings, res.counts, s.run, journal, short_answers=True
    )
    report = {
        "model": s.model,
        "train_runs": [str(p) for p in [s.run, *s.train_runs]],
        "held_out_documents": sorted({r["meta"]["source"]["path"] for r in res.records}),
        "skipped_training_documents": res.skipped_docs,
        "counts": dict(res.counts),
        "findings": len(res.findings),
        "spent": res.spent,
        "curation": curation,
    }
    write_outputs(s.run / OUT, res.records, res.findings, report, res.rejected, excluded)
    return res
