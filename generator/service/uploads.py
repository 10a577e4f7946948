"""Uploaded files (or a .zip) into a project's documents, then the ingest stage over them.

Every name is checked before anything is written (:func:`safe_name`): no absolute paths or
drive letters, no ``..``, no control characters, no hidden components, bounded length and
depth. Zip members get the same check (zip slip), and symlinks, device files, FIFOs and
encrypted members are refused; a member is copied as a stream and the archive's total
output is capped (its headers could lie). Files are staged in the project folder, moved into
``documents/`` under the project lock, and ingested with the stage's own functions
(``plan`` + ``ingest_entries`` on the project's journal), so each file gets exactly the
result ``instructforge ingest`` gives it. A file that does not ingest is not kept.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from generator.display import shown_path
from generator.ingest.archive import DEFAULT_MAX_UNZIPPED_MB, DEFAULT_MAX_ZIP_ENTRIES, size_text
from generator.ingest.base import reader_for
from generator.ingest.pipeline import INGESTED, UNCHANGED, FileResult, ingest_entries, plan
from generator.ingest.settings import SETTINGS_KEY, resolve
from generator.ingest.walk import ERROR, SKIPPED
from generator.store import Journal

MAX_PATH = 1000
MAX_PART = 255  # bytes, one component (common file system limit)
MAX_DEPTH = 32
MAX_FILES = 10_000  # per upload, zip members included
MAX_UNZIPPED = int(DEFAULT_MAX_UNZIPPED_MB * 1_000_000)
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_COPY = 1 << 16
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError)
OK = (INGESTED, UNCHANGED)


class UnsafeName(ValueError):
    """A name that must not become a path (the reason is the message)."""


def safe_name(raw: str) -> str:
    """``raw`` as a relative POSIX path inside a folder, or UnsafeName with the reason."""
    if not raw or not raw.strip():
        raise UnsafeName("empty file name")
    if _CONTROL.search(raw):
        raise UnsafeName("control character in the file name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeName("absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeName("'..' in the path")
    if not parts:
        raise UnsafeName("empty file name")
    if len(parts) > MAX_DEPTH or len(name) > MAX_PATH:
        raise UnsafeName("path too long")
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_PART for p in parts):
        raise UnsafeName("a name in the path is longer than 255 bytes")
    return "/".join(parts)


@dataclass
class Staged:
    """One uploaded file: where it waits (``tmp``), or why it was refused (``result``)."""

    rel: str
    tmp: Path | None = None
    result: FileResult | None = None


def _refused(name: str, reason: str, status: str = ERROR) -> Staged:
    shown = shown_path(name)
    return Staged(shown, result=FileResult(shown, "other", status, 0, 0, 0, reason))


def _check(raw: str) -> tuple[str | None, Staged | None]:
    """(safe relative name, None) or (None, the refusal)."""
    try:
        rel = safe_name(raw)
    except UnsafeName as exc:
        return None, _refused(raw, f"unsafe name: {exc}: not stored")
    if any(p.startswith(".") for p in rel.split("/")):
        return None, _refused(rel, "hidden file: not stored", SKIPPED)
    if reader_for(rel) is None:
        suffix = PurePosixPath(rel).suffix.lower() or "(none)"
        return None, _refused(rel, f"unknown type: {suffix}: not stored", SKIPPED)
    return rel, None


class Stager:
    """Writes the files of one upload into a private staging folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.items: list[Staged] = []
        self._names: set[str] = set()
        self._count = 0
        folder.mkdir(parents=True, exist_ok=False)

    def _take(self, raw: str) -> tuple[str | None, Staged | None]:
        self._count += 1
        if self._count > MAX_FILES:
            return None, _refused(raw, f"more than {MAX_FILES:,} files in one upload: not stored")
        rel, refused = _check(raw)
        if rel is not None and rel in self._names:
            return None, _refused(rel, "the same name twice in one upload: the first one is kept")
        return rel, refused

    def _write(self, rel: str, source: IO[bytes], cap: int | None = None) -> int:
        tmp = self.folder / f"{len(self.items):06d}"
        written = 0
        self.items.append(Staged(rel, tmp))  # first: a failed copy is dropped by _drop_last
        self._names.add(rel)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while buf := source.read(_COPY):
                written += len(buf)
                if cap is not None and written > cap:
                    break
                out.write(buf)
        return written

    def add_file(self, raw: str, source: IO[bytes]) -> None:
        """One uploaded file (a ``.zip`` is expanded instead, see :meth:`add_zip`)."""
        if raw.lower().endswith(".zip") and safe_name_or_none(raw):
            self.add_zip(raw, source)
            return
        rel, refused = self._take(raw)
        if refused:
            self.items.append(refused)
        else:
            assert rel is not None
            self._write(rel, source)

    def add_zip(self, raw: str, source: IO[bytes]) -> None:
        """Every regular member of the archive, each checked like an uploaded file."""
        shown = shown_path(raw)
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            self.items.append(_refused(raw, f"corrupt zip: {exc}"))
            return
        with archive:
            infos = archive.infolist()
            if len(infos) > DEFAULT_MAX_ZIP_ENTRIES:
                self.items.append(
                    _refused(raw, f"zip bomb: more than {DEFAULT_MAX_ZIP_ENTRIES:,} entries")
                )
                return
            budget = MAX_UNZIPPED
            for info in infos:
                if info.is_dir():
                    continue
                member = f"{shown}:{info.filename}"
                why = _member_refusal(info)
                if why:
                    self.items.append(_refused(info.filename, f"{why} (in {shown}): not extracted"))
                    continue
                rel, refused = self._take(info.filename)
                if refused:
                    self.items.append(refused)
                    continue
                assert rel is not None
                try:
                    with archive.open(info) as stream:
                        budget -= self._write(rel, stream, cap=budget)
                except _ZIP_ERRORS as exc:
                    self._drop_last(rel)
                    self.items.append(_refused(info.filename, f"corrupt member {member}: {exc}"))
                    continue
                if budget < 0:
                    self._drop_last(rel)
                    self.items.append(
                        _refused(
                            info.filename,
                            f"zip bomb: {shown} expands past {size_text(MAX_UNZIPPED)}: "
                            "this member and the rest not extracted",
                        )
                    )
                    return

    def _drop_last(self, rel: str) -> None:
        last = self.items.pop()
        self._names.discard(rel)
        if last.tmp is not None:
            last.tmp.unlink(missing_ok=True)


def safe_name_or_none(raw: str) -> str | None:
    try:
        return safe_name(raw)
    except UnsafeName:
        return None


def _member_refusal(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x1:
        return "encrypted zip member"
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # made on Unix: the mode says what it is
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            return "not a regular file (device, FIFO or socket)"
    return ""


@contextmanager
def project_lock(project_dir: Path) -> Iterator[None]:
    """One upload at a time per project, across processes on this machine."""
    project_dir.mkdir(parents=True, exist_ok=True)
    with open(project_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def staging_folder(project_dir: Path) -> Path:
    return project_dir / ".staging" / uuid.uuid4().hex


def _place(docs: Path, item: Staged) -> FileResult | None:
    """Move a staged file to its name under ``docs`` (a refusal if the name is taken by a folder
    or a parent is a file)."""
    assert item.tmp is not None
    dest = docs.joinpath(*item.rel.split("/"))
    parent = docs
    for part in item.rel.split("/")[:-1]:
        parent = parent / part
        if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
            return FileResult(item.rel, "other", ERROR, reason=f"{part!r} is a file, not a folder")
        parent.mkdir(exist_ok=True)
    if dest.is_symlink() or dest.is_dir():
        return FileResult(item.rel, "other", ERROR, reason="a folder already has this name")
    os.replace(item.tmp, dest)
    return None


def ingest_upload(project_dir: Path, staged: list[Staged]) -> list[FileResult]:
    """Place the staged files and ingest the project's documents; one result per upload item,
    in upload order. Call under :func:`project_lock`."""
    docs = project_dir / "documents"
    docs.mkdir(parents=True, exist_ok=True)
    placed: dict[str, FileResult | None] = {}
    for item in staged:
        if item.result is None:
            placed[item.rel] = _place(docs, item)
    with Journal(project_dir / "ingest") as journal:
        settings, _ = resolve(journal.get_setting(SETTINGS_KEY), {})
        by_path = {r.path: r for r in ingest_entries(plan(docs, settings), journal, settings)}
    results = []
    for item in staged:
        if item.result is not None:
            results.append(item.result)
            continue
        result = placed[item.rel] or by_path.get(item.rel)
        if result is None:  # the scan did not list it: never silently dropped
            result = FileResult(item.rel, "other", ERROR, reason="not found after upload")
        if placed[item.rel] is None and result.status not in OK:
            (docs / item.rel).unlink(missing_ok=True)  # only good documents are kept
        results.append(result)
    return results


def result_json(result: FileResult) -> dict[str, Any]:
    return asdict(result)


def clean(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
