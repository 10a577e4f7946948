"""``instructforge verify EXPORT_DIR``: prove an export folder is what ``export`` wrote.

The manifest seals the pack: ``files`` holds the sha256 and size of every file, and
``policy_files`` the sha256 of every file of the policies folder the gate read (and of the
``sources.yaml`` it applied); ``integrity.digest`` is the sha256 of the manifest's own
content (canonical JSON without ``integrity``). :func:`verify_pack` checks, in order, and
stops at the first difference (:class:`~generator.errors.PackAltered`, exit 3):

1. the manifest's digest (and ``--digest``: the sha256 of ``manifest.json`` as handed over,
   the anchor a forger cannot recompute);
2. every listed file's size and sha256; no file in the folder that the manifest omits;
3. the policy files (and sources file) against the ones used at export;
4. the gate, re-run on the provenance of every exported record (the meta sidecars, or the
   parquet ``meta`` column, found through the manifest): each must still be exported with
   the decision recorded beside it; row counts must agree;
5. the manifest's counts, policy verdicts and accepted reviews against the pack's records
   and ``excluded.jsonl``.

A check that cannot run is a finding: a pack exported with ``--no-meta`` fails step 4.
Records excluded at export are listed by id and reason only, so their exclusion is counted,
not re-judged (exclusion is the safe direction).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.config import policies_dir
from generator.errors import ConfigError, PackAltered
from generator.export.gate import Decision, Gate
from generator.export.pair_gate import rejudge
from generator.export.pair_texts import check_row
from generator.export.seal import INTEGRITY_KEY, content_digest, policy_file_hashes
from generator.export.writer import sha256_file
from generator.records import Meta
from generator.sources import SOURCES_FILE, load_sources

MANIFEST = "manifest.json"


@dataclass
class VerifyReport:
    """What a successful verification covered."""

    digest: str  # sha256 of manifest.json as it is on disk
    files: int
    records: int
    excluded: int
    policies_dir: Path


def _fail(message: str) -> PackAltered:
    return PackAltered(message)


def _load_manifest(out: Path) -> tuple[dict[str, Any], str]:
    path = out / MANIFEST
    if not out.is_dir():
        raise ConfigError(f"{out}: not a folder")
    if not path.is_file():
        raise _fail(f"{out}: no {MANIFEST}: not an instructforge export, or it was removed")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise _fail(f"{MANIFEST}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise _fail(f"{MANIFEST}: no list of files")
    return manifest, hashlib.sha256(raw).hexdigest()


def _check_digests(manifest: dict[str, Any], file_digest: str, expected: str | None) -> None:
    if expected and expected.strip().lower() != file_digest:
        raise _fail(
            f"{MANIFEST}: sha256 is {file_digest}, not the {expected.strip()} you were given"
        )
    sealed = (manifest.get(INTEGRITY_KEY) or {}).get("digest")
    if not sealed:
        raise _fail(f"{MANIFEST}: carries no integrity digest (exported by an older version?)")
    if sealed != content_digest(manifest):
        raise _fail(f"{MANIFEST}: its content was edited after export (digest differs)")


def _listed_path(out: Path, name: str) -> Path:
    """``out/name`` for a manifest entry; a name that leaves the folder is a finding."""
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts or name != rel.as_posix():
        raise _fail(f"{MANIFEST}: file entry {name!r} is not a path inside the export")
    return out / rel


def _check_files(out: Path, files: list[dict[str, Any]]) -> None:
    names = set()
    for info in files:
        name = str(info.get("name") or "")
        path = _listed_path(out, name)
        names.add(name)
        if not path.is_file():
            raise _fail(f"{name}: listed in the manifest but missing")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise _fail(f"{name}: {size} bytes, the manifest says {info.get('bytes')}")
        if sha256_file(path) != info.get("sha256"):
            raise _fail(f"{name}: sha256 differs from the manifest (edited after export)")
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel != MANIFEST and rel not in names:
            raise _fail(f"{rel}: in the export folder but not in the manifest")


def _check_policy_files(recorded: dict[str, Any] | None, directory: Path) -> Any:
    """Compare the policies folder with the one used at export; return the sources file."""
    if not recorded:
        raise _fail(f"{MANIFEST}: no policy_files: the policies used cannot be checked")
    now, then = policy_file_hashes(directory), recorded.get("files") or {}
    for name in sorted(set(now) | set(then)):
        if now.get(name) != then.get(name):
            state = "missing" if name not in now else ("new" if name not in then else "changed")
            raise _fail(
                f"policy file {name} is {state} in {directory} since the export: verify with "
                "--policies DIR holding the policy files the export used"
            )
    return recorded.get("sources")


def _load_sources(recorded: dict[str, Any] | None, given: Path | None) -> Any:
    if not recorded:
        return None
    path = given or Path(str(recorded.get("path")))
    if not path.is_file():
        raise _fail(f"sources file {path} applied at export is not found: pass --sources FILE")
    if sha256_file(path) != recorded.get("sha256"):
        raise _fail(f"sources file {path}: sha256 differs from the one applied at export")
    if path.name != SOURCES_FILE:
        raise ConfigError(f"--sources {path}: the file must be named {SOURCES_FILE}")
    return load_sources(path.parent)


def _data_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return len(data) if isinstance(data, list) else -1
    return sum(1 for line in text.splitlines() if line.strip())


def _examples(path: Path) -> Iterator[Any]:
    """The exported examples of a data file, in order: rows, or for JSON lines the raw
    lines (parsed only where a check reads them: :func:`_example`)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
        return
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        yield from data if isinstance(data, list) else ()
        return
    with path.open(encoding="utf-8") as fh:
        yield from (line for line in fh if line.strip())


def _example(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _meta_rows(out: Path, data: dict[str, Any], side: dict[str, Any] | None) -> Iterator[Any]:
    """(where, n, row) for each exported record of one data file: its line in the sidecar
    (one ``meta.jsonl`` for every split: the lines naming this file's split, numbered within
    it), or its parquet ``meta`` cell."""
    if side is not None:
        split, n = data.get("split"), 0
        with _listed_path(out, side["name"]).open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if side.get("split") is None and _split_of(line) not in (split, _UNREADABLE):
                    continue
                n += 1
                yield f"{side['name']} line {number}", n, line
        return
    path = _listed_path(out, data["name"])
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "meta" in table.column_names:
            for n, cell in enumerate(table.column("meta").to_pylist(), start=1):
                yield f"{data['name']} row {n} (meta)", None, cell
            return
    raise _fail(
        f"{data['name']}: no provenance beside it (exported with --no-meta?): the gate's "
        "decisions cannot be re-checked"
    )


_UNREADABLE = object()  # a sidecar line that is not JSON: every split reports it


def _split_of(line: str) -> object:
    try:
        row = json.loads(line)
    except ValueError:
        return _UNREADABLE
    return row.get("split") if isinstance(row, dict) else _UNREADABLE


def _outcome(verdict: str | None, exported_by_gate: bool) -> str:
    if verdict == "review":
        return "review-accepted" if exported_by_gate else "review"
    return str(verdict)


def _rejudge(out: Path, manifest: dict[str, Any], gate: Gate) -> tuple[Counter, Counter, int]:
    """Step 4: re-run the gate on every exported record; per-policy outcomes, per-split
    counts and the number of records."""
    files = manifest["files"]
    sidecars = {f.get("split"): f for f in files if f.get("kind") == "meta"}
    shared = sidecars.get(None)  # one sidecar for every split (writer.META_FILE)
    outcomes: Counter[tuple[str, str]] = Counter()
    per_split: Counter[str] = Counter()
    for data in (f for f in files if f.get("kind") == "data"):
        n = 0
        side = sidecars.get(data.get("split"), shared)
        examples = _examples(_listed_path(out, data["name"]))
        for where, line_no, raw in _meta_rows(out, data, side):
            example = next(examples, None)
            n += 1
            try:
                row = json.loads(raw)
                meta = Meta.model_validate(row["meta"])
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                raise _fail(f"{where}: not the provenance of a record ({exc})") from exc
            if line_no is not None and row.get("line") != line_no:
                raise _fail(f"{where}: says it describes example {row.get('line')}")
            if row.get("id") != meta.id:
                raise _fail(f"{where}: id {row.get('id')!r} differs from meta.id {meta.id!r}")
            try:  # a preference pair: each side from its own recorded provenance
                d: Decision = rejudge(gate, meta, row.get("provenance"))
            except ValueError as exc:
                raise _fail(f"{where} (record {meta.id}): {exc}") from exc
            if not d.exported:
                raise _fail(f"{where} (record {meta.id}): the gate now refuses it: {d.why}")
            if d.to_dict() != row.get("gate"):
                raise _fail(
                    f"{where} (record {meta.id}): recorded decision {row.get('gate')}, "
                    f"the gate gives {d.to_dict()}"
                )
            if meta.format == "preference":  # its texts against the journaled ones' sha256
                wrong = check_row((row.get("provenance") or {}).get("texts"), _example(example))
                if wrong:
                    raise _fail(f"{where} (pair {meta.id}): {wrong}")
            outcomes[(d.policy_id, _outcome(d.verdict, True))] += 1
        rows = _data_rows(_listed_path(out, data["name"]))
        if not rows == n == data.get("records"):
            raise _fail(
                f"{data['name']}: {rows} examples, {n} provenance rows, the manifest says "
                f"{data.get('records')}"
            )
        per_split[str(data.get("split"))] += n
    if shared is not None:  # no line of the shared sidecar outside every split
        lines = _data_rows(_listed_path(out, shared["name"]))
        if lines != sum(per_split.values()):
            raise _fail(
                f"{shared['name']}: {lines} provenance rows, {sum(per_split.values())} "
                "exported examples"
            )
    return outcomes, per_split, sum(per_split.values())


def _excluded_rows(out: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    name = (manifest.get("excluded") or {}).get("file")
    if not name or not _listed_path(out, name).is_file():
        raise _fail(f"{MANIFEST}: the list of excluded records is missing")
    text = _listed_path(out, name).read_text("utf-8")
    try:
        return [json.loads(x) for x in text.splitlines() if x.strip()]
    except ValueError as exc:
        raise _fail(f"{name}: not valid JSON lines ({exc})") from exc


def _same(what: str, claimed: Any, found: Any) -> None:
    if claimed != found:
        raise _fail(f"{MANIFEST}: {what} says {claimed}, the pack holds {found}")


def _check_counts(manifest: dict[str, Any], gate: Gate, rejudged: tuple, excluded: list) -> None:
    """Step 5: the manifest's figures against the records and exclusions of the pack."""
    outcomes, per_split, n = rejudged
    counts = manifest.get("counts") or {}
    for e in excluded:
        if e.get("policy") and e.get("stage") != "input":
            outcomes[(e["policy"], _outcome(e.get("verdict"), e.get("stage") != "gate"))] += 1
    by_policy: dict[str, dict[str, int]] = {}
    for (pid, outcome), k in sorted(outcomes.items()):
        by_policy.setdefault(pid, {})[outcome] = k
    _same("counts.exported", counts.get("exported"), n)
    _same("counts.exported_per_split", counts.get("exported_per_split"), dict(per_split))
    _same("counts.excluded", counts.get("excluded"), len(excluded))
    _same("counts.records_read", counts.get("records_read"), n + len(excluded))
    _same("counts.by_policy_and_verdict", counts.get("by_policy_and_verdict"), by_policy)
    stages = dict(Counter(e.get("stage") for e in excluded))
    _same("excluded.by_stage", (manifest.get("excluded") or {}).get("by_stage"), stages)
    use = gate.use
    for entry in manifest.get("policies") or []:
        pol = gate.policies.get(entry.get("id"))
        if pol is None:
            raise _fail(f"{MANIFEST}: policy {entry.get('id')!r} is not in the policies folder")
        _same(f"policies[{pol.id}].sha256", entry.get("sha256"), pol.sha256)
        _same(f"policies[{pol.id}].verdict", entry.get("verdict"), pol.uses[use].model_dump())
    accepted = {a["id"]: a.get("records") for a in manifest.get("accepted_reviews") or []}
    allowed = set((manifest.get("export") or {}).get("flags", {}).get("accept_review") or [])
    for key, k in gate.stats.accepted.items():
        if (accepted.get(key) or 0) < k:
            _same(f"accepted_reviews[{key}]", accepted.get(key), f"at least {k}")
    for key in accepted:
        if key not in {a.removeprefix("source:") for a in allowed}:
            raise _fail(f"{MANIFEST}: review of {key!r} accepted without --accept-review {key}")


def verify_pack(
    out: Path,
    *,
    policies: Path | None = None,
    sources: Path | None = None,
    digest: str | None = None,
) -> VerifyReport:
    """Re-check an export folder; raise PackAltered (exit 3) at the first difference."""
    manifest, file_digest = _load_manifest(out)
    _check_digests(manifest, file_digest, digest)
    _check_files(out, manifest["files"])
    export = manifest.get("export") or {}
    recorded_dir = Path(str(export.get("policies_dir") or ""))
    directory = policies or (recorded_dir if recorded_dir.is_dir() else policies_dir())
    src = _load_sources(_check_policy_files(manifest.get("policy_files"), directory), sources)
    flags = export.get("flags") or {}
    gate = Gate(
        str(flags.get("use")),
        tuple(flags.get("accept_review") or ()),
        bool(flags.get("strict")),
        directory,
        src,
    )
    rejudged = _rejudge(out, manifest, gate)
    excluded = _excluded_rows(out, manifest)
    _check_counts(manifest, gate, rejudged, excluded)
    return VerifyReport(file_digest, len(manifest["files"]), rejudged[2], len(excluded), directory)
