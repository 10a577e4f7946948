"""Recursive scan of a document folder: what to read, and why everything else is left out.

Rules, each giving one listed reason: hidden files and folders (name starting with ``.``) are
skipped; so are files of a type no reader handles, and anything that is not a regular file.
Symbolic links are followed only when they stay inside the folder (a link to a folder inside
it is not followed either: that folder is scanned in its own place). Empty files, files
above the size limit and names that are not valid UTF-8 (listed with the bad bytes as
``\\xff``; a folder so named is listed once, not entered) are errors. Content checks
(binary data with a text extension, the text's real encoding) happen when the file is read
(:func:`generator.ingest.text.decode_text`).
The scan holds paths only, never file contents, and yields in a stable (sorted) order.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.display import shown_path
from generator.ingest.archive import size_text
from generator.ingest.base import Reader, reader_for

SKIPPED = "skipped"  # left out on purpose (hidden, unknown type, symlink leaving the folder)
ERROR = "error"  # a file we should read but cannot (empty, too large, broken link)


@dataclass(frozen=True)
class Entry:
    """One file (or skipped folder) found by the scan."""

    rel: str  # relative to the scanned folder, POSIX separators
    path: Path
    type: str  # reader name (txt, md, html, pdf, docx) or "other"
    size: int = 0
    reader: Reader | None = None
    kind: str | None = None  # None: to be read; else SKIPPED or ERROR
    reason: str = ""


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(rel: str) -> str:
    """``rel`` as the journal can hold it: a name that is not UTF-8 in its escaped form."""
    return rel if _valid_name(rel) else shown_path(rel)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def scan(root: str | Path, *, max_bytes: int, exclude: Path | None = None) -> Iterator[Entry]:
    """Every file under ``root`` in sorted order, each either readable or with its reason.
    ``exclude`` (the run folder, when it lies inside ``root``) is listed, not scanned."""
    base = Path(root)
    real_root = os.path.realpath(base)
    real_exclude = os.path.realpath(exclude) if exclude is not None else None
    stack: list[tuple[Path, str]] = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Entry(
                prefix.rstrip("/") or ".",
                folder,
                "other",
                kind=ERROR,
                reason=f"unreadable folder: {exc.strerror or exc}",
            )
            continue
        subdirs: list[tuple[Path, str]] = []
        for item in items:
            rel = prefix + item.name
            if real_exclude and os.path.realpath(item.path) == real_exclude:
                yield Entry(
                    _storable(rel), Path(item.path), "other", kind=SKIPPED, reason="the run folder"
                )
                continue
            entry = _classify(item, rel, real_root, max_bytes)
            if entry is None:  # a folder to descend into
                subdirs.append((Path(item.path), rel + "/"))
            else:
                yield entry
        stack.extend(reversed(subdirs))


def _classify(item: os.DirEntry[str], rel: str, real_root: str, max_bytes: int) -> Entry | None:
    path = Path(item.path)
    if item.name.startswith("."):
        what = "folder" if item.is_dir(follow_symlinks=False) else "file"
        return Entry(_storable(rel), path, "other", kind=SKIPPED, reason=f"hidden {what}")
    if not _valid_name(item.name):
        what = "folder" if item.is_dir(follow_symlinks=False) else "file"
        reason = f"{what} name is not valid UTF-8: rename it to ingest it"
        return Entry(shown_path(rel), path, "other", kind=ERROR, reason=reason)
    if item.is_symlink():
        target = os.path.realpath(path)
        if not os.path.exists(target):
            return Entry(rel, path, "other", kind=ERROR, reason="broken symlink")
        if not _inside(target, real_root):
            return Entry(
                rel, path, "other", kind=SKIPPED, reason="symlink leaves the folder: not followed"
            )
        if os.path.isdir(target):
            return Entry(
                rel,
                path,
                "other",
                kind=SKIPPED,
                reason="symlink to a folder inside: scanned in its own place",
            )
    elif item.is_dir(follow_symlinks=False):
        return None
    try:
        st = path.stat()
    except OSError as exc:
        return Entry(rel, path, "other", kind=ERROR, reason=f"unreadable: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return Entry(rel, path, "other", kind=SKIPPED, reason="not a regular file")
    reader = reader_for(item.name)
    if reader is None:
        suffix = Path(item.name).suffix.lower() or "(none)"
        return Entry(rel, path, "other", st.st_size, kind=SKIPPED, reason=f"unknown type: {suffix}")
    if st.st_size == 0:
        return Entry(rel, path, reader.name, 0, reader, ERROR, "empty file: 0 bytes")
    if st.st_size > max_bytes:
        return Entry(
            rel,
            path,
            reader.name,
            st.st_size,
            reader,
            ERROR,
            f"too large: {size_text(st.st_size)} is above the limit of {size_text(max_bytes)}",
        )
    return Entry(rel, path, reader.name, st.st_size, reader)
