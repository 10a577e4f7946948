"""``/runs/{rid}/legal``: for a chosen use, the policies x verdicts behind the run's records
(clause, quote, URL), legal's sign-offs, the export form and the export downloads.

The table and the refusal come from the export stage's own first pass
(:func:`generator.export.judging.judge_export`, :func:`~generator.export.judging.refuse_if_needed`)
with the sign-offs an export job of this run would pass as ``--accept-review``; so the form
refuses exactly what the gate would, and says why, before a job is queued.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from generator.errors import ConfigError, ExportRefused
from generator.export.gate import Check
from generator.export.judging import judge_export, refuse_if_needed
from generator.export.result import ExportOptions
from generator.policies import Policy, load_policies
from generator.records import USES
from generator.review import signoffs
from generator.service import exports
from generator.service.api import runs
from generator.service.api import signoffs as api_signoffs
from generator.service.api.projects import MAX_ID
from generator.service.api.runs import FORMATS, RunId
from generator.service.errors import ApiError
from generator.service.web.runs import run_dir, run_jobs, run_page_context
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, WebError, render

router = APIRouter(include_in_schema=False)
VERDICTS = ("allow", "review", "block")


def _quote(policy: Policy | None, check: Check) -> str | None:
    """The policy's verbatim quote behind the check's clause, when the file has one."""
    if policy is None:
        return None
    c = policy.clauses
    clauses = [c.competing_models, c.output_ownership, c.attribution,
               c.inputs_used_for_training_by_default, *c.other]  # fmt: skip
    for clause in clauses:
        if clause.quote and (
            clause.url == check.url or (clause.ref and clause.ref in check.clause)
        ):
            return clause.quote
    return c.competing_models.quote if check.kind in ("policy", "tag") else None


def gate_table(folder: Path, use: str, accept: list[str]) -> dict[str, Any]:
    """The export stage's judgement of every record for ``use``: one row per (kind, key)
    with its records per verdict, clause, quote, URL and a reason; and the refusal, if any."""
    opts = ExportOptions(run=folder, fmt="alpaca", use=use, out=folder / "unused",
                         accept_review=tuple(accept))  # fmt: skip
    judged = judge_export(opts, check_out=False)
    res, decisions = judged.res, judged.decisions
    policies = load_policies()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for d in decisions.values():
        for c in dict.fromkeys(d.checks):
            row = rows.setdefault((c.kind, c.key), {
                "kind": c.kind, "key": c.key, "counts": Counter(), "clause": c.clause,
                "url": c.url, "reason": c.reason, "quote": _quote(policies.get(c.key), c),
            })  # fmt: skip
            row["counts"][c.verdict] += 1
    refused = None
    try:
        refuse_if_needed(opts, res, decisions)
    except ExportRefused as exc:
        refused = str(exc)
    outcomes = res.gate.stats.outcomes
    return {"rows": sorted(rows.values(), key=lambda r: (r["kind"], r["key"])), "total": res.total,
            "outcomes": dict(outcomes), "refused": refused, "warnings": res.warnings,
            "review_held": sum(e.stage == "review" for e in res.exclusions)}  # fmt: skip


def _accepted(folder: Path, use: str) -> list[str]:
    """The sign-offs an export job of this run for ``use`` passes as --accept-review."""
    return sorted({s["policy"] for s in signoffs.for_use(folder, use)})


def _page(request: Request, rid: int, session: Session, use: str, status: int = 200,
          **extra: Any) -> Response:  # fmt: skip
    ctx = run_page_context(request, rid, session)
    folder = run_dir(request, ctx["run"])
    accept = _accepted(folder, use)
    table, problem = None, None
    if (folder / "records.jsonl").exists():
        try:
            table = gate_table(folder, use, accept)
        except ConfigError as exc:
            problem = str(exc)
    exports = [j for j in run_jobs(request, rid) if j["kind"] == "export"]
    for job in exports:
        job["files"] = _files(request, job)
    return render(request, "legal.html", session, status, use=use, uses=USES, formats=FORMATS,
                  table=table, problem=problem, signed=signoffs.for_use(folder, use),
                  accepted=accept, exports=list(reversed(exports)), verdicts=VERDICTS,
                  **ctx, **extra)  # fmt: skip


def _use(value: str) -> str:
    if value not in USES:
        raise WebError(422, f"use: one of {', '.join(USES)}")
    return value


@router.get("/runs/{rid}/legal", response_class=HTMLResponse)
def legal_page(
    request: Request, rid: int = RunId, use: str = Query("internal-fine-tune", max_length=40),
    session: Session = Page("legal"),
) -> Response:  # fmt: skip
    return _page(request, rid, session, _use(use))


@router.post("/runs/{rid}/signoffs")
def sign_off(
    request: Request, rid: int = RunId, policy: str = Form(""), use: str = Form(""),
    note: str = Form(""), session: Session = Action("signoffs.write"),
) -> Response:  # fmt: skip
    use = _use(use)
    try:
        body = api_signoffs.SignoffIn(policy=policy, use=use, note=note.strip())
    except ValidationError as exc:
        msg = exc.errors()[0].get("msg", "invalid")
        return _page(request, rid, session, use, 422, error=f"sign-off: {msg}")
    api_signoffs.sign_off(body, request, rid, session.user)
    return RedirectResponse(f"/runs/{rid}/legal?use={use}", status_code=303)


@router.post("/runs/{rid}/exports")
async def export(
    request: Request, rid: int = RunId, format: str = Form(""),
    use: str = Form(""), strict: str = Form(""), session: Session = Action("exports.write"),
) -> Response:  # fmt: skip
    use = _use(use)
    try:
        body = runs.ExportIn(format=format, use=use, strict=bool(strict))
    except ValidationError as exc:
        return _page(request, rid, session, use, 422, error=f"export: {exc.errors()[0]['msg']}")
    folder = run_dir(request, runs.show_run(request, rid, session.user))
    accept = [] if body.strict else _accepted(folder, use)
    opts = ExportOptions(run=folder, fmt=body.format, use=use, out=folder / "unused",
                         accept_review=tuple(accept), strict=body.strict)  # fmt: skip

    def judge() -> str | None:
        try:
            judged = judge_export(opts, check_out=False)
            refuse_if_needed(opts, judged.res, judged.decisions)
        except (ExportRefused, ConfigError) as exc:
            return str(exc)
        return None

    refused = await run_in_threadpool(judge)
    if refused:
        return _page(
            request, rid, session, use, 409, error=f"the gate refuses this export: {refused}"
        )
    runs.export_run(body, request, rid, session.user)
    return RedirectResponse(f"/runs/{rid}/legal?use={use}", status_code=303)


def _files(request: Request, job: dict[str, Any]) -> list[Path]:
    """The files of a finished export as its manifest lists them (none if it is unreadable)."""
    data = request.app.state.settings.data
    try:
        listed = exports.files(data, job)
    except ApiError:
        return []
    return [exports.export_folder(data, job) / f.name for f in listed]


def _export_job(request: Request, jid: int, session: Session) -> dict[str, Any]:
    """A finished export job of a project the user is a member of (404 like an unknown id
    otherwise, 409 while it is not done)."""
    if not 1 <= jid <= MAX_ID:
        raise WebError(404, f"export {jid} not found")
    with request.app.state.db.engine.connect() as conn:
        job = exports.get_export(conn, jid, session.user)
    if job["status"] != "done":
        raise WebError(409, f"export {jid} is {job['status']}: nothing to download")
    return job


@router.get("/exports/{jid}/files/{name}")
def download(request: Request, jid: int, name: str, session: Session = Page("legal")) -> Response:
    """One file of a finished export job (the dataset, excluded.jsonl, the legal pack),
    checked against its manifest (:mod:`generator.service.exports`)."""
    job = _export_job(request, jid, session)
    path, _ = exports.open_file(request.app.state.settings.data, job, name)
    return FileResponse(path, filename=name, content_disposition_type="attachment")


@router.get("/exports/{jid}.zip")
def download_zip(request: Request, jid: int, session: Session = Page("legal")) -> Response:
    """Every file of a finished export job in one zip (dataset and legal pack together)."""
    job = _export_job(request, jid, session)
    data = request.app.state.settings.data
    files = [exports.open_file(data, job, f.name)[0] for f in exports.files(data, job)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, f"export-{jid}/{path.name}")
    headers = {"Content-Disposition": f'attachment; filename="export-{jid}.zip"'}
    return Response(buf.getvalue(), media_type="application/zip", headers=headers)
