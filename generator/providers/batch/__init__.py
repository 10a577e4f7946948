"""Provider batch APIs: OpenAI (Files + Batches) and Anthropic (Message Batches).

:func:`client_for` gives the :class:`~generator.providers.batch.base.BatchClient` of a
model string; the batch engine that uses it is :mod:`generator.generate.batch`.
"""

from __future__ import annotations

import os

from generator.errors import ConfigError
from generator.providers.batch.base import BatchClient, BatchLimits, BatchResult, BatchStatus
from generator.providers.keys import api_key_for, key_route, key_var, provider_prefix

BATCH_PROVIDERS = ("openai", "anthropic")


def check_batch_model(model: str) -> str:
    """The batch provider of ``model`` (``openai`` or ``anthropic``), or ConfigError."""
    prefix = provider_prefix(model)
    if prefix not in BATCH_PROVIDERS:
        raise ConfigError(
            f"--batch needs an openai/ or anthropic/ model (their batch APIs), not {model!r}; "
            "run without --batch for other providers"
        )
    return prefix


def client_for(
    model: str, api_base: str | None = None, api_key_env: str | None = None
) -> BatchClient:
    """The batch client for ``model`` (the key the synchronous call would carry)."""
    from generator.providers.registry import get_provider

    prefix = check_batch_model(model)
    sync = get_provider(model, api_base=api_base, api_key_env=api_key_env, check_keys=False)
    key = api_key_for(key_route(model, api_base, api_key_env))
    if key is None:  # the provider's own host: its own variable, as LiteLLM would read it
        var = key_var(model, api_base, api_key_env)
        key = os.environ.get(var) if var else None
    if prefix == "anthropic":
        from generator.providers.batch.anthropic_batch import AnthropicBatchClient

        return AnthropicBatchClient(sync, api_base, key)  # type: ignore[arg-type]
    from generator.providers.batch.openai_batch import OpenAIBatchClient

    return OpenAIBatchClient(sync, api_base, key)  # type: ignore[arg-type]


__all__ = [
    "BATCH_PROVIDERS",
    "BatchClient",
    "BatchLimits",
    "BatchResult",
    "BatchStatus",
    "check_batch_model",
    "client_for",
]
