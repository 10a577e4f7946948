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
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from generator.config import policies_dir
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
from generator.policy_verdicts import (
    DEFAULT_MAX_AGE_DAYS,
    Verdict,
    combine_host_and_licence,
    default_max_age_days,
    family_verdict,
    is_stale,
    stale_warning,
    verdict,
)
from generator.records import Ref, Use
from generator.yamlfile import read_yaml

UNKNOWN_ID = "unknown"
LOCAL_ID = "local"
# Live in the policies folder but are not policies (generator/sources.py, policy_auth.py).
SOURCE_LABELS_FILE = "source_labels.yaml"
NOT_POLICIES = (SOURCE_LABELS_FILE, AUTHORIZATIONS_FILE)
# A policy's verdicts and staleness live in policy_verdicts.py; imported from here too.
__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "LOCAL_ID",
    "NOT_POLICIES",
    "SOURCE_LABELS_FILE",
    "UNKNOWN_ID",
    "VERDICTS",
    "Policy",
    "Verdict",
    "combine_host_and_licence",
    "default_max_age_days",
    "explain_resolution",
    "family_verdict",
    "get_policy",
    "is_stale",
    "load_policies",
    "load_policy_file",
    "resolve_policy",
    "stale_warning",
    "verdict",
]


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
