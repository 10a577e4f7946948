"""The run journal as the review pages open it: locked like ``instructforge review`` locks
it (:func:`generator.runfolder.open_run_folder`), with the integrity check once per file.

Opening a journal runs ``PRAGMA quick_check``, whose time grows with the journal (about
200 ms for a queue of 50,000 records): on every page load it alone would spend the page's
budget. A page checks a journal file (by device and inode) the first time this process
opens it; the CLI, the API and the jobs still check it on each open, and a damaged page
read past the check still ends as the run-damaged error.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from generator.errors import ConfigError, RunBusyError
from generator.runfolder import RunLock, check_folder
from generator.service.errors import ApiError
from generator.store import JOURNAL_NAME, Journal, damaged

_checked: set[tuple[int, int]] = set()
_guard = threading.Lock()


class CheckedOnce(Journal):
    def _check_integrity(self) -> None:
        st = self.path.stat()
        key = (st.st_dev, st.st_ino)
        with _guard:
            if key in _checked:
                return
        super()._check_integrity()
        with _guard:
            _checked.add(key)


@contextlib.contextmanager
def review_journal(run_dir: Path) -> Iterator[Journal]:
    """The run journal, the run locked for ``review``; 409 when busy or not a run (as the
    API's :func:`generator.service.api.review.open_journal`)."""
    try:
        check_folder(run_dir, create=False)
        lock = RunLock(run_dir, "review")
        lock.acquire()
    except RunBusyError as exc:
        raise ApiError(409, "the run is busy (a job or command holds it); try again") from exc
    except ConfigError as exc:
        raise ApiError(409, f"the run has nothing to review yet: {exc}") from exc
    try:
        journal = CheckedOnce(run_dir, create=False)
        try:
            yield journal
        finally:
            journal.close()
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:  # locked, constraint, programming errors
            raise
        raise damaged(run_dir / JOURNAL_NAME, str(exc)) from exc
    finally:
        lock.release()
