"""``records.jsonl`` and ``rejected.jsonl``: appended as units commit, derived from the
journal.

The journal is the truth; a JSONL file is written only *after* the transaction that put its
lines in the journal commits. A process killed between the two leaves the file short (or
with a partial last line), never ahead. :func:`reconcile` repairs that on the next start:
it drops a partial last line, then appends, in commit order, every journal line whose id
the file lacks. Lines are never duplicated because ids already present are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

RECORDS_FILE = "records.jsonl"
REJECTED_FILE = "rejected.jsonl"


def _truncate_partial_tail(path: Path) -> int:
    """Cut a last line that lacks its newline or is not valid JSON. Returns bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        # Find the start of the last line (scan back in blocks).
        pos, block, tail = size, 65536, b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            if tail.count(b"\n") >= 2 or pos == 0:
                break
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n") + 1  # start of last line inside ``tail``
        last = tail[cut:]
        ok = last.endswith(b"\n")
        if ok:
            try:
                json.loads(last)
            except ValueError:
                ok = False
        if ok:
            return 0
        new_size = pos + cut
        fh.truncate(new_size)
        return size - new_size


def _ids_in(path: Path) -> set[str]:
    ids: set[str] = set()
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a damaged line in the middle: keep it, the journal re-adds its id
            rid = data.get("meta", {}).get("id") if "meta" in data else data.get("id")
            if isinstance(rid, str):
                ids.add(rid)
    return ids


def reconcile(path: Path, journal_lines: Iterable[tuple[str, str]]) -> int:
    """Make ``path`` hold every journal line exactly once. Returns lines appended."""
    if not path.exists():
        path.touch()
    _truncate_partial_tail(path)
    have = _ids_in(path)
    added = 0
    with path.open("a", encoding="utf-8") as fh:
        for rid, line in journal_lines:
            if rid not in have:
                fh.write(line + "\n")
                added += 1
    return added


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
