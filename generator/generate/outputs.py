"""``records.jsonl`` and ``rejected.jsonl``: appended as units commit, derived from the
journal.

The journal is the truth; a JSONL file is written only *after* the transaction that put its
lines in the journal commits. A process killed between the two leaves the file short (or
with a partial last line), never ahead. :func:`reconcile` repairs that on the next start:
it drops a partial last line, then appends, in commit order, every journal line whose id
the file lacks. Lines are never duplicated because ids already present are skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

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
    added, batch = 0, []
    sink = JsonlSink(path)  # whole lines only, even on a full disk
    try:
        for rid, line in journal_lines:
            if rid not in have:
                batch.append(line)
                added += 1
                if len(batch) >= 1000:
                    sink.write(batch)
                    batch = []
        sink.write(batch)
    finally:
        sink.close()
    return added


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
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):  # truncating frees space: it does not fail
                os.ftruncate(self._fd, start)
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc

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
