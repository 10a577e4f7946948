"""Terms-of-use policies: one validated YAML file per provider family in ``policies/``.

A policy says, for each intended use of PRODUCT.md, whether data generated under those terms
may be used (``allow``), needs a person's acceptance (``review``) or must not be (``block``),
and cites the clause. Every generated record carries the ``Ref`` (id, version, sha256 of the
file bytes) of the policy that covered its model, so a changed file is visible later.

Which policies bind a model string reached at an API base (the host's terms, then the
maker's terms or the weights' licence) is worked out in :mod:`generator.policy_resolve`. A
policy's ``models`` families carry the weights' licence: with ``host_terms: none``
(``local``: the weights run on our machines) the matched family alone decides; with
``host_terms: apply`` (the default: a hosted API such as Qwen on Alibaba Cloud Model Studio)
the host's terms (the policy's ``uses``) bind too and the stricter verdict wins.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from generator.config import env, policies_dir
from generator.errors import ConfigError, PolicyFileError
from generator.policy_auth import AUTHORIZATIONS_FILE
from generator.policy_schema import (
    VERDICTS,
    Clauses,
    HostTerms,
    ModelFamily,
    Serves,
    Terms,
    UseVerdict,
    _all_uses,
    _Strict,
)
from generator.records import USES, Ref, Use
from generator.yamlfile import read_yaml

DEFAULT_MAX_AGE_DAYS = 180
UNKNOWN_ID = "unknown"
LOCAL_ID = "local"
# Live in the policies folder but are not policies (generator/sources.py, policy_auth.py).
SOURCE_LABELS_FILE = "source_labels.yaml"
NOT_POLICIES = (SOURCE_LABELS_FILE, AUTHORIZATIONS_FILE)


class Policy(_Strict):
    """A provider family's terms, with a verdict for every intended use."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    covers: list[str] = Field(default_factory=list)
    terms: Terms
    reviewed_at: date
    clauses: Clauses
    uses: dict[Use, UseVerdict]
    note: str = Field(min_length=1)
    models: dict[str, ModelFamily] = Field(default_factory=dict)
    # Whether ``uses`` (the host's terms) still bind when a ``models`` family matches: see
    # policy_schema.HostTerms. The default is the cautious one: only a file whose weights run
    # on our machines (local.yaml) says "none".
    host_terms: HostTerms = "apply"
    serves: Serves = "own"
    # API host names (globs, lower case) that are this service's own endpoints: an API base
    # on one of them resolves here (generator/policy_resolve.py).
    hosts: list[str] = Field(default_factory=list)

    _uses_complete = field_validator("uses")(_all_uses)
    _sha256: str = PrivateAttr(default="")
    _path: Path | None = PrivateAttr(default=None)
    _families: dict[str, tuple[str, ModelFamily] | None] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _host_terms_needs_families(self) -> Policy:
        if self.host_terms == "none" and not self.models:
            raise ValueError("host_terms: none needs model families (models) to decide")
        return self

    @property
    def sha256(self) -> str:
        """sha256 of the policy file's bytes (empty for a policy built in memory)."""
        return self._sha256

    @property
    def path(self) -> Path | None:
        return self._path

    def ref(self) -> Ref:
        """The identity recorded in every record's ``meta.policy``."""
        return Ref(id=self.id, version=self.version, sha256=self.sha256)

    def family_for(self, model: str) -> tuple[str, ModelFamily] | None:
        """The most specific ``models`` entry matching the model: a glob with a ``/`` is
        matched against the whole model string, any other against the name after the last
        ``/`` (so ``qwen2.5*`` covers ``ollama/qwen2.5:7b`` and ``hosted_vllm/Qwen/...``)."""
        full = model.strip().lower()
        if full not in self._families:  # the gate asks once per record: remember
            name = _model_name(full)
            hits = [
                (g, f)
                for g, f in self.models.items()
                if fnmatch.fnmatchcase(full if "/" in g else name, g.lower())
            ]
            self._families[full] = max(hits, key=lambda h: _specificity(h[0])) if hits else None
        return self._families[full]


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


# ---------------------------------------------------------------- loading


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_policy_file(path: Path) -> Policy:
    """Load and validate one policy file; errors name the path and the field."""
    raw, data = read_yaml(path, PolicyFileError, "cannot read policy file")
    if not isinstance(data, dict):
        raise PolicyFileError(f"{path}: a policy file must be a YAML mapping")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errs = [f"field {_field_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
        raise PolicyFileError(f"{path}: {'; '.join(errs[:3])}{more}") from exc
    if policy.id != path.stem:
        raise PolicyFileError(f"{path}: field id: {policy.id!r} must match the file name")
    policy._sha256 = hashlib.sha256(raw).hexdigest()
    policy._path = path
    return policy


_CACHE: dict[tuple[Any, ...], dict[str, Policy]] = {}


def load_policies(directory: Path | str | None = None) -> dict[str, Policy]:
    """All policies of a folder (default: ``policies_dir()``), by id, cached until a file's
    bytes change. ``unknown`` must be present: it is the fallback."""
    folder = Path(directory) if directory is not None else policies_dir()
    if not folder.is_dir():
        raise ConfigError(f"policy folder not found: {folder}")
    files = sorted(p for p in folder.glob("*.yaml") if p.name not in NOT_POLICIES)
    # Keyed on the bytes, not mtimes: a same-size edit within one mtime tick must still
    # change the hash that records carry. Reading ~100 kB of YAML costs well under 1 ms.
    key = (str(folder), *((p.name, hashlib.sha256(p.read_bytes()).digest()) for p in files))
    if key in _CACHE:
        return _CACHE[key]
    policies = {p.id: p for p in (load_policy_file(f) for f in files)}
    if UNKNOWN_ID not in policies:
        raise PolicyFileError(f"{folder}: no {UNKNOWN_ID}.yaml (the fallback policy)")
    for field in ("covers", "hosts"):
        seen: dict[str, str] = {}
        for pol in policies.values():
            for pattern in getattr(pol, field):
                other = seen.setdefault(pattern.lower(), pol.id)
                if other != pol.id:
                    raise PolicyFileError(
                        f"{pol.path}: field {field}: {pattern!r} is also claimed by {other}"
                    )
    _CACHE.clear()
    _CACHE[key] = policies
    return policies


def get_policy(policy_id: str, directory: Path | str | None = None) -> Policy:
    policies = load_policies(directory)
    if policy_id not in policies:
        known = ", ".join(sorted(policies))
        raise ConfigError(f"unknown policy {policy_id!r} (known: {known})")
    return policies[policy_id]


# ---------------------------------------------------------------- resolution


def _model_name(model: str) -> str:
    """The model name after the provider prefix(es), lower-cased: 'local/SmolLM2' -> 'smollm2'."""
    return model.strip().lower().rsplit("/", 1)[-1]


def _specificity(pattern: str) -> tuple[int, int]:
    literal = sum(1 for c in pattern if c not in "*?[]")
    return (literal, len(pattern))


def explain_resolution(
    model: str, api_base: str | None = None, directory: Path | str | None = None
) -> Any:
    """The :class:`generator.policy_resolve.Resolution` of ``model`` reached at ``api_base``
    (settings from the environment). Kept here for the callers that import it from here."""
    from generator.policy_resolve import resolve

    return resolve(model, api_base, directory)


def resolve_policy(
    model: str, api_base: str | None = None, directory: Path | str | None = None
) -> Policy:
    """The policy a record is tagged with: the first (host) layer of the resolution."""
    return explain_resolution(model, api_base, directory).policy


# ---------------------------------------------------------------- verdicts and staleness


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
