"""``curate.yaml``: the curation settings, validated with pydantic (``extra="forbid"``).

Every registered step (``curate/registry.py``) gets a section named after it, validated by
its own config model; ``steps:`` lists which run and in what order. Without a file every
default applies. Example::

    steps: [heuristics, length, exact_dedup, near_dedup, semantic_dedup]
    target_model: openai/gpt-4o-mini
    near_dedup: {threshold: 0.8}
    split: {validation_fraction: 0.1, group_by_source: true}
    report: {goal: domain}
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from generator.curate import registry
from generator.errors import ConfigError
from generator.yamlfile import read_yaml

Goal = Literal["style", "format", "domain", "capability"]


class SplitConfig(BaseModel):
    """``split:``: train/validation split, grouped so no cluster straddles the two."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    # 10% of a small set is a noisy loss: at least this many validation records, as long as
    # that is at most a fifth of the set.
    min_validation: int = Field(20, ge=0)
    # Keep all records of one source document on one side: validation then measures
    # answers about unseen documents, not paraphrases of trained ones.
    group_by_source: bool = False
    # Jaccard (shingles, as near_dedup) at which two records count as one group / a leak.
    near_threshold: float = Field(0.8, gt=0, le=1)


class ReportConfig(BaseModel):
    """``report:``: the curation report."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    plots: bool = True
    goal: Goal | None = None
    top_clusters: int = Field(5, ge=0)
    top_verbs: int = Field(15, ge=1)


class CurateConfig(BaseModel):
    """Top-level settings; :func:`config_model` adds one field per registered step."""

    model_config = ConfigDict(extra="forbid")

    steps: list[str] = Field(default_factory=registry.default_steps)
    # The model the data is meant for: picks the tokenizer and the context limit.
    target_model: str | None = None
    seed: int = 0
    # Cross-run call cache of the judge and moderation checks: "default"
    # ($XDG_CACHE_HOME/instructforge/calls), a folder, or "off".
    call_cache: str = "default"
    split: SplitConfig = Field(default_factory=SplitConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @model_validator(mode="after")
    def _known_steps(self) -> CurateConfig:
        known = registry.specs()
        unknown = [s for s in self.steps if s not in known]
        if unknown:
            raise ValueError(f"unknown steps {unknown}; known: {sorted(known)}")
        if len(set(self.steps)) != len(self.steps):
            raise ValueError("a step is listed twice")
        return self

    def step_config(self, name: str) -> BaseModel:
        """The validated section of step ``name``."""
        return getattr(self, name)

    def enabled_steps(self) -> list[str]:
        """The steps that run, in order (listed and not ``enabled: false``)."""
        return [s for s in self.steps if getattr(self.step_config(s), "enabled", True)]


@cache
def _model_for(names: tuple[str, ...]) -> type[CurateConfig]:
    specs = registry.specs()
    clash = set(names) & set(CurateConfig.model_fields)
    if clash:
        raise ConfigError(f"curate: step names clash with settings: {sorted(clash)}")
    fields: dict[str, Any] = {
        n: (specs[n].config_model, Field(default_factory=specs[n].config_model)) for n in names
    }
    return create_model("CurateConfig", __base__=CurateConfig, **fields)


def config_model() -> type[CurateConfig]:
    """The CurateConfig class with a section for every step registered now."""
    return _model_for(tuple(sorted(registry.specs())))


def parse_config(data: dict[str, Any] | None = None, source: str = "curate.yaml") -> CurateConfig:
    """Validate a settings mapping; a bad value fails with its field path."""
    try:
        return config_model().model_validate(data or {})
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(f"{source}: invalid settings: {'; '.join(lines)}") from exc


def load_config(path: Path | None = None) -> CurateConfig:
    """Read ``curate.yaml`` (safe YAML); None gives the defaults."""
    if path is None:
        return parse_config({})
    _, data = read_yaml(Path(path), ConfigError)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return parse_config(data, str(path))
