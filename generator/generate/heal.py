"""Making ``records.jsonl`` and ``rejected.jsonl`` agree with the journal, which is the truth.

The JSONL files are written after the transaction that journals their lines commits, so
normally a file can only lag behind (a crash between the two). Machines do worse: a lost
``run.sqlite-wal`` or a restored backup leaves the journal *behind* the file; a truncated
file leaves it behind the journal; an older version wrote lines twice. Every command that
reads the files calls :func:`heal_outputs` first (through
:func:`generator.runfolder.open_run_folder`):

- a partial last line (a torn write) is cut; an id seen twice is kept once;
- a line the journal lacks is checked (a record of a known format, from a chunk of this run,
  with this run's model and prompt) and taken back into the journal; a line that fails the
  check leaves ``records.jsonl`` for ``rejected.jsonl`` with reason ``untrusted_record``;
- every journal line the file lacks is written back, in commit order.

With generate's plan (:class:`HealPlan`), units whose records (or final rejections) came
back this way are marked done, with their pool entries and one ``adopted`` call row carrying
the usage the records report, so a re-run neither generates nor pays for them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.errors import ConfigError, DiskFull, from_os_error
from generator.generate.commit import record_texts
from generator.generate.heal_files import line_id, scan_file, sync_file
from generator.generate.journal import GenJournal, UnitDone
from generator.generate.outputs import RECORDS_FILE, REJECTED_FILE
from generator.generate.plan import WorkUnit
from generator.generate.settings import FINGERPRINT_KEY
from generator.generate.setup import Prepared
from generator.records import parse_record, record_id, utcnow
from generator.store import Journal

UNTRUSTED = "untrusted_record"


@dataclass
class HealPlan:
    """What generate knows that the journal may have lost: the plan and its settings."""

    units: list[WorkUnit]
    fingerprint: str
    template: str
    model: str
    prompt_sha256: str


@dataclass
class FileHeal:
    """What healing did to one file."""

    name: str
    restored: int = 0  # journal lines the file lacked, written back
    adopted: int = 0  # file lines the journal lacked, taken back into it
    untrusted: int = 0  # lines moved to rejected.jsonl
    unchecked: int = 0  # lines the journal lacks and cannot check (no generation recorded)
    duplicates: int = 0  # repeated ids dropped
    torn: int = 0  # partial last line cut

    def line(self) -> str | None:
        parts = [
            (self.restored, "missing line(s) written back from the journal"),
            (self.adopted, "line(s) the journal had lost taken back into it"),
            (self.untrusted, f"untrusted line(s) moved to {REJECTED_FILE} ({UNTRUSTED})"),
            (self.duplicates, "repeated line(s) dropped"),
            (self.torn, "partial last line cut"),
            (self.unchecked, "line(s) unknown to the journal left as they are (no generation "
                             "recorded to check them against)"),
        ]  # fmt: skip
        said = [f"{n} {what}" for n, what in parts if n]
        return f"{self.name} disagreed with the journal: " + "; ".join(said) if said else None


@dataclass
class HealReport:
    files: list[FileHeal] = field(default_factory=list)
    units_completed: int = 0

    def lines(self) -> list[str]:
        out = [s for f in self.files if (s := f.line())]
        if self.units_completed:
            out.append(
                f"{self.units_completed} work unit(s) marked done from records found in the "
                "files (not generated or paid again)"
            )
        return out


def _expected(journal: Journal, plan: HealPlan | None) -> tuple[str | None, str | None] | None:
    """(model, prompt sha256) records of this run carry; None if no generation is known."""
    if plan is not None:
        return plan.model, plan.prompt_sha256
    fp = journal.get_setting(FINGERPRINT_KEY)
    if not isinstance(fp, dict) or not fp.get("model"):
        return None
    return fp["model"], (fp.get("prompt_ref") or {}).get("sha256")


def _why_untrusted(obj: Any, chunks: set[str], model: str | None, sha: str | None) -> str | None:
    """None when a line is a record this run could have written, else the reason."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    try:
        rec = parse_record(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"invalid record: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    except ValueError as exc:
        return f"invalid record: {exc}"
    m = rec.meta
    if m.source is None or m.source.chunk_id not in chunks:
        chunk = m.source.chunk_id if m.source else None
        return f"chunk {chunk} is not in this run's journal"
    if model and m.model != model:
        return f"model {m.model} is not this run's ({model})"
    if sha and (m.prompt is None or m.prompt.sha256 != sha):
        return "prompt template differs from this run's"
    return None


def _untrusted_row(name: str, n: int, line: str, why: str) -> tuple[str, str, dict[str, Any]]:
    rid = record_id(UNTRUSTED, line)
    try:
        obj = json.loads(line)
        src = obj.get("meta", {}).get("source") if isinstance(obj, dict) else None
    except (ValueError, AttributeError):
        src = None
    chunk = src.get("chunk_id", "") if isinstance(src, dict) else ""
    row = {"id": rid, "reason": UNTRUSTED, "detail": f"{name} line {n + 1}: {why}", "raw": line,
           "unit": "", "created_at": utcnow()}  # fmt: skip
    return rid, str(chunk or ""), row


def heal_plan(p: Prepared) -> HealPlan:
    """Generate's plan, for :func:`heal_outputs`."""
    return HealPlan(p.units, p.fingerprint, p.provenance.template, p.provenance.model,
                    p.provenance.prompt.sha256)  # fmt: skip


def heal_outputs(journal: Journal, run_dir: Path, *, plan: HealPlan | None = None) -> HealReport:
    """Heal both files of ``run_dir`` against ``journal`` (module docstring)."""
    try:
        return _heal(journal, run_dir, plan)
    except OSError as exc:
        if isinstance(full := from_os_error(exc), DiskFull):
            raise full from exc  # exit 4: free space and re-run
        where = exc.filename or run_dir
        raise ConfigError(
            f"cannot bring {where} in line with the journal: {exc.strerror or exc}"
        ) from exc


def _heal(journal: Journal, run_dir: Path, plan: HealPlan | None) -> HealReport:
    rec_path, rej_path = run_dir / RECORDS_FILE, run_dir / REJECTED_FILE
    tables = {r[0] for r in journal.query("SELECT name FROM sqlite_master WHERE type='table'")}
    if "gen_records" not in tables and not rec_path.exists() and not rej_path.exists():
        return HealReport()
    gj = GenJournal(journal)
    report = HealReport([FileHeal(RECORDS_FILE), FileHeal(REJECTED_FILE)])
    rec_heal, rej_heal = report.files

    rec = scan_file(rec_path, gj.ids("gen_records"), True, rec_heal)
    expected = _expected(journal, plan)
    adopted: list[tuple[str, str, str]] = []  # (id, chunk id, line)
    untrusted: list[tuple[str, str, dict[str, Any]]] = []
    if rec.new and expected is None:
        rec_heal.unchecked = len(rec.new)  # nothing to check them against: left alone
    elif rec.new:
        chunks = {r[0] for r in journal.query("SELECT id FROM chunks")}
        for n, line, obj in rec.new:
            why = _why_untrusted(obj, chunks, *expected)
            if why is None:
                adopted.append((obj["meta"]["id"], obj["meta"]["source"]["chunk_id"], line))
            else:
                untrusted.append(_untrusted_row(RECORDS_FILE, n, line, why))
                rec.drop.add(n)
                rid = line_id(obj, True)
                if rid is not None:
                    rec.seen.discard(rid)
    gj.adopt(adopted, untrusted)
    rec_heal.adopted, rec_heal.untrusted = len(adopted), len(untrusted)
    rec_heal.restored = sync_file(rec_path, rec, gj, "gen_records")

    rej = scan_file(rej_path, gj.ids("gen_rejections"), False, rej_heal)
    lost = [(obj, line) for _, line, obj in rej.new]
    gj.adopt_rejections(lost)
    rej_heal.adopted = len(lost)
    rej_heal.restored = sync_file(rej_path, rej, gj, "gen_rejections")
    rej_heal.restored = max(0, rej_heal.restored - len(untrusted))  # said under records

    if plan is not None:
        report.units_completed = _complete_units(gj, plan)
    return report


def _complete_units(gj: GenJournal, plan: HealPlan) -> int:
    """Mark done the planned units whose records or final rejections are in the journal
    without their unit row (taken back from the files)."""
    orphans = gj.orphans()
    if not orphans.records and not orphans.rejections:
        return 0
    by_id = {u.id: u for u in plan.units}
    record_unit: dict[str, WorkUnit] = {}
    if any(unit_id not in by_id for _, unit_id, _ in orphans.records):  # taken back: no unit
        for u in plan.units:
            for i in range(max(2 * u.n, 16)):  # candidates beyond what was asked are rare
                record_unit[record_id(u.id, str(i))] = u
    done: dict[str, UnitDone] = {}

    def entry(u: WorkUnit) -> UnitDone:
        return done.setdefault(u.id, UnitDone(
            unit_id=u.id, unit_pos=u.pos, chunk_id=u.chunk.id, template=plan.template,
            idx=u.idx + 1000 * u.part, fingerprint=plan.fingerprint))  # fmt: skip

    for rid, unit_id, data in orphans.records:
        u = by_id.get(unit_id) or record_unit.get(rid)
        if u is None:
            continue  # another generation's record: kept, no unit of this plan to complete
        obj = json.loads(data)
        fields = {k: v for k, v in obj.items() if k != "meta"}
        instruction, output = record_texts(obj["meta"]["format"], fields)
        e = entry(u)
        e.records.append(rid)
        e.pool.append({"instruction": instruction, "input": fields.get("input", ""),
                       "output": output})  # fmt: skip
        usage = obj["meta"].get("usage") or {}
        e.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        e.completion_tokens += int(usage.get("completion_tokens") or 0)
        if usage.get("cost_usd") is not None:
            e.cost_usd = (e.cost_usd or 0.0) + float(usage["cost_usd"])
    for rid, unit_id in orphans.rejections:
        u = by_id.get(unit_id)
        if u is None:
            continue
        finals = {record_id(u.id, "rejection", str(i), "") for i in range(max(4 * u.n, 32))}
        if rid in finals:  # a decision taken (not the failed call of a pending unit)
            entry(u).rejections += 1
    gj.complete_units(sorted(done.values(), key=lambda d: d.unit_pos))
    return len(done)
