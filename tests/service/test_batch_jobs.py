"""A run through the provider's batch API as a service job: ``batch: true`` reaches
``generate --batch``, and cancelling the run cancels its batches at the provider (stopping
the stage alone would leave them running, and paid)."""

from __future__ import annotations

import time
from collections.abc import Callable

from generator.service.runfiles import JobPaths, command
from tests.generate.batch.conftest import BatchServer, batch_server  # noqa: F401 (fixture)
from tests.service.conftest import Server
from tests.service.jobs_helpers import wait_for
from tests.service.test_runs import _project_with_doc


def test_batch_field_becomes_the_batch_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    job = {"id": 3, "project_id": 1, "run_id": 2, "kind": "generate",
           "params": {"model": "openai/x", "batch": True}}  # fmt: skip
    paths = JobPaths(tmp_path, job)
    assert command(job, paths)[-1] == "--batch"
    job["params"]["batch"] = False
    assert "--batch" not in command(job, paths)


def test_cancelling_a_batch_run_cancels_its_batches_at_the_provider(
    server: Server,
    batch_server: Callable[..., BatchServer],  # noqa: F811
) -> None:
    provider = batch_server(delay_s=60.0)  # the batch stays in flight until cancelled
    pid = _project_with_doc(server)
    with server.client("operator") as c:
        body = {"model": "openai/mock-model", "api_base": provider.openai_base, "batch": True}
        res = c.post(f"/api/v1/projects/{pid}/runs", json=body)
        assert res.status_code == 202, res.text
        rid, jid = res.json()["id"], res.json()["job"]
        deadline = time.monotonic() + 120
        while provider.stats()["batch"]["batches_created"] < 1:
            job = c.get(f"/api/v1/jobs/{jid}").json()
            assert job["status"] in ("queued", "running"), job
            assert time.monotonic() < deadline, "no batch was submitted"
            time.sleep(0.2)
        time.sleep(0.5)  # the stage journals the batch id it was given
        assert c.post(f"/api/v1/runs/{rid}/cancel").status_code == 202
        job = wait_for(c, f"/api/v1/jobs/{jid}")
    assert job["status"] == "cancelled", job
    assert job["error"] == "cancelled by request"
    assert provider.stats()["batch"]["cancels"] == 1
