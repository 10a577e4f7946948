"""Providers by model-string prefix: ``get_provider("openai/gpt-4o-mini")`` and friends.

Built-ins load the way a plugin would, through :func:`register_factory`:

- ``mock/<name>[?faults]`` → :class:`LiteLLMProvider` with the mock registered in LiteLLM;
- ``local/<name>`` → ``generator.providers.local.create_provider(model, **settings)``
  (a llama.cpp server as a child process, then ``LiteLLMProvider`` with
  ``openai/<alias>`` + ``api_base`` + ``json_mode="json_object_schema"``);
- every other prefix LiteLLM knows → :class:`LiteLLMProvider`.

An unknown prefix is a :class:`~generator.errors.ConfigError`; a missing key is a
:class:`~generator.errors.MissingKeyError` (both exit 2, before any work starts).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from generator.errors import ConfigError
from generator.providers.base import Provider
from generator.providers.keys import check_credentials, key_route, provider_prefix
from generator.providers.litellm_provider import JSON_MODES, LiteLLMProvider
from generator.providers.model_info import (
    Price,
    context_window,
    litellm,
    price,
    register_context_window,
    register_price,
)

Factory = Callable[..., Provider]
_FACTORIES: dict[str, Factory] = {}


def register_factory(prefix: str, factory: Factory) -> None:
    """Serve models ``<prefix>/…`` with ``factory(model, **settings) -> Provider``."""
    _FACTORIES[prefix] = factory


def _mock_factory(model: str, **settings: Any) -> Provider:
    from generator.providers.mock import register_mock, split_model

    try:
        split_model(model)
    except ValueError as exc:
        raise ConfigError(f"model {model!r}: {exc}") from exc
    register_mock()
    settings.setdefault("json_mode", "json_schema")
    return LiteLLMProvider(**settings)


def _local_factory(model: str, **settings: Any) -> Provider:
    try:
        local = importlib.import_module("generator.providers.local")
    except ImportError as exc:
        raise ConfigError(
            f"model {model!r}: local models are not available in this install ({exc}); "
            'install the extra: pip install "instructforge[local]"'
        ) from exc
    return local.create_provider(model, **settings)


register_factory("mock", _mock_factory)
register_factory("local", _local_factory)


def validate_model(model: str) -> str:
    """Return the provider prefix of ``model`` or raise ConfigError if nobody serves it."""
    if not model or not model.strip() or model != model.strip():
        raise ConfigError(f"model {model!r}: give a model string such as openai/gpt-4o-mini")
    prefix = provider_prefix(model)
    if "/" in model and prefix in _FACTORIES:
        return prefix
    try:
        _, resolved, _, _ = litellm().get_llm_provider(model=model)
    except Exception as exc:  # LiteLLM raises its BadRequestError for unknown prefixes
        raise ConfigError(
            f"model {model!r}: unknown provider; use a LiteLLM model string such as "
            "openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, ollama/llama3, mock/echo"
        ) from exc
    return str(resolved)


def get_provider(
    model: str,
    *,
    api_base: str | None = None,
    json_mode: str = "auto",
    drop_params: bool = True,
    extra: dict[str, Any] | None = None,
    price_per_m: tuple[float, ...] | None = None,
    context_window_tokens: int | None = None,
    check_keys: bool = True,
    api_key_env: str | None = None,
    **settings: Any,
) -> Provider:
    """The provider serving ``model``.

    Args:
        model: LiteLLM model string (``openai/gpt-4o-mini``, ``mock/echo?fail=0.1``,
            ``local/qwen2.5-0.5b-instruct``, ``openai/<name>`` with ``api_base``).
        api_base: base URL of an OpenAI-compatible (or other) server.
        json_mode: how JSON schemas are requested (``LiteLLMProvider``).
        drop_params / extra: passed to ``LiteLLMProvider``.
        price_per_m: (input, output[, cached input]) USD per 1M tokens for a model LiteLLM
            has no price for.
        context_window_tokens: context window to use instead of LiteLLM's.
        check_keys: raise MissingKeyError now if the provider's key is not set.
        api_key_env: name of the variable holding the key for a custom ``api_base``
            (``--api-key-env``); without it such a server gets no key (providers/keys.py).
        settings: further settings for a prefix's factory (``local/``: threads, ...).
    Raises:
        ConfigError: unknown provider or bad settings; MissingKeyError: key not set.
    """
    if json_mode not in JSON_MODES:
        raise ConfigError(f"json mode {json_mode!r}: use one of {', '.join(JSON_MODES)}")
    prefix = validate_model(model)
    if check_keys:
        check_credentials(model, api_base, api_key_env)
    else:
        key_route(model, api_base, api_key_env)  # a bad name or a refused base: now
    if api_key_env and prefix == "local":
        raise ConfigError(f"{model}: --api-key-env cannot be used with local models")
    if price_per_m is not None:
        register_price(model, *price_per_m)
    if context_window_tokens is not None:
        register_context_window(model, context_window_tokens)
    kwargs: dict[str, Any] = {"api_base": api_base, "drop_params": drop_params, "extra": extra}
    if api_key_env:
        kwargs["api_key_env"] = api_key_env
    if json_mode != "auto" or prefix not in _FACTORIES:
        kwargs["json_mode"] = json_mode
    factory = _FACTORIES.get(provider_prefix(model)) if "/" in model else None
    if factory is not None:
        return factory(model, **kwargs, **settings)
    if settings:
        raise ConfigError(f"model {model!r}: unknown provider settings {sorted(settings)}")
    return LiteLLMProvider(**kwargs)


__all__ = [
    "Price",
    "context_window",
    "get_provider",
    "price",
    "register_context_window",
    "register_factory",
    "register_price",
    "validate_model",
]
