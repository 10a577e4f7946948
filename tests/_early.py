"""Loaded with ``pytest -p tests._early`` before respx's plugin imports httpx.

The openai and anthropic SDKs use httpx2; aliasing makes ``import httpx`` (respx,
LiteLLM) resolve to the same classes, so respx sees every call at the wire
(ENVIRONMENT.md). It also applies our offline defaults before any library loads.
"""

import os

import httpx2

httpx2.alias_httpx()
os.environ.setdefault("DISABLE_AIOHTTP_TRANSPORT", "True")

import generator  # noqa: E402,F401  (sets the offline environment)
