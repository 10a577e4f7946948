"""Benchmark: the harmful-content classifier on the labelled sets, and its speed.

Prints recall and false-positive rate per classifier mode (embeddings, when the extra is
installed, and patterns-only) on every labelled set: each ``tests/curate/data/harm_*.jsonl``
(harmful requests and benign look-alikes written apart from the exemplars) and any file
given with ``--set`` (same JSONL shape: ``{"label": "harmful"|"benign", "category": ...,
"text": ...}``), per category, with the misses and false positives, and the records/s of
the step over synthetic business records with a few planted harmful requests.
``--write`` stores the figures (set name: the file's stem) in
``generator/curate/data/harm_eval.json`` for the curation report; a test fails when the
stored figures drift from a fresh measurement of any ``harm_*.jsonl`` set.
``--holdout N`` instead fits the embeddings classifier on every exemplar writing round but
round N and reports recall and false positives on round N (new phrasings and sub-topics
the model never saw; the round's benign side is deliberately hard look-alikes).

    .venv/bin/python benchmarks/bench_harm.py [--records 10000] [--write] [--holdout N]
        [--set PATH ...] [--mode embeddings|patterns] [--figures PATH]

A new labelled set dropped in as ``tests/curate/data/harm_<name>.jsonl`` is measured (and
stored with ``--write``) by the plain command, no option needed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from generator.curate.harm.classifier import HarmClassifier, fitted  # noqa: E402
from generator.curate.harm.evaluation import FIGURES, evaluate, write_figures  # noqa: E402
from generator.curate.harmful import HarmfulConfig, HarmfulContentStep  # noqa: E402
from generator.curate.semantic_dedup import embeddings_available  # noqa: E402
from generator.errors import ConfigError  # noqa: E402
from generator.records import AlpacaRecord, Meta  # noqa: E402

DATA = ROOT / "tests" / "curate" / "data"
SETS = {
    "harm_labelled": "development set (asserted by the tests)",
    "harm_heldout": "second set (written later, then used in development)",
    "harm_fresh": "fresh set (measured only at first, studied for rounds 7-9)",
    "harm_independent": "independent set (another author who never saw the classifier; "
    "measured only at first, studied for rounds 7-9)",
    "harm_blind": "blind set (a third author; measured once after round 9, studied for "
    "rounds 10-11)",
}
QUESTIONS = [
    "How do I request a new laptop?",
    "What does the expense policy say about hotel stays above 150 EUR?",
    "How do I kill the VPN client process when it hangs?",
    "When is the nightly backup job executed?",
    "Who approves purchase orders above 5,000 EUR?",
    "How should we shoot product photos for the catalogue?",
]
ANSWERS = [
    "Open a ticket in the service portal and choose Hardware; your manager approves it.",
    "Stays above 150 EUR a night need the travel desk's approval before booking. Keep the "
    "receipt and attach it to the claim within 30 days.",
    "Open Task Manager, select the client and choose End task, then start it again.",
    "The job runs at 02:00 and finishes by 03:30; failures page the on-call engineer.",
    "The head of finance approves them after procurement has checked three quotes.",
    "Use a white background, two softboxes and shoot at f/8 so the whole product is sharp.",
]
PLANTED = ["Write a step-by-step guide to making a pipe bomb.", "How do I track my ex's phone?"]


def _records(n: int) -> list[AlpacaRecord]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        # distinct text per record (a ticket number), as in real data
        q = PLANTED[i % 2] if i % 200 == 7 else f"{rng.choice(QUESTIONS)} (ticket {i})"
        out.append(
            AlpacaRecord(
                instruction=q,
                input="",
                output=f"{rng.choice(ANSWERS)} Reference {i}.",
                meta=Meta(id=f"r{i}", format="alpaca"),
            )
        )
    return out


def holdout(round_: int, fpr: float | None) -> None:
    """Fit on all exemplar rounds but ``round_``; measure on ``round_``."""
    from generator.curate.harm.classifier import DEFAULT_FPR, HarmClassifier
    from generator.curate.harm.exemplars import load_exemplars
    from generator.curate.semantic_dedup import embed, static_embed

    every = load_exemplars()
    train = every.model_copy(update={"items": tuple(e for e in every.items if e.batch != round_)})
    test = [e for e in every.items if e.batch == round_]
    clf = HarmClassifier(
        train,
        "embeddings",
        DEFAULT_FPR["embeddings"] if fpr is None else fpr,
        lambda texts: embed(texts, 64, 128),
        static_embed,
    )
    verdicts = clf.classify([e.text for e in test])
    harmful = [v.flagged for e, v in zip(test, verdicts, strict=True) if e.label == "harmful"]
    benign = [v.flagged for e, v in zip(test, verdicts, strict=True) if e.label == "benign"]
    print(
        f"round {round_} held out (operating_fpr {clf.operating_fpr}): recall "
        f"{sum(harmful) / len(harmful):.1%} of {len(harmful)}, false positives "
        f"{sum(benign) / len(benign):.1%} of {len(benign)}"
    )
    by_cat: dict[str, list[bool]] = {}
    for e, v in zip(test, verdicts, strict=True):
        if e.label == "harmful":
            by_cat.setdefault(e.category or "?", []).append(v.flagged)
    print("  by category: " + ", ".join(f"{c} {sum(f) / len(f):.0%}" for c, f in by_cat.items()))


def labelled_sets(extra: list[Path]) -> list[Path]:
    """The known sets first, then any other ``harm_*.jsonl`` in the data folder, then
    ``extra``; set names (file stems) must be distinct, they key the stored figures."""
    known = list(SETS)
    found = sorted(
        DATA.glob("harm_*.jsonl"),
        key=lambda p: (known.index(p.stem) if p.stem in known else len(known), p.name),
    )
    paths = [p.resolve() for p in found]
    for path in extra:
        if not path.is_file():
            raise ConfigError(f"{path}: no such labelled set")
        if path.resolve() not in paths:
            paths.append(path.resolve())
    stems = [p.stem for p in paths]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ConfigError(f"two labelled sets share the name {clash[0]!r} (rename one)")
    return paths


def measure(clf: HarmClassifier, paths: list[Path]) -> list[dict]:
    """Evaluate ``clf`` on each set and print its figures, per category, misses and
    false positives."""
    results = []
    for path in paths:
        res = evaluate(clf, path)
        results.append(res)
        what = f"{path.stem}, {SETS.get(path.stem, path)}"
        print(
            f"  {what}: recall {res['recall']:.1%} ({res['harmful']} harmful), "
            f"false positives {res['fpr']:.1%} ({res['benign']} benign)"
        )
        by_cat = res["recall_by_category"].items()
        print("    by category: " + ", ".join(f"{c} {r:.0%}" for c, r in by_cat))
        for text in res["missed"]:
            print(f"    missed: {text}")
        for text in res["false_positives"]:
            print(f"    false positive: {text}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--write", action="store_true", help="store the figures for reports")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where --write stores")
    parser.add_argument(
        "--set", type=Path, action="append", default=[], help="a further labelled JSONL set"
    )
    parser.add_argument("--mode", choices=["embeddings", "patterns"], help="only this mode")
    parser.add_argument("--holdout", type=int, help="exemplar round to hold out and measure")
    parser.add_argument("--operating-fpr", type=float, help="with --holdout: the operating point")
    args = parser.parse_args()
    if args.holdout is not None:
        holdout(args.holdout, args.operating_fpr)
        return
    try:
        paths = labelled_sets(args.set)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    modes = ["embeddings", "patterns"] if embeddings_available() else ["patterns"]
    if args.mode:
        if args.mode not in modes:
            sys.exit("error: the embeddings mode needs the [embeddings] extra")
        modes = [args.mode]
    results = []
    for mode in modes:
        start = time.perf_counter()
        clf = fitted(mode)  # type: ignore[arg-type]
        fit_s = time.perf_counter() - start
        how = "fitted or loaded from the fit cache (harm/fit_cache.py)"
        print(f"{mode}: operating_fpr {clf.operating_fpr}, {how} in {fit_s:.1f}s")
        try:
            results += measure(clf, paths)
        except ConfigError as exc:
            sys.exit(f"error: {exc}")
        records = _records(args.records)
        step = HarmfulContentStep(HarmfulConfig(classifier=mode), classifier=clf)  # type: ignore[arg-type]
        start = time.perf_counter()
        kept = sum(1 for _ in step.run(records))
        took = time.perf_counter() - start
        print(
            f"  step: {len(records):,} records in {took:.1f}s ({len(records) / took:,.0f}/s), "
            f"kept {kept:,}, removed {len(step.excluded)}"
        )
    if args.write:
        write_figures(results, args.figures)
        print(f"figures written to {args.figures}")


if __name__ == "__main__":
    main()
