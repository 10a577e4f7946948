"""Opening a run folder for a command: the one place every command goes through.

:func:`open_run_folder` does, in order:

1. **Folder checks.** A path that is a file is refused. A command's *output* folder
   (``--out`` of ``ingest``, ``generate``, ``curate --input``) is created when missing and
   reused when it is a run (it has ``run.sqlite``); an existing folder that is not a run and
   holds anything is refused, so nothing is ever written into someone else's files. A
   command's *input* folder (``curate RUN``, ``export RUN``, ``review RUN``) must exist.
2. **One writer per run.** An exclusive ``fcntl.flock`` on ``RUN/run.lock``, held for the
   whole command and released by the OS when the process ends however it ends (no stale
   lock to clear by hand). The holder writes its pid, command and start time into the file,
   so a refused command names it. ``flock`` locks belong to an open file description, so a
   second open in the same process would not be told apart from another process: a
   process-wide table refuses a second opening of the same run here as well.
3. **Journal integrity.** :class:`~generator.store.Journal` runs ``PRAGMA quick_check`` at
   open; a damaged journal is one line and exit 2, never a traceback.
4. **Healing.** ``records.jsonl`` and ``rejected.jsonl`` are made to agree with the journal
   before anything reads them (:func:`generator.generate.heal.heal_outputs`): lines the
   journal lacks are validated and taken back, lines it has are restored.

``runs show`` only reads the journal and takes no lock, so it works while a run is written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from generator.errors import ConfigError, DiskFull, RunBusyError, from_os_error
from generator.records import utcnow
from generator.store import JOURNAL_NAME, Journal, damaged

if TYPE_CHECKING:
    from generator.generate.heal import HealPlan, HealReport

LOCK_NAME = "run.lock"
# Files a run folder may hold before its journal exists (the lock is taken first).
_OURS_BEFORE_JOURNAL = {LOCK_NAME}

_held: dict[tuple[int, int], dict[str, Any]] = {}  # (st_dev, st_ino) of run.lock -> holder
_held_guard = threading.Lock()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def check_folder(path: Path, *, create: bool) -> None:
    """Step 1 of the module docstring: refuse a file, a missing input, a foreign folder."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot open the run folder {path}: it is a file")
    if not path.exists():
        if not create:
            raise ConfigError(f"{path}: no such file or folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if isinstance(full := from_os_error(exc, path), DiskFull):
                raise full from exc  # exit 4: free space and re-run
            raise ConfigError(f"cannot open the run folder {path}: {exc.strerror}") from exc
        return
    if not create or (path / JOURNAL_NAME).exists():
        return
    try:
        foreign = sorted(p.name for p in path.iterdir() if p.name not in _OURS_BEFORE_JOURNAL)
    except OSError as exc:
        raise ConfigError(f"cannot read the folder {path}: {exc.strerror}") from exc
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        shown = ", ".join(foreign[:3]) + more
        raise ConfigError(
            f"{path} is not an instructforge run (no {JOURNAL_NAME}) and is not empty "
            f"({shown}): refusing to write into it; give a new or empty folder"
        )


class RunLock:
    """The exclusive lock on ``RUN/run.lock`` (module docstring, step 2)."""

    def __init__(self, run_dir: Path, command: str) -> None:
        self.path = run_dir / LOCK_NAME
        self.command = command
        self._fh: IO[str] | None = None
        self._key: tuple[int, int] | None = None
        self.read_only = False

    def acquire(self, *, create: bool = False) -> None:
        try:
            fh = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            if exc.errno == errno.EROFS and not create:
                self.read_only = True  # nobody can write this run: nothing to guard or heal
                return
            if isinstance(full := from_os_error(exc, self.path), DiskFull):
                raise full from exc
            raise ConfigError(f"cannot lock the run folder {self.path.parent}: "
                              f"{exc.strerror}") from exc  # fmt: skip
        st = os.fstat(fh.fileno())
        key = (st.st_dev, st.st_ino)
        with _held_guard:
            mine = _held.get(key)
            if mine is not None:
                fh.close()
                raise self._busy(mine, same_process=True)
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise self._busy(self._holder(), same_process=False) from None
            except OSError as exc:
                fh.close()
                raise ConfigError(f"cannot lock {self.path}: {exc.strerror}") from exc
            info = {"pid": os.getpid(), "command": f"instructforge {self.command}",
                    "started_at": utcnow()}  # fmt: skip
            _held[key] = info
        self._fh, self._key = fh, key
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info) + "\n")
        fh.flush()

    def release(self) -> None:
        fh, key, self._fh, self._key = self._fh, self._key, None, None
        if fh is None or key is None:
            return
        with _held_guard:
            _held.pop(key, None)
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()  # still held: nobody reads a stale holder after us
                fh.flush()
            fh.close()  # closing the last descriptor releases the flock

    def _holder(self) -> dict[str, Any]:
        """What the holder wrote (it writes right after locking: wait a moment for it)."""
        for _ in range(20):
            try:
                text = self.path.read_text(encoding="utf-8").strip()
                if text:
                    return json.loads(text)
            except (OSError, ValueError):
                pass
            time.sleep(0.025)
        return {}

    def _busy(self, holder: dict[str, Any], *, same_process: bool) -> RunBusyError:
        who = (
            f"pid {holder.get('pid', '?')} ({holder.get('command', '?')}, started "
            f"{holder.get('started_at', '?')})"
            if holder
            else "another process (it has not written its name yet)"
        )
        where = " in this same process" if same_process else ""
        return RunBusyError(
            f"{self.path.parent} is being written by {who}{where}; one command at a time per "
            "run: wait for it to finish (or stop it), then run this again"
        )


def live_holder(run_dir: Path) -> dict[str, Any] | None:
    """Who holds ``run_dir``'s lock, as it wrote itself into ``run.lock``, if that process
    is still alive; None when nobody does (an ended command empties the file; a killed one
    leaves a pid that no longer runs). Only reads: never takes the lock, so it cannot get
    in the way of a command starting at the same moment."""
    try:
        holder = json.loads((run_dir / LOCK_NAME).read_text(encoding="utf-8") or "null")
        pid = int(holder["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return holder


@dataclass
class RunFolder:
    """An opened run: its path, lock and journal (None for a folder without one)."""

    path: Path
    command: str
    journal_or_none: Journal | None
    say: Callable[[str], None] = _say
    notes: list[str] = field(default_factory=list)

    @property
    def journal(self) -> Journal:
        """The journal; a folder without one (JSONL files made elsewhere) is refused."""
        if self.journal_or_none is None:
            raise ConfigError(f"{self.path} is not an instructforge run (no {JOURNAL_NAME})")
        return self.journal_or_none

    def heal(self, plan: HealPlan | None = None) -> HealReport:
        """Make records.jsonl / rejected.jsonl agree with the journal (module docstring,
        step 4); generate's ``plan`` also marks done the units whose records came back."""
        from generator.generate.heal import HealReport, heal_outputs

        if self.journal_or_none is None:
            return HealReport()
        report = heal_outputs(self.journal_or_none, self.path, plan=plan)
        for line in report.lines():
            self.notes.append(line)
            self.say(f"warning: {line}")
        return report


@contextlib.contextmanager
def open_run_folder(
    path: str | Path,
    command: str,
    *,
    create: bool = False,
    need_journal: bool = False,
    heal: bool = False,
    writes_to: str | Path | None = None,
    say: Callable[[str], None] = _say,
) -> Iterator[RunFolder]:
    """Check, lock, open and (with ``heal``) heal a run folder for ``command``.

    ``create``: the folder is the command's output (created, or refused when foreign).
    ``need_journal``: an input folder must be a run (``review``); otherwise a folder of
    JSONL files made elsewhere is read as it is (``curate RUN``, ``export RUN``).
    ``writes_to``: another folder the command writes (``export --out``); a file is refused."""
    run_dir = Path(path)
    if writes_to is not None and Path(writes_to).exists() and not Path(writes_to).is_dir():
        raise ConfigError(f"cannot write to {writes_to}: it is a file, not a folder")
    check_folder(run_dir, create=create)
    lock = RunLock(run_dir, command)
    lock.acquire(create=create)
    journal: Journal | None = None
    try:
        has = (run_dir / JOURNAL_NAME).exists()
        if not has and need_journal:
            raise ConfigError(f"{run_dir} is not an instructforge run (no {JOURNAL_NAME})")
        if (has and not lock.read_only) or create or need_journal:
            journal = Journal(run_dir)
        folder = RunFolder(run_dir, command, journal, say)
        if heal and not lock.read_only:
            folder.heal()
        yield folder
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:  # locked, constraint, programming errors
            raise
        raise damaged(run_dir / JOURNAL_NAME, str(exc)) from exc  # damage found past the check
    finally:
        if journal is not None:
            journal.close()
        lock.release()
