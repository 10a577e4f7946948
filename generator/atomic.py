"""Files that are whole or absent: written to a temp file beside the target, flushed to
disk, then renamed over it (``os.replace``). A crash, Ctrl-C or a full disk leaves the old
file (or none) and no temp file, never half of a new one that looks complete.

:func:`atomic_write` does one file; :class:`Staging` a set of files renamed into place
together only once every one of them is complete (an export, a curation). Files that grow
line by line (JSONL) use :func:`append_whole`: a failed append is cut back to the last whole
line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def temp_beside(path: Path) -> Path:
    """A new empty temp file in ``path``'s folder, with the permissions a plain ``open``
    would give (mkstemp's 0600 would surprise whoever shares the dataset)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def atomic_write(path: Path, fill: Callable[[Path], T]) -> T:
    """Call ``fill(tmp)`` to write a temp file beside ``path``, then rename it into place.
    On any failure the temp file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        result = fill(tmp)
        with tmp.open("rb+") as fh:  # the data must be on disk before the rename is
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def append_whole(fd: int, data: bytes, name: object) -> None:
    """Append ``data`` (whole lines) to the file open as ``fd`` (``O_APPEND``). A write that
    fails part-way (a full disk) is cut back to where it started, then raised as an OSError
    naming ``name``: the file never ends in half a line."""
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        with contextlib.suppress(OSError):  # truncating frees space: it does not fail
            os.ftruncate(fd, start)
        raise OSError(exc.errno, exc.strerror, str(name)) from exc


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


class Staging:
    """A set of output files written to temp files in ``out`` and renamed into place together
    by :meth:`commit`. Leaving the ``with`` block without a commit (an error, a refusal,
    Ctrl-C) removes every temp file: no partial export is ever left behind."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._tmp: dict[str, Path] = {}
        self._done = False

    def __enter__(self) -> Staging:
        self.out.mkdir(parents=True, exist_ok=True)
        return self

    def path(self, name: str) -> Path:
        """The temp file that will become ``out/name`` (created empty on first use)."""
        if name not in self._tmp:
            self._tmp[name] = temp_beside(self.out / name)
        return self._tmp[name]

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8", newline="\n")

    def names(self) -> list[str]:
        return list(self._tmp)

    def commit(self) -> None:
        for tmp in self._tmp.values():
            with tmp.open("rb+") as fh:  # the data must be on disk before the rename is
                os.fsync(fh.fileno())
        for name, tmp in self._tmp.items():
            os.replace(tmp, self.out / name)
        self._done = True

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            for tmp in self._tmp.values():
                tmp.unlink(missing_ok=True)
