"""``instructforge verify``: a pack with one edited byte anywhere fails (exit 3, the first
difference named); a forger who recomputes every hash is still caught by the gate re-run."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.config import policies_dir
from generator.errors import PackAltered
from generator.export.job import ExportOptions, run_export
from generator.export.seal import seal
from generator.export.verify import verify_pack
from generator.policies import load_policies
from tests.export._build import alpaca, chat, make_run, read_jsonl


def _export(tmp_path: Path, fmt: str = "alpaca", **kw) -> Path:
    pols = load_policies()
    train = [alpaca(i, pols["openai"]) for i in range(8)]
    train += [alpaca(20 + i, pols["mock"], model="mock/test") for i in range(2)]  # blocked
    val = [chat(30, pols["openai"]), chat(31, pols["openai"])]
    run, out = make_run(tmp_path, train, val), tmp_path / "pack"
    opts = ExportOptions(run, fmt, "internal-fine-tune", out, accept_review=("openai",), **kw)
    run_export(opts)
    return out


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return _export(tmp_path)


def _fails(out: Path, match: str, **kw) -> None:
    with pytest.raises(PackAltered, match=match) as info:
        verify_pack(out, **kw)
    assert info.value.exit_code == 3


def _flip_byte(path: Path, needle: bytes, replacement: bytes) -> None:
    data = path.read_bytes()
    assert needle in data and len(needle) == len(replacement)
    path.write_bytes(data.replace(needle, replacement, 1))


def _reseal(out: Path, change=None) -> None:
    """What a forger who knows the format does: change the manifest, recompute every file's
    hash and size, and seal the manifest again."""
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("integrity")
    if change:
        change(manifest)
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        f["sha256"], f["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    (out / "manifest.json").write_text(json.dumps(seal(manifest), indent=2))


def test_an_untouched_pack_verifies(pack) -> None:
    report = verify_pack(pack)
    assert report.records == 10 and report.excluded == 2
    manifest = json.loads((pack / "manifest.json").read_text())
    assert report.digest == hashlib.sha256((pack / "manifest.json").read_bytes()).hexdigest()
    assert set(manifest["policy_files"]["files"]) >= {"openai.yaml", "source_labels.yaml"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    names = {f["name"] for f in manifest["files"]}
    assert names | {"manifest.json"} == {p.name for p in pack.iterdir()}


@pytest.mark.parametrize(
    ("name", "needle", "replacement"),
    [
        ("train.jsonl", b"25 days", b"26 days"),
        ("meta.jsonl", b'"accepted": ["openai"]', b'"accepted": ["openaj"]'),
        ("meta.jsonl", b'"verdict": "review"', b'"verdict": "allow!"'),
        ("LEGAL_REVIEW.md", b"internal-fine-tune", b"internal-fine-tunE"),
        ("excluded.jsonl", b"block", b"bloc "),
        ("README.md", b"license", b"licensE"),
    ],
)
def test_one_edited_byte_in_any_file_fails(pack, name, needle, replacement) -> None:
    _flip_byte(pack / name, needle, replacement)
    _fails(pack, f"^{name}: sha256 differs")


def test_editing_a_decision_in_the_manifest_fails(pack) -> None:
    path = pack / "manifest.json"
    text = path.read_text()
    assert '"review-accepted": 10' in text
    path.write_text(text.replace('"review-accepted": 10', '"allow": 10', 1))
    _fails(pack, "manifest.json: its content was edited after export")


def test_a_manifest_other_than_the_one_handed_over_fails(pack) -> None:
    digest = verify_pack(pack).digest
    verify_pack(pack, digest=digest.upper())
    _reseal(pack, lambda m: m.update(exported_by="someone else"))
    verify_pack(pack)  # self-consistent again: only the out-of-band digest tells
    _fails(pack, "not the .* you were given", digest=digest)


def test_resealed_decision_edits_are_caught_by_the_gate(pack) -> None:
    def no_acceptance(m):
        m["export"]["flags"]["accept_review"] = []
        m["accepted_reviews"] = []

    _reseal(pack, no_acceptance)
    _fails(pack, r"meta.jsonl line 1 \(record rec-alpaca-0000\): the gate now refuses")


def test_resealed_counts_and_verdicts_are_caught(tmp_path) -> None:
    out = _export(tmp_path / "a")
    _reseal(out, lambda m: m["counts"]["by_policy_and_verdict"].update(openai={"allow": 10}))
    _fails(out, "counts.by_policy_and_verdict says")
    out = _export(tmp_path / "b")

    def allow(m):
        m["policies"][0]["verdict"]["verdict"] = "allow"

    _reseal(out, allow)
    _fails(out, r"policies\[\w+\].verdict says")


def test_a_smuggled_blocked_record_with_every_hash_recomputed_fails(pack) -> None:
    """A mock record (blocked for training) appended to the data and its sidecar, the
    manifest's counts and hashes updated to match: the gate re-run names it."""
    side = [m for m in read_jsonl(pack / "meta.jsonl") if m["split"] == "train"]
    smuggled = json.loads(json.dumps(side[0]))
    pol = load_policies()["mock"]
    smuggled["line"] = len(side) + 1
    smuggled["id"] = smuggled["meta"]["id"] = "rec-smuggled"
    smuggled["meta"].update(model="mock/test", provider="mock", policy=pol.ref().model_dump())
    with (pack / "meta.jsonl").open("a") as fh:
        fh.write(json.dumps(smuggled) + "\n")
    with (pack / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"instruction": "q", "input": "", "output": "a"}) + "\n")

    def counts(m):
        for f in m["files"]:
            if f["name"] in ("train.jsonl", "meta.jsonl"):
                f["records"] += 1
        m["counts"]["exported"] += 1

    _reseal(pack, counts)
    _fails(pack, r"meta.jsonl line 11 \(record rec-smuggled\): the gate now refuses")


def test_an_added_file_fails(pack) -> None:
    (pack / "extra.jsonl").write_text("{}\n")
    _fails(pack, "extra.jsonl: in the export folder but not in the manifest")


def test_a_missing_file_fails(pack) -> None:
    (pack / "validation.jsonl").unlink()
    _fails(pack, "validation.jsonl: listed in the manifest but missing")


def test_changed_policy_files_fail_unless_the_originals_are_given(pack, tmp_path) -> None:
    saved = tmp_path / "policies-at-export"
    shutil.copytree(policies_dir(), saved)
    edited = tmp_path / "policies-now"
    shutil.copytree(policies_dir(), edited)
    with (edited / "openai.yaml").open("a") as fh:
        fh.write("# edited\n")
    _fails(pack, "policy file openai.yaml is changed", policies=edited)
    assert verify_pack(pack, policies=saved).records == 10


def test_a_pack_without_provenance_fails_closed(tmp_path) -> None:
    out = _export(tmp_path, no_meta=True)
    _fails(out, "no provenance beside it")


def test_parquet_pack_verifies_from_its_meta_column(tmp_path) -> None:
    out = _export(tmp_path, fmt="parquet")
    assert verify_pack(out).records == 10


def test_verify_command_exit_codes(pack) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(pack)])
    assert ok.exit_code == 0, ok.output
    assert "10 records re-judged" in ok.output
    _flip_byte(pack / "train.jsonl", b"25 days", b"26 days")
    bad = runner.invoke(app, ["verify", str(pack)])
    assert bad.exit_code == 3
    assert "train.jsonl: sha256 differs" in bad.output
    assert "Traceback" not in bad.output


def test_a_manifest_entry_outside_the_pack_fails(pack) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest.pop("integrity")
    manifest["files"].insert(0, {"name": "../secret.txt", "sha256": "", "bytes": 0})
    (pack / "manifest.json").write_text(json.dumps(seal(manifest)))
    _fails(pack, "not a path inside the export")


def test_sidecars_in_a_subfolder_are_found_through_the_manifest(pack) -> None:
    """Sidecar names come from the manifest (another layout may move them)."""
    (pack / "meta").mkdir()
    (pack / "meta.jsonl").rename(pack / "meta" / "meta.jsonl")

    def move(m):
        for f in m["files"]:
            if f["kind"] == "meta":
                f["name"] = f"meta/{f['name']}"

    _reseal(pack, move)
    assert verify_pack(pack).records == 10
    (pack / "meta" / "stray.jsonl").write_text("{}\n")
    _fails(pack, "meta/stray.jsonl: in the export folder but not in the manifest")


def test_policy_files_under_a_hidden_folder_are_still_hashed(tmp_path) -> None:
    """An installed package lives under .venv/: its policy files must not be skipped."""
    from generator.export.seal import policy_file_hashes

    hidden = tmp_path / ".venv" / "policies"
    shutil.copytree(policies_dir(), hidden)
    (hidden / ".swp").write_text("editor file")
    found = policy_file_hashes(hidden)
    assert "openai.yaml" in found and ".swp" not in found
    assert found == policy_file_hashes(policies_dir())


@pytest.mark.slow
def test_verify_as_a_real_subprocess(pack) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    def run() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "generator.cli", "verify", str(pack)]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)

    ok = run()
    assert ok.returncode == 0, ok.stderr
    _flip_byte(pack / "LEGAL_REVIEW.md", b"internal-fine-tune", b"internal-fine-tunE")
    bad = run()
    assert bad.returncode == 3
    assert bad.stderr.strip() == (
        "instructforge: error: LEGAL_REVIEW.md: sha256 differs from the manifest "
        "(edited after export)"
    )
