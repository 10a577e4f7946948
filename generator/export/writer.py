"""Where export reads from and how it writes: input selection, atomic files, fixed names.

Input, in order of preference (the manifest says which was used):
``RUN/curation/train.jsonl`` + ``validation.jsonl`` (the curated split), else
``RUN/curation/curated.jsonl``, else ``RUN/records.jsonl``.

Every output file is written to a temp file in the same folder, flushed to disk, then
renamed over its final name (``os.replace``), so a crash or a full disk leaves either the old
file or the new one, never half of one (:mod:`generator.atomic`, shared with curation).
Output names come from a fixed list (split name + the format's suffix); nothing inside a
record ever decides a path.

Names are chosen so that Hugging Face ``datasets`` loads only the data:
``load_dataset("json", data_dir=DIR)`` picks files by split keywords (train, validation,
valid, val, dev, test, eval ... as a word of the name) and, when no file has one, takes every
file; a glob such as ``train*.jsonl`` takes what starts with the split. So the data files
are ``train`` / ``validation`` (a run without a split exports ``train``, as the Hub names an
unsplit dataset), and every other file (:func:`sidecar_names`: the provenance ``meta.jsonl``
of all splits, whose lines name their split and line, ``excluded.jsonl``, ``manifest.json``,
``LEGAL_REVIEW.md`` and the card ``README.md``) has no split word in its name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from generator.atomic import Staging, atomic_write, atomic_write_text  # noqa: F401 - re-exported
from generator.config import secret_env
from generator.errors import ConfigError
from generator.records import Record, parse_record

SPLITS = ("train", "validation", "test")  # unsplit records export as "train"; eval sets as "test"
# Every file of an export that is not data: the one place their names are defined.
META_FILE = "meta.jsonl"  # provenance of every exported example: {"split", "line", ...}
EXCLUDED_FILE = "excluded.jsonl"
MANIFEST_FILE = "manifest.json"
LEGAL_FILE = "LEGAL_REVIEW.md"
CARD_FILE = "README.md"


@dataclass(frozen=True)
class InputPlan:
    """Which files of the run are exported, as (split name, path)."""

    source: str  # human description for the manifest
    files: tuple[tuple[str, Path], ...]


def select_inputs(run: Path, reads: str | None = None) -> InputPlan:
    """The curated split if the run has one, else curated records, else raw records;
    ``reads`` "pairs" / "eval": the preference pairs or evaluation set of the run."""
    if reads is not None:
        path, split = run / reads / "records.jsonl", "test" if reads == "eval" else "train"
        if not path.is_file():
            cmd = "pairs" if reads == "pairs" else "evalset"
            raise ConfigError(f"{run}: no {reads}/records.jsonl (make it with instructforge {cmd})")
        return InputPlan(f"{reads}/records.jsonl", ((split, path),))
    cur = run / "curation"
    train, val = cur / "train.jsonl", cur / "validation.jsonl"
    if train.is_file() and val.is_file():
        return InputPlan(
            "curation/train.jsonl + curation/validation.jsonl (curated split)",
            (("train", train), ("validation", val)),
        )
    if (cur / "curated.jsonl").is_file():
        return InputPlan(
            "curation/curated.jsonl (curated, no split)", (("train", cur / "curated.jsonl"),)
        )
    if (run / "records.jsonl").is_file():
        return InputPlan("records.jsonl (not curated)", (("train", run / "records.jsonl"),))
    raise ConfigError(
        f"{run}: nothing to export: no curation/train.jsonl + validation.jsonl, "
        "curation/curated.jsonl or records.jsonl"
    )


def read_records(path: Path) -> Iterator[tuple[int, Record | None, str]]:
    """``(line number, record, "")`` for each valid line, ``(n, None, reason)`` for a bad one.
    Blank lines are skipped."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                yield n, parse_record(data), ""
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                yield n, None, f"{path.name} line {n}: invalid record: {loc}: {err['msg']}"
            except ValueError as exc:  # JSONDecodeError is a ValueError
                yield n, None, f"{path.name} line {n}: invalid record: {exc}"


def output_name(split: str, suffix: str) -> str:
    """The fixed file name of one split: ``train.jsonl``, ``validation.parquet``, ..."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return f"{split}{suffix}"


def sidecar_name(split: str) -> str:
    """The provenance file of ``split``: one ``meta.jsonl`` for every split (a name with a
    split word in it would be loaded as data); its lines carry ``split`` and ``line``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return META_FILE


def sidecar_names() -> tuple[str, ...]:
    """Every non-data file an export may write (none is ever loaded as data)."""
    return (META_FILE, EXCLUDED_FILE, MANIFEST_FILE, LEGAL_FILE, CARD_FILE)


def check_free(out: Path, names: list[str], force: bool) -> None:
    """Refuse (exit 2) before anything is written if any target file exists and no --force."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    taken = [n for n in names if (out / n).exists()]
    if taken and not force:
        raise ConfigError(
            f"{out}: would overwrite {', '.join(taken)}; choose another --out or pass --force"
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def secret_values() -> dict[str, str]:
    """Credential variables set in this environment (name -> value), to make sure none of
    their values ever lands in an exported file (values under 8 characters are not keys)."""
    return secret_env(min_length=8)


def find_secret(text: str, secrets: dict[str, str]) -> str | None:
    """The name of the first environment key whose value occurs in ``text``."""
    return next((var for var, value in secrets.items() if value in text), None)
