"""The review tables in the run journal (migrated by :class:`~generator.review.store.ReviewStore`):
the drawn queue (``review_items``), every decision (``review_decisions``) and a few settings
(``review_meta``)."""

from __future__ import annotations

REVIEW_MIGRATIONS = [
    """
    CREATE TABLE review_items (
        record_id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        origin TEXT NOT NULL,        -- 'flagged' (sent by a curation step) or 'sample'
        stratum TEXT NOT NULL,
        reason TEXT,                 -- why a step sent it (flagged items)
        record TEXT NOT NULL         -- record JSON as drawn
    );
    CREATE TABLE review_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        record_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'edit', 'skip')),
        reason TEXT,
        reviewer TEXT NOT NULL,
        at TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE INDEX review_decisions_record ON review_decisions(record_id, id);
    CREATE TABLE review_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # the text a decision was made on: a record whose text changed since needs a new one
    "ALTER TABLE review_decisions ADD COLUMN text_sha256 TEXT;",
    # each item's text digest and whether it holds a decision on that text (kept by
    # decide and append_items), indexed so a page of the queue reads its own rows only
    # (review_digest: registered by ReviewStore)
    """
    ALTER TABLE review_items ADD COLUMN text_sha256 TEXT;
    ALTER TABLE review_items ADD COLUMN decided INTEGER NOT NULL DEFAULT 0;
    UPDATE review_items SET text_sha256 = review_digest(record);
    UPDATE review_items AS i SET decided = EXISTS (VALID_DECISION);
    CREATE INDEX review_items_position ON review_items(position);
    CREATE INDEX review_items_origin ON review_items(origin, position);
    CREATE INDEX review_items_pending ON review_items(position) WHERE decided = 0;
    """,
]

# the latest non-skip decision on an item (alias i), if it was made on the item's text
VALID_DECISION = """
    SELECT d.* FROM review_decisions d WHERE d.id = (
        SELECT max(id) FROM review_decisions WHERE record_id = i.record_id AND decision != 'skip')
    AND (d.text_sha256 IS NULL OR d.text_sha256 = i.text_sha256)"""
REVIEW_MIGRATIONS[-1] = REVIEW_MIGRATIONS[-1].replace("VALID_DECISION", VALID_DECISION)
COLUMNS = "record_id, position, origin, stratum, reason, record, text_sha256"
