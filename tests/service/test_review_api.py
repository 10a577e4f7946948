"""Review and sign-off through the API, on the CLI's own journal: a decision made in one is
seen in the other; a rejected record never reaches an export job's files, an edit does; a
legal sign-off lets an export job pass the gate's ``review`` verdict for its use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env
from tests.service.conftest import REPO, Server
from tests.service.helpers import error
from tests.service.jobs_helpers import export_job, generated_run


def _cli(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "generator.cli", *args], capture_output=True,
                         text=True, env=cli_env(), cwd=REPO, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_review_decisions_and_signoff_reach_the_export(server: Server, tmp_path: Path) -> None:
    rid, folder = generated_run(server)
    with server.client("reviewer") as c:
        page = c.get(f"/api/v1/runs/{rid}/review", params={"limit": 2})
        assert page.status_code == 200, page.text
        first = page.json()
        assert len(first["items"]) == 2 and first["next"] is not None
        rest = c.get(f"/api/v1/runs/{rid}/review", params={"cursor": first["next"]})
        items = first["items"] + rest.json()["items"]
        assert len({i["record_id"] for i in items}) == len(items) >= 4
        assert all(i["source_text"] and i["decision"] is None for i in items)
        assert rest.json()["next"] is None
        bad = c.get(f"/api/v1/runs/{rid}/review", params={"cursor": "-1"})
        assert bad.status_code == 422, bad.text
        rejected, edited, by_cli = items[0], items[1], items[2]
        url = f"/api/v1/runs/{rid}/review/"

        res = c.post(url + rejected["record_id"], json={"decision": "reject"})
        assert res.status_code == 422 and "reason" in error(res)["message"]
        res = c.post(url + "no-such-record", json={"decision": "accept"})
        assert res.status_code == 404, res.text
        res = c.post(url + edited["record_id"],
                     json={"decision": "edit", "record": {"instruction": 5}})  # fmt: skip
        assert res.status_code == 422, res.text
        blank = {k: v for k, v in edited["record"].items() if k != "meta"} | {"instruction": ""}
        res = c.post(url + edited["record_id"], json={"decision": "edit", "record": blank})
        assert res.status_code == 422 and "instruction" in error(res)["message"]
        res = c.post(url + rejected["record_id"], json={"decision": "reject", "reason": "wrong"})
        assert res.status_code == 200, res.text
        new = {k: v for k, v in edited["record"].items() if k != "meta"}
        field = (
            "output" if "output" in new else sorted(k for k in new if isinstance(new[k], str))[-1]
        )
        new[field] = "EDITED THROUGH THE API: twenty-five days of leave."
        res = c.post(url + edited["record_id"], json={"decision": "edit", "record": new})
        assert res.status_code == 200 and res.json()["reviewer"] == "reviewer-1", res.text
    for role in ("legal", "operator"):
        with server.client(role) as c:
            assert c.post(url + by_cli["record_id"],
                          json={"decision": "accept"}).status_code == 403  # fmt: skip

    # the CLI sees the API's decisions; the API sees the CLI's
    status = _cli("review", "status", str(folder))
    assert "1 rejected, 1 edited" in status, status
    sheet = tmp_path / "decisions.jsonl"
    sheet.write_text(json.dumps({"record_id": by_cli["record_id"], "decision": "accept"}) + "\n")
    _cli("review", "import", str(folder), str(sheet), "--reviewer", "cli-bob")
    with server.client("legal") as c:
        seen = {i["record_id"]: i["decision"] for i in
                c.get(f"/api/v1/runs/{rid}/review").json()["items"]}  # fmt: skip
    assert seen[by_cli["record_id"]]["reviewer"] == "cli-bob"
    assert seen[rejected["record_id"]]["decision"] == "reject"
    assert seen[rejected["record_id"]]["reviewer"] == "reviewer-1"

    # mock output needs legal's sign-off for any use: refused at the gate without it
    refused = export_job(server, rid)
    assert refused["status"] == "failed" and "--accept-review mock" in refused["error"]
    body = {"policy": "mock", "use": "evaluation", "note": "synthetic test data, fine for eval"}
    for role in ("reviewer", "operator"):
        with server.client(role) as c:
            assert c.post(f"/api/v1/runs/{rid}/signoffs", json=body).status_code == 403
    with server.client("legal") as c:
        typo = c.post(f"/api/v1/runs/{rid}/signoffs", json={**body, "policy": "mokc"})
        assert typo.status_code == 422 and "mokc" in error(typo)["message"]
        res = c.post(f"/api/v1/runs/{rid}/signoffs", json=body)
        assert res.status_code == 201, res.text
        assert res.json()["signed_by"] == "legal-1"
        other = c.post(f"/api/v1/runs/{rid}/signoffs", json={**body, "use": "commercial"})
        assert other.status_code == 201
    done = export_job(server, rid)
    assert done["status"] == "done", done
    out = server.data / "projects" / str(folder.parent.parent.name) / "exports" / str(done["id"])
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [json.loads(line) for p in out.rglob("*.jsonl") for line in p.read_text().splitlines()]
    pairs = [(r["instruction"], r["output"]) for r in rows if "instruction" in r]
    assert len(pairs) == manifest["counts"]["exported"] == len(items) - 1
    assert (new["instruction"], new[field]) in pairs  # the edit, not the generated text
    assert (rejected["record"]["instruction"], rejected["record"][field]) not in pairs
    assert manifest["export"]["flags"]["accept_review"] == ["mock"]
    assert manifest["exported_by"] == "operator-1"  # who asked for the export
    [accepted] = manifest["accepted_reviews"]
    [signed] = accepted["signed_off"]  # the evaluation sign-off, not the commercial one
    assert signed["by"] == "legal-1" and signed["note"] == body["note"]
    assert signed["at"] == res.json()["at"]
    legal = (out / "LEGAL_REVIEW.md").read_text()
    assert f"Signed off: mock for evaluation by legal-1 on {signed['at']}" in legal

    with server.client("admin") as a:
        trail = a.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    actions = [(r["action"], r["actor"]) for r in trail if r["target"].startswith(f"run:{rid}")]
    assert actions.count(("review.decide", "reviewer-1")) == 2
    assert actions.count(("signoff.add", "legal-1")) == 2
