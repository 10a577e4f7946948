"""The legal review pack written with every export: ``manifest.json`` (for machines),
``LEGAL_REVIEW.md`` (the same for a person: summary, policies with their clauses, what was
excluded and why) and a Hugging Face dataset card ``README.md``, plus ``excluded.jsonl``
(ids and reasons only, never excluded content)."""

from __future__ import annotations

import getpass
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from generator import __version__
from generator.config import env, policies_dir
from generator.export.card import dataset_card
from generator.export.gate import policies_seen
from generator.export.job import (
    CARD_FILE,
    EXCLUDED_FILE,
    LEGAL_FILE,
    MANIFEST_FILE,
    ExportResult,
    FileInfo,
    exclusion_rows,
)
from generator.export.legal_provenance import provenance_lines, provenance_manifest
from generator.export.seal import policy_files_entry, seal
from generator.export.usage import usage_totals
from generator.export.writer import Staging, secret_values, sha256_file
from generator.policies import Policy
from generator.records import utcnow
from generator.redact import scrub_url_credentials
from generator.review import signoffs
from generator.sources import label_rules_ref

_SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|passw|(^|_)token$|authorization|credential|bearer)", re.IGNORECASE
)
_SECRET_VALUE = re.compile(r"^(sk-|sk_|xox[bp]-|ghp_|AKIA)[A-Za-z0-9_\-]{8,}")


def scrub(value: Any, secrets: dict[str, str]) -> Any:
    """A copy of a config without anything secret: keys that name secrets, values that look
    like API keys, and any value of a provider key variable set in this environment."""
    if isinstance(value, dict):
        return {
            k: ("<removed>" if _SECRET_KEY.search(str(k)) else scrub(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str) and (
        _SECRET_VALUE.match(value) or any(s in value for s in secrets.values())
    ):
        return "<removed>"
    return scrub_url_credentials(value) if isinstance(value, str) else value


def exporter_name() -> str:
    """Who ran the export (INSTRUCTFORGE_REVIEWER, else USER, else the login name)."""
    name = env("INSTRUCTFORGE_REVIEWER") or env("USER")
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return name


def _run_config(run: Path) -> dict[str, Any] | None:
    path = run / "config.json"
    try:
        return scrub(json.loads(path.read_text(encoding="utf-8")), secret_values())
    except (OSError, ValueError):
        return None


def _policy_entry(pol: Policy, res: ExportResult) -> dict[str, Any]:
    st, use = res.gate.stats, res.options.use
    return {
        "id": pol.id,
        "version": pol.version,
        "sha256": pol.sha256,
        "provider": pol.provider,
        "file": pol.path.name if pol.path else None,
        "terms": pol.terms.model_dump(mode="json"),
        "reviewed_at": str(pol.reviewed_at),
        "stale": res.gate.warnings.get(pol.id),
        "verdict": pol.uses[use].model_dump(mode="json"),
        "families": {
            g: {
                "licence": f.licence,
                "licence_url": f.licence_url,
                "upstream": f.upstream,
                "source": f.source,
                "sha256": f.sha256,
                "verdict": f.uses[use].model_dump(mode="json"),
                "records": st.families[pol.id][g],
            }
            for g, f in pol.models.items()
            if st.families.get(pol.id, {}).get(g)  # only the families this export holds
        },
        "clauses": pol.clauses.model_dump(mode="json", exclude_none=True),
        "note": pol.note,
        "records": dict(st.binding.get(pol.id, {})),
        "recorded_hashes": dict(st.recorded_hashes.get(pol.id, {})),
        "hash_mismatch": st.hash_mismatch.get(pol.id, 0),
    }


def _manifest(res: ExportResult) -> dict[str, Any]:
    opts, gate, st = res.options, res.gate, res.gate.stats
    pdir = gate.directory or policies_dir()
    return {
        "tool": {"name": "instructforge", "version": __version__},
        "created_at": res.accepted_at,
        "exported_by": res.accepted_by,
        "run": {
            "path": str(opts.run),
            "input": res.plan.source,
            "input_files": [f"{s}: {p.name}" for s, p in res.plan.files],
            "config": _run_config(opts.run),
        },
        "export": {
            "flags": opts.flags(),
            "record_format": res.target,
            "policies_dir": str(pdir),
            "policies_dir_overridden": bool(os.environ.get("INSTRUCTFORGE_POLICIES")),
            "sources_file": res.sources_file,
            "gate": "always on: no flag skips it; every flag is listed here",
        },
        # sha256 of every file the gate read: `instructforge verify` re-runs it on them
        "policy_files": policy_files_entry(gate.directory, res.sources_file),
        "counts": {
            "records_read": res.total,
            "exported": res.n_exported,
            "excluded": len(res.exclusions),
            "exported_per_split": dict(res.exported),
            "by_provider": dict(res.by_provider),
            "by_model": dict(res.by_model),
            # the models whose rankings chose the answers of judge-ranked pairs (journal)
            **({"by_judge_model": dict(st.judges)} if st.judges else {}),
            "by_format": dict(res.by_format),
            "by_prompt": dict(res.prompts),
            "by_policy_and_verdict": {k: dict(v) for k, v in st.per_policy.items()},
        },
        "policies": [_policy_entry(gate.policies[p], res) for p in policies_seen(st)],
        "source_labels": {
            "rules": label_rules_ref(gate.directory).model_dump(),
            "labels": {
                k: {
                    "verdict": c.verdict,
                    "reason": c.reason,
                    "clause": c.clause,
                    "records": dict(st.labels[k]),
                }
                for k, c in sorted(st.label_checks.items())
            },
        },
        "provenance": provenance_manifest(res.gate),
        "usage": usage_totals(opts.run),  # tokens, cost, cache hits of the run's calls
        "accepted_reviews": [
            {"id": k, "records": n, "accepted_by": res.accepted_by, "accepted_at": res.accepted_at}
            | ({"signed_off": res.signoffs[k]} if k in res.signoffs else {})
            for k, n in sorted(st.accepted.items())
        ],
        "excluded": {
            "file": EXCLUDED_FILE,
            "by_stage": dict(Counter(e.stage for e in res.exclusions)),
            "by_reason": dict(Counter(e.reason for e in res.exclusions).most_common()),
        },
        "warnings": res.warnings,
        "openai_validation": {k: v.to_dict() for k, v in res.validation.items()} or None,
        "files": [f.__dict__ for f in res.files],
    }


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]


def legal_review(res: ExportResult, manifest: dict[str, Any]) -> str:
    """LEGAL_REVIEW.md: summary, policies with their clauses, labels, reviews, exclusions."""
    opts, st = res.options, res.gate.stats
    verdicts = st.outcomes
    accepted = ", ".join(f"{k} ({n})" for k, n in sorted(st.accepted.items()))
    lines = [
        f"# Legal review of this export ({opts.fmt}, use: {opts.use})",
        "",
        "## Summary",
        "",
        f"- {res.n_exported} of {res.total} records exported on {res.accepted_at} by "
        f"{res.accepted_by} from `{opts.run}` ({res.plan.source}).",
        "- Gate verdicts: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) + ".",
        f"- Excluded: {len(res.exclusions)} (see the last section and `{EXCLUDED_FILE}`).",
        f"- Accepted reviews: {accepted or 'none'}"
        f"{' by ' + res.accepted_by if st.accepted else ''}.",
        *[
            f"- Signed off: {k} for {opts.use} by {s['by']} on {s['at']}: {s['note']}"
            for k, signed in sorted(res.signoffs.items())
            for s in signed
        ],
        f"- Flags: {json.dumps(opts.flags())}",
    ]
    if st.judges:
        judges = ", ".join(f"`{m}` ({n})" for m, n in sorted(st.judges.items()))
        lines.append(
            f"- Preference pairs ranked by judge model: {judges}; models of the two sides: "
            + ", ".join(f"`{m}` ({n})" for m, n in sorted(res.by_model.items()))
            + ". The judge's terms bind each pair it ranked (the stricter verdict wins)."
        )
    for pid, n in sorted(st.hash_mismatch.items()):
        lines.append(
            f"- **{n} records were tagged under a different version of policy {pid}** "
            "(hash mismatch): the terms changed or the file was edited since generation."
        )
    lines += [f"- **Warning:** {w}" for w in res.warnings]
    lines += provenance_lines(manifest["provenance"])
    lines += ["", "## Policies", ""]
    rows = [
        [
            p["id"],
            p["version"],
            f"[{p['terms']['name']}]({p['terms']['url']})",
            p["reviewed_at"] + (" (STALE)" if p["stale"] else ""),
            p["verdict"]["verdict"],
            json.dumps(p["records"]),
            p["sha256"][:16],
        ]
        for p in manifest["policies"]
    ]
    lines += _md_table(
        ["policy", "version", "terms", "reviewed", f"verdict ({opts.use})", "records", "sha256"],
        rows,
    )
    for p in manifest["policies"]:
        v = p["verdict"]
        lines += [
            "",
            f"### {p['id']} ({p['provider']})",
            "",
            f"- Verdict for {opts.use}: **{v['verdict']}**: {v['reason']} "
            f"(clause: {v['clause']}; {v['url']})",
        ]
        for name, c in p["clauses"].items():
            for clause in c if isinstance(c, list) else [c]:
                tag = clause.get("restriction") or clause.get("default")
                lines.append(
                    f"- {name.replace('_', ' ')}{f' [{tag}]' if tag else ''}: "
                    f"{clause['summary']}" + (f" ({clause['url']})" if clause.get("url") else "")
                )
        for g, f in p["families"].items():
            fv = f["verdict"]
            lines.append(
                f"- model family `{g}` ({f['records']} records): {f['licence']} -> "
                f"**{fv['verdict']}**: {fv['reason']} (weights from: {f['source']})"
            )
        lines.append(f"- Note for legal: {p['note']}")
    labels = manifest["source_labels"]["labels"]
    if labels:
        lines += ["", "## Source document labels", ""]
        lines += _md_table(
            ["label", f"verdict ({opts.use})", "reason", "records"],
            [[k, v["verdict"], v["reason"], json.dumps(v["records"])] for k, v in labels.items()],
        )
    lines += ["", "## Excluded records", ""]
    if res.exclusions:
        lines += _md_table(
            ["stage", "reason", "records"],
            [
                [st_, r, n]
                for (st_, r), n in Counter(
                    (e.stage, e.reason) for e in res.exclusions
                ).most_common()
            ],
        )
    else:
        lines.append("None.")
    lines += ["", "## Files", ""]
    lines += _md_table(
        ["file", "records", "sha256"],
        [[f.name, f.records if f.records is not None else "", f.sha256] for f in res.files],
    )
    return "\n".join(lines) + "\n"


def write_pack(res: ExportResult, stage: Staging) -> None:
    """Stage excluded.jsonl, README.md, LEGAL_REVIEW.md and manifest.json (hashes last)."""
    res.accepted_at, res.accepted_by = utcnow(), exporter_name()
    res.signoffs = signoffs.recorded(res.options.run, res.options.use, res.gate.stats.accepted)
    stage.write_text(
        EXCLUDED_FILE,
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in exclusion_rows(res)),
    )
    res.files.append(FileInfo(EXCLUDED_FILE, "excluded", records=len(res.exclusions)))
    stage.write_text(CARD_FILE, dataset_card(res))
    res.files.append(FileInfo(CARD_FILE, "card"))
    for f in res.files:
        f.sha256, f.bytes = sha256_file(stage.path(f.name)), stage.path(f.name).stat().st_size
    legal = legal_review(res, _manifest(res))
    stage.write_text(LEGAL_FILE, legal)
    info = FileInfo(
        LEGAL_FILE,
        "legal",
        None,
        None,
        sha256_file(stage.path(LEGAL_FILE)),
        stage.path(LEGAL_FILE).stat().st_size,
    )
    res.files.append(info)
    manifest = seal(_manifest(res))  # its own digest: `instructforge verify` checks it
    stage.write_text(MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
