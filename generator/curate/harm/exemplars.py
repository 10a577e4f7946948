"""The bundled exemplars of the harmful-content classifier: a validated data file.

``generator/curate/data/harm_exemplars.jsonl`` holds one exemplar a line: clear requests for
serious harm with their category, and benign look-alikes from technical and workplace text
("kill the hung process", "shoot the product on a turntable"). It is loaded into pydantic
models with ``extra="forbid"``: a bad line fails at load time with its path and line number.
The classifier is fitted on these and nothing else; the labelled evaluation set in
``tests/curate/data/`` is separate text.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from generator.curate.harm.cues import CATEGORIES
from generator.errors import ConfigError

EXEMPLARS = Path(__file__).resolve().parent.parent / "data" / "harm_exemplars.jsonl"


class Exemplar(BaseModel):
    """One line: a harmful request with its category, or a benign look-alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal["harmful", "benign"]
    category: str | None = None
    text: str = Field(min_length=8, max_length=400)
    # The writing round (1 = first). Rounds 2 and 3 were written together, before the
    # classifier was measured on either; benchmarks/bench_harm.py --holdout fits on all
    # rounds but one and measures the held-out one (how far new phrasings generalise).
    # Round 10 broadens the benign side by whole areas (games, sport, fiction, news,
    # parenting, first aid, safe storage, pests, hunting, training, harm reduction, idioms);
    # round 11 was written after round 10 had been held out and measured.
    batch: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _category_matches_label(self) -> Exemplar:
        if self.label == "harmful" and self.category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}")
        if self.label == "benign" and self.category is not None:
            raise ValueError("benign exemplars have no category")
        return self


class ExemplarSet(BaseModel):
    """The loaded file: its exemplars and the sha256 of its bytes (its identity)."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    items: tuple[Exemplar, ...]

    @property
    def harmful(self) -> list[Exemplar]:
        return [e for e in self.items if e.label == "harmful"]


def read_jsonl(path: Path, model: type[BaseModel]) -> tuple[str, list[BaseModel]]:
    """(sha256, rows) of a JSONL file validated line by line; ConfigError names the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    rows = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(model.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            why = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '<line>'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}:{n}: invalid line: {why}") from exc
    return hashlib.sha256(data).hexdigest(), rows


@cache
def load_exemplars(path: Path = EXEMPLARS) -> ExemplarSet:
    """Load and validate an exemplar file (cached per path)."""
    sha, rows = read_jsonl(path, Exemplar)
    items = tuple(r for r in rows if isinstance(r, Exemplar))
    texts = [e.text for e in items]
    if len(set(texts)) != len(texts):
        raise ConfigError(f"{path}: an exemplar text is listed twice")
    labels = {e.label for e in items}
    if labels != {"harmful", "benign"}:
        raise ConfigError(f"{path}: needs both harmful and benign exemplars")
    return ExemplarSet(path=str(path), sha256=sha, items=items)
