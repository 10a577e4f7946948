"""The licence gate: every shipped policy x every use against the files, review acceptance,
strict mode, tampered policies, source labels."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from generator.config import policies_dir
from generator.errors import ConfigError, ExportRefused
from generator.export.job import ExportOptions, run_export
from generator.policies import NOT_POLICIES, load_policies
from generator.records import USES, Ref
from tests.export._build import alpaca, make_run, read_jsonl


def _concrete(glob: str) -> str:
    """A model name matched by a glob: '*' and '?' become 'x', a [set] its first member."""
    name = re.sub(r"\[!?(.)[^\]]*\]", r"\1", glob)
    return name.replace("*", "x").replace("?", "x")


def _family_matches(glob: str, model: str) -> bool:
    """The documented rule of policies/local.yaml: a glob with a "/" matches the whole model
    string, any other the name after the last "/"."""
    target = model if "/" in glob else model.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(target.lower(), glob.lower())


def _most_specific(globs: list[str]) -> str:
    return max(globs, key=lambda g: (sum(c not in "*?[]" for c in g), len(g)))


STRICTNESS = ("allow", "review", "block")


def _route(data: dict) -> str | None:
    """A provider prefix the policy routes (its first ``prefix/*`` cover)."""
    return next((c[:-2] for c in data.get("covers", []) if re.fullmatch(r"[a-z_]+/\*", c)), None)


def _max(*verdicts: str) -> str:
    return max(verdicts, key=STRICTNESS.index)


def _matrix_cases() -> list[tuple[str, str, dict[str, str]]]:
    """(policy id, model, expected verdict per use) read straight from the YAML files: for
    every policy a model its route resolves to, and for a policy with model families one
    model per family. A family's licence decides alone under ``host_terms: none`` (local);
    otherwise the host's terms (the policy-level verdict) apply as well and the stricter of
    the two wins; a family with a domicile rule is ``review`` at best while the domicile is
    not set. A service that serves others' models adds the model's terms: for a name no
    licence or maker covers, ``unknown``."""
    docs = {
        p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted(policies_dir().glob("*.yaml"))
        if p.name not in NOT_POLICIES
    }
    unknown = {u: v["verdict"] for u, v in docs["unknown"]["uses"].items()}
    cases = []
    for pid, data in docs.items():
        families = data.get("models") or {}
        prefix = _route(data)
        assert prefix is not None, pid  # every policy is reachable by a route
        host = {u: v["verdict"] for u, v in data["uses"].items()}
        plain = f"{prefix}/zz-model-of-no-listed-family"
        assert not any(_family_matches(g, plain) for g in families)
        expected = dict(host)
        if data.get("serves") == "others" and pid != "local":
            expected = {u: _max(v, unknown[u]) for u, v in host.items()}
        cases.append((pid, plain, expected))
        for glob in families:
            model = _concrete(glob) if "/" in glob else f"{prefix}/{_concrete(glob)}"
            winner = _most_specific([g for g in families if _family_matches(g, model)])
            fam = families[winner]
            uses = {u: v["verdict"] for u, v in fam["uses"].items()}
            if fam.get("domicile"):
                uses = {u: _max(v, "review") for u, v in uses.items()}
            if data.get("host_terms", "apply") == "apply":
                uses = {u: _max(v, host[u]) for u, v in uses.items()}
            cases.append((pid, model, uses))
    return cases


def _outcome(out: Path) -> tuple[set[str], dict[str, str]]:
    exported = {m["id"] for f in out.glob("meta.jsonl") for m in read_jsonl(f)}
    excluded = {e["id"]: e["reason"] for e in read_jsonl(out / "excluded.jsonl")}
    return exported, excluded


def test_gate_matrix_matches_the_policy_files(tmp_path: Path) -> None:
    policies = load_policies()
    cases = _matrix_cases()
    assert {c[0] for c in cases} == set(policies)  # every shipped policy is in the matrix
    records = []
    for n, (pid, model, _) in enumerate(cases):
        rec = alpaca(n, policies[pid], model=model)
        rec["meta"]["id"] = f"case-{n}"
        records.append(rec)
    run = make_run(tmp_path, records)
    for use in USES:
        for accept in (False, True):
            out = tmp_path / f"out-{use}-{accept}"
            opts = ExportOptions(
                run, "alpaca", use, out, accept_review=tuple(policies) if accept else ()
            )
            expected = {
                f"case-{n}"
                for n, (_, _, v) in enumerate(cases)
                if v[use] == "allow" or (accept and v[use] == "review")
            }
            if not expected:
                with pytest.raises(ExportRefused):
                    run_export(opts)
                assert not out.exists() or not any(out.iterdir())
                continue
            run_export(opts)
            exported, excluded = _outcome(out)
            assert exported == expected, (use, accept)
            assert set(excluded) == {f"case-{n}" for n in range(len(cases))} - expected
            for n, (pid, model, verdicts) in enumerate(cases):
                if verdicts[use] == "block":
                    assert excluded[f"case-{n}"].startswith("block"), (pid, model, use)


def _openai_run(tmp_path: Path, n: int = 12) -> Path:
    pol = load_policies()["openai"]
    return make_run(tmp_path, [alpaca(i, pol) for i in range(n)])


def test_review_acceptance_is_recorded_with_user_and_time(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCTFORGE_REVIEWER", "Dana Legal")
    run, out = _openai_run(tmp_path), tmp_path / "out"
    assert load_policies()["openai"].uses["internal-fine-tune"].verdict == "review"
    with pytest.raises(ExportRefused, match="accept-review openai"):
        run_export(ExportOptions(run, "alpaca", "internal-fine-tune", out))
    res = run_export(ExportOptions(run, "alpaca", "internal-fine-tune", out, ("openai",)))
    assert res.n_exported == 12
    manifest = json.loads((out / "manifest.json").read_text())
    [acc] = manifest["accepted_reviews"]
    assert acc["id"] == "openai" and acc["records"] == 12
    assert acc["accepted_by"] == "Dana Legal" and re.match(r"\d{4}-\d\d-\d\dT", acc["accepted_at"])
    assert manifest["export"]["flags"]["accept_review"] == ["openai"]
    legal = (out / "LEGAL_REVIEW.md").read_text()
    assert "Accepted reviews: openai (12) by Dana Legal" in legal


def test_strict_refuses_everything_when_one_record_is_not_allow(tmp_path) -> None:
    pols = load_policies()
    records = [alpaca(i, pols["openai"]) for i in range(5)]  # evaluation: allow
    assert pols["openai"].uses["evaluation"].verdict == "allow"
    out = tmp_path / "out"
    res = run_export(
        ExportOptions(make_run(tmp_path / "a", records), "alpaca", "evaluation", out, strict=True)
    )
    assert res.n_exported == 5
    records.append(alpaca(9, pols["unknown"], model="someone/else"))  # unknown: review
    out2 = tmp_path / "out2"
    with pytest.raises(ExportRefused) as err:
        run_export(
            ExportOptions(
                make_run(tmp_path / "b", records), "alpaca", "evaluation", out2, strict=True
            )
        )
    assert err.value.exit_code == 3 and "1 review" in str(err.value)
    assert not out2.exists() or not any(out2.iterdir())
    with pytest.raises(ConfigError, match="cannot be combined"):
        run_export(
            ExportOptions(
                make_run(tmp_path / "c", records),
                "alpaca",
                "evaluation",
                out2,
                ("unknown",),
                strict=True,
            )
        )


def test_block_is_never_exported_even_when_named(tmp_path) -> None:
    mock = load_policies()["mock"]
    run = make_run(tmp_path, [alpaca(i, mock, model="mock/test") for i in range(3)])
    with pytest.raises(ExportRefused, match="nothing may be exported") as err:
        run_export(ExportOptions(run, "alpaca", "internal-fine-tune", tmp_path / "o", ("mock",)))
    assert err.value.exit_code == 3


def test_tampered_policy_changes_hash_and_flags_old_records(tmp_path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(policies_dir(), folder)
    old = load_policies(folder)["openai"]
    run = make_run(tmp_path, [alpaca(i, old) for i in range(4)])
    path = folder / "openai.yaml"
    path.write_text(path.read_text().replace("verdict: review", "verdict: allow"))
    new = load_policies(folder)["openai"]
    assert new.sha256 != old.sha256 and new.uses["internal-fine-tune"].verdict == "allow"

    out = tmp_path / "out"
    with pytest.raises(ExportRefused, match="sha256"):  # the edit cannot let records through
        run_export(ExportOptions(run, "alpaca", "internal-fine-tune", out, policies_dir=folder))
    run_export(
        ExportOptions(run, "alpaca", "internal-fine-tune", out, ("openai",), policies_dir=folder)
    )
    manifest = json.loads((out / "manifest.json").read_text())
    [entry] = manifest["policies"]
    assert entry["sha256"] == new.sha256
    assert entry["recorded_hashes"] == {old.sha256: 4} and entry["hash_mismatch"] == 4
    assert "different version of policy openai" in (out / "LEGAL_REVIEW.md").read_text()


def test_records_without_or_with_unknown_policy_need_review_as_unknown(tmp_path) -> None:
    """A missing or unknown tag is an integrity finding (key ``unknown``); the verdict of the
    model's own policy (openai: evaluation allow) still applies."""
    records = [alpaca(0, None), alpaca(1, Ref(id="retired-vendor", version="1", sha256="0" * 64))]
    run = make_run(tmp_path, records)
    with pytest.raises(ExportRefused, match="accept-review unknown"):
        run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "x"))
    res = run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "o", ("unknown",)))
    assert res.n_exported == 2
    assert dict(res.gate.stats.per_policy["openai"]) == {"review-accepted": 2}
    assert res.gate.stats.accepted == {"unknown": 2}


def test_a_record_without_a_model_is_unknown(tmp_path) -> None:
    rec = alpaca(0, load_policies()["deepseek"], model="deepseek/deepseek-chat")
    del rec["meta"]["model"]
    run = make_run(tmp_path, [rec])
    with pytest.raises(ExportRefused, match="no model"):
        run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "p"))
    res = run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "o", ("unknown",)))
    assert res.n_exported == 1  # deepseek's tag (allow) cannot loosen unknown (review)
    assert set(res.gate.stats.per_policy) == {"unknown"}  # one count per record
    assert set(res.gate.stats.binding) == {"unknown", "deepseek"}


def test_source_labels_are_judged_like_policies(tmp_path) -> None:
    pol = load_policies()["openai"]  # evaluation: allow
    records = [
        alpaca(0, pol, labels=["public"]),
        alpaca(1, pol, labels=["restricted"]),  # evaluation: review
        alpaca(2, pol, labels=["confidential"]),  # public-release: block
    ]
    run = make_run(tmp_path, records)
    res = run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "a"))
    assert res.n_exported == 2  # restricted needs review
    res = run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "b", ("restricted",)))
    assert res.n_exported == 3
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["source_labels"]["labels"]["restricted"]["verdict"] == "review"
    assert [a["id"] for a in manifest["accepted_reviews"]] == ["restricted"]
    res = run_export(
        ExportOptions(
            run, "alpaca", "public-release", tmp_path / "c", ("openai", "source:restricted")
        )
    )
    assert {e.id for e in res.exclusions} >= {"rec-alpaca-0002"}


def test_unknown_accept_name_is_a_usage_error(tmp_path) -> None:
    run = _openai_run(tmp_path)
    with pytest.raises(ConfigError, match="openia"):
        run_export(ExportOptions(run, "alpaca", "internal-fine-tune", tmp_path / "o", ("openia",)))


def test_stale_policy_warns_in_output_and_manifest(tmp_path) -> None:
    run = _openai_run(tmp_path)
    res = run_export(
        ExportOptions(run, "alpaca", "evaluation", tmp_path / "o", today=date(2031, 1, 1))
    )
    assert any("last reviewed" in w for w in res.warnings)
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["policies"][0]["stale"] and manifest["warnings"]


def test_sources_yaml_overrides_of_the_run_apply(tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "sources.yaml").write_text(
        'sources:\n  "handbook/**": {labels: [confidential]}\n'
        "verdicts:\n  confidential: {evaluation: block}\n"
    )
    pol = load_policies()["openai"]
    records = [alpaca(0, pol, labels=["confidential"]), alpaca(1, pol, labels=["public"])]
    run = make_run(tmp_path, records, config={"docs": str(docs), "model": "openai/gpt-4o"})
    res = run_export(ExportOptions(run, "alpaca", "evaluation", tmp_path / "o"))
    assert res.n_exported == 1 and res.sources_file == str(docs / "sources.yaml")
    [ex] = res.exclusions
    assert ex.id == "rec-alpaca-0000" and "sources.yaml sets confidential" in ex.reason


def test_local_models_are_judged_by_their_family_licence(tmp_path) -> None:
    local = load_policies()["local"]
    fam = local.family_for("local/qwen2.5-coder-0.5b-instruct")
    assert fam is not None
    glob, family = fam
    records = [alpaca(i, local, model="local/qwen2.5-coder-0.5b-instruct") for i in range(3)]
    use = next(u for u in USES if family.uses[u].verdict == "allow")
    res = run_export(ExportOptions(make_run(tmp_path, records), "alpaca", use, tmp_path / "o"))
    assert res.n_exported == 3
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    [entry] = manifest["policies"]
    assert list(entry["families"]) == [glob] and entry["families"][glob]["records"] == 3
    assert family.licence in (tmp_path / "o" / "LEGAL_REVIEW.md").read_text()
