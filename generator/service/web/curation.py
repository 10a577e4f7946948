"""``/runs/{rid}/curation``: the curation report in the page (plots, step counts, duplicate
clusters, PII findings as the PII step masked them, quarantines, contradictions), each
record linked to ``/runs/{rid}/records/{id}``; all read from what the curate stage wrote."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from generator.service.api.runs import RunId
from generator.service.web.runs import run_dir, run_page_context
from generator.service.web.sessions import Session
from generator.service.web.views import Page, WebError, render

router = APIRouter(include_in_schema=False)
_PLOT = re.compile(r"^[a-z0-9_-]{1,40}\.png$")
SHOWN = 50  # rows per section before "and N more"
RECORD_FILES = ("records.jsonl", "curation/curated.jsonl", "curation/excluded.jsonl",
                "curation/review.jsonl", "curation/quarantine.jsonl")  # fmt: skip


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def _brief(row: dict[str, Any]) -> str:
    text = (
        row.get("instruction")
        or next((m.get("content") for m in row.get("messages", []) if m.get("role") == "user"), "")
        or row.get("prompt")
        or ""
    )
    flat = " ".join(str(text).split())
    return flat[:140] + ("…" if len(flat) > 140 else "")


def _excluded(row: dict[str, Any]) -> dict[str, Any]:
    return (row.get("meta", {}).get("curation") or {}).get("excluded") or {}


def report(folder: Path) -> dict[str, Any]:
    cur = folder / "curation"
    stats = json.loads((cur / "stats.json").read_text(encoding="utf-8"))
    steps = {s["step"]: s for s in stats.get("steps", [])}
    clusters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    excluded = []
    for row in _lines(cur / "excluded.jsonl"):
        ex = _excluded(row)
        item = {"id": row.get("meta", {}).get("id"), "brief": _brief(row), **ex}
        excluded.append(item)
        if ex.get("duplicate_of"):
            clusters[ex["duplicate_of"]].append(item)
    quarantine = [{"id": r.get("meta", {}).get("id"), "brief": _brief(r), **_excluded(r)}
                  for r in _lines(cur / "quarantine.jsonl")]  # fmt: skip
    flagged = [{"id": r.get("meta", {}).get("id"), "brief": _brief(r), **_excluded(r)}
               for r in _lines(cur / "review.jsonl")]  # fmt: skip
    pii = steps.get("pii", {})
    return {
        "counts": stats.get("counts", {}),
        "steps": stats.get("steps", []),
        "plots": sorted(p.name for p in cur.glob("*.png") if _PLOT.match(p.name)),
        "clusters": sorted(clusters.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:SHOWN],
        "excluded": excluded[:SHOWN], "excluded_total": len(excluded),
        "quarantine": quarantine[:SHOWN], "quarantine_total": len(quarantine),
        "flagged": flagged[:SHOWN], "flagged_total": len(flagged),
        "pii": [(k, n, (pii.get("examples") or {}).get(k, []))
                for k, n in sorted((pii.get("findings") or {}).items(), key=lambda kv: -kv[1])],
        "contradictions": steps.get("contradictions", {}).get("groups") or [],
    }  # fmt: skip


@router.get("/runs/{rid}/curation", response_class=HTMLResponse)
def curation_page(request: Request, rid: int = RunId, session: Session = Page("run")) -> Response:
    ctx = run_page_context(request, rid, session)
    folder = run_dir(request, ctx["run"])
    if not (folder / "curation" / "stats.json").is_file():
        return render(request, "curation.html", session, rep=None, **ctx)
    return render(request, "curation.html", session, rep=report(folder), **ctx)


@router.get("/runs/{rid}/curation/plots/{name}")
def plot(request: Request, name: str, rid: int = RunId, session: Session = Page("run")) -> Response:
    ctx = run_page_context(request, rid, session)
    path = run_dir(request, ctx["run"]) / "curation" / name
    if not _PLOT.match(name) or not path.is_file():
        raise WebError(404, f"no plot {name!r} in this run's curation")
    return FileResponse(path, media_type="image/png")


@router.get("/runs/{rid}/records/{record_id}", response_class=HTMLResponse)
def record_page(
    request: Request, record_id: str, rid: int = RunId, session: Session = Page("run")
) -> Response:
    """One record wherever the run's files hold it (generated, curated, set aside)."""
    ctx = run_page_context(request, rid, session)
    folder = run_dir(request, ctx["run"])
    found = []
    for name in RECORD_FILES:
        for row in _lines(folder / name):
            if row.get("meta", {}).get("id") == record_id:
                found.append((name, row))
                break
    if not found:
        raise WebError(404, f"record {record_id!r} not found in this run")
    shown = [
        (name, {k: v for k, v in row.items() if k != "meta"},
         json.dumps(row.get("meta"), indent=2, ensure_ascii=False))
        for name, row in found
    ]  # fmt: skip
    return render(request, "record.html", session, record_id=record_id, found=shown, **ctx)
