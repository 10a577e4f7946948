"""``instructforge runs cancel RUN``: cancel a run's batches at the provider.

Every batch of the journal that may still be running is cancelled with the provider's
cancel call (its id from the journal; a batch whose create call was in doubt is looked for
first) and its new state journaled. A ``generate --batch`` still running on the run sees
the cancellation at its next poll and stops (exit 4); requests the provider had already
answered are kept (they are paid), the others are asked again when the run is re-run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from generator.errors import ConfigError, InstructforgeError
from generator.generate.batch.journal import IN_FLIGHT, BatchJournal
from generator.providers.batch import client_for
from generator.store import open_run


def _run_config(run_dir: Path) -> dict[str, str | None]:
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}: no generation recorded (config.json unreadable)") from exc
    return {k: config.get(k) for k in ("model", "api_base", "api_key_env")}


def cancel_batches(run_dir: Path) -> list[str]:
    """Cancel the run's batches in flight; one line per batch (what happened)."""
    with open_run(run_dir) as journal:
        bj = BatchJournal(journal)
        rows = bj.rows(IN_FLIGHT)
        if not rows:
            return []
        c = _run_config(run_dir)
        client = client_for(str(c["model"]), c["api_base"], c["api_key_env"])
        return asyncio.run(_cancel_all(client, bj, rows))


async def _cancel_all(client, bj: BatchJournal, rows: list[dict]) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    try:
        for row in rows:
            key, batch_id = row["key"], row["batch_id"]
            try:
                if batch_id is None and row["state"] in ("uploaded", "submitting"):
                    since = row["submitted_at"] or 0.0
                    batch_id = await client.find(row["file_id"], key, row["n_requests"], since)
                    if batch_id is not None:
                        bj.update(key, batch_id=batch_id)
                if batch_id is None:
                    bj.update(key, state="abandoned")
                    lines.append(f"{key}: never created at the provider (nothing to cancel)")
                    continue
                status = await client.cancel(batch_id)
            except InstructforgeError as exc:
                lines.append(f"{key} ({batch_id}): cancel failed: {exc}")
                continue
            bj.update(key, state=status.state)
            lines.append(f"{key} ({batch_id}): {status.state}")
    finally:
        await client.aclose()
    return lines
