"""Which key goes where: API keys come from the environment only and go only to their own
provider.

The rule (:func:`key_route`): a provider's key variable (``OPENAI_API_KEY``, ...) is sent only
to that provider's own API, reached over https at one of the hosts of ``OWN_HOSTS``. A
custom API base (``--api-base``, or a base URL LiteLLM would read from the environment such
as ``OPENAI_BASE_URL``) gets the value of the variable the user names (``--api-key-env
NAME``) or no key at all: the call then carries a fixed placeholder that is not a secret.
Servers of cloud providers that sign requests with cloud credentials (Bedrock, Vertex AI)
are refused outside the cloud's own domain, since LiteLLM would sign for them.

:func:`check_credentials` raises :class:`~generator.errors.MissingKeyError` (exit 2) naming
the variable to set, never printing any value.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from generator.config import PROVIDER_KEY_VARS, declare_secret_var
from generator.errors import ConfigError, MissingKeyError
from generator.redact import scrub_url_credentials

# Prefixes that never need a key: our own providers and local servers.
KEYLESS_PREFIXES = frozenset({"mock", "local", "ollama", "ollama_chat", "hosted_vllm", "lm_studio"})

# A provider's own API hosts (a leading dot: any subdomain). Its key goes nowhere else.
OWN_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "anthropic": ("api.anthropic.com",),
    "gemini": ("generativelanguage.googleapis.com",),
    "mistral": ("api.mistral.ai",),
    "cohere": ("api.cohere.com", "api.cohere.ai"),
    "cohere_chat": ("api.cohere.com", "api.cohere.ai"),
    "deepseek": ("api.deepseek.com",),
    "groq": ("api.groq.com",),
    "together_ai": ("api.together.xyz", "api.together.ai"),
    "openrouter": ("openrouter.ai",),
    "dashscope": ("dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com"),
    "fireworks_ai": ("api.fireworks.ai",),
    "xai": ("api.x.ai",),
    # Azure OpenAI / AI Foundry: every resource has its own subdomain.
    "azure": (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"),
    "perplexity": ("api.perplexity.ai",),
    "cerebras": ("api.cerebras.ai",),
    "replicate": ("api.replicate.com",),
    "huggingface": (
        "router.huggingface.co",
        "api-inference.huggingface.co",
        ".endpoints.huggingface.cloud",
    ),
    "nvidia_nim": ("integrate.api.nvidia.com",),
    "ai21": ("api.ai21.com",),
}

# Providers LiteLLM authenticates with cloud credentials (signed requests, OAuth tokens),
# not an API key: their requests may only go to the cloud's own domains.
CLOUD_SIGNED: dict[str, tuple[str, ...]] = {
    "bedrock": (".amazonaws.com", ".amazonaws.com.cn"),
    "sagemaker": (".amazonaws.com", ".amazonaws.com.cn"),
    "sagemaker_chat": (".amazonaws.com", ".amazonaws.com.cn"),
    "vertex_ai": (".googleapis.com",),
    "vertex_ai_beta": (".googleapis.com",),
}

# Sent as the key to a server that gets none: clients insist on some string. Not a secret.
NO_KEY = "no-key-required"

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def provider_prefix(model: str) -> str:
    """The LiteLLM provider prefix of ``model`` (``openai`` for ``openai/gpt-4o``); a bare
    OpenAI model name such as ``gpt-4o-mini`` counts as ``openai``."""
    if "/" in model:
        return model.split("/", 1)[0].lower()
    return "openai"


def _host(api_base: str) -> str:
    return (
        urlparse(api_base if "://" in api_base else f"http://{api_base}").hostname or ""
    ).lower()


@functools.lru_cache(maxsize=256)  # asked for every request: parse each address once
def is_loopback(api_base: str | None) -> bool:
    """True when ``api_base`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    if not api_base:
        return False
    host = _host(api_base)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_in(host: str, patterns: tuple[str, ...]) -> bool:
    return any(host.endswith(p) if p.startswith(".") else host == p for p in patterns)


@functools.lru_cache(maxsize=256)
def is_own_base(prefix: str, api_base: str) -> bool:
    """True when ``api_base`` is ``prefix``'s own API: https to one of its hosts."""
    parsed = urlparse(api_base)
    return parsed.scheme == "https" and _host_in(_host(api_base), OWN_HOSTS.get(prefix, ()))


def env_api_base(prefix: str) -> str | None:
    """The base URL LiteLLM (or the provider's SDK) would read from the environment for
    ``prefix`` when no api_base is given (``OPENAI_BASE_URL``, ``ANTHROPIC_API_BASE``, ...)."""
    names = [prefix.upper(), prefix.upper().removesuffix("_AI")]
    if prefix == "hosted_vllm":
        names.append("VLLM")
    for name in names:
        for suffix in ("_BASE_URL", "_API_BASE"):
            value = os.environ.get(name + suffix, "").strip()
            if value:
                return value
    return None


@dataclass(frozen=True)
class KeyRoute:
    """Where a model's calls go and which key they carry.

    ``api_base``: the custom base in effect (None: the provider's default); ``var``: the
    variable whose value is sent (None: none of ours); ``explicit``: we pass the key
    ourselves (the named variable's value, or :data:`NO_KEY`) so LiteLLM reads none."""

    api_base: str | None
    var: str | None
    explicit: bool


def check_key_env_name(name: str) -> str:
    """``name`` if it can be an environment variable's name, else ConfigError."""
    if not _VAR_NAME.match(name or ""):
        raise ConfigError(
            f"--api-key-env {name!r}: give the NAME of an environment variable holding the key "
            "(letters, digits and _), never the key itself"
        )
    return name


def key_route(model: str, api_base: str | None = None, api_key_env: str | None = None) -> KeyRoute:
    """Decide which key (if any) goes with the calls of ``model`` to ``api_base``."""
    prefix = provider_prefix(model)
    base = api_base or env_api_base(prefix)
    if (
        prefix in CLOUD_SIGNED
        and base
        and not (urlparse(base).scheme == "https" and _host_in(_host(base), CLOUD_SIGNED[prefix]))
    ):
        raise ConfigError(
            f"model {model!r}: api base {scrub_url_credentials(base)} is not the cloud's own; "
            "instructforge will not sign requests with your cloud credentials for it"
        )
    if api_key_env:
        return KeyRoute(base, check_key_env_name(api_key_env), explicit=True)
    if prefix in CLOUD_SIGNED or prefix in ("mock", "local"):
        return KeyRoute(base, None, explicit=False)
    if prefix in KEYLESS_PREFIXES:
        return KeyRoute(base, None, explicit=base is not None)
    if base is None or is_own_base(prefix, base):
        return KeyRoute(base, PROVIDER_KEY_VARS.get(prefix), explicit=False)
    return KeyRoute(base, None, explicit=True)


def api_key_for(route: KeyRoute) -> str | None:
    """The ``api_key`` to hand LiteLLM for ``route`` (None: let LiteLLM read its own)."""
    if not route.explicit:
        return None
    if route.var is None:
        return NO_KEY
    declare_secret_var(route.var)  # its value is scrubbed from every message from now on
    return os.environ.get(route.var) or NO_KEY


def key_var(model: str, api_base: str | None = None, api_key_env: str | None = None) -> str | None:
    """The environment variable that must hold the key for ``model``, or None if none is
    needed (keyless prefix, or a server that is not the provider's own)."""
    return key_route(model, api_base, api_key_env).var


def check_no_url_credentials(model: str, api_base: str | None) -> None:
    """ConfigError for an api base carrying ``user:password@``: LiteLLM refuses such a URL
    beside the Authorization header it always sends, so every call would fail after its
    retries. The mock and local models make no HTTP call with it: left alone."""
    if not api_base or provider_prefix(model) in ("mock", "local"):
        return
    parsed = urlparse(api_base if "://" in api_base else f"http://{api_base}")
    if parsed.username is None and parsed.password is None:
        return
    raise ConfigError(
        f"api base {scrub_url_credentials(api_base)}: a user name or password in the URL "
        "cannot be sent (LiteLLM refuses it beside the Authorization header); remove it "
        "and put the secret in an environment variable named by --api-key-env"
    )


def check_credentials(
    model: str, api_base: str | None = None, api_key_env: str | None = None
) -> None:
    """Raise MissingKeyError if the key ``model`` will be called with is not set (and
    ConfigError for a bad ``api_key_env`` name or a refused cloud base)."""
    route = key_route(model, api_base, api_key_env)
    check_no_url_credentials(model, route.api_base)
    var = route.var
    if var is None:
        return
    if api_key_env:
        declare_secret_var(var)
    if not os.environ.get(var, "").strip():
        if api_key_env:
            raise MissingKeyError(
                f"--api-key-env {var}: the environment variable {var} is not set"
                " (keys are read from the environment only)"
            )
        raise MissingKeyError(
            f"model {model!r} needs an API key: set the environment variable {var}"
            " (keys are read from the environment only)"
        )
