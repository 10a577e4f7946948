"""Written authorizations from a provider that lift a verdict its terms make conditional.

Some terms forbid a use "without prior authorization" (Anthropic's Usage Policy on training
with outputs) or "except as expressly approved". A policy file marks such a verdict
``authorizable: true``. When the provider has granted the use in writing, counsel records it
in ``authorizations.yaml`` (``INSTRUCTFORGE_AUTHORIZATIONS``, else the file of that name in
the policies folder): who granted it, to whom, when, for which uses and models, and the
document. A matching, unexpired entry turns that policy's verdict into the entry's
(``review`` or ``allow``) for that scope; nothing else changes, the weights' licence still
binds, and every export lists the entries it used with the file's sha256 in the manifest.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from generator.config import env, policies_dir
from generator.errors import PolicyFileError
from generator.policy_schema import _Strict
from generator.records import Use
from generator.yamlfile import read_yaml

AUTHORIZATIONS_FILE = "authorizations.yaml"


class Authorization(_Strict):
    """One written authorization: the provider's grant of a use for a scope."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    policy: str = Field(min_length=1)  # the policy whose verdict it lifts, e.g. anthropic
    uses: list[Use] = Field(min_length=1)
    models: list[str] = Field(default_factory=lambda: ["*"])  # globs on the model string
    verdict: Literal["review", "allow"]
    granted_by: str = Field(min_length=1)  # person and organisation who granted it
    granted_to: str = Field(min_length=1)
    date: date
    expires: date | None = None
    scope: str = Field(min_length=1)  # what the grant covers, in its own words
    document: str = Field(min_length=1)  # reference of the written grant (letter, contract)

    def covers(self, policy_id: str, use: str, model: str | None, today: date) -> bool:
        if self.policy != policy_id or use not in self.uses or today < self.date:
            return False
        if self.expires is not None and today > self.expires:
            return False
        name = (model or "").strip().lower()
        return any(fnmatch.fnmatchcase(name, g.lower()) for g in self.models)


class _File(_Strict):
    version: str = Field(min_length=1)
    authorizations: list[Authorization] = Field(default_factory=list)


@dataclass(frozen=True)
class Authorizations:
    """The loaded file (empty when there is none) and its identity for the manifest."""

    entries: tuple[Authorization, ...] = ()
    path: Path | None = None
    sha256: str = ""
    version: str = ""

    def check_against(self, policies: dict[str, Any]) -> None:
        """Each entry must name a known policy and only uses whose verdict that policy marks
        ``authorizable``: a grant the terms do not provide for must not pass silently."""
        for i, a in enumerate(self.entries):
            where = f"{self.path}: field authorizations.{i}"
            pol = policies.get(a.policy)
            if pol is None:
                raise PolicyFileError(f"{where}.policy: no policy {a.policy!r}")
            wrong = [u for u in a.uses if not pol.uses[u].authorizable]
            if wrong:
                raise PolicyFileError(
                    f"{where}.uses: {a.policy}'s terms make no authorization possible for "
                    f"{', '.join(wrong)} (no verdict marked authorizable)"
                )

    def find(
        self, policy_id: str, use: str, model: str | None, today: date
    ) -> Authorization | None:
        hits = [a for a in self.entries if a.covers(policy_id, use, model, today)]
        return hits[0] if hits else None


def authorizations_path(directory: Path | str | None = None) -> Path:
    explicit = env("INSTRUCTFORGE_AUTHORIZATIONS")
    if explicit:
        return Path(explicit)
    folder = Path(directory) if directory is not None else policies_dir()
    return folder / AUTHORIZATIONS_FILE


def load_authorizations(directory: Path | str | None = None) -> Authorizations:
    """The authorizations file, validated (a bad file fails with its path and field) against
    the policies of ``directory``; an absent default file means none. A file named by
    INSTRUCTFORGE_AUTHORIZATIONS must exist."""
    path = authorizations_path(directory)
    if not path.is_file():
        if env("INSTRUCTFORGE_AUTHORIZATIONS"):
            raise PolicyFileError(f"{path}: INSTRUCTFORGE_AUTHORIZATIONS names no file")
        return Authorizations()
    raw, data = read_yaml(path, PolicyFileError, "cannot read authorizations file")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise PolicyFileError(f"{path}: field {loc}: {err['msg']}") from exc
    ids = [a.id for a in parsed.authorizations]
    if len(ids) != len(set(ids)):
        raise PolicyFileError(f"{path}: field authorizations: ids must be unique")
    found = Authorizations(
        tuple(parsed.authorizations), path, hashlib.sha256(raw).hexdigest(), parsed.version
    )
    from generator.policies import load_policies  # policies imports this module's name

    found.check_against(load_policies(directory))
    return found
