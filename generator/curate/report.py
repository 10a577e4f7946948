"""The curation report: ``RUN/curation/report.md`` plus PNG plots (matplotlib, Agg), written
into the curation's staged set (:class:`generator.atomic.Staging`) with its data files.

Contents: counts per step and reason, token lengths before/after, the largest duplicate
clusters with examples, split sizes, diversity (``diversity.py``) and size guidance for a
declared goal. Nothing in it depends on the clock, so re-runs give the same file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.atomic import Staging
from generator.curate import diversity
from generator.curate.base import Exclusion
from generator.curate.config import ReportConfig
from generator.curate.risk_report import risk_sections
from generator.records import Record
from generator.tokens import count_many

# Usual dataset sizes per fine-tuning goal (examples): (low, high); None = open-ended.
GOAL_RANGES: dict[str, tuple[int, int | None]] = {
    "style": (100, 500),
    "format": (200, 1_000),
    "domain": (1_000, 10_000),
    "capability": (10_000, None),
}


def size_guidance(goal: str, count: int) -> str:
    """Whether ``count`` curated examples are below, within or above the usual range."""
    low, high = GOAL_RANGES[goal]
    span = f"{low:,}-{high:,}" if high else f"{low:,}+"
    if count < low:
        verdict = "below"
    elif high is not None and count > high:
        verdict = "above"
    else:
        verdict = "within"
    return f"{count:,} curated examples: {verdict} the usual range for a {goal} goal ({span})"


def _plot(files: Staging, name: str, draw: Any) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    draw(ax)
    fig.tight_layout()
    try:  # into the staged set: the temp file's name says nothing of its format
        fig.savefig(files.path(name), format="png", dpi=90, metadata={"Software": None})
    finally:  # no version stamp above: stable bytes
        plt.close(fig)
    return name


def _clusters(excluded: Sequence[Exclusion], texts: dict[str, str], top: int) -> list[str]:
    by_kept: dict[str, list[Exclusion]] = defaultdict(list)
    for exc in excluded:
        if exc.duplicate_of:
            by_kept[exc.duplicate_of].append(exc)
    ranked = sorted(by_kept.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    lines = []
    for kept, dups in ranked:
        lines.append(f"- **{len(dups) + 1} records** (kept `{kept}`): {_q(texts.get(kept, ''))}")
        for d in dups[:3]:
            lines.append(f"  - {d.step}/{d.reason}: {_q(d.record.example_text())}")
    return lines or ["(no duplicates found)"]


def _q(text: str, n: int = 140) -> str:
    flat = " ".join(text.split())
    return "“" + (flat[:n] + "…" if len(flat) > n else flat) + "”"


def write_report(
    files: Staging,
    *,
    before: Sequence[tuple[str, str]],
    curated: Sequence[Record],
    excluded: Sequence[Exclusion],
    stats: Sequence[dict[str, Any]],
    split_sizes: dict[str, int] | None,
    cfg: ReportConfig,
    model: str | None = None,
    seed: int = 0,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``report.md`` (and PNGs when enabled) into the staged set ``files``, renamed
    into place with the data files or not at all; returns the report's final path.

    ``before`` holds (id, example text) of every input record, taken before any step ran.
    """
    out = files.out
    texts = dict(before)
    tok_before = count_many([t for _, t in before], model)
    tok_after = count_many([r.example_text() for r in curated], model)
    lines = ["# Curation report", ""]
    lines += [f"Input records: {len(before):,}. Curated: {len(curated):,}."]
    lines += [f"Excluded or set aside: {len(excluded):,}.", ""]
    lines += [f"- note: {n}" for n in notes] + ([""] if notes else [])

    lines += ["## Steps", "", "| step | in | kept | dropped | reasons |", "|---|---|---|---|---|"]
    for s in stats:
        dropped = sum(s["dropped"].values())
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s["dropped"].items())) or "-"
        lines.append(f"| {s['step']} | {s.get('in', '')} | {s['kept']} | {dropped} | {reasons} |")
    lines.append("")
    lines += _check_failures(stats)

    pngs: list[str] = []
    if cfg.plots:
        steps = [s["step"] for s in stats]
        drops = [sum(s["dropped"].values()) for s in stats]
        pngs.append(
            _plot(
                files,
                "steps.png",
                lambda ax: (ax.barh(steps, drops), ax.set_xlabel("records dropped")),
            )
        )
        pngs.append(_plot(files, "lengths.png", lambda ax: _hist(ax, tok_before, tok_after)))

    lines += ["## Token lengths (whole example)", ""]
    for name, toks in (("before", tok_before), ("after", tok_after)):
        if toks:
            srt = sorted(toks)
            lines.append(
                f"- {name}: n={len(toks):,}, min {srt[0]}, median {srt[len(srt) // 2]}, "
                f"max {srt[-1]}"
            )
    lines += [
        "",
        "## Largest duplicate clusters",
        "",
        *_clusters(excluded, texts, cfg.top_clusters),
    ]

    if split_sizes is not None:
        lines += ["", "## Split", "", "| side | records |", "|---|---|"]
        lines += [f"| {k} | {v:,} |" for k, v in split_sizes.items()]
        lines += [
            "",
            "Leakage check: passed (no shared ids, exact or near duplicates across the sides).",
        ]
        if cfg.plots:
            pngs.append(
                _plot(
                    files,
                    "split.png",
                    lambda ax: ax.bar(list(split_sizes), list(split_sizes.values())),
                )
            )

    lines += [
        "",
        *risk_sections(stats, out.parent if (out.parent / "run.sqlite").exists() else None),
    ]
    lines += ["", *_diversity(curated, cfg, seed, files, pngs)]
    if cfg.goal:
        lines += ["", "## Size guidance", "", size_guidance(cfg.goal, len(curated))]
    if pngs:
        lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in pngs]]
    files.write_text("report.md", "\n".join(lines) + "\n")
    return out / "report.md"


def _check_failures(stats: Sequence[dict[str, Any]]) -> list[str]:
    """Per step with an LLM check: checks asked, calls failed, replies unparsable, records
    sent to review because the check could not run (fail closed: never counted as passed)."""
    rows = [(s["step"], s["check_failed"]) for s in stats if s.get("check_failed")]
    if not rows:
        return []
    lines = [
        "## Checks that could not run",
        "",
        "| step | checks | calls failed | replies unparsable | records sent to review |",
        "|---|---|---|---|---|",
    ]
    for step, cf in rows:
        lines.append(
            f"| {step} | {cf.get('checks', '-')} | {cf.get('failed', '-')} | "
            f"{cf.get('unparsable', '-')} | {cf.get('records', 0)} |"
        )
    return [*lines, ""]


def _hist(ax: Any, before: list[int], after: list[int]) -> None:
    top = max([*before, *after, 1])
    bins = list(range(0, top + top // 30 + 2, max(1, top // 30 + 1)))
    ax.hist(before, bins=bins, alpha=0.5, label="before")
    ax.hist(after, bins=bins, alpha=0.5, label="after")
    ax.set_xlabel("tokens per example")
    ax.legend()


def _diversity(
    curated: Sequence[Record], cfg: ReportConfig, seed: int, files: Staging, pngs: list[str]
) -> list[str]:
    instructions = [r.instruction_text() for r in curated]
    verbs, pairs = diversity.verb_stats(instructions, cfg.top_verbs)
    sims = diversity.nearest_similarity([r.example_text() for r in curated], seed=seed)
    lines = ["## Diversity", ""]
    lines.append(
        f"distinct-1 {diversity.distinct_n(instructions, 1):.3f}, "
        f"distinct-2 {diversity.distinct_n(instructions, 2):.3f} (instructions)"
    )
    lines += ["", "Leading verbs: " + (", ".join(f"{v} ({c})" for v, c in verbs) or "-")]
    lines += [
        "",
        "Verb-object pairs: " + (", ".join(f"{v} {o} ({c})" for (v, o), c in pairs) or "-"),
    ]
    summary = diversity.similarity_summary(sims)
    if summary:
        lines += [
            "",
            f"Nearest-neighbour similarity (shingle Jaccard, {len(sims)} sampled): "
            + ", ".join(f"{k} {v}" for k, v in summary.items()),
        ]
        if cfg.plots:
            pngs.append(
                _plot(
                    files,
                    "similarity.png",
                    lambda ax: (
                        ax.hist(sims, bins=[i / 20 for i in range(21)]),
                        ax.set_xlabel("nearest-neighbour Jaccard"),
                    ),
                )
            )
    return lines
