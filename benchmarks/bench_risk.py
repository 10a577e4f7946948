"""Benchmark: PII/secrets and harmful-content steps over 100,000 records.

Prints records/s and peak RSS for each step, measured in one run on the same records.
Records are realistic business Q/A built from sentence banks; about 4% carry planted
personal data or secrets and 0.5% planted harmful text, the rest is clean prose with
digits, versions and dates (the case the regex gates must pass cheaply).
Target: >= 2,000 records/s for the offline PII step on one core.

    .venv/bin/python benchmarks/bench_risk.py [--records 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from generator.curate.harmful import HarmfulContentStep
from generator.curate.pii import PiiStep
from generator.records import AlpacaRecord, Meta

SUBJECTS = [
    "The expense policy",
    "Our VPN client",
    "The onboarding checklist",
    "Release 4.2",
    "The warehouse scanner",
    "The travel desk",
    "Quarterly planning",
    "The router firmware",
    "The backup job",
    "Parental leave",
    "The help desk",
    "The security review",
]
VERBS = [
    "requires",
    "covers",
    "applies to",
    "was updated for",
    "no longer supports",
    "must be approved for",
    "is scheduled for",
    "replaces the old process for",
]
OBJECTS = [
    "all contractors",
    "hardware purchases above 500 EUR",
    "remote employees",
    "the 3 regional offices",
    "firmware 2.8.1 and later",
    "requests older than 30 days",
    "the Q3 audit",
    "meeting rooms 101 to 120",
    "every team lead",
    "the nightly 02:00 run",
]
TAILS = [
    "Kill the process if it hangs for more than 10 minutes.",
    "Execute the order only after two approvals.",
    "See section 4.3 of the handbook for details.",
    "Contact the service desk through the portal.",
    "",
]
PII = [
    "Send the form to {e}.",
    "Call the on-call lead at +1 415 555 {n:04d}.",
    "Refund to card 4111 1111 1111 1111.",
    "The server at 10.0.{a}.{b} is deprecated.",
    "Use key sk-proj-{k} for the staging account.",
    "IBAN DE89370400440532013000 for vendors.",
]
HARM = ["I will kill my manager if this happens again.", "How to build a pipe bomb at home."]


def make_records(n: int, seed: int = 0) -> list[AlpacaRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        text = " ".join(
            [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS) + ".", rng.choice(TAILS)]
        )
        roll = rng.random()
        if roll < 0.04:
            text += " " + rng.choice(PII).format(
                e=f"user{i}@example.com",
                n=rng.randrange(10000),
                a=rng.randrange(256),
                b=rng.randrange(256),
                k="".join(rng.choices("abcdefghijkLMNOP0123456789", k=32)),
            )
        elif roll < 0.045:
            text += " " + rng.choice(HARM)
        records.append(
            AlpacaRecord(
                instruction=f"What does the document say about {rng.choice(SUBJECTS).lower()}?",
                output=text.strip(),
                meta=Meta(id=f"r{i}", format="alpaca"),
            )
        )
    return records


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(name: str, step, records) -> None:
    list(step.run(records[:200]))  # warm-up: imports and regex compilation
    step.__init__(step.config)
    t = time.perf_counter()
    kept = sum(1 for _ in step.run(records))
    dt = time.perf_counter() - t
    print(
        f"{name:8s} {len(records):>7,} records  {dt:6.1f} s  {len(records) / dt:>8,.0f} rec/s  "
        f"kept {kept:,}  peak RSS {peak_rss_mb():,.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    t = time.perf_counter()
    records = make_records(args.records)
    print(f"built {len(records):,} records in {time.perf_counter() - t:.1f} s")
    bench("pii", PiiStep(), records)
    bench("harmful", HarmfulContentStep(), records)


if __name__ == "__main__":
    main()
