"""The web app in a real browser (Playwright + Debian's Chromium), as the issue checks it:
sign in, upload (dropped files), start a mock run and watch it finish, review ten records
with the keyboard only (decisions seen through the API), a legal sign-off then an export
download, a role without the page gets 403, a record's ``<script>`` renders as text. Main
pages are screenshotted into tests/output/screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.jobs_helpers import wait_for
from tests.service.web.browser import browser, shot  # noqa: F401 (the fixture)
from tests.service.web.conftest import HOSTILE, PASSWORD, Site, make_run, varied_doc

DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:  # noqa: F811
    """A fresh browser context (no cookies); fails the test on a Content-Security-Policy
    violation, an uncaught script error or any dialog (an executed alert). Error answers
    the test asks for (403, 409) are expected, so other console lines are not counted."""
    context = browser.new_context(viewport=DESKTOP, base_url=site.url, accept_downloads=True)
    pg = context.new_page()
    problems: list[str] = []
    csp = ("Content Security Policy", "Refused to")
    pg.on("console", lambda m: problems.append(m.text) if any(c in m.text for c in csp) else None)
    pg.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
    assert not problems, problems


def sign_in(pg: Any, site: Site, role: str) -> None:
    pg.goto("/login")
    pg.get_by_label("Token", exact=True).fill(site.server.tokens[role])
    pg.get_by_role("button", name="Sign in with token").click()
    pg.wait_for_url(re.compile(r"/$|/projects/|/runs/"))


def test_sign_in_upload_start_a_run_and_watch_it_finish(page: Any, site: Site) -> None:
    page.goto("/login")
    shot(page, "login")
    sign_in(page, site, "operator")
    shot(page, "projects")
    page.get_by_label("Project name").fill("Browser handbook")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    # drop two files on the upload area, as a person drags them from a file manager
    page.evaluate(
        """() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["# Leave\\n\\nEmployees get 25 days of paid leave a year. " +
          "Requests go to the manager. Sick leave needs a note from the third day."],
          "leave.md", {type: "text/markdown"}));
        dt.items.add(new File(["not a document"], "notes.exe"));
        document.getElementById("upload").dispatchEvent(
          new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }"""
    )
    results = page.get_by_role("table", name="Upload results")
    results.wait_for()
    assert "ingested" in results.get_by_role("row", name=re.compile("leave.md")).inner_text()
    assert "notes.exe" in results.inner_text()
    page.reload()
    assert "leave.md" in page.get_by_role("table", name="Documents of the project").inner_text()

    page.get_by_label("Model (LiteLLM string)").fill("mock/echo?latency_ms=150")
    page.get_by_label("Records to make").fill("6")
    page.get_by_role("button", name="Estimate").click()
    estimate = page.locator("#estimate")
    assert re.search(r"\d+ calls to make", estimate.inner_text())
    shot(page, "project")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    status = page.locator("#run-status")
    assert status.inner_text() in ("queued", "running")  # so "done" below came by SSE
    status.filter(has_text="done").wait_for(timeout=120_000)  # updated by server-sent events
    assert int(page.locator("#run-records").inner_text()) > 0
    assert page.locator("#run-final").is_visible()
    shot(page, "run")


def test_review_ten_records_with_the_keyboard_only(page: Any, site: Site) -> None:
    _, rid = make_run(site, records=14, doc=varied_doc(), per_chunk=10)
    page.goto("/login")  # signing in by keyboard too: name, password, Enter
    page.get_by_label("User name").focus()
    page.keyboard.type("reviewer-1")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/$"))
    page.goto(f"/runs/{rid}/review")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it leads to the content
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert "a accept" in page.locator("#keys-help").inner_text().replace("\n", " ")
    shot(page, "review")
    plan = ["a", "a", "r", "a", "e", "a", "r", "a", "a", "a"]
    for n, key in enumerate(plan):
        before = page.locator("#position").inner_text()
        if n == 3:  # look ahead and come back: j, k, then skip with s and return with k
            here = int(re.search(r"Record (\d+)", before).group(1)) - 1  # type: ignore[union-attr]
            for k, pos in (("j", here + 1), ("k", here), ("s", here + 1), ("k", here)):
                page.keyboard.press(k)
                page.wait_for_url(re.compile(rf"/review\?pos={pos}$"))
            assert page.locator("#position").inner_text() == before
        page.keyboard.press(key)
        if key == "r":
            assert page.evaluate("document.activeElement.id") == "reject-reason"
            page.keyboard.type(f"wrong answer {n}")
            page.keyboard.press("Enter")
        elif key == "e":
            assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
            page.keyboard.press("Tab")  # to the answer field
            page.keyboard.press("End")
            page.keyboard.type(" (checked by a person)")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Save edit"
            page.keyboard.press("Enter")
        page.wait_for_function(
            "b => document.getElementById('position').textContent !== b", arg=before
        )
    with site.api("reviewer") as api:
        items = api.get(f"/api/v1/runs/{rid}/review").json()["items"]
    decided = [i["decision"] for i in items if i["decision"]]
    assert len(decided) == 10
    kinds = sorted(d["decision"] for d in decided)
    assert kinds == ["accept"] * 7 + ["edit"] + ["reject"] * 2
    assert all(d["reviewer"] == "reviewer-1" for d in decided)
    assert {d["reason"] for d in decided if d["decision"] == "reject"} == {
        "wrong answer 2",
        "wrong answer 6",
    }
    assert f"{len(items) - 10}" in page.locator("#remaining").inner_text()
    page.goto(f"/runs/{rid}")
    assert "Acceptance rate" in page.locator("#review-outcome").inner_text()
    page.goto(f"/runs/{rid}/review-list")
    shot(page, "review-list")


def test_legal_sign_off_then_export_download(page: Any, site: Site) -> None:
    _, rid = make_run(site, records=6)
    sign_in(page, site, "legal")
    page.goto(f"/runs/{rid}/curation")
    shot(page, "curation-empty")
    page.goto(f"/runs/{rid}/legal?use=evaluation")
    assert "review needed" in page.locator("#gate-refusal").inner_text()
    page.get_by_role("button", name="Export for evaluation").click()
    assert "the gate refuses this export" in page.get_by_role("alert").inner_text()
    page.get_by_label("Note for signing off mock").fill("Synthetic test data: fine for evaluation.")
    page.get_by_role("button", name="Sign off mock").click()
    page.wait_for_url(re.compile(r"/legal\?use=evaluation"))
    assert (
        "Synthetic test data"
        in page.get_by_role("region", name="Sign-offs for evaluation").inner_text()
    )
    page.get_by_role("button", name="Export for evaluation").click()
    page.wait_for_url(re.compile(r"/legal\?use=evaluation"))
    jid = int(page.locator("#exports td").first.inner_text())
    with site.api("legal") as api:
        assert wait_for(api, f"/api/v1/jobs/{jid}")["status"] == "done"
    page.reload()
    shot(page, "legal")
    with page.expect_download() as info:
        page.get_by_role("link", name="LEGAL_REVIEW.md").click()
    path = info.value.path()
    assert "Signed off: mock for evaluation by legal-1" in Path(path).read_text(encoding="utf-8")
    with page.expect_download() as info:
        page.get_by_role("link", name=f"Download export {jid} (zip)").click()
    assert info.value.suggested_filename == f"export-{jid}.zip"


def test_a_role_without_the_page_gets_403(page: Any, site: Site, done_run) -> None:  # type: ignore[no-untyped-def]
    _, rid = done_run
    sign_in(page, site, "reviewer")
    res = page.goto(f"/runs/{rid}/legal")
    assert res.status == 403
    shot(page, "forbidden")
    assert page.get_by_role("heading", name=re.compile("Not allowed")).is_visible()
    assert page.get_by_role("link", name="Legal and export").count() == 0  # not offered either
    page.context.clear_cookies()
    res = page.goto(f"/runs/{rid}/review")
    assert page.url.endswith(f"/login?next=%2Fruns%2F{rid}%2Freview")


def test_script_in_a_record_renders_as_text_and_narrow_screens_work(  # type: ignore[no-untyped-def]
    page: Any, site: Site, done_run
) -> None:
    _, rid = done_run
    sign_in(page, site, "reviewer")
    with site.api("reviewer") as api:
        items = api.get(f"/api/v1/runs/{rid}/review").json()["items"]
    pos = next(i for i, it in enumerate(items) if HOSTILE.decode() in (it["source_text"] or ""))
    page.goto(f"/runs/{rid}/review?pos={pos}")
    source = page.get_by_role("region", name="Source chunk")
    assert HOSTILE.decode() in source.inner_text()  # shown as text; no dialog ran (fixture)
    assert page.locator("main script").count() == 0
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.get_by_role("button", name="Accept (a)").is_visible()
    shot(page, "review-narrow")
