"""What the run itself recorded about how each record was made, for the licence gate.

A record's ``meta`` is what the record says about itself: anyone can edit it. The run's
journal (``run.sqlite``, table ``gen_records``) holds the record as generation accepted it,
so the gate takes the model, the API base and the policy tag from there. A record the
journal does not hold was not generated in this run (``curate --input`` data, or a run
folder without a journal): its claims are not trusted, only what its model string resolves
to, and never looser than ``unknown``.

The API base of a generated record is its own ``meta.api_base`` as journaled; records
generated before the API base was recorded per record take the run's ``config.json``
``api_base`` when the config names the same model.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.derive.store import judge_row, kind_of, kind_row
from generator.records import Meta


@dataclass(frozen=True)
class Evidence:
    """How one record was made, as far as the run can vouch for it."""

    origin: str  # generated | imported
    model: str | None
    api_bases: tuple[str | None, ...]
    policy: dict[str, Any] | None  # the tag the record carries
    notes: tuple[str, ...] = field(default=())  # disagreements between record and journal
    source_info: Any = None  # the source document's labels as generated (or as carried)
    base_unknown: bool = False  # the run never recorded which API base generated it

    def to_dict(self) -> dict[str, Any]:
        """JSON for the export's meta sidecar, so ``verify`` can re-judge a sealed pack."""
        return {
            "origin": self.origin,
            "model": self.model,
            "api_bases": list(self.api_bases),
            "notes": list(self.notes),
            "source_info": self.source_info,
            "base_unknown": self.base_unknown,
        }

    @classmethod
    def from_dict(cls, data: Any, meta: Meta) -> Evidence:
        """The evidence recorded in a sidecar (the record's own tag is the one it carries);
        anything malformed raises ValueError."""
        if not isinstance(data, dict) or data.get("origin") not in ("generated", "imported"):
            raise ValueError("no provenance recorded beside the record")
        bases = data.get("api_bases")
        if not isinstance(bases, list) or not bases:
            raise ValueError("provenance without its API bases")
        tag = meta.policy.model_dump() if meta.policy else None
        notes = tuple(str(n) for n in data.get("notes") or ())
        return cls(
            data["origin"],
            data.get("model"),
            tuple(bases),
            tag,
            notes,
            data.get("source_info"),
            data.get("base_unknown") is True,
        )


class RunProvenance:
    """Reads the run's journal (read-only) and config for :meth:`evidence`."""

    def __init__(self, run: Path | None) -> None:
        self.config_model: str | None = None
        self.config_api_base: str | None = None
        self._conn: sqlite3.Connection | None = None
        self.has_journal = False  # whether the run has generation records to vouch with
        if run is None:
            return
        try:
            cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
            if isinstance(cfg, dict):
                self.config_model, self.config_api_base = cfg.get("model"), cfg.get("api_base")
        except (OSError, ValueError):
            pass
        db = run / "run.sqlite"
        if db.is_file():
            conn = None
            try:
                conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if not names & {"gen_records", "kind_records"}:  # derive stages: kind_records
                    raise sqlite3.OperationalError("no generation in this run")
                self._conn, self.has_journal = conn, True
            except sqlite3.Error:  # no generation in this run: nothing is vouched for
                if conn is not None:
                    conn.close()

    def _journaled(self, record_id: str) -> dict[str, Any] | None:
        if self._conn is None:
            return None
        row = kind_row(self._conn, record_id, "gen_records")
        if row is None:  # answers and items the pairs / evalset stages journaled
            row = kind_row(self._conn, record_id)
        if row is None:
            return None
        try:
            meta = json.loads(row[0]).get("meta")
        except (ValueError, AttributeError):
            return None
        return meta if isinstance(meta, dict) else None

    @property
    def connection(self) -> sqlite3.Connection | None:
        """The read-only journal connection (None: no journal to vouch with)."""
        return self._conn

    def judge(self, chosen: str, rejected: str) -> dict[str, Any] | None:
        """The meta of the judge the run journaled for ranking ``chosen`` over ``rejected``."""
        return None if self._conn is None else judge_row(self._conn, chosen, rejected)

    def ranked(self, *side_ids: str) -> bool:
        """Whether the run journaled any of these answers for a judge-ranked pair."""
        return self._conn is not None and any(
            kind_of(self._conn, rid) == "pair-answer" for rid in side_ids
        )

    def evidence(self, meta: Meta) -> Evidence:
        extra = meta.model_extra or {}
        claimed_base, claimed_info = extra.get("api_base"), extra.get("source_info")
        tag = meta.policy.model_dump() if meta.policy else None
        gen = self._journaled(meta.id)
        if gen is None:
            base = claimed_base if isinstance(claimed_base, str) else None
            return Evidence("imported", meta.model, (base,), tag, source_info=claimed_info)
        model = gen.get("model")
        unknown = False
        if "api_base" in gen:
            bases: tuple[str | None, ...] = (gen.get("api_base"),)
        elif model and model == self.config_model:
            bases = (self.config_api_base,)
        else:  # nothing says whose servers ran it: judged as the model's own host, and held
            bases, unknown = (None,), True
        notes = []
        if meta.model != model:
            notes.append(f"record says model {meta.model!r}, the run generated it with {model!r}")
        if claimed_base != gen.get("api_base"):
            notes.append(
                f"record says API base {claimed_base!r}, the run journaled {gen.get('api_base')!r}"
            )
        if tag != gen.get("policy"):
            have = (tag or {}).get("id")
            was = (gen.get("policy") or {}).get("id")
            notes.append(f"record carries policy tag {have!r}, the run tagged it {was!r}")
        if claimed_info != gen.get("source_info"):
            notes.append("the record's source labels differ from those the run recorded")
        return Evidence(
            "generated", model, bases, tag, tuple(notes), gen.get("source_info"), unknown
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
