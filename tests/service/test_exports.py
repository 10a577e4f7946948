"""``GET /api/v1/exports/{eid}`` and its file downloads: the manifest's files with their
sha256, streamed; only listed names (no traversal), a refused export lists none, a file
changed on the server is refused (409), never served as the manifest describes."""

from __future__ import annotations

import hashlib
import os
import time
from urllib.parse import quote

from tests.service.conftest import Server
from tests.service.helpers import error
from tests.service.jobs_helpers import export_job, generated_run


def test_export_files_and_downloads(server: Server) -> None:
    rid, run_dir = generated_run(server, records=3)
    pid = run_dir.parent.parent.name
    index = server.data / "projects" / pid / "index" / f"{rid}.sqlite"
    deadline = time.monotonic() + 60  # the worker refreshes the record index after the job
    while not index.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert index.exists()
    refused = export_job(server, rid)  # mock output needs legal's sign-off: the gate refuses
    with server.client("legal") as c:
        shown = c.get(f"/api/v1/exports/{refused['id']}").json()
        assert shown["status"] == "failed" and shown["files"] == [] and shown["error"]
        assert c.get(f"/api/v1/exports/{refused['id']}/files/manifest.json").status_code == 404
        assert (
            c.post(
                f"/api/v1/runs/{rid}/signoffs",
                json={"policy": "mock", "use": "evaluation", "note": "test data"},
            ).status_code
            == 201
        )
    eid = export_job(server, rid)["id"]
    folder = server.data / "projects" / str(pid) / "exports" / str(eid)
    for role in ("legal", "operator"):
        with server.client(role) as c:
            shown = c.get(f"/api/v1/exports/{eid}")
            assert shown.status_code == 200, shown.text
            body = shown.json()
            assert (body["id"], body["run_id"], body["status"]) == (eid, rid, "done")
            names = [f["name"] for f in body["files"]]
            assert {"train.jsonl", "manifest.json", "LEGAL_REVIEW.md"} <= set(names)
            for f in body["files"]:
                res = c.get(f"/api/v1/exports/{eid}/files/{quote(f['name'])}")
                assert res.status_code == 200, res.text
                assert hashlib.sha256(res.content).hexdigest() == f["sha256"]
                assert len(res.content) == f["bytes"] == (folder / f["name"]).stat().st_size
                assert res.headers["x-content-sha256"] == f["sha256"]
                assert f["name"] in res.headers["content-disposition"]
    with server.client("reviewer") as c:
        assert c.get(f"/api/v1/exports/{eid}").status_code == 403
        assert c.get(f"/api/v1/exports/{eid}/files/manifest.json").status_code == 403

    with server.client("operator") as c:
        url = f"/api/v1/exports/{eid}/files/"
        for name in ("run.sqlite", "nothing.txt", "..%2Fmanifest.json", "..%2F..%2F..%2F..%2F"
                     "service.sqlite", "%2Fetc%2Fpasswd", ".", "train.jsonl%00"):  # fmt: skip
            res = c.get(url + name)
            assert res.status_code == 404, (name, res.text)
        assert c.get(f"/api/v1/exports/{rid + 10_000}").status_code == 404
        job_of_run = c.get(f"/api/v1/runs/{rid}").json()["job"]  # a job, not an export
        res = c.get(f"/api/v1/exports/{job_of_run}")
        assert res.status_code == 404 and error(res)["code"] == "not_found"

        # changed on the server after the export: refused, not served as listed
        with (folder / "train.jsonl").open("a") as fh:
            fh.write("{}\n")
        res = c.get(url + "train.jsonl")
        assert res.status_code == 409 and "manifest" in error(res)["message"]
        (folder / "meta.jsonl").rename(folder / "m.bak")
        os.symlink(folder / "m.bak", folder / "meta.jsonl")
        assert c.get(url + "meta.jsonl").status_code == 409
        os.unlink(folder / "README.md")
        assert c.get(url + "README.md").status_code == 409
