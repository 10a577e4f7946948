"""The curation report page: counts per step, the plots served as images, PII masked,
every listed record linked to a page that shows it."""

from __future__ import annotations

import re

from tests.service.jobs_helpers import wait_for
from tests.service.web.conftest import DOC, Site, make_run

EMAIL = "jane.roe@example.com"
CONFIG = {"steps": ["pii", "heuristics", "length", "exact_dedup", "near_dedup", "contradictions"]}


def test_curation_report_in_the_page(site: Site) -> None:
    doc = DOC + f"\n\nQuestions about leave go to {EMAIL} or the manager.\n".encode()
    _, rid = make_run(site, records=12, doc=doc)
    c, _ = site.signed_in("legal")
    assert "not been curated yet" in c.get(f"/runs/{rid}/curation").text
    with site.api("operator") as api:
        res = api.post(f"/api/v1/runs/{rid}/curate", json={"config": CONFIG})
        assert wait_for(api, f"/api/v1/jobs/{res.json()['id']}")["status"] == "done"
    page = c.get(f"/runs/{rid}/curation")
    assert page.status_code == 200
    for step in CONFIG["steps"]:
        assert f"<td>{step}</td>" in page.text
    plots = re.findall(rf'src="(/runs/{rid}/curation/plots/[^"]+)"', page.text)
    assert plots
    for src in plots:
        img = c.get(src)
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert c.get(f"/runs/{rid}/curation/plots/..%2Frun.sqlite").status_code == 404
    pii = page.text.split('id="pii-h"')[1].split("</section>")[0]
    assert "Findings" in pii and "No personal data" not in pii  # the address was found
    assert EMAIL not in page.text  # and is shown masked, never in the clear
    links = set(re.findall(rf'href="(/runs/{rid}/records/[^"]+)"', page.text))
    assert links
    for link in list(links)[:5]:
        rec = c.get(link)
        assert rec.status_code == 200 and "In curation/" in rec.text
