"""The exporter contract and the registry of formats by name.

An exporter turns records (already through the licence gate) into the rows a trainer reads
and writes them to one file. It never chooses the file name: the export command does, from a
fixed list (``writer.output_name``), so no value inside a record decides where data lands.
Built-in formats register themselves on import, the same way a plugin would.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from generator.errors import ConfigError

Row = dict[str, Any]


class Exporter(ABC):
    """One output format.

    ``target`` is the record format rows are built from (``alpaca``, ``chat`` or
    ``completion``; records are converted to it first, see ``convert.py``); ``suffix`` is the
    file extension; ``meta_inline`` says whether ``meta`` goes into the data file itself
    (parquet column) instead of a sidecar.
    """

    name: ClassVar[str]
    target: ClassVar[str]
    suffix: ClassVar[str] = ".jsonl"
    meta_inline: ClassVar[bool] = False
    description: ClassVar[str] = ""
    reasoning: ClassVar[str] = "think"  # where --keep-reasoning puts it (reasoning.py)
    # the run's records this format exports: None (training data), "pairs" or "eval"
    reads: ClassVar[str | None] = None
    uses: ClassVar[tuple[str, ...]] = ()  # the only --use values it serves (empty: any)

    def __init__(self, system_prompt: str | None = None, with_meta: bool = True) -> None:
        self.system_prompt = system_prompt
        self.with_meta = with_meta

    def open(self, run: Path) -> None:  # noqa: B027 - optional hook
        """Read what :meth:`admit` needs from the run (before any record is judged)."""

    def admit(self, record: Any) -> str | None:
        """Why ``record`` may not go into this format (None: it may); an exclusion."""
        return None

    def extra_files(self, data_files: list[str]) -> dict[str, str]:
        """Files written beside the data (name -> text), e.g. an evaluation task config."""
        return {}

    def choose_target(self, record_formats: set[str]) -> str:
        """The record format rows are built from, given the formats present in the export."""
        return self.target

    @abstractmethod
    def row(self, data: Row) -> Row:
        """The trainer-facing object for one converted example (no ``meta``)."""

    def write(self, rows: Iterable[tuple[Row, Row | None]], tmp: Path) -> int:
        """Write ``(row, meta)`` pairs to ``tmp`` (a temp file the caller renames); return the
        number of rows. JSONL by default: one object a line, never a JSON array. ``meta`` is
        used only by formats with ``meta_inline``; the others get a sidecar file."""
        n = 0
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for row, _meta in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        return n


EXPORTERS: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make a format available under ``cls.name``."""
    if cls.name in EXPORTERS and EXPORTERS[cls.name] is not cls:
        raise ValueError(f"export format {cls.name!r} registered twice")
    EXPORTERS[cls.name] = cls
    return cls


def _load_builtins() -> None:
    # Imported for their @register side effect.
    from generator.export import (  # noqa: F401 - pairs and eval sets too
        alpaca,
        eval_export,
        openai_chat,
        parquet,
        preference,
        prompt_completion,
        sharegpt,
        trl_chat,
    )


def formats() -> list[str]:
    _load_builtins()
    return sorted(EXPORTERS)


def get_exporter(name: str, system_prompt: str | None = None, with_meta: bool = True) -> Exporter:
    """An exporter instance for a format name; unknown names are a usage error (exit 2)."""
    _load_builtins()
    if name not in EXPORTERS:
        raise ConfigError(f"unknown export format {name!r} (known: {', '.join(sorted(EXPORTERS))})")
    return EXPORTERS[name](system_prompt=system_prompt, with_meta=with_meta)
