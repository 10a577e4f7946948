"""The review queue as the pages read it: one page at a time from the review store.

The API's queue (:func:`generator.service.api.review.review_queue`) draws or resumes the
queue and pages it; a page here opens the run journal the same way (the run locked as the
API and the CLI lock it, the queue prepared by the same stage function) and then reads only
the rows it shows (:meth:`ReviewStore.page`, :meth:`ReviewStore.at`), so its time does not
grow with the queue. A decision goes through the API's own
:func:`~generator.service.api.review.write_decision`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from generator.curate.quality import journal_source_text
from generator.review.session import prepare
from generator.review.store import Item, ReviewStore
from generator.service.api import review as api
from generator.service.errors import ApiError, not_found
from generator.service.users import Principal
from generator.service.web.journals import review_journal
from generator.store import JOURNAL_NAME

BATCH = 200  # rows read at a time while filling a filtered page


@contextlib.contextmanager
def review_store(
    request: Request, rid: int, user: Principal
) -> Iterator[tuple[dict[str, Any], ReviewStore | None]]:
    """The run row and its prepared review store (None before anything was generated); a
    run outside the user's projects is 404 like an unknown one."""
    run, run_dir = api.run_folder(request, rid, user)
    if not (run_dir / JOURNAL_NAME).exists():
        yield run, None
        return
    with review_journal(run_dir) as journal:
        store = ReviewStore(journal)
        prepare(store, run_dir, None, None)
        yield run, store


def shown(store: ReviewStore, it: Item, *, source: bool = True) -> api.ReviewItem:
    """One queue item as the API shows it (its decision only if made on this text)."""
    d = store.decision_on(it.record_id)
    text = journal_source_text(store.journal)(it.record) if source else None
    return api.review_item(it, d, text)


def filtered(
    store: ReviewStore, after: int, limit: int, origin: str, status: str, q: str
) -> tuple[list[api.ReviewItem], int | None]:
    """Up to ``limit`` items after position ``after`` matching the filters, and the cursor
    of the next page (None on the last)."""
    needle = q.lower()
    plain = needle.isascii() and needle.isprintable() and not set('"\\') & set(needle)
    pre = needle if plain else ""  # as it is written in the record's JSON
    size = BATCH if needle else limit + 1  # the SQL filters are exact; the text's is not
    out: list[api.ReviewItem] = []
    while True:
        batch = store.page(after, size, origin=origin, status=status, contains=pre)
        for it in batch:
            if needle and not _contains(it, needle):
                continue
            if len(out) == limit:
                return out, out[-1].position
            out.append(shown(store, it, source=False))
        if len(batch) < size:
            return out, None
        after = batch[-1].position


def _contains(it: Item, needle: str) -> bool:
    text = " ".join(t for _, t in it.record.text_fields()).lower()
    return needle in text or needle in (it.reason or "").lower()


def decide(
    request: Request, run: dict[str, Any], store: ReviewStore, it: Item, body: dict[str, Any],
    user: Principal,
) -> None:  # fmt: skip
    """Check and write one decision from a form on queue item ``it``: the API's own
    :func:`~generator.service.api.review.write_decision`."""
    try:
        decision = api.DecisionIn(**body)
    except ValidationError as exc:
        raise ApiError(422, exc.errors()[0].get("msg", "invalid decision")) from exc
    api.write_decision(request, run, store, it, decision, user)


def find(store: ReviewStore, rid: int, record_id: str) -> Item:
    it = store.find(record_id)
    if it is None:
        raise not_found(f"record {record_id!r} in the review queue of run {rid}")
    return it
