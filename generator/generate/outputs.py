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

from generator.atomic import append_whole

RECORDS_FILE = "records.jsonl"
REJECTED_FILE = "rejected.jsonl"


class JsonlSink:
    """Appends whole lines to a JSONL file, one ``os.write`` batch per unit so a reader sees
    progress. A write that fails part-way (a full disk) is cut back to the last whole line
    before the error is raised: the file never ends in half a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, lines: Iterable[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if not data or self._fd is None:
            return
        append_whole(self._fd, data, self.path)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


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
