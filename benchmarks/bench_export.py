"""Export throughput: N records through the licence gate, conversion and writing, per format.

Prints records/s and peak RSS for each format (records built in memory, written to a temp run).
Usage: python benchmarks/bench_export.py [N]   (default 20,000)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import psutil

from generator.export.job import ExportOptions, run_export
from generator.policies import load_policies
from tests.export._build import alpaca, chat, make_run


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    pols = load_policies()
    records = [
        alpaca(i, pols["openai"]) if i % 4 else chat(i, pols["anthropic"], model="anthropic/c")
        for i in range(n)
    ]
    for i, r in enumerate(records):
        r["meta"]["id"] = f"r{i}"
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), records)
        mb = (run / "records.jsonl").stat().st_size / 1e6
        print(f"{n} records ({mb:.1f} MB JSONL), use internal-fine-tune, 2 policies accepted")
        for fmt in ("alpaca", "openai-chat", "sharegpt", "parquet"):
            t = time.perf_counter()
            res = run_export(
                ExportOptions(
                    run,
                    fmt,
                    "internal-fine-tune",
                    Path(tmp) / fmt,
                    accept_review=("openai", "anthropic"),
                )
            )
            dt = time.perf_counter() - t
            rss = psutil.Process().memory_info().rss / 1e6
            print(
                f"  {fmt:12s} {res.n_exported:7d} exported in {dt:6.2f} s = "
                f"{res.n_exported / dt:8.0f} records/s; RSS {rss:.0f} MB"
            )


if __name__ == "__main__":
    main()
