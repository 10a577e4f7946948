"""Waiting on runs and jobs of a live server."""

from __future__ import annotations

import time
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
