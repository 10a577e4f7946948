"""Self-Instruct seeding: seed tasks from a JSONL file and in-context example sampling.

Without ``--seeds`` a run uses generic seed tasks bundled in ``prompts/seeds/generic.jsonl``
(summarising, extracting, classifying, rewriting, drafting... over self-contained inputs,
about no organisation in particular), never the sample company's ``samples/seed_tasks.jsonl``:
examples about someone else's company would pull a user's run towards it. The run says which
seeds it used (:func:`describe_seeds`, printed and kept in ``config.json``).

A seed file holds one task a line, either flat Alpaca form
``{"instruction", "input", "output"}`` or the Self-Instruct form
``{"instruction", "instances": [{"input", "output"}, ...]}`` (the first instance is used);
other keys (id, name, category...) are ignored.
Each request shows ``k`` examples: up to ``n_from_pool`` machine-made ones once the pool
has some, the rest from the seeds, shuffled (as Self-Instruct does). Randomness always comes
from a ``random.Random`` passed in; :func:`rng_for` derives a stable one per work item so a
resumed run asks the same questions.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator import config
from generator.errors import ConfigError


class Example(BaseModel):
    """One in-context example (a seed task or an accepted machine instruction)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str = Field(min_length=1, pattern=r"\S")
    input: str = ""
    output: str = Field(min_length=1, pattern=r"\S")

    def as_dict(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}


def default_seeds_path() -> Path:
    """The generic seed tasks used when a run names none."""
    return config.prompts_dir() / "seeds" / "generic.jsonl"


def describe_seeds(path: str | Path | None, seeds: Sequence[Example]) -> str:
    """One line saying which seed tasks a run uses."""
    default = default_seeds_path()
    if path is None or Path(path).resolve() == default.resolve():
        return (
            f"{len(seeds)} generic seed tasks bundled with instructforge ({default}); "
            "--seeds FILE gives tasks from your own domain"
        )
    return f"{len(seeds)} seed tasks from {path}"


def _example(data: Any) -> Example:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "instances" in data:  # Self-Instruct seed_tasks.jsonl layout
        instances = data["instances"]
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            raise ValueError("'instances' must be a non-empty list of objects")
        first = instances[0]
        return Example(
            instruction=data.get("instruction", ""),
            input=first.get("input", "") or "",
            output=first.get("output", ""),
        )
    fields = {k: data[k] for k in ("instruction", "input", "output") if k in data}
    return Example(**fields)


def load_seeds(path: str | Path | None = None) -> list[Example]:
    """Read seed tasks (default: the generic ones). A bad line is a ConfigError
    naming the file and line; duplicates (same instruction) are kept once."""
    path = Path(path) if path is not None else default_seeds_path()
    if not path.is_file():
        raise ConfigError(f"{path}: seed task file not found")
    seeds: list[Example] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                ex = _example(json.loads(line))
            except (json.JSONDecodeError, ValidationError, ValueError) as exc:
                detail = " ".join(str(exc).split())[:200]
                raise ConfigError(f"{path}:{lineno}: invalid seed task: {detail}") from exc
            if ex.instruction not in seen:
                seen.add(ex.instruction)
                seeds.append(ex)
    if not seeds:
        raise ConfigError(f"{path}: no seed tasks")
    return seeds


def seeds_sha256(seeds: Sequence[Example]) -> str:
    """Content hash of a seed set (an output-affecting setting of a run)."""
    blob = "\n".join(json.dumps(s.as_dict(), sort_keys=True) for s in seeds)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def rng_for(*parts: str) -> random.Random:
    """A random generator seeded from ``parts`` (run seed, chunk id, call index...)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sample_examples(
    seeds: Sequence[Example],
    pool: Sequence[Example],
    rng: random.Random,
    k: int = 8,
    n_from_pool: int = 2,
) -> list[Example]:
    """k examples: min(n_from_pool, len(pool)) from the machine pool, the rest from the seeds
    (fewer if there are not enough), shuffled."""
    if k < 0 or n_from_pool < 0:
        raise ValueError("k and n_from_pool must be >= 0")
    # random.sample picks indexes of a sequence: O(k), whatever the pool's size.
    from_pool = rng.sample(pool, min(n_from_pool, len(pool), k))
    from_seeds = rng.sample(seeds, min(k - len(from_pool), len(seeds)))
    chosen = from_pool + from_seeds
    rng.shuffle(chosen)
    return chosen
