"""The legal page: policies x verdicts with clause and URL, the export form refusing what
the gate refuses (and why) before any job, sign-off with a note, then the export and its
legal pack downloaded."""

from __future__ import annotations

import io
import re
import zipfile

import sqlalchemy as sa

from generator.service.db import jobs
from tests.service.jobs_helpers import wait_for
from tests.service.web.conftest import Site, make_run


def _export_jobs(site: Site, rid: int) -> int:
    with site.server.database().engine.connect() as conn:
        q = sa.select(sa.func.count()).where(jobs.c.run_id == rid, jobs.c.kind == "export")
        return conn.execute(q).scalar_one()


def test_sign_off_then_export_and_download(site: Site) -> None:
    _, rid = make_run(site, records=6)
    legal, csrf = site.signed_in("legal")
    page = legal.get(f"/runs/{rid}/legal", params={"use": "evaluation"})
    assert page.status_code == 200
    row = re.search(r'<th scope="row">mock .*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert "mock provider: test data only" in row and 'class="v-review">' in row
    assert "Sign off mock" in row and 'id="gate-refusal"' in page.text

    form = {"csrf": csrf, "format": "alpaca", "use": "evaluation"}
    refused = legal.post(f"/runs/{rid}/exports", data=form)
    assert refused.status_code == 409
    assert "the gate refuses this export" in refused.text and "--accept-review mock" in refused.text
    assert _export_jobs(site, rid) == 0  # refused before a job was queued

    empty = legal.post(
        f"/runs/{rid}/signoffs",
        data={"csrf": csrf, "policy": "mock", "use": "evaluation", "note": "  "},
    )
    assert empty.status_code == 422
    note = "synthetic data, fine for evaluation"
    signed = legal.post(
        f"/runs/{rid}/signoffs",
        data={"csrf": csrf, "policy": "mock", "use": "evaluation", "note": note},
    )
    assert signed.status_code == 303
    page = legal.get(f"/runs/{rid}/legal", params={"use": "evaluation"}).text
    assert note in page and "legal-1" in page and "lets an export for evaluation through" in page
    other_use = legal.get(f"/runs/{rid}/legal", params={"use": "commercial"}).text
    assert note not in other_use and "refuse an export for commercial" in other_use  # one use

    strict = legal.post(f"/runs/{rid}/exports", data={**form, "strict": "1"})
    assert strict.status_code == 409 and "--strict" in strict.text
    res = legal.post(f"/runs/{rid}/exports", data=form)
    assert res.status_code == 303
    [jid] = [
        int(j)
        for j in re.findall(r"<tr>\s*<td>(\d+)</td>", legal.get(res.headers["location"]).text)
    ]
    with site.api("legal") as api:
        assert wait_for(api, f"/api/v1/jobs/{jid}")["status"] == "done"
    page = legal.get(f"/runs/{rid}/legal", params={"use": "evaluation"}).text
    names = re.findall(rf'href="/exports/{jid}/files/([^"]+)"', page)
    assert "LEGAL_REVIEW.md" in names and "manifest.json" in names
    pack = legal.get(f"/exports/{jid}/files/LEGAL_REVIEW.md")
    assert pack.status_code == 200 and "attachment" in pack.headers["content-disposition"]
    assert "Signed off: mock for evaluation by legal-1" in pack.text
    data = next(
        n for n in names if n.endswith(".jsonl") and n not in ("meta.jsonl", "excluded.jsonl")
    )
    assert legal.get(f"/exports/{jid}/files/{data}").text.count("\n") >= 1
    archive = zipfile.ZipFile(io.BytesIO(legal.get(f"/exports/{jid}.zip").content))
    assert f"export-{jid}/LEGAL_REVIEW.md" in archive.namelist()
    assert legal.get(f"/exports/{jid}/files/..%2Fmanifest.json").status_code == 404
    assert legal.get(f"/exports/{jid}/files/nope.txt").status_code == 404
    reviewer, _ = site.signed_in("reviewer")
    assert reviewer.get(f"/exports/{jid}/files/LEGAL_REVIEW.md").status_code == 403
