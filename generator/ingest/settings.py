"""Ingest settings, and how a re-run keeps the ones a run was ingested with.

A run stores its ingest settings in the journal (``settings['ingest']``). Any later command
on the run (``ingest`` again, ``generate``) starts from them, so documents an earlier ingest
accepted are neither dropped (file size limits) nor chunked again (chunk size, overlap,
tokenizer). A value the user passes explicitly that differs from the stored one is refused
(exit 2, naming the stored value) unless they ask for new settings with ``--reingest``;
then every document is parsed and chunked again, and the command says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from generator.errors import ConfigError
from generator.ingest.archive import DEFAULT_MAX_UNZIPPED_MB, DEFAULT_MAX_ZIP_ENTRIES, ZipLimits
from generator.ingest.chunking import ChunkSettings
from generator.tokens import encoding_name

DEFAULT_MAX_FILE_MB = 50.0
SETTINGS_KEY = "ingest"

# setting -> the flag that sets it (for messages)
FLAGS = {
    "max_tokens": "--max-tokens",
    "overlap": "--overlap",
    "tokenizer": "--model (tokenizer)",
    "max_file_mb": "--max-file-mb",
    "max_unzipped_mb": "--max-unzipped-mb",
    "max_zip_entries": "--max-zip-entries",
}


def _positive(name: str, value: float) -> None:
    if not 0 < value < math.inf:  # also refuses NaN
        raise ConfigError(f"{name} must be a positive number")


@dataclass(frozen=True)
class IngestSettings:
    """Everything that decides what ``ingest`` produces."""

    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    max_file_mb: float = DEFAULT_MAX_FILE_MB
    max_unzipped_mb: float = DEFAULT_MAX_UNZIPPED_MB
    max_zip_entries: int = DEFAULT_MAX_ZIP_ENTRIES

    def __post_init__(self) -> None:
        _positive("--max-file-mb", self.max_file_mb)
        _positive("--max-unzipped-mb", self.max_unzipped_mb)
        _positive("--max-zip-entries", self.max_zip_entries)

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def zip_limits(self) -> ZipLimits:
        return ZipLimits(
            max_bytes=int(self.max_unzipped_mb * 1_000_000), max_entries=self.max_zip_entries
        )

    def values(self) -> dict[str, Any]:
        """The settings by name (the keys of :data:`FLAGS`)."""
        return {
            "max_tokens": self.chunks.max_tokens,
            "overlap": self.chunks.overlap,
            "tokenizer": self.chunks.encoding,
            "max_file_mb": self.max_file_mb,
            "max_unzipped_mb": self.max_unzipped_mb,
            "max_zip_entries": self.max_zip_entries,
        }

    def stored(self) -> dict[str, Any]:
        """What the journal keeps (``chunker`` is the key chunk ids depend on)."""
        return {"chunker": self.chunks.key(), **self.values()}

    @classmethod
    def build(cls, values: dict[str, Any]) -> IngestSettings:
        chunks = ChunkSettings(
            values["max_tokens"], values["overlap"], tokenizer=values["tokenizer"]
        )
        return cls(
            chunks, values["max_file_mb"], values["max_unzipped_mb"], values["max_zip_entries"]
        )


def stored_values(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The settings a run was ingested with, or None for a run never ingested. Runs from
    before the settings were stored one by one keep only the chunker key (``v2|800|100|
    cl100k_base``) and the file size limit: the rest are the defaults of that time."""
    if not stored or "chunker" not in stored:
        return None
    if "max_tokens" in stored:
        return {k: stored[k] for k in FLAGS}
    parts = str(stored["chunker"]).split("|")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return {
        "max_tokens": int(parts[1]),
        "overlap": int(parts[2]),
        "tokenizer": parts[3],
        "max_file_mb": float(stored.get("max_file_mb", DEFAULT_MAX_FILE_MB)),
        "max_unzipped_mb": DEFAULT_MAX_UNZIPPED_MB,
        "max_zip_entries": DEFAULT_MAX_ZIP_ENTRIES,
    }


def same_chunks(stored: dict[str, Any] | None, settings: IngestSettings) -> bool:
    """Whether chunks stored under ``stored`` are what ``settings`` would make (a newer
    chunker version alone does not count: re-runs never re-chunk on their own)."""
    old = stored_values(stored)
    new = settings.values()
    return old is not None and all(old[k] == new[k] for k in ("max_tokens", "overlap", "tokenizer"))


def resolve(
    stored: dict[str, Any] | None,
    asked: dict[str, Any],
    *,
    reingest: bool = False,
    model: str | None = None,
) -> tuple[IngestSettings, str]:
    """The settings for this command and a note to show (empty when nothing changes).

    ``asked`` holds only the values the user gave explicitly (keys of :data:`FLAGS`);
    ``model`` picks the tokenizer of a run ingested for the first time when none is asked.
    Raises ConfigError when ``asked`` differs from the stored settings without ``reingest``.
    """
    unknown = set(asked) - set(FLAGS)
    if unknown:
        raise ValueError(f"not ingest settings: {sorted(unknown)}")
    old = stored_values(stored)
    if old is None:
        values = IngestSettings().values() | {"tokenizer": encoding_name(model)} | asked
        return IngestSettings.build(values), ""
    changed = {k: (old[k], v) for k, v in asked.items() if old[k] != v}
    if not changed:
        return IngestSettings.build(old), ""
    listed = ", ".join(f"{FLAGS[k]} {a} (asked: {b})" for k, (a, b) in changed.items())
    if not reingest:
        raise ConfigError(
            f"this run was ingested with {listed}; pass --reingest to parse and chunk every "
            "document again with the new settings, or leave the flags out to keep them"
        )
    return IngestSettings.build(old | asked), (
        f"re-ingesting with new settings: {listed}; every document is parsed and chunked again"
    )
