"""The tables of generation in the run journal (component ``generate``, applied in order by
:meth:`generator.store.Journal.migrate`); :mod:`generator.generate.journal` describes them
and is the only code that writes them."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE gen_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_hash TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        kind TEXT NOT NULL,               -- ask | reask
        attempt INTEGER NOT NULL,         -- 1.. (retries of the same request)
        status TEXT NOT NULL,             -- ok | error
        latency_s REAL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        error_code TEXT,
        error TEXT,                       -- one scrubbed line
        finish_reason TEXT,
        reply TEXT,                       -- raw reply text (ok calls)
        reasoning TEXT,                   -- the model's thinking, never parsed
        session INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE INDEX gen_calls_hash ON gen_calls(request_hash, status);
    CREATE TABLE gen_units (
        id TEXT PRIMARY KEY,
        chunk_id TEXT NOT NULL,
        template TEXT NOT NULL,
        idx INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,             -- done | failed
        n_accepted INTEGER NOT NULL,
        n_rejected INTEGER NOT NULL,
        done_at TEXT NOT NULL
    );
    CREATE TABLE gen_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        unit_id TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        data TEXT NOT NULL                -- the record line, JSON
    );
    CREATE TABLE gen_rejections (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        unit_id TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT,
        raw TEXT,
        data TEXT NOT NULL                -- the rejected.jsonl line, JSON
    );
    CREATE INDEX gen_rejections_reason ON gen_rejections(reason);
    CREATE TABLE gen_pool (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        unit_id TEXT NOT NULL,
        unit_pos INTEGER NOT NULL,        -- position of the unit in the plan
        fingerprint TEXT NOT NULL,
        instruction TEXT NOT NULL,
        example TEXT NOT NULL             -- JSON {instruction, input, output}
    );
    CREATE TABLE gen_sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,             -- running | done | stopped | interrupted | failed
        message TEXT,
        fingerprint TEXT
    );
    """,
    # 2: prompt-cache tokens the provider reported, and calls answered by the cross-run
    # call cache (cost 0 for this run; tokens and cost of such a row are 0).
    """
    ALTER TABLE gen_calls ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE gen_calls ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE gen_calls ADD COLUMN cache_corrupt INTEGER NOT NULL DEFAULT 0;
    """,
]
