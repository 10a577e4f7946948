"""The seal ``export`` puts on a pack: the sha256 of the policy files the gate read, and the
digest of the manifest's own content. ``instructforge verify`` (verify.py) checks both."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from generator.config import policies_dir
from generator.export.writer import sha256_file

INTEGRITY_KEY = "integrity"


def content_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content: canonical JSON, without its ``integrity`` entry."""
    body = {k: v for k, v in manifest.items() if k != INTEGRITY_KEY}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its content digest added (the last key)."""
    digest = content_digest(manifest)
    how = "sha256 of the manifest as JSON without this entry, sorted keys, separators , :"
    return {**manifest, INTEGRITY_KEY: {"digest": digest, "algorithm": how}}


def policy_file_hashes(directory: Path | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every file in the policies folder (what the gate reads)."""
    folder = Path(directory) if directory else policies_dir()
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)  # hidden folders above it (.venv) do not count
        if path.is_file() and not any(part.startswith((".", "__")) for part in rel.parts):
            found[rel.as_posix()] = sha256_file(path)
    return found


def policy_files_entry(directory: Path | None, sources_file: str | None) -> dict[str, Any]:
    """The manifest's ``policy_files``: the policies folder's files and the sources file."""
    src = Path(sources_file) if sources_file else None
    return {
        "files": policy_file_hashes(directory),
        "sources": {"path": sources_file, "sha256": sha256_file(src)} if src else None,
    }
