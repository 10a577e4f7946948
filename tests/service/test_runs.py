"""Runs, curate and export as jobs through the API: 202 at once, then status, counts, cost
and the stage's own error; cancel; bad input refused with nothing queued; every change
audited."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import sqlalchemy as sa

from generator.service.db import jobs
from tests.service.conftest import Server, audit_count
from tests.service.helpers import DOC, error, files
from tests.service.jobs_helpers import wait_for


def _project_with_doc(server: Server) -> int:
    pid = server.project()
    with server.client("operator") as c:
        assert c.post(f"/api/v1/projects/{pid}/documents",
                      files=files(("leave.md", DOC))).status_code == 200  # fmt: skip
    return pid


def _jobs_count(server: Server) -> int:
    with server.database().engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()


def test_generate_curate_export_as_jobs(server: Server) -> None:
    pid = _project_with_doc(server)
    with server.client("operator") as c:
        started = time.monotonic()
        res = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 3})
        assert res.status_code == 202, res.text
        assert time.monotonic() - started < 5  # answered at once, not after the run
        rid, jid = res.json()["id"], res.json()["job"]
        assert res.json()["status"] == "queued"
        run = wait_for(c, f"/api/v1/runs/{rid}")
        assert run["status"] == "done", run
        folder = server.data / "projects" / str(pid) / "runs" / str(rid)
        lines = (folder / "records.jsonl").read_text().splitlines()
        assert run["counts"]["records"] == len(lines) >= 3  # read from the run's own files
        assert run["counts"]["calls"] >= 1 and run["error"] is None
        job = c.get(f"/api/v1/jobs/{jid}").json()
        assert job["kind"] == "generate" and job["status"] == "done"
        assert job["params"] == {"model": "mock/echo", "records": 3}

        cur = c.post(f"/api/v1/runs/{rid}/curate", json={"config": {}})
        assert cur.status_code == 202, cur.text
        curated = wait_for(c, f"/api/v1/jobs/{cur.json()['id']}")
        assert curated["status"] == "done", curated
        assert curated["counts"]["input"] == len(lines)
        assert (folder / "curation" / "curated.jsonl").exists()

        exp = c.post(f"/api/v1/runs/{rid}/exports", json={"format": "alpaca", "use": "evaluation"})
        assert exp.status_code == 202, exp.text
        exported = wait_for(c, f"/api/v1/jobs/{exp.json()['id']}")
    # mock output needs a legal sign-off for any use: the gate's own one-line refusal
    assert exported["status"] == "failed", exported
    assert "--accept-review mock" in exported["error"]
    with server.client("admin") as a:
        trail = a.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    mine = {f"job:{j}" for j in (jid, cur.json()["id"], exp.json()["id"])}
    actions = [(r["action"], r["target"]) for r in trail if r["target"] in mine]
    for action in ("job.queue", "job.start"):
        assert sum(a == action for a, _ in actions) == 3, actions
    assert sum(a == "job.done" for a, _ in actions) == 2
    assert ("job.failed", f"job:{exp.json()['id']}") in actions


def test_cancel_queued_and_running_runs(server: Server) -> None:
    pid = _project_with_doc(server)
    slow = {"model": "mock/echo?latency_ms=3000", "records": 50}
    with server.client("operator") as c:
        first = c.post(f"/api/v1/projects/{pid}/runs", json=slow).json()["id"]
        second = c.post(f"/api/v1/projects/{pid}/runs", json=slow).json()["id"]
        wait_for(c, f"/api/v1/runs/{first}", until={"running"}, timeout=120)
        res = c.post(f"/api/v1/runs/{second}/cancel")  # queued behind the first: at once
        assert res.status_code == 202 and res.json()["status"] == "cancelled", res.text
        res = c.post(f"/api/v1/runs/{first}/cancel")  # running: its worker stops it
        assert res.status_code == 202 and res.json()["status"] == "running", res.text
        ended = wait_for(c, f"/api/v1/runs/{first}", timeout=60)
        assert ended["status"] == "cancelled" and ended["error"] == "cancelled by request"
        again = c.post(f"/api/v1/runs/{first}/cancel")
    assert again.status_code == 409 and error(again)["code"] == "conflict"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/projects/{pid}/runs", {"model": "mock/echo", "temperature": 1}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "mock/echo", "template": "../../x"}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "mock/echo", "records": 0}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "mock/echo", "records": "many"}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "openai/x",
                                         "api_base": "http://u:secret@127.0.0.1:9/v1"}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "--help"}, 422),
        ("/api/v1/projects/{pid}/runs", {"model": "mock/echo", "api_key": "sk-x"}, 422),
        ("/api/v1/projects/2147483000/runs", {"model": "mock/echo"}, 404),
        ("/api/v1/runs/2147483000/curate", {}, 404),
        ("/api/v1/runs/{rid}/curate", {"config": {"no_such_step": {}}}, 422),
        ("/api/v1/runs/{rid}/curate", {"cfg": {}}, 422),
        ("/api/v1/runs/{rid}/exports", {"format": "csv", "use": "evaluation"}, 422),
        ("/api/v1/runs/{rid}/exports", {"format": "alpaca", "use": "anything"}, 422),
        ("/api/v1/runs/{rid}/exports", {"format": "alpaca", "use": "evaluation", "out": "/"},
         422),
        ("/api/v1/runs/2147483000/cancel", None, 404),
    ],
)  # fmt: skip
def test_bad_input_queues_nothing(server: Server, path: str, body, status: int) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(server)
    before, jobs_before = audit_count(server), _jobs_count(server)
    with server.client("operator") as c:
        res = c.post(path.format(**ids), json=body)
    assert res.status_code == status, res.text
    error(res)
    assert (audit_count(server), _jobs_count(server)) == (before, jobs_before)
    if "secret" in json.dumps(body):
        assert "secret" not in res.text


def test_unknown_ids_are_404(server: Server) -> None:
    with server.client("reviewer") as c:
        for path in ("/api/v1/runs/2147483000", "/api/v1/jobs/2147483000",
                     "/api/v1/projects/2147483000/runs"):  # fmt: skip
            res = c.get(path)
            assert res.status_code == 404 and error(res)["code"] == "not_found", path


_cache: dict[str, dict[str, int]] = {}


def _ids(server: Server) -> dict[str, int]:
    """A project and a (cancelled) run of it, made once per server."""
    if server.backend not in _cache:
        pid = server.project()
        with server.client("operator") as c:
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo"}).json()["id"]
            c.post(f"/api/v1/runs/{rid}/cancel")
        _cache[server.backend] = {"pid": pid, "rid": rid}
    return _cache[server.backend]


def _events(client, rid: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every ``progress`` event of the run's stream, until the server ends it."""
    out = []
    with client.stream("GET", f"/api/v1/runs/{rid}/events", timeout=180) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in res.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event == "progress"
                out.append(json.loads(line.removeprefix("data: ")))
    return out


def test_events_stream_progress_until_the_run_ends(server: Server) -> None:
    pid = _project_with_doc(server)
    with server.client("operator") as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 3}
                     ).json()["id"]  # fmt: skip
    with server.client("reviewer") as c:
        seen = _events(c, rid)
        final = c.get(f"/api/v1/runs/{rid}").json()
        assert _events(c, rid) == [final]  # an ended run: its final state, then the end
        missing = c.get("/api/v1/runs/2147483000/events")
    assert seen[0]["status"] in ("queued", "running")
    assert seen[-1] == final and final["status"] == "done"
    assert all(a != b for a, b in itertools.pairwise(seen))  # only changes are sent
    assert [s["status"] for s in seen if s["status"] in ("done", "failed")] == ["done"]
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"


def test_export_formats_are_the_clis() -> None:
    from generator.commands.export import FORMATS_HELP
    from generator.service.api.runs import FORMATS

    assert tuple(FORMATS_HELP.split(", ")) == FORMATS


def test_pair_and_eval_formats_are_queued_and_reach_the_stage(server: Server) -> None:
    pid = _project_with_doc(server)
    new = ("trl-chat", "trl-preference", "trl-preference-chat", "openai-preference",
           "eval-jsonl", "lm-eval")  # fmt: skip
    with server.client("operator") as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 2})
        assert wait_for(c, f"/api/v1/runs/{rid.json()['id']}")["status"] == "done"
        queued = {}
        for fmt in new:
            res = c.post(f"/api/v1/runs/{rid.json()['id']}/exports",
                         json={"format": fmt, "use": "evaluation"})  # fmt: skip
            assert res.status_code == 202, (fmt, res.text)
            queued[fmt] = res.json()["id"]
            assert c.get(f"/api/v1/jobs/{queued[fmt]}").json()["params"]["format"] == fmt
        done = {fmt: wait_for(c, f"/api/v1/jobs/{j}") for fmt, j in queued.items()}
    # the run made no pairs and no eval set: the export stage's own one-line refusal
    assert done["trl-preference"]["status"] == "failed"
    assert "instructforge pairs" in done["openai-preference"]["error"]
    assert "instructforge evalset" in done["lm-eval"]["error"]
    assert "--accept-review mock" in done["trl-chat"]["error"]  # the gate ran on its records
