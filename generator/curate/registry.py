"""The registry of curation steps, by name.

Each step module declares its config model and registers itself::

    @register_step("near_dedup", NearDedupConfig, order=50)
    class NearDedupStep(Step): ...

``curate.yaml`` then has a section per registered name (validated by that model) and a
``steps:`` list giving the order. Built-in modules are listed in :data:`BUILTIN_MODULES`
and imported on first use, so built-ins load the same way a plugin would; a plugin calls
:func:`register_step` at import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from generator.curate.base import Step
from generator.errors import ConfigError

#: modules that register built-in steps when imported; listing them here (not relying on
#: other imports) keeps the default step list the same however curation is entered
BUILTIN_MODULES = [
    "generator.curate.heuristics",
    "generator.curate.length",
    "generator.curate.exact_dedup",
    "generator.curate.near_dedup",
    "generator.curate.semantic_dedup",
    # Curation II
    "generator.curate.pii",
    "generator.curate.harmful",
    "generator.curate.freshness",
    "generator.curate.quality",
    "generator.curate.contradictions",
]


@dataclass
class StepContext:
    """What the pipeline offers a step factory beyond the step's own config."""

    run_dir: Path | None = None
    journal: Any = None  # generator.store.Journal when the run has one
    target_model: str | None = None  # the model the data is for (token counts, context)
    seed: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[BaseModel, StepContext], Step]


@dataclass(frozen=True)
class StepSpec:
    """A registered step: its name, config model, factory and default position."""

    name: str
    config_model: type[BaseModel]
    factory: Factory
    order: int = 100  # position in the default ``steps`` list (lower runs earlier)
    default: bool = True  # part of the default ``steps`` list


_REGISTRY: dict[str, StepSpec] = {}
_loaded = False


def register_step(
    name: str,
    config_model: type[BaseModel],
    *,
    order: int = 100,
    default: bool = True,
    factory: Factory | None = None,
) -> Callable[[type[Step]], type[Step]]:
    """Class decorator registering a step under ``name``.

    Without ``factory`` the step is built as ``cls(config)``; a factory receives the config
    and the :class:`StepContext` (for steps that need the journal or the target model).
    """

    def deco(cls: type[Step]) -> type[Step]:
        make = factory or (lambda cfg, _ctx: cls(cfg))  # type: ignore[call-arg]
        _REGISTRY[name] = StepSpec(name, config_model, make, order, default)
        return cls

    return deco


def load_builtins() -> None:
    """Import every built-in step module once (each registers itself)."""
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def specs() -> dict[str, StepSpec]:
    """Every registered step by name."""
    load_builtins()
    return dict(_REGISTRY)


def default_steps() -> list[str]:
    """The default ``steps`` order: registered defaults sorted by ``order`` then name."""
    chosen = [s for s in specs().values() if s.default]
    return [s.name for s in sorted(chosen, key=lambda s: (s.order, s.name))]


def build_step(name: str, config: BaseModel, ctx: StepContext) -> Step:
    """Instantiate the registered step ``name`` with its validated config."""
    spec = specs().get(name)
    if spec is None:
        raise ConfigError(f"curate: unknown step {name!r}; known: {', '.join(sorted(specs()))}")
    return spec.factory(config, ctx)
