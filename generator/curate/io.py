"""Reading records for curation: a run's ``records.jsonl`` or any file in one of our
formats (alpaca, chat, completion), and writing JSONL deterministically.

Input is JSONL (one object a line) or one JSON array of objects (Stanford Alpaca's
``alpaca_data.json`` layout, and our own ``alpaca-json`` export), told apart by the first
non-blank character. Foreign records are taken as they are: keys outside the format's
fields move to ``meta.extra`` (kept, never lost), a missing ``meta.id`` becomes a stable
hash of the content, and a line (or array item) that is not a record is reported with its
number and skipped. When more than half of them are bad (``MAX_BAD_SHARE``) the file is
not what it claims to be and reading stops with a ConfigError (exit 2) instead of curating
the few that parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.errors import ConfigError
from generator.records import RECORD_TYPES, Record, detect_format, parse_record, record_id

_FIELDS = {name: set(cls.model_fields) for name, cls in RECORD_TYPES.items()}
MAX_BAD_SHARE = 0.5  # more bad lines than this share of the non-blank ones: stop (exit 2)


@dataclass
class Problem:
    """A line of the input that could not be curated, and why."""

    line: int
    reason: str
    unit: str = "line"  # "item" for the elements of a JSON array

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.reason}"


@dataclass
class LoadReport:
    """What reading an input found: problems per line, lines read, ids assigned."""

    path: Path
    lines: int = 0
    problems: list[Problem] = field(default_factory=list)
    ids_assigned: int = 0
    entries: int = 0  # non-blank lines, or items of a JSON array
    layout: str = "jsonl"  # or "json-array"


def _short(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "<root>"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{loc}: {err['msg']}{more}"


def _adopt(data: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Our record layout from a foreign object: extra keys under meta.extra, format set."""
    given = data.get("meta")
    meta = dict(given) if isinstance(given, dict) else {}
    extra = {k: v for k, v in data.items() if k not in _FIELDS[fmt]}
    if "meta" in data and not isinstance(given, dict):
        extra["meta"] = given  # a non-object "meta" is foreign data: kept, not trusted
    out = {k: v for k, v in data.items() if k in _FIELDS[fmt] and k != "meta"}
    if extra:
        meta["extra"] = {**meta.get("extra", {}), **extra}
    meta.setdefault("format", fmt)
    out["meta"] = meta
    return out


def _content_id(data: dict[str, Any], fmt: str) -> str:
    body = {k: v for k, v in data.items() if k != "meta"}
    return record_id("import", fmt, json.dumps(body, sort_keys=True, ensure_ascii=False))


def _objects(path: Path, report: LoadReport) -> Iterator[tuple[int, Any]]:
    """(number, parsed JSON) of every non-blank line, or of every item of a JSON array;
    lines that do not decode or parse go to ``report.problems``."""
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        handle.seek(0)
        if head.startswith(b"["):
            yield from _array_items(path, handle.read(), report)
            return
        for number, raw in enumerate(handle, start=1):
            report.lines = number
            try:  # decoded per line: one bad byte sequence costs one line, not the file
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                report.entries += 1
                report.problems.append(Problem(number, "not UTF-8 text"))
                continue
            if not line.strip():
                continue
            report.entries += 1
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                report.problems.append(Problem(number, f"not JSON: {exc.msg}"))


def _array_items(path: Path, raw: bytes, report: LoadReport) -> Iterator[tuple[int, Any]]:
    """The items of a file holding one JSON array (numbered from 1)."""
    report.layout = "json-array"
    try:
        items = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: a JSON array file that is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: starts like a JSON array but is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg}); give a JSON array or JSONL"
        ) from exc
    if not isinstance(items, list):
        raise ConfigError(f"{path}: not a JSON array")
    report.lines = raw.count(b"\n") + 1
    for number, item in enumerate(items, start=1):
        report.entries += 1
        yield number, item


def iter_records(path: Path, report: LoadReport) -> Iterator[Record]:
    """Yield every valid record of a JSONL or JSON-array file; bad ones go to
    ``report.problems``."""
    seen: set[str] = set()
    for number, data in _objects(path, report):
        unit = "item" if report.layout == "json-array" else "line"
        if not isinstance(data, dict):
            report.problems.append(Problem(number, "not a JSON object", unit))
            continue
        fmt = detect_format(data)
        if fmt is None:
            report.problems.append(
                Problem(number, "not a record in any known format (alpaca, chat, completion)", unit)
            )
            continue
        data = _adopt(data, fmt)
        assigned = not data["meta"].get("id")
        if assigned:
            data["meta"]["id"] = _content_id(data, fmt)
        base, n = data["meta"]["id"], 1
        while data["meta"]["id"] in seen:  # repeated content or ids: keep ids unique
            n += 1
            data["meta"]["id"] = record_id(str(base), str(n))
        try:
            record = parse_record(data)
        except (ValidationError, ValueError) as exc:
            reason = _short(exc) if isinstance(exc, ValidationError) else str(exc)
            report.problems.append(Problem(number, f"invalid {fmt} record: {reason}", unit))
            continue
        seen.add(record.meta.id)
        report.ids_assigned += assigned
        yield record


def check_bad_share(report: LoadReport) -> None:
    """ConfigError when more than ``MAX_BAD_SHARE`` of the entries are bad."""
    bad, total = len(report.problems), report.entries
    if total and bad / total > MAX_BAD_SHARE:
        unit = "items" if report.layout == "json-array" else "lines"
        first = "; ".join(str(p) for p in report.problems[:3])
        raise ConfigError(
            f"{report.path}: {bad} of {total} {unit} are not valid records (more than "
            f"{MAX_BAD_SHARE:.0%}), so nothing was curated; first: {first}"
        )


def load_records(path: Path) -> tuple[list[Record], LoadReport]:
    """Every valid record of ``path`` in file order, and the load report; ConfigError when
    most of the file is bad (see ``check_bad_share``)."""
    report = LoadReport(Path(path))
    records = list(iter_records(path, report))
    check_bad_share(report)
    return records, report


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object a line (UTF-8, stable key order as given); returns the count.
    ``path`` is a staged temp file (:class:`generator.atomic.Staging`): readers never see
    a half-written file."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
