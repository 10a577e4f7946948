"""The terminal review loop: one record at a time beside its source chunk, with scores and
flags; keys accept, reject (with a reason), edit ($EDITOR or inline), skip, quit. Every
decision is written to the journal at once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import click
from pydantic import ValidationError
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from generator.records import Record, parse_record
from generator.review.store import Item, ReviewStore, reviewer_name

KEYS = "[a]ccept  [r]eject  [e]dit  [s]kip  [q]uit"


def _record_text(record: Record) -> str:
    return "\n\n".join(f"[{field}]\n{text}" for field, text in record.text_fields())


def _flags(record: Record) -> str:
    cur = record.meta.curation
    parts = []
    quality = cur.get("quality") or {}
    if "score" in quality:
        parts.append(f"quality {quality['score']:.2f} {quality.get('parts', {})}")
    if "judge" in quality:
        parts.append(f"judge {quality['judge']}")
    for name, value in cur.items():
        if name not in ("quality",) and isinstance(value, dict) and value:
            parts.append(f"{name}: {json.dumps(value, ensure_ascii=False)[:200]}")
    return "\n".join(parts) or "no scores or flags"


def edit_record(record: Record, use_editor: bool, prompt: Callable[..., str]) -> Record | None:
    """Return an edited copy (validated), or None if the reviewer left it unchanged."""
    fields = {k: v for k, v in record.to_dict().items() if k != "meta"}
    if use_editor:
        edited = click.edit(json.dumps(fields, indent=2, ensure_ascii=False), extension=".json")
        if edited is None:
            return None
        new_fields = json.loads(edited)
    else:
        names = [f for f, _ in record.text_fields()]
        field = prompt("field to edit", type=click.Choice(names), show_choices=True)
        value = prompt("new text")
        copy = record.model_copy(deep=True)
        copy.set_text(field, value)
        new_fields = {k: v for k, v in copy.to_dict().items() if k != "meta"}
    if new_fields == fields:
        return None
    return parse_record({**new_fields, "meta": record.meta.model_dump(mode="json")})


def review_loop(
    store: ReviewStore,
    chunk_text: Callable[[Record], str | None],
    console: Console | None = None,
    *,
    reviewer: str | None = None,
) -> dict[str, int]:
    """Walk the pending items; returns counts of decisions made in this session."""
    console = console or Console()
    reviewer = reviewer or reviewer_name()
    counts = {"accept": 0, "reject": 0, "edit": 0, "skip": 0}
    pending = store.pending()
    total = len(store.items())
    done = total - len(pending)
    use_editor = bool(os.environ.get("EDITOR"))
    for n, item in enumerate(pending, start=1):
        _show(console, item, done + n, total, chunk_text(item.record))
        while True:
            key = click.prompt(KEYS, default="s", show_default=False).strip().lower()[:1]
            if key == "q":
                console.print(
                    f"saved; {len(pending) - n + 1} left. Run the same command to resume."
                )
                return counts
            if key == "a":
                store.decide(item.record_id, "accept", reviewer=reviewer)
            elif key == "s":
                store.decide(item.record_id, "skip", reviewer=reviewer)
            elif key == "r":
                reason = click.prompt("reason").strip()
                store.decide(item.record_id, "reject", reason=reason, reviewer=reviewer)
            elif key == "e":
                try:
                    after = edit_record(item.record, use_editor, click.prompt)
                except (ValueError, ValidationError) as exc:
                    console.print(f"[red]edit not valid, nothing saved:[/red] {str(exc)[:300]}")
                    continue
                if after is None:
                    console.print("unchanged; choose again")
                    continue
                store.decide(
                    item.record_id, "edit", reviewer=reviewer, before=item.record, after=after
                )
            else:
                console.print(f"unknown key {key!r}")
                continue
            counts[{"a": "accept", "r": "reject", "e": "edit", "s": "skip"}[key]] += 1
            break
    console.print("review queue finished")
    return counts


def _show(console: Console, item: Item, pos: int, total: int, source: str | None) -> None:
    title = f"{pos}/{total}  {item.origin}"
    if item.reason:
        title += f"  (sent by curation: {item.reason})"
    left = Panel(Text(_record_text(item.record)), title=f"record {item.record_id}")
    right = Panel(Text(source or "(source chunk not available)"), title="source chunk")
    console.rule(title)
    console.print(Columns([left, right], equal=True, expand=True))
    console.print(Panel(Text(_flags(item.record)), title="scores and flags"))
