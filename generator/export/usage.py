"""What the run's provider calls cost, for the export manifest: generation's calls and
curation's checks, read from the run journal (read-only; nothing is recomputed).

Calls answered by the cross-run call cache are counted as ``cache_hits`` and cost 0 here
(the run paid nothing for them); ``cached_tokens`` are the prompt tokens the provider read
from its own prompt cache (priced at its cached rate, already in ``cost_usd``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

_GEN = (
    "SELECT COUNT(*) - COALESCE(SUM(cache_hit), 0), COALESCE(SUM(cache_hit), 0),"
    " COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
    " COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM gen_calls"
)
_JUDGE = (
    "SELECT COUNT(*) - COALESCE(SUM(cache_hit), 0), COALESCE(SUM(cache_hit), 0),"
    " COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
    " 0, COALESCE(SUM(cost_usd), 0) FROM judge_calls"
)
_KEYS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd")


def _totals(conn: sqlite3.Connection, sql: str) -> dict[str, Any] | None:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError:
        # a journal from before the cache columns (read-only here: not migrated): no hits
        legacy = sql.replace("COALESCE(SUM(cache_hit), 0)", "0").replace(
            "COALESCE(SUM(cached_tokens), 0)", "0"
        )
        try:
            row = conn.execute(legacy).fetchone()
        except sqlite3.Error:  # the stage never ran in this run
            return None
    out = dict(zip(_KEYS, row, strict=True))
    out["cost_usd"] = round(float(out["cost_usd"]), 6)
    return out


def usage_totals(run: Path) -> dict[str, Any] | None:
    """``{"generate": {...}, "curate_checks": {...}}`` of ``run``; None without a journal."""
    path = Path(run) / "run.sqlite"
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return {"generate": _totals(conn, _GEN), "curate_checks": _totals(conn, _JUDGE)}
    finally:
        conn.close()
