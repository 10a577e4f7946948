"""Ingestion as a stream: scan -> read one file -> document -> chunks -> journal -> next.

Only one document (and its chunks) is in memory at a time, so memory does not grow with
the corpus. A file whose sha256 and chunk settings match what the run already holds is not
parsed again. Every file ends as exactly one :class:`FileResult`; nothing raised while
reading one file stops the others (unexpected exceptions become an error line naming the
exception type). The journal mirrors the folder: documents that disappeared from it, or that
turned bad, are removed from the run.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from generator.display import shown_path
from generator.errors import ConfigError, IngestError
from generator.ingest.base import build_document
from generator.ingest.chunking import Chunker
from generator.ingest.settings import (
    DEFAULT_MAX_FILE_MB,
    SETTINGS_KEY,
    IngestSettings,
    resolve,
    same_chunks,
)
from generator.ingest.walk import ERROR, SKIPPED, Entry, scan
from generator.records import Chunk, Document
from generator.store import Journal

INGESTED, UNCHANGED = "ingested", "unchanged"


@dataclass
class FileResult:
    """What happened to one file: ingested, unchanged, skipped or error (with reason)."""

    path: str
    type: str
    status: str
    size: int = 0
    chunks: int = 0
    tokens: int = 0
    reason: str = ""

    def line(self) -> str:
        """``path: reason`` for one printed line (control characters escaped)."""
        return shown_path(f"{self.path}: {self.reason}" if self.reason else self.path)


def plan(docs: str | Path, settings: IngestSettings, run_dir: Path | None = None) -> list[Entry]:
    """The scan of ``docs`` (paths and reasons only, never contents); ``run_dir``, if inside
    ``docs``, is left out."""
    root = Path(docs)
    if not root.is_dir():
        raise ConfigError(f"document folder not found: {docs}")
    return list(scan(root, max_bytes=settings.max_bytes, exclude=run_dir))


def _mtime(path: Path) -> str:
    stamp = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _describe(exc: BaseException) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"unexpected {type(exc).__name__}" + (f": {first}" if first else "")


@dataclass
class ParseJob:
    """One file to parse: its bytes and what the document needs besides them (picklable,
    so a ``--cluster`` worker can run :func:`parse_job` on it)."""

    entry: Entry
    data: bytes
    sha: str
    mtime: str


#: parses jobs, yielding each one's outcome in the order given (in this process by default;
#: ``generator.cluster.ingest`` maps them over Dask workers)
ParseMap = Callable[[Iterable[ParseJob], IngestSettings], Iterator["Parsed | FileResult"]]

Parsed = tuple[Document, list[Chunk]]

_CHUNKERS: dict[str, Chunker] = {}


def _chunker(settings: IngestSettings) -> Chunker:
    key = repr(settings.chunks)
    if key not in _CHUNKERS:  # one per settings per process (tokenizer tables are large)
        _CHUNKERS.clear()
        _CHUNKERS[key] = Chunker(settings.chunks)
    return _CHUNKERS[key]


def parse_job(job: ParseJob, settings: IngestSettings) -> Parsed | FileResult:
    """Parse and chunk one file: the document and its chunks, or its error result. Touches
    no journal, so it runs in any process."""
    entry = job.entry
    assert entry.reader is not None
    try:
        parsed = entry.reader.read(job.data, entry.rel, settings.zip_limits)
        # the file's own time: the date of last resort for a document without dated metadata
        parsed.metadata.setdefault("file_modified", job.mtime)
        doc = build_document(
            parsed, path=entry.rel, sha256=job.sha, size=entry.size, type_name=entry.reader.name
        )
        return doc, list(_chunker(settings).chunk(doc))
    except IngestError as exc:
        return FileResult(entry.rel, entry.type, ERROR, entry.size, reason=exc.reason)
    except Exception as exc:  # nothing about one file may stop the others
        return FileResult(entry.rel, entry.type, ERROR, entry.size, reason=_describe(exc))


def parse_here(jobs: Iterable[ParseJob], settings: IngestSettings) -> Iterator[Parsed | FileResult]:
    """The default :data:`ParseMap`: one job after the other in this process."""
    for job in jobs:
        yield parse_job(job, settings)


def ingest_entries(
    entries: Iterable[Entry],
    journal: Journal,
    settings: IngestSettings,
    *,
    on_file: Callable[[Entry], None] | None = None,
    reingest: bool = False,
    parse: ParseMap = parse_here,
) -> Iterator[FileResult]:
    """Ingest scanned entries into ``journal``, yielding one result per file in scan order.
    An unchanged file keeps its stored chunks unless the chunk settings differ from the
    stored ones or ``reingest`` asks for every file to be parsed again. ``parse`` may parse
    ahead (on other processes); every journal write stays here, in scan order."""
    same_chunking = not reingest and same_chunks(journal.get_setting(SETTINGS_KEY), settings)
    journal.set_setting(SETTINGS_KEY, settings.stored())
    journal.execute("DELETE FROM skipped")  # the skipped list describes the latest scan
    known = {r["path"] for r in journal.query("SELECT path FROM documents")}
    seen: set[str] = set()
    # Files are read here (sha256, unchanged check) as the parser asks for them; the jobs
    # go to ``parse`` and come back in order, interleaved with files needing no parse.
    ready: dict[int, FileResult] = {}
    order: list[tuple[Entry, ParseJob | None]] = []
    waiting: deque[int] = deque()  # indices in ``order`` of jobs sent to ``parse``

    def jobs() -> Iterator[ParseJob]:
        for entry in entries:
            if on_file:
                on_file(entry)
            first = _prepare(entry, journal, same_chunking)
            if isinstance(first, FileResult):
                ready[len(order)] = first
                order.append((entry, None))
            else:
                waiting.append(len(order))
                order.append((entry, first))
                yield first

    done = 0

    def settle(upto: int) -> Iterator[FileResult]:
        nonlocal done
        while done < upto and done in ready:
            entry, _ = order[done]
            result = ready.pop(done)
            done += 1
            if result.status in (INGESTED, UNCHANGED):
                seen.add(entry.rel)
            else:
                journal.put_skipped(entry.rel, result.status, result.reason)
                if entry.rel in known:
                    journal.remove_document(entry.rel)
            yield result

    parsed_iter = parse(jobs(), settings)
    for outcome in parsed_iter:
        index = waiting.popleft()
        job = order[index][1]
        assert job is not None
        ready[index] = _commit(job, outcome, journal)
        yield from settle(len(order))
    yield from settle(len(order))
    for gone in sorted(known - seen):
        if journal.document_sha(gone) is not None:
            journal.remove_document(gone)
            yield FileResult(gone, "other", "removed", reason="no longer in the folder")


def _prepare(entry: Entry, journal: Journal, same: bool) -> FileResult | ParseJob:
    """Read one file: its result when it needs no parse (skipped, unreadable, unchanged),
    else the job to parse it."""
    if entry.kind in (SKIPPED, ERROR) or entry.reader is None:
        return FileResult(
            entry.rel, entry.type, entry.kind or SKIPPED, entry.size, reason=entry.reason
        )
    try:
        data = entry.path.read_bytes()
        mtime = _mtime(entry.path)
    except OSError as exc:
        return FileResult(
            entry.rel, entry.type, ERROR, entry.size, reason=f"unreadable: {exc.strerror or exc}"
        )
    sha = hashlib.sha256(data).hexdigest()
    if same:
        rows = journal.query(
            "SELECT sha256, n_chunks, n_tokens FROM documents WHERE path=?", (entry.rel,)
        )
        if rows and rows[0]["sha256"] == sha:
            return FileResult(
                entry.rel,
                entry.type,
                UNCHANGED,
                len(data),
                rows[0]["n_chunks"],
                rows[0]["n_tokens"],
            )
    return ParseJob(entry, data, sha, mtime)


def _commit(job: ParseJob, outcome: Parsed | FileResult, journal: Journal) -> FileResult:
    """Write one parsed document and its chunks to the journal (the only writer)."""
    entry = job.entry
    if isinstance(outcome, FileResult):
        return outcome
    doc, chunks = outcome
    try:
        n_chunks, n_tokens = journal.put_document(doc, chunks)
    except IngestError as exc:
        return FileResult(entry.rel, entry.type, ERROR, entry.size, reason=exc.reason)
    except Exception as exc:  # as when parsing: one file's failure stops no other
        return FileResult(entry.rel, entry.type, ERROR, entry.size, reason=_describe(exc))
    return FileResult(entry.rel, entry.type, INGESTED, entry.size, n_chunks, n_tokens)


def ingest_folder(docs: str | Path, journal: Journal, settings: IngestSettings) -> list[FileResult]:
    """Scan and ingest a folder (convenience for callers without a progress display)."""
    return list(ingest_entries(plan(docs, settings, journal.run_dir), journal, settings))


def ingest_kept(docs: str | Path, journal: Journal, model: str | None) -> list[FileResult]:
    """Ingest ``docs`` with the settings the run was ingested with (``generate`` does this
    before planning), so documents an earlier ``ingest`` accepted are neither dropped nor
    chunked again; ``model`` picks the tokenizer of a run ingested for the first time."""
    settings, _ = resolve(journal.get_setting(SETTINGS_KEY), {}, model=model)
    return ingest_folder(docs, journal, settings)


__all__ = ["DEFAULT_MAX_FILE_MB", "SETTINGS_KEY", "FileResult", "IngestSettings", "plan"]
