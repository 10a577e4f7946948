"""Playwright with Debian's Chromium (``apt-get install chromium``; CI's ``.ci/run`` installs
it), headless, loopback only, one browser per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# ENVIRONMENT.md: without the background-networking flags Chromium keeps trying outside hosts
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "output" / "screenshots"


@pytest.fixture(scope="module")  # Playwright's sync API keeps an event loop running in
def browser() -> Iterator[object]:  # this thread while open: later asyncio.run() would fail
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have /usr/bin/chromium (make test installs it)")
        pytest.skip("Debian's Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


# Every field has a label, every link, button and disclosure a name a person (and a screen
# reader) can use; one main landmark, one h1, the page's language.
A11Y = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) bad.push("unlabelled field " + el.outerHTML.slice(0, 100));
  }
  for (const el of document.querySelectorAll("a[href], button, summary")) {
    if (!(el.textContent || el.getAttribute("aria-label") || "").trim())
      bad.push("unnamed control " + el.outerHTML.slice(0, 100));
  }
  if (document.querySelectorAll("main").length !== 1) bad.push("not one main landmark");
  if (document.querySelectorAll("h1").length !== 1) bad.push("not one h1");
  if (document.documentElement.lang !== "en") bad.push("no page language");
  return bad;
}"""


def shot(page: object, name: str) -> Path:
    """Check the page's labels and names (:data:`A11Y`), then keep a full-page screenshot as
    a test artifact (tests/output/, not committed)."""
    assert page.evaluate(A11Y) == [], name  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
