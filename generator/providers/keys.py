"""Credential checks before any work starts: API keys come from the environment only.

:func:`check_credentials` raises :class:`~generator.errors.MissingKeyError` (exit 2) naming
the variable to set, never printing any value. It reads nothing but the presence of the
variable; the key itself is read by LiteLLM at call time.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from urllib.parse import urlparse

from generator.config import PROVIDER_KEY_VARS
from generator.errors import MissingKeyError

# Prefixes that never need a key: our own providers and local servers.
KEYLESS_PREFIXES = frozenset({"mock", "local", "ollama", "ollama_chat", "hosted_vllm", "lm_studio"})


def provider_prefix(model: str) -> str:
    """The LiteLLM provider prefix of ``model`` (``openai`` for ``openai/gpt-4o``); a bare
    OpenAI model name such as ``gpt-4o-mini`` counts as ``openai``."""
    if "/" in model:
        return model.split("/", 1)[0].lower()
    return "openai"


@functools.lru_cache(maxsize=256)  # asked for every request: parse each address once
def is_loopback(api_base: str | None) -> bool:
    """True when ``api_base`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    if not api_base:
        return False
    host = urlparse(api_base if "://" in api_base else f"http://{api_base}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_var(model: str, api_base: str | None = None) -> str | None:
    """The environment variable that must hold the key for ``model``, or None if none is
    needed (keyless prefix, or an OpenAI-compatible server on loopback)."""
    prefix = provider_prefix(model)
    if prefix in KEYLESS_PREFIXES:
        return None
    if is_loopback(api_base):
        return None
    return PROVIDER_KEY_VARS.get(prefix)


def check_credentials(model: str, api_base: str | None = None) -> None:
    """Raise MissingKeyError if the provider of ``model`` needs a key that is not set."""
    var = key_var(model, api_base)
    if var and not os.environ.get(var, "").strip():
        raise MissingKeyError(
            f"model {model!r} needs an API key: set the environment variable {var}"
            " (keys are read from the environment only)"
        )
