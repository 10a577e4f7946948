"""The schema of a policy file's parts (clauses, terms, per-use verdicts, model families).

``generator.policies`` assembles them into ``Policy`` and re-exports them; every model
forbids unknown keys so a typo in a policy file fails at load with its field.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator.records import USES, Use

VerdictName = Literal["allow", "review", "block"]
VERDICTS: tuple[str, ...] = ("allow", "review", "block")  # in order of strictness
# How a policy's ``models`` families combine with its own ``uses`` (``Policy.host_terms``):
# "apply": a hosting service stands between us and the weights, so its terms (the policy's
# ``uses``) and the family's licence both bind and the stricter verdict wins; "none": the
# weights run on our machines, so the family's licence alone decides.
HostTerms = Literal["apply", "none"]
# Whose models a policy's service serves: "own" (the maker's API: OpenAI, Anthropic, Model
# Studio ...) or "others" (a host or cloud reseller: Together, Groq, Bedrock ...), whose terms
# are combined with the terms of the model's maker or the licence of its weights.
Serves = Literal["own", "others"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_line(value: str) -> str:
    if "\n" in value.strip():
        raise ValueError("must be one line")
    return value.strip()


class Clause(_Strict):
    """One clause of the terms: what it says (summary), a short quote, where, and the URL."""

    summary: str = Field(min_length=1)
    quote: str | None = None  # short verbatim phrase(s) from the terms
    ref: str | None = None  # section number or heading
    url: str | None = None


class CompetingModels(Clause):
    """Restriction on using output to develop models that compete with the provider."""

    restriction: Literal["forbidden", "restricted", "none", "unclear"]


class TrainingOnInputs(Clause):
    """Whether the provider trains on API inputs/outputs by default."""

    default: Literal["yes", "no", "opt-out", "opt-in", "unclear", "not-applicable"]


class Clauses(_Strict):
    output_ownership: Clause
    competing_models: CompetingModels
    attribution: Clause
    inputs_used_for_training_by_default: TrainingOnInputs
    other: list[Clause] = Field(default_factory=list)


class Terms(_Strict):
    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    effective_date: date | Literal["unknown"]


class UseVerdict(_Strict):
    """The verdict for one intended use, a one-line reason, the clause and its URL."""

    verdict: VerdictName
    reason: str = Field(min_length=1)
    clause: str = Field(min_length=1)
    url: str = Field(min_length=1)
    # The clause itself allows an exception granted in writing ("without prior authorization",
    # "except as expressly approved"): an entry of authorizations.yaml may then lift this
    # verdict for its scope (generator/policy_auth.py). False: nothing on our side can.
    authorizable: bool = False

    _one_line_reason = field_validator("reason")(_one_line)


def _all_uses(value: dict[str, UseVerdict]) -> dict[str, UseVerdict]:
    missing = [u for u in USES if u not in value]
    if missing:
        raise ValueError(f"missing verdicts for uses: {', '.join(missing)}")
    return value


class DomicileRule(_Strict):
    """A licence that grants no rights to licensees domiciled in some regions (Llama 3.2
    Vision, Llama 4: the EU). The ``domicile`` setting decides: inside -> ``block``; unset ->
    ``review`` at best; elsewhere -> the family's own verdicts."""

    excluded: list[str] = Field(min_length=1)  # region codes, e.g. ["EU"]
    reason: str = Field(min_length=1)
    clause: str = Field(min_length=1)
    url: str = Field(min_length=1)
    quote: str | None = None


class ModelFamily(_Strict):
    """An open-weights model family and its licence's verdicts: alone when we run the weights
    (``host_terms: none``), else combined with the host's terms (the stricter wins)."""

    licence: str = Field(min_length=1)
    licence_url: str = Field(min_length=1)
    upstream: list[str] = Field(min_length=1)  # upstream model names (e.g. Hugging Face ids)
    source: str = Field(min_length=1)  # where the bytes we run come from
    sha256: str | None = None  # pinned hash of the weights file, when we ship one
    note: str = ""
    uses: dict[Use, UseVerdict]
    domicile: DomicileRule | None = None

    _uses_complete = field_validator("uses")(_all_uses)
