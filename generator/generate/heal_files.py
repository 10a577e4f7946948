"""The JSONL side of healing (:mod:`generator.generate.heal`): one scan of a file against the
ids the journal holds, then the journal's lines the file lacks written back, by appending
when nothing must go and by an atomic rewrite when lines must."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.atomic import append_whole, atomic_write
from generator.generate.journal import GenJournal

if TYPE_CHECKING:
    from generator.generate.heal import FileHeal


@dataclass
class FileScan:
    """One pass over a JSONL file: which lines stay, and what the journal lacks."""

    seen: set[str] = field(default_factory=set)
    drop: set[int] = field(default_factory=set)  # line numbers (0-based) to remove
    new: list[tuple[int, str, Any]] = field(default_factory=list)  # (n, line, parsed or None)
    needs_newline: bool = False  # the last line lacks its newline


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        yield from enumerate(fh)


def line_id(obj: Any, records: bool) -> str | None:
    """A record's ``meta.id``, or a rejection's ``id``."""
    if not isinstance(obj, dict):
        return None
    if records:
        meta = obj.get("meta")
        rid = meta.get("id") if isinstance(meta, dict) else None
    else:
        rid = obj.get("id")
    return rid if isinstance(rid, str) and rid else None


def scan_file(path: Path, known: set[str], records: bool, fh: FileHeal) -> FileScan:
    """One pass over ``path``: blank lines, a torn last line and repeated ids marked to
    drop (counted in ``fh``), the ids the journal already has (``known``) seen, and the
    lines it lacks collected for the caller to judge."""
    s = FileScan()
    if not path.exists():
        return s
    for n, raw in _lines(path):
        complete = raw.endswith(b"\n")
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.strip():
            s.drop.add(n)
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if obj is None and not complete:  # a torn write: cut it
            s.drop.add(n)
            fh.torn += 1
            continue
        s.needs_newline = not complete
        rid = line_id(obj, records)
        if rid is not None and rid in s.seen:
            s.drop.add(n)
            fh.duplicates += 1
        elif rid is not None and rid in known:
            s.seen.add(rid)
        elif records:  # not a record the journal holds: checked by the caller
            s.new.append((n, text, obj))
            if rid is not None:
                s.seen.add(rid)
        elif rid is not None and isinstance(obj, dict) and isinstance(obj.get("reason"), str):
            s.new.append((n, text, obj))
            s.seen.add(rid)
        # else: a line of rejected.jsonl that is not ours to judge: left where it is
    return s


def _rewrite(path: Path, scan: FileScan, extra: Iterable[str]) -> int:
    """Keep the file's lines not dropped, then ``extra``; atomically (a failure leaves the
    old file and no temp file). Returns extra lines."""

    def fill(tmp: Path) -> int:
        added = 0
        with tmp.open("wb") as out:
            if path.exists():
                for n, raw in _lines(path):
                    if n not in scan.drop:
                        out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            for line in extra:
                out.write(line.encode("utf-8") + b"\n")
                added += 1
        return added

    try:
        return atomic_write(path, fill)
    except OSError as exc:  # a buffered write or fsync names no file
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _append(path: Path, scan: FileScan, extra: Iterable[str]) -> int:
    """Append ``extra`` (after the newline the last line lacks); a failure (a full disk)
    leaves the file as it was."""
    lines = [line.encode("utf-8") + b"\n" for line in extra]
    data = (b"\n" if scan.needs_newline else b"") + b"".join(lines)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        append_whole(fd, data, path)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(lines)


def sync_file(path: Path, scan: FileScan, gj: GenJournal, table: str) -> int:
    """Write back the journal lines the file lacks; rewrite only if lines must go."""
    missing = (line for rid, line in gj.iter_lines(table) if rid not in scan.seen)
    if scan.drop:
        return _rewrite(path, scan, missing)
    first = next(missing, None)
    if first is None and not scan.needs_newline:
        return 0
    return _append(path, scan, [first, *missing] if first is not None else [])
