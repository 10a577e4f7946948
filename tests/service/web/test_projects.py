"""The run form (``/projects/{pid}/estimate`` and ``/projects/{pid}/runs``): a form the API's
body refuses comes back as the project page (422) with the error and the fields kept, and
starts nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.service.web.conftest import Site


@pytest.mark.parametrize("action", ["estimate", "runs"])
def test_a_refused_run_form_shows_the_error_and_keeps_the_fields(site: Site, action: str) -> None:
    pid = site.server.project(f"form-{uuid.uuid4().hex[:8]}")
    c, csrf = site.signed_in("operator")
    try:
        form = {"csrf": csrf, "model": "mock/echo", "records": "0", "max_cost": "2.5"}
        res = c.post(f"/projects/{pid}/{action}", data=form, follow_redirects=False)
        assert res.status_code == 422, res.text[:300]
        assert "records: Input should be greater than or equal to 1" in res.text
        assert 'name="max_cost" type="number" min="0" step="0.01" value="2.5"' in res.text
        bad_model = {**form, "records": "3", "model": "-x"}
        res = c.post(f"/projects/{pid}/{action}", data=bad_model, follow_redirects=False)
        assert res.status_code == 422 and "model: a LiteLLM model string" in res.text
    finally:
        c.close()
    with site.api("operator") as api:
        assert api.get(f"/api/v1/projects/{pid}/runs").json()["items"] == []
