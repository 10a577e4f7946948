"""Report sections of the risk steps (PII, harmful content, contradictions, freshness,
quality and judge) and of human review, rendered from each step's ``stats()``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _by_step(stats: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in stats}


def _pii(s: dict[str, Any]) -> list[str]:
    lines = ["## Personal data and secrets", ""]
    findings = s.get("findings") or {}
    if not findings:
        return [*lines, "No personal data or secrets found.", ""]
    lines += ["| type | findings | examples (masked) |", "|---|---|---|"]
    for kind, n in sorted(findings.items(), key=lambda kv: -kv[1]):
        examples = ", ".join(f"`{e}`" for e in (s.get("examples") or {}).get(kind, []))
        lines.append(f"| {kind} | {n} | {examples} |")
    dropped = sum((s.get("dropped") or {}).values())
    lines += ["", f"Records dropped for personal data: {dropped}; the others were rewritten."]
    lines += [f"- warning: {w}" for w in s.get("warnings", [])]
    return [*lines, ""]


def _harmful(s: dict[str, Any]) -> list[str]:
    dropped = s.get("dropped") or {}
    lines = ["## Harmful content", ""]
    clf = s.get("classifier") or {}
    if clf:
        how = "patterns and cues only" if clf.get("mode") == "patterns" else "embeddings"
        lines.append(
            f"Offline classifier: {how} ({clf.get('exemplars')} exemplars, operating point "
            f"{clf.get('operating_fpr')})."
        )
        measured = s.get("measured")
        if measured:
            from generator.curate.harmful import figures_text

            lines.append(f"Measured: {figures_text(measured)}.")
        else:
            lines.append("Not measured for this setting (see benchmarks/bench_harm.py).")
        lines.append("")
    lines += [f"- warning: {w}" for w in s.get("warnings", [])]
    if not dropped:
        return [*lines, "Nothing flagged.", ""]
    lines += [f"- {reason}: {n}" for reason, n in sorted(dropped.items())]
    lines += [
        "",
        "Flagged records are in `excluded.jsonl` (or `review.jsonl`, per `harmful.destination`) "
        "with their category, score and evidence.",
    ]
    return [*lines, ""]


def _contradictions(s: dict[str, Any], top: int = 10) -> list[str]:
    groups = s.get("groups") or []
    lines = ["## Contradictory answers", ""]
    if not groups:
        return [*lines, "No group of same-question records with disagreeing answers.", ""]
    lines.append(f"{len(groups)} groups sent to review. Largest first:")
    for g in sorted(groups, key=lambda g: -len(g["records"]))[:top]:
        kinds = ", ".join(sorted({c["why"] for c in g["conflicts"]}))
        lines += ["", f"**Group {g['group']}** ({kinds}): {g['question']}"]
        lines += [f"- `{rid}`: {ans}" for rid, ans in zip(g["records"], g["answers"], strict=False)]
    return [*lines, ""]


def _freshness(s: dict[str, Any]) -> list[str]:
    docs = s.get("by_document") or {}
    lines = ["## Outdated sources", ""]
    if not docs:
        return [*lines, "No record comes from a document past review, superseded or too old.", ""]
    lines += ["| document | why |", "|---|---|"]
    lines += [f"| {path} | {', '.join(reasons)} |" for path, reasons in docs.items()]
    return [*lines, ""]


def _quality(s: dict[str, Any]) -> list[str]:
    lines = ["## Quality and grounding", ""]
    scores = s.get("scores") or []
    if scores:
        srt = sorted(scores)
        lines.append(
            f"Heuristic score (0-1): n={len(srt)}, min {srt[0]:.2f}, median "
            f"{srt[len(srt) // 2]:.2f}, max {srt[-1]:.2f}."
        )
    dropped = s.get("dropped") or {}
    lines += [f"- {reason}: {n}" for reason, n in sorted(dropped.items())]
    judge = s.get("judge")
    if judge:
        lines.append(
            f"- judge: {judge['calls']} calls, {judge['failed']} failed (journal), "
            f"{judge['prompt_tokens'] + judge['completion_tokens']:,} tokens, "
            f"${judge['cost_usd']:.4f}"
        )
    return [*lines, ""]


def _review(run_dir: Path) -> list[str]:
    from generator.review.session import render_markdown, summary
    from generator.review.store import ReviewStore
    from generator.store import Journal

    if not (run_dir / "run.sqlite").exists():
        return []
    journal = Journal(run_dir)
    try:
        store = ReviewStore(journal)
        return [render_markdown(summary(store))] if store.has_sample() else []
    finally:
        journal.close()


def risk_sections(stats: Sequence[dict[str, Any]], run_dir: Path | None) -> list[str]:
    """Markdown lines for every risk step that ran, then the human-review outcome."""
    by = _by_step(stats)
    lines: list[str] = []
    for name, render in (
        ("pii", _pii),
        ("harmful", _harmful),
        ("contradictions", _contradictions),
        ("freshness", _freshness),
        ("quality", _quality),
    ):
        if name in by:
            lines += render(by[name])
    if run_dir is not None:
        lines += _review(run_dir)
    return lines
