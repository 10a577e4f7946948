"""Waiting on runs and jobs of a live server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

FINAL = {"done", "failed", "cancelled", "stopped"}


def wait_for(client: httpx.Client, path: str, *, until: set[str] = FINAL,
             timeout: float = 180.0) -> dict[str, Any]:  # fmt: skip
    """GET ``path`` until its ``status`` is in ``until``; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if body.get("status") in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still {body.get('status')} after {timeout} s: {body}")
        time.sleep(0.25)


def generated_run(server: Any, records: int = 4) -> tuple[int, Path]:
    """A new project with one document and a finished mock run of it: (run id, run folder)."""
    from tests.service.helpers import DOC, files

    pid = server.project()
    with server.client("operator") as c:
        assert c.post(f"/api/v1/projects/{pid}/documents",
                      files=files(("leave.md", DOC))).status_code == 200  # fmt: skip
        res = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo",
                                                            "records": records})  # fmt: skip
        rid = res.json()["id"]
        assert wait_for(c, f"/api/v1/runs/{rid}")["status"] == "done"
    return rid, server.data / "projects" / str(pid) / "runs" / str(rid)


def export_job(server: Any, rid: int) -> dict[str, Any]:
    """An alpaca export of the run for evaluation, asked by the operator: the finished job."""
    with server.client("operator") as c:
        res = c.post(f"/api/v1/runs/{rid}/exports", json={"format": "alpaca", "use": "evaluation"})
        assert res.status_code == 202, res.text
        return wait_for(c, f"/api/v1/jobs/{res.json()['id']}")
