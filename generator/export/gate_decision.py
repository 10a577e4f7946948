"""What the licence gate (:mod:`generator.export.gate`) says: the checks bearing on one
record (:class:`Check`), its outcome (:class:`Decision`) and the counts an export's table,
manifest and legal pack are built from (:class:`GateStats`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

ORDER = {"allow": 0, "review": 1, "block": 2}


@dataclass(frozen=True)
class Check:
    """One reason bearing on a record: ``kind`` policy | integrity | source; ``key`` is what
    ``--accept-review`` must name to accept it when the verdict is ``review``."""

    kind: str  # policy | tag | integrity | source
    key: str
    verdict: str
    reason: str
    clause: str
    url: str


@dataclass
class Decision:
    """The gate's outcome for one record."""

    policy_id: str
    verdict: str  # the strictest verdict of all checks
    checks: list[Check]
    exported: bool
    accepted: tuple[str, ...] = ()
    why: str = ""  # exclusion reason when not exported
    notes: tuple[str, ...] = ()  # disagreements between tag, record and provenance
    evidence: dict[str, Any] | None = None  # what the verdict was worked out from (sidecar)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy_id, "verdict": self.verdict, "accepted": list(self.accepted)}


@dataclass
class GateStats:
    """Counts the export table, the manifest and LEGAL_REVIEW.md are built from."""

    per_policy: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    recorded_hashes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    hash_mismatch: Counter[str] = field(default_factory=Counter)
    families: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    labels: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    accepted: Counter[str] = field(default_factory=Counter)
    excluded: Counter[str] = field(default_factory=Counter)
    label_checks: dict[str, Check] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # one per record
    # every policy that bound a record (host, maker, licence, tag), for the legal pack;
    # per_policy counts each record once, under its host's (first) policy
    binding: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    imported: int = 0  # records the run's journal does not hold
    disagreements: Counter[str] = field(default_factory=Counter)
    authorizations: Counter[str] = field(default_factory=Counter)  # entry id -> records
    judges: Counter[str] = field(default_factory=Counter)  # pairs per ranking judge (journal)


def policies_seen(stats: GateStats) -> list[str]:
    """Every policy an export's records were judged under (the legal pack lists them all)."""
    return sorted(set(stats.per_policy) | set(stats.binding))


def strictest(checks: list[Check]) -> str:
    """The strictest verdict of ``checks``."""
    return max((c.verdict for c in checks), key=ORDER.__getitem__)
