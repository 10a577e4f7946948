"""``records.jsonl`` and ``rejected.jsonl``: appended as units commit, derived from the
journal.

The journal is the truth; a JSONL file is written only *after* the transaction that put its
lines in the journal commits. A process killed between the two leaves the file short (or
with a partial last line), never ahead; a lost WAL or a restored backup can leave it ahead.
:mod:`generator.generate.heal` makes the two agree before any command reads the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

RECORDS_FILE = "records.jsonl"
REJECTED_FILE = "rejected.jsonl"


class JsonlSink:
    """Appends lines to a JSONL file; flushes after each unit so a reader sees progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def write(self, lines: Iterable[str]) -> None:
        wrote = False
        for line in lines:
            self._fh.write(line + "\n")
            wrote = True
        if wrote:
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def read_jsonl(path: Path) -> Iterator[dict]:
    """Every valid JSON object of a JSONL file (for ``runs show`` and tests)."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
