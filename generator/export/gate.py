"""The licence gate: may each record be exported for the declared use?

Every record is judged by (1) its provenance: the policies its model and API base resolve to
today (generator/policy_resolve.py: the host's terms, then the maker's terms or the weights'
licence), from what the run's journal says produced it, not from what the record says about
itself (export/provenance.py); a record with no model is ``unknown``, data the journal does
not hold (``curate --input``) is ``unknown`` at best and its tag is not trusted; (2) the tag
it carries (``meta.policy``): its verdict, and its integrity (a hash that differs from
today's file means other terms or an edited file: a person must confirm); a tag that names
other policies than the provenance, or a record that differs from the journal, is named in
``excluded.jsonl`` and LEGAL_REVIEW.md; and (3) the labels of its source document
(``meta.source_info.labels`` as the journal holds them). The strictest verdict wins:

* ``block``  never exported, whatever the flags;
* ``review`` exported only if every review-level check is named by ``--accept-review``
  (a policy id such as ``openai``, or a source label such as ``confidential`` /
  ``source:confidential``); each acceptance is recorded in the manifest with user and time;
* ``allow``  exported.

``--strict`` refuses the whole export (exit 3) when any record is not ``allow``. There is no
flag that skips the gate; every flag that changes its outcome is written to the manifest.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.export.gate_decision import (
    ORDER,
    Check,
    Decision,
    GateStats,
    policies_seen,
    strictest,
)
from generator.export.provenance import Evidence, RunProvenance
from generator.policies import (
    UNKNOWN_ID,
    Policy,
    load_policies,
    stale_warning,
    verdict,
)
from generator.policy_auth import load_authorizations
from generator.policy_resolve import Assessment, ResolveContext, assess, resolve
from generator.records import USES, Meta
from generator.sources import SourceInfo, SourcesFile, label_rules, label_verdict

__all__ = ["ORDER", "Check", "Decision", "Gate", "GateStats", "policies_seen"]


class Gate:
    """Judges records for one use; collects the counts for the reports as it goes."""

    def __init__(
        self,
        use: str,
        accept_review: list[str] | tuple[str, ...] = (),
        strict: bool = False,
        directory: Path | None = None,
        sources: SourcesFile | None = None,
        today: date | None = None,
        run: Path | None = None,
    ) -> None:
        if use not in USES:
            raise ConfigError(f"unknown use {use!r} (known: {', '.join(USES)})")
        if strict and accept_review:
            raise ConfigError(
                "--strict refuses anything that is not 'allow'; it cannot be combined with "
                "--accept-review (drop one of them)"
            )
        self.use, self.strict, self.today = use, strict, today
        self.directory, self.sources = directory, sources
        self.policies: dict[str, Policy] = load_policies(directory)
        self.accept = {a.removeprefix("source:") for a in accept_review}
        self.stats = GateStats()
        self.warnings: dict[str, str] = {}
        self.context = ResolveContext.from_env()
        self.authorizations = load_authorizations(directory)
        self.provenance = RunProvenance(run)
        self._assessed: dict[tuple[str, str | None], Assessment] = {}
        self._tags: dict[tuple[str, str | None], Check] = {}

    # ------------------------------------------------------------ per record

    def _assess(self, model: str, api_base: str | None) -> Assessment:
        key = (model, api_base)
        if key not in self._assessed:  # one resolution per model and API base, not per record
            res = resolve(model, api_base, self.directory, self.context)
            self._assessed[key] = assess(
                res, self.use, self.context, self.authorizations, self.today
            )
        return self._assessed[key]

    def _provenance_checks(self, ev: Evidence) -> tuple[str, list[Check]]:
        if not ev.model:
            pol = self.policies[UNKNOWN_ID]
            v = pol.uses[self.use]  # type: ignore[index]
            why = f"record has no model: nothing shows whose terms apply. {v.reason}"
            return pol.id, [Check("policy", pol.id, v.verdict, why, v.clause, v.url)]
        checks: list[Check] = []
        primary = ""
        for base in ev.api_bases:
            a = self._assess(ev.model, base)
            primary = primary or a.resolution.policy.id
            for layer, v in a.verdicts:
                if v.family:
                    self.stats.families[layer.policy.id][v.family] += 1
                if v.stale:
                    self.warnings.setdefault(layer.policy.id, v.stale)
                if v.authorization:
                    self.stats.authorizations[v.authorization] += 1
                why = f"{layer.why}: {v.reason}"
                checks.append(Check("policy", layer.policy.id, v.verdict, why, v.clause, v.url))
        if ev.base_unknown:
            why = (
                "the run did not record the API base this record was generated through "
                "(its journal predates per-record API bases and config.json names another "
                "model or cannot be read): whose servers ran the model is unknown"
            )
            checks.append(Check("integrity", primary, "review", why, "run journal", ""))
        return primary, checks

    def _tag_checks(self, meta: Meta, ev: Evidence, resolved: set[str]) -> list[Check]:
        ref = meta.policy
        if ev.origin == "imported":
            self.stats.imported += 1
            carried = f" (it carries policy tag {ref.id!r}, not trusted)" if ref else ""
            why = (
                "data from elsewhere: this run's journal does not hold the record, so its "
                f"model and terms are unverified{carried}"
            )
            return [Check("integrity", UNKNOWN_ID, "review", why, "provenance", "")]
        checks: list[Check] = []
        pol = self.policies.get(ref.id) if ref else None
        if pol is None:
            why = (
                "record carries no policy tag (meta.policy)"
                if ref is None
                else f"record names policy {ref.id!r}, which no policy file defines"
            )
            return [Check("integrity", UNKNOWN_ID, "review", why, "meta.policy", "")]
        assert ref is not None
        self.stats.recorded_hashes[pol.id][ref.sha256] += 1
        if ref.sha256 != pol.sha256:
            self.stats.hash_mismatch[pol.id] += 1
            why = (
                f"tagged under {pol.id} version {ref.version} (sha256 {ref.sha256[:12]}), but "
                f"policies/{pol.id}.yaml is now version {pol.version} (sha256 {pol.sha256[:12]})"
                ": the terms changed or the file was edited"
            )
            checks.append(Check("integrity", pol.id, "review", why, "policy file hash", ""))
        if pol.id not in resolved:  # the tag's own verdict counts too: the stricter wins
            key = (pol.id, ev.model)
            if key not in self._tags:
                v = verdict(pol, self.use, ev.model, self.today, self.context.domicile)
                why = f"the record's policy tag {pol.id}: {v.reason}"
                self._tags[key] = Check("tag", pol.id, v.verdict, why, v.clause, v.url)
            checks.append(self._tags[key])
        return checks

    def _policy_checks(self, meta: Meta, ev: Evidence) -> tuple[str, list[Check], tuple[str, ...]]:
        primary, checks = self._provenance_checks(ev)
        resolved = {c.key for c in checks}
        checks += self._tag_checks(meta, ev, resolved)
        notes = list(ev.notes)
        if meta.policy is not None and meta.policy.id not in resolved:
            notes.append(
                f"policy tag {meta.policy.id!r} disagrees with the provenance "
                f"({', '.join(sorted(resolved))}): the stricter verdict applies"
            )
        if ev.notes:  # the record was edited after generation: a person must look
            why = "the record differs from what the run generated: " + "; ".join(ev.notes)
            checks.append(Check("integrity", primary, "review", why, "run journal", ""))
        for note in notes:
            self.stats.disagreements[note] += 1
        return primary, checks, tuple(notes)

    def _source_checks(self, raw: Any) -> list[Check]:
        """The labels of the record's source document, as the run recorded them."""
        if not isinstance(raw, dict):
            return []
        checks = []
        for label in SourceInfo.from_meta(raw).labels:
            v = label_verdict(label, self.use, self.sources, self.directory)
            check = Check("source", label, v.verdict, v.reason, v.clause, v.url)
            self.stats.label_checks.setdefault(label, check)
            checks.append(check)
        return checks

    def evaluate(
        self, meta: Meta, evidence: Evidence | None = None, count: bool = True
    ) -> Decision:
        """The decision for one record (and its contribution to the counts). ``evidence``:
        the provenance recorded beside an exported record (``verify`` re-judges a sealed pack
        with it); by default the run's journal is read."""
        ev = evidence if evidence is not None else self.provenance.evidence(meta)
        pid, checks, notes = self._policy_checks(meta, ev)
        checks += self._source_checks(ev.source_info)
        decision = self.decide(pid, checks, notes)
        decision.evidence = ev.to_dict()
        if count:  # False: one side of a pair (pair_gate.py counts the pair once)
            self._count(decision)
        return decision

    def decide(self, pid: str, checks: list[Check], notes: tuple[str, ...] = ()) -> Decision:
        """The decision from a record's checks (the strictest wins), not counted."""
        worst = strictest(checks)
        needed = tuple(sorted({c.key for c in checks if c.verdict == "review"}))
        if worst == "block":
            blocks = [c for c in checks if c.verdict == "block"]
            why = "; ".join(f"block by {c.kind} {c.key}: {c.reason}" for c in blocks)
            decision = Decision(pid, worst, checks, False, why=why)
        elif worst == "review" and not self.strict and set(needed) <= self.accept:
            decision = Decision(pid, worst, checks, True, accepted=needed)
        elif worst == "review":
            missing = [k for k in needed if k not in self.accept]
            why = f"review needed ({'; '.join(c.reason for c in checks if c.verdict == 'review')})"
            if not self.strict:
                why += f": accept with --accept-review {' --accept-review '.join(missing)}"
            decision = Decision(pid, worst, checks, False, why=why)
        else:
            decision = Decision(pid, worst, checks, True)
        if notes:
            decision.notes = notes
            if decision.why:
                decision.why += " [" + "; ".join(notes) + "]"
        return decision

    def _count(self, d: Decision) -> None:
        s = self.stats
        outcome = (
            d.verdict if d.verdict != "review" else ("review-accepted" if d.exported else "review")
        )
        s.outcomes[outcome] += 1
        s.per_policy[d.policy_id][outcome] += 1
        for pid in dict.fromkeys(c.key for c in d.checks if c.kind in ("policy", "tag")):
            s.binding[pid][outcome] += 1
        for c in d.checks:
            if c.kind == "source":
                s.labels[c.key][c.verdict] += 1
        for key in d.accepted:
            s.accepted[key] += 1
        if not d.exported:
            s.excluded[d.why] += 1

    # ------------------------------------------------------------ after all records

    def check_accept_names(self) -> list[str]:
        """Unknown ``--accept-review`` names are a usage error (a typo must not pass silently);
        known names that matched nothing come back as warnings."""
        known = (
            set(self.policies) | set(label_rules(self.directory).labels) | set(self.stats.labels)
        )
        unknown = sorted(self.accept - known)
        if unknown:
            raise ConfigError(
                f"--accept-review {', '.join(unknown)}: not a policy id or source label "
                f"(policies: {', '.join(sorted(self.policies))})"
            )
        return [
            f"--accept-review {k} matched no record that needed review"
            for k in sorted(self.accept - set(self.stats.accepted))
        ]

    def stale(self) -> dict[str, str]:
        """Warnings for policies used in this export whose review date is too old."""
        for pid in policies_seen(self.stats):
            w = stale_warning(self.policies[pid], today=self.today)
            if w:
                self.warnings.setdefault(pid, w)
        return dict(self.warnings)
