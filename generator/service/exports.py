"""Exports as the API shows them: an export is an export job and the folder it wrote.

An export's id is its job's id; its files are those its ``manifest.json`` lists (name,
sha256, bytes, as the export stage recorded them) and the manifest itself, once the job is
``done``. A file is found only by a name from that list (nothing else under the folder is
reachable, so no name can climb out of it), must be a regular file (no symlink) and must
still have the size the manifest gives; anything else is 404 or 409, never another file.
The web app links downloads with :func:`download_path`.
"""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Connection

from generator.service import access
from generator.service import jobs as queue
from generator.service.errors import ApiError, not_found
from generator.service.runfiles import JobPaths
from generator.service.users import Principal

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportFile:
    name: str
    sha256: str
    bytes: int


def get_export(conn: Connection, eid: int, user: Principal) -> dict[str, Any]:
    """The export job ``eid`` (its row, JSON decoded), or 404 (unknown, not an export, or in
    a project the caller is not a member of)."""
    job = queue.get(conn, eid)
    if job is None or job["kind"] != "export":
        raise not_found(f"export {eid}")
    access.check(conn, user, job["project_id"], f"export {eid}")
    return job


def export_folder(data: Path, job: dict[str, Any]) -> Path:
    return JobPaths(data, job).export_dir


def files(data: Path, job: dict[str, Any]) -> list[ExportFile]:
    """The files of a finished export (none before it is done, or if it wrote none)."""
    if job["status"] != "done":
        return []
    folder = export_folder(data, job)
    manifest = folder / MANIFEST
    try:
        raw = manifest.read_bytes()
        listed = json.loads(raw)["files"]
        out = [ExportFile(str(f["name"]), str(f["sha256"]), int(f["bytes"])) for f in listed]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ApiError(409, f"export {job['id']}: its manifest cannot be read") from exc
    digest = hashlib.sha256(raw).hexdigest()
    return [*out, ExportFile(MANIFEST, digest, len(raw))]


def open_file(data: Path, job: dict[str, Any], name: str) -> tuple[Path, ExportFile]:
    """The path of the listed file ``name`` of the export, checked (404/409 otherwise)."""
    listed = {f.name: f for f in files(data, job) if _plain(f.name)}
    if name not in listed:
        raise not_found(f"file {name!r} of export {job['id']}")
    entry = listed[name]
    path = export_folder(data, job) / entry.name
    try:
        st = path.lstat()
    except OSError as exc:
        raise ApiError(409, f"export {job['id']}: {name} is missing on the server") from exc
    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.bytes:
        raise ApiError(409, f"export {job['id']}: {name} does not match its manifest")
    return path, entry


def _plain(name: str) -> bool:
    """A bare file name (a tampered manifest must not point outside the folder either)."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def download_path(eid: int, name: str) -> str:
    """The API path that downloads file ``name`` of export ``eid``."""
    return f"/api/v1/exports/{eid}/files/{quote(name, safe='')}"
