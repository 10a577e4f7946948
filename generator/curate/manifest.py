"""What a curation was made from, and whether it still matches: ``curation/manifest.json``.

Each ``curate`` builds its output in a temporary folder beside ``RUN/curation`` and swaps
it in whole (:func:`swap_in`), so no file of an earlier curation survives a new one. The
manifest records the sha256 of the input records (the bytes read), of the resolved
settings and of ``curate.yaml`` itself, plus the sha256 of every file written.
:func:`stale_reasons` compares all of that with the run as it is now; export refuses
output that no longer matches, naming what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.export.writer import sha256_file as file_sha256  # the one streamed hash

MANIFEST = "manifest.json"
VERSION = 1
_TMP_PREFIX = ".curation-"


def config_sha256(config: Any) -> str:
    """sha256 of the resolved settings (every default filled in), key order fixed."""
    blob = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def resolve(path: str | None, overrides: dict[str, Any]) -> Any:
    """The settings ``curate`` resolves from ``path`` (None: defaults) and CLI overrides."""
    from generator.curate.config import load_config

    config = load_config(Path(path) if path else None)
    goal = overrides.get("report.goal")
    if goal is not None:
        config.report.goal = goal
    return config


def _where(path: Path, run_dir: Path) -> str:
    """``path`` relative to the run when inside it (the run can move), else absolute."""
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def input_info(source: Path, run_dir: Path) -> dict[str, Any]:
    """Taken before the records are read: a line appended meanwhile makes the run stale."""
    return {"path": _where(source, run_dir), "sha256": file_sha256(source)}


def config_info(
    config: Any, path: Path | None, overrides: dict[str, Any], *, given: bool = False
) -> dict[str, Any]:
    """Where the settings came from: ``file`` (curate.yaml), ``defaults`` or ``caller`` (an
    object a program passed in, ``given``)."""
    info: dict[str, Any] = {"sha256": config_sha256(config), "overrides": overrides}
    if given:
        info["source"] = "caller"
    elif path is not None:
        info.update(source="file", path=str(Path(path).resolve()), file_sha256=file_sha256(path))
    else:
        info["source"] = "defaults"
    return info


def write_manifest(out: Path, inputs: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Write ``out/manifest.json`` listing every file already in ``out`` with its sha256."""
    files = {
        p.name: file_sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    data = {"version": VERSION, "input": inputs, "config": config, "files": files}
    (out / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def staging_dir(run_dir: Path) -> Path:
    """A fresh folder beside ``RUN/curation`` (same file system: the swap is a rename)."""
    for old in run_dir.glob(f"{_TMP_PREFIX}*"):  # left behind by a killed curate
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=run_dir))


def swap_in(staged: Path, final: Path) -> None:
    """Replace ``final`` by ``staged`` as a whole; on failure the old folder is put back."""
    old = None
    if final.exists():
        old = final.with_name(f"{_TMP_PREFIX}old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(curation: Path) -> dict[str, Any] | None:
    path = curation / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); re-run `instructforge curate`") from exc
    return data if isinstance(data, dict) else None


def stale_reasons(run_dir: Path, used: list[str]) -> tuple[list[str], list[str]]:
    """(why ``RUN/curation`` no longer matches its run, warnings) for the files ``used``."""
    curation = run_dir / "curation"
    manifest = read_manifest(curation)
    if manifest is None:
        return [f"{curation} has no {MANIFEST} (made by hand or by an older version)"], []
    reasons, warnings = [], []
    for name in used:
        want = (manifest.get("files") or {}).get(name)
        path = curation / name
        if want is None or not path.is_file() or file_sha256(path) != want:
            reasons.append(f"curation/{name} was changed after curation")
    inp = manifest.get("input") or {}
    src = run_dir / inp.get("path", "records.jsonl")  # an absolute path stays absolute
    if not src.is_file():
        warnings.append(f"cannot check the curation against its input: {src} is gone")
    elif file_sha256(src) != inp.get("sha256"):
        reasons.append(f"{inp.get('path')} changed since curation (records added or edited)")
    reasons += _config_changes(manifest.get("config") or {})
    return reasons, warnings


def _config_changes(cfg: dict[str, Any]) -> list[str]:
    if cfg.get("source") == "caller":
        return []  # settings given as an object by a program: nothing on disk to compare
    path = cfg.get("path")
    if path is not None:
        if not Path(path).is_file():
            return [f"the curation settings file {path} is gone"]
        if file_sha256(Path(path)) != cfg.get("file_sha256"):
            return [f"the curation settings file {path} changed since curation"]
    try:
        now = config_sha256(resolve(path, cfg.get("overrides") or {}))
    except ConfigError as exc:
        return [f"the curation settings no longer load: {exc}"]
    if now != cfg.get("sha256"):
        return ["the resolved curation settings changed since curation (new defaults?)"]
    return []


def settings_of(run_dir: Path) -> Any:
    """The settings the run's current curation was made with, when they can be resolved."""
    manifest = read_manifest(run_dir / "curation") or {}
    cfg = manifest.get("config") or {}
    if cfg.get("source") not in ("file", "defaults"):
        return None
    try:
        return resolve(cfg.get("path"), cfg.get("overrides") or {})
    except ConfigError:
        return None
