"""Loaded with ``pytest -p tests._early`` before respx's plugin imports httpx.

The openai and anthropic SDKs use httpx2; aliasing makes ``import httpx`` (respx,
LiteLLM) resolve to the same classes, so respx sees every call at the wire
(ENVIRONMENT.md). It also applies our offline defaults before any library loads, as the CLI
does at start (importing ``generator`` itself sets nothing).
"""

import os

import httpx2

httpx2.alias_httpx()
os.environ.setdefault("DISABLE_AIOHTTP_TRANSPORT", "True")

from generator.config import apply_offline_defaults  # noqa: E402

apply_offline_defaults()
