"""Which text is a pair's chosen answer and which its rejected one, from what produced the
pair (the run's journal), never from the pair file's own claim.

* a reviewer-edit pair (both sides name the same record): the record's latest review
  decision is an edit; its edited answer is chosen, the answer before the edit rejected;
* any other side is an answer the run journaled: a derive stage's answer (``kind_records``:
  ``pair-answer``, ``pair-flawed``) or a generated record (``gen_records``, its answer);
* which side is preferred: an answer made flawed on purpose is always the rejected one, and
  two ranked answers are ordered by the judge's journaled ranking (``pair_judges``).

:func:`check_texts` returns None when the pair's two texts are the journaled ones in the
journaled order, else one line saying what differs (a swap, an edited side, a side the
journal does not hold). The sha256 of each journaled text is recorded beside an exported
pair so ``verify`` checks the pack's rows against it (:func:`row_texts`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from generator.derive.store import (
    judge_row,
    kind_of,
    kind_row,
    prompt_sha256,
    sha256_text,
    texts_row,
)

SWAPPED = "chosen and rejected are swapped against the run's journal"


def _answer(data: Any) -> str | None:
    """The answer of a journaled line: a derive stage's ``answer``, or a record's last turn."""
    from generator.derive.pairs import split_prompt
    from generator.records import parse_record

    if not isinstance(data, dict):
        return None
    if isinstance(data.get("answer"), str):
        return data["answer"]
    try:
        split = split_prompt(parse_record(data))
    except ValueError:
        return None
    return split[1] if split else None


def _journaled(conn: sqlite3.Connection, rid: str) -> str | None:
    for table in ("kind_records", "gen_records"):
        row = kind_row(conn, rid, table)
        if row is not None:
            try:
                return _answer(json.loads(row[0]))
            except ValueError:
                return None
    return None


def _edit(conn: sqlite3.Connection, rid: str) -> tuple[str | None, str | None] | None:
    """(answer before, answer after) of the record's latest review decision if it is an
    edit, else None."""
    try:
        row = conn.execute(
            "SELECT decision, before, after FROM review_decisions WHERE record_id=?"
            " ORDER BY id DESC LIMIT 1",
            (rid,),
        ).fetchone()
    except sqlite3.Error:
        return None
    if row is None or row[0] != "edit":
        return None
    try:
        return _answer(json.loads(row[1] or "null")), _answer(json.loads(row[2] or "null"))
    except ValueError:
        return None, None


def expected_texts(
    conn: sqlite3.Connection | None, pair: dict[str, Any]
) -> tuple[str | None, str | None, bool]:
    """(chosen text, rejected text, swapped) as the journal has them for the pair's two
    sides; ``swapped``: the journal prefers the side the pair file rejects."""
    ids = [str((pair.get(n) or {}).get("id")) for n in ("chosen", "rejected")]
    if conn is None:
        return None, None, False
    if ids[0] == ids[1]:  # one record on both sides: a reviewer's edit of it
        edit = _edit(conn, ids[0])
        return (edit[1], edit[0], False) if edit else (None, None, False)
    texts = [_journaled(conn, rid) for rid in ids]
    kinds = [kind_of(conn, rid) for rid in ids]
    swapped = kinds[0] == "pair-flawed" and kinds[1] != "pair-flawed"
    if kinds == ["pair-answer", "pair-answer"] and judge_row(conn, ids[0], ids[1]) is None:
        swapped = judge_row(conn, ids[1], ids[0]) is not None
    return texts[0], texts[1], swapped


def check_texts(
    conn: sqlite3.Connection | None,
    pid: str,
    pair: dict[str, Any],
    texts: tuple[str, str],
    prompt: list[dict[str, Any]] | None = None,
) -> tuple[str | None, dict[str, str] | None]:
    """(what differs from the journal or None, the sha256 of the journaled texts). The
    texts' sha256 are those the stage journaled for pair ``pid`` (``pair_texts``: after its
    curation steps, with its prompt's); a pair made before they were journaled is checked
    against the sides' journaled answers themselves."""
    chosen, rejected = texts
    want_c, want_r, swapped = expected_texts(conn, pair)
    journaled = texts_row(conn, pid) if conn is not None else None
    if journaled is not None and prompt is not None and prompt_sha256(prompt) != journaled[2]:
        return "the prompt differs from the one the run journaled (edited)", None
    row = journaled[:2] if journaled is not None else None
    if row is None:
        missing = [n for n, t in (("chosen", want_c), ("rejected", want_r)) if t is None]
        if missing:
            return (
                f"the run's journal does not hold the {' and '.join(missing)} side's text "
                "(no such answer, record or reviewer edit): which text was preferred is unknown"
            ), None
        assert want_c is not None and want_r is not None
        row = (sha256_text(want_c), sha256_text(want_r))
    have = (sha256_text(chosen), sha256_text(rejected))
    if swapped or (row[0] != row[1] and have == row[::-1]):
        return SWAPPED, None
    for name, got, want in (("chosen", have[0], row[0]), ("rejected", have[1], row[1])):
        if got != want:
            return f"the {name} text differs from the one the run journaled (edited)", None
    return None, {"chosen": row[0], "rejected": row[1]}


def row_texts(row: Any) -> tuple[str, str] | None:
    """(chosen, rejected) of an exported preference row (TRL standard or conversational,
    OpenAI's preference format), or None."""
    if not isinstance(row, dict):
        return None
    try:
        if "preferred_output" in row:
            c, r = row["preferred_output"][0]["content"], row["non_preferred_output"][0]["content"]
        elif isinstance(row.get("chosen"), list):
            c, r = row["chosen"][0]["content"], row["rejected"][0]["content"]
        else:
            c, r = row["chosen"], row["rejected"]
    except (KeyError, IndexError, TypeError):
        return None
    return (c, r) if isinstance(c, str) and isinstance(r, str) else None


def check_row(texts: Any, row: Any) -> str | None:
    """``verify``: what differs between an exported pair's row and the journaled texts'
    sha256 recorded beside it, or None."""
    if not isinstance(texts, dict) or not all(
        isinstance(texts.get(k), str) for k in ("chosen", "rejected")
    ):
        return "no sha256 of the journaled texts recorded beside it"
    got = row_texts(row)
    if got is None:
        return "its row holds no chosen and rejected answer"
    have = [sha256_text(t) for t in got]
    want = [texts["chosen"], texts["rejected"]]
    if have == want:
        return None
    if have == want[::-1]:
        return SWAPPED
    side = "chosen" if have[0] != want[0] else "rejected"
    return f"the {side} text differs from the one the run journaled"
