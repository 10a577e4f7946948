"""A policy's verdict for one use and model (the host's terms, a model family's licence and
its domicile rule, the stricter winning) and its staleness (a review older than
``INSTRUCTFORGE_POLICY_MAX_AGE_DAYS``). The policies are loaded by
:mod:`generator.policies`, which re-exports these names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from generator.config import env
from generator.errors import ConfigError
from generator.policy_schema import VERDICTS, ModelFamily, UseVerdict
from generator.records import USES

if TYPE_CHECKING:
    from generator.policies import Policy

DEFAULT_MAX_AGE_DAYS = 180


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one (policy, use, model)."""

    verdict: str
    reason: str
    clause: str
    url: str
    policy_id: str
    family: str | None = None  # the model family (glob) whose licence was applied
    stale: str | None = None  # warning text when the policy's review is overdue
    # What decided: "policy" (its own uses), "family" (the weights' licence), or "both"
    # (host terms and licence give the same verdict).
    decided_by: str = "policy"
    authorization: str | None = None  # the authorizations.yaml entry that lifted the verdict


def default_max_age_days() -> int:
    """The review age after which a policy is stale (INSTRUCTFORGE_POLICY_MAX_AGE_DAYS)."""
    raw = env("INSTRUCTFORGE_POLICY_MAX_AGE_DAYS")
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"INSTRUCTFORGE_POLICY_MAX_AGE_DAYS: not an integer: {raw!r}") from None
    if days < 0:
        raise ConfigError("INSTRUCTFORGE_POLICY_MAX_AGE_DAYS must be >= 0")
    return days


def is_stale(policy: Policy, max_age_days: int | None = None, today: date | None = None) -> bool:
    """True when the policy was last reviewed more than ``max_age_days`` ago."""
    limit = default_max_age_days() if max_age_days is None else max_age_days
    today = today or datetime.now(UTC).date()
    return (today - policy.reviewed_at).days > limit


def stale_warning(
    policy: Policy, max_age_days: int | None = None, today: date | None = None
) -> str | None:
    """The warning shown wherever a stale policy is used, or None when it is current."""
    if not is_stale(policy, max_age_days, today):
        return None
    today = today or datetime.now(UTC).date()
    age = (today - policy.reviewed_at).days
    return (
        f"policy {policy.id!r} was last reviewed on {policy.reviewed_at} ({age} days ago): "
        f"the provider's terms may have changed; re-check {policy.terms.url} and update "
        f"{policy.path.name if policy.path else policy.id + '.yaml'}"
    )


def family_verdict(fam: ModelFamily, use: str, domicile: str | None = None) -> UseVerdict:
    """A family's licence verdict for ``use``, with its domicile rule applied: inside an
    excluded region ``block``; domicile not set ``review`` at best; elsewhere the licence's."""
    lic = fam.uses[use]  # type: ignore[index]
    rule = fam.domicile
    if rule is None:
        return lic
    excluded = {r.upper() for r in rule.excluded}
    if domicile is not None and domicile.upper() in excluded:
        return UseVerdict(verdict="block", reason=rule.reason, clause=rule.clause, url=rule.url)
    if domicile is None and lic.verdict == "allow":
        why = (
            f"{rule.reason} The domicile setting is not set (INSTRUCTFORGE_DOMICILE=EU or the "
            "licensee's region): a person must confirm it first."
        )
        return UseVerdict(verdict="review", reason=why, clause=rule.clause, url=rule.url)
    return lic


def verdict(
    policy: Policy,
    use: str,
    model: str | None = None,
    today: date | None = None,
    domicile: str | None = None,
) -> Verdict:
    """The verdict of ``policy`` for ``use`` and ``model``.

    Without a matching ``models`` family the policy's own verdict applies (for ``local``:
    review at best). With one, ``host_terms: none`` lets the family's licence decide alone;
    ``host_terms: apply`` takes the stricter of the host's terms and the licence, and the
    reason names both and which one decided. ``domicile`` decides a family's domicile rule
    (:func:`family_verdict`)."""
    if use not in USES:
        raise ConfigError(f"unknown use {use!r} (known: {', '.join(USES)})")
    stale = stale_warning(policy, today=today)
    family = policy.family_for(model) if (model and policy.models) else None
    host = policy.uses[use]  # type: ignore[index]
    if family is None:
        return Verdict(host.verdict, host.reason, host.clause, host.url, policy.id, None, stale)
    glob, fam = family
    lic = family_verdict(fam, use, domicile)
    if policy.host_terms == "none":
        reason = f"{fam.licence}: {lic.reason}"
        return Verdict(lic.verdict, reason, lic.clause, lic.url, policy.id, glob, stale, "family")
    return combine_host_and_licence(policy, host, glob, fam.licence, lic, stale)


def combine_host_and_licence(
    policy: Policy,
    host: UseVerdict,
    glob: str,
    licence: str,
    lic: UseVerdict,
    stale: str | None = None,
) -> Verdict:
    """The stricter of a host's verdict and a licence's, with a reason naming both."""
    by_host = VERDICTS.index(host.verdict) - VERDICTS.index(lic.verdict)  # > 0: host stricter
    both = f"[{policy.id} host terms: {host.verdict}; licence {licence}: {lic.verdict}]"
    if by_host > 0:
        reason = f"Host terms decide {both}: {host.reason}"
        decider, by, clause = host, "policy", host.clause
    elif by_host < 0:
        reason = f"Weights' licence decides {both}: {lic.reason}"
        decider, by, clause = lic, "family", lic.clause
    else:
        reason = f"Host terms and weights' licence agree {both}: {host.reason} | {lic.reason}"
        decider, by = lic, "both"
        clause = host.clause if host.clause == lic.clause else f"{host.clause}; {lic.clause}"
    return Verdict(decider.verdict, reason, clause, decider.url, policy.id, glob, stale, by)
