"""The production provider: one ``litellm.acompletion`` call per :meth:`complete`.

Every LiteLLM model string works (``openai/…``, ``anthropic/…``, ``ollama/…``,
``hosted_vllm/…``, ``openai/<name>`` + ``api_base``), and so does our ``mock/<name>``,
which LiteLLM routes to :mod:`generator.providers.mock` through its custom-provider map:
one code path for tests and production.

JSON: when the request carries a schema, ``json_mode`` decides how it is asked for:

- ``auto``: ``json_schema`` where ``litellm.supports_response_schema`` says so (and for
  ``hosted_vllm``/``mock``); ``json_object_schema`` for ``openai/<name>`` + ``api_base``
  (llama.cpp-style servers answer ``json_schema`` with a 500); else ``none``.
- ``json_schema``: ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": false}}``
- ``json_object_schema``: ``{"type": "json_object", "schema": ...}`` (llama.cpp server)
- ``json_object``: ``{"type": "json_object"}``; ``none``: the prompt alone asks for JSON.

Keys: :func:`~generator.providers.keys.key_route` decides which key a call carries; a
server that is not the provider's own gets the variable named by ``api_key_env`` or none.

Internal retries of LiteLLM and the SDKs are switched off: :mod:`.resilience` retries.

Prompt caching: OpenAI caches prompt prefixes by itself; for ``anthropic/`` models the
system block (where templates keep every static part, :mod:`generator.generate.prompts`)
carries ``cache_control: {"type": "ephemeral"}``. It is always marked: below the model's
minimum (1,024 to 4,096 tokens) Anthropic just does not cache, at no extra charge, and our
token counts for Claude are approximate, so a threshold of ours would misjudge near the
edge. Cached input tokens come back in the usage (``cached_tokens``, ``cache_write_tokens``)
and LiteLLM's cost prices them at the model's cached rates (its price map).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Literal

from generator.providers.base import Completion, CompletionRequest, CompletionUsage, Provider
from generator.providers.errors import map_exception
from generator.providers.keys import api_key_for, key_route, provider_prefix
from generator.providers.model_info import (
    call_pricing,
    completion_cost,
    litellm,
    supports_response_schema,
)

JsonMode = Literal["auto", "json_schema", "json_object_schema", "json_object", "none"]
JSON_MODES: tuple[str, ...] = ("auto", "json_schema", "json_object_schema", "json_object", "none")

_THINK = re.compile(r"<think(?:ing)?>(.*?)(?:</think(?:ing)?>|\Z)", re.DOTALL | re.IGNORECASE)


def split_thinking(text: str) -> tuple[str, str | None]:
    """Remove ``<think>…</think>`` blocks (an unclosed one runs to the end) from ``text``;
    return (answer, thinking or None)."""
    found = [m.group(1).strip() for m in _THINK.finditer(text)]
    if not found:
        return text, None
    answer = _THINK.sub("", text).strip()
    return answer, "\n\n".join(f for f in found if f) or None


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _reasoning_of(message: Any) -> str | None:
    parts: list[str] = []
    rc = _get(message, "reasoning_content") or _get(message, "reasoning")
    if isinstance(rc, str) and rc.strip():
        parts.append(rc.strip())
    for block in _get(message, "thinking_blocks") or []:
        thought = _get(block, "thinking")
        if isinstance(thought, str) and thought.strip() and thought.strip() not in parts:
            parts.append(thought.strip())
    return "\n\n".join(parts) or None


CACHE_CONTROL = {"type": "ephemeral"}


def mark_cacheable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with the leading system message as one text block carrying Anthropic's
    ``cache_control`` (a copy; other messages unchanged)."""
    out = list(messages)
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        block = {"type": "text", "text": out[0]["content"], "cache_control": CACHE_CONTROL}
        out[0] = {**out[0], "content": [block]}
    return out


def _cache_tokens(usage: Any) -> tuple[int, int]:
    """(tokens read from, tokens written to) the provider's prompt cache, from a LiteLLM
    usage: OpenAI's ``prompt_tokens_details.cached_tokens``, Anthropic's
    ``cache_read_input_tokens`` / ``cache_creation_input_tokens``."""
    details = _get(usage, "prompt_tokens_details")
    read = _get(usage, "cache_read_input_tokens") or _get(details, "cached_tokens") or 0
    write = _get(usage, "cache_creation_input_tokens") or _get(details, "cache_write_tokens")
    return int(read or 0), int(write or 0)


class LiteLLMProvider(Provider):
    """Calls ``litellm.acompletion`` once per request and maps its errors to ours.

    Args:
        litellm_model: model string sent to LiteLLM instead of ``request.model`` (the
            ``local/`` provider sends ``openai/<alias>``); prices and windows registered
            under the user's model string still apply.
        api_base: default base URL (``request.api_base`` wins when set).
        json_mode: how a request's JSON schema is asked for (module docstring).
        drop_params: let LiteLLM drop sampling parameters a provider does not accept
            (``seed`` on Anthropic) instead of failing the call.
        extra: keyword arguments added to every call (``request.extra`` wins).
        api_key_env: name of the environment variable whose value is the key for a custom
            api base (``--api-key-env``); None: such a server gets no key.
    """

    name = "litellm"

    def __init__(
        self,
        *,
        litellm_model: str | None = None,
        api_base: str | None = None,
        json_mode: JsonMode = "auto",
        drop_params: bool = True,
        extra: dict[str, Any] | None = None,
        api_key_env: str | None = None,
    ) -> None:
        if json_mode not in JSON_MODES:
            raise ValueError(f"json_mode must be one of {', '.join(JSON_MODES)}")
        self.litellm_model = litellm_model
        self.api_base = api_base
        self.json_mode: JsonMode = json_mode
        self.drop_params = drop_params
        self.extra = dict(extra or {})
        self.api_key_env = api_key_env
        self._lib = litellm()
        self._json_modes: dict[tuple[str, str | None], str] = {}

    # -- request building -------------------------------------------------------------
    def resolve_json_mode(self, model: str, api_base: str | None) -> str:
        """The concrete JSON mode used for ``model`` (``auto`` resolved)."""
        if self.json_mode != "auto":
            return self.json_mode
        key = (model, api_base)
        if key not in self._json_modes:  # LiteLLM's lookup costs ~1 ms: once per model
            self._json_modes[key] = self._resolve_json_mode(model, api_base)
        return self._json_modes[key]

    def _resolve_json_mode(self, model: str, api_base: str | None) -> str:
        prefix = provider_prefix(model)
        if prefix in ("mock", "hosted_vllm"):
            return "json_schema"
        if supports_response_schema(model):
            return "json_schema"
        if prefix == "openai" and api_base:
            return "json_object_schema"  # an unknown model behind an OpenAI-compatible server
        return "none"

    def response_format(
        self, request: CompletionRequest, model: str, api_base: str | None
    ) -> dict[str, Any] | None:
        """The ``response_format`` argument for ``request`` (None: do not send one)."""
        if request.json_schema is None:
            return None
        mode = self.resolve_json_mode(model, api_base)
        schema = request.json_schema
        if mode == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "records"))[:64]
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        if mode == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def call_kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        """Every keyword argument of the ``litellm.acompletion`` call for ``request``."""
        model = self.litellm_model or request.model
        api_base = request.api_base or self.api_base
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in request.messages],  # never hand out the caller's list
            "timeout": request.timeout,
            "num_retries": 0,  # LiteLLM's own retries: off, resilience.py retries
            "max_retries": 0,  # the openai/anthropic SDK's retries: off
            "drop_params": self.drop_params,
        }
        for key in ("temperature", "top_p", "max_tokens", "seed"):
            val = getattr(request, key)
            if val is not None:
                kwargs[key] = val
        if api_base:
            kwargs["api_base"] = api_base
        api_key = api_key_for(key_route(model, api_base, self.api_key_env))
        if api_key is not None:  # else LiteLLM reads the provider's own variable
            kwargs["api_key"] = api_key
        fmt = self.response_format(request, model, api_base)
        if fmt is not None:
            kwargs["response_format"] = fmt
        kwargs.update(call_pricing(request.model, model))
        kwargs.update(self.extra)
        kwargs.update(request.extra)
        if provider_prefix(model) == "anthropic":
            kwargs["messages"] = mark_cacheable(kwargs["messages"])
        return kwargs

    # -- the call ---------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        """One attempt; raises a ``ProviderError`` subclass on failure."""
        kwargs = self.call_kwargs(request)
        prefix = provider_prefix(kwargs["model"])
        if prefix == "mock":
            from generator.providers.mock import register_mock

            register_mock()  # idempotent; LiteLLM must know the mock before it routes
        start = time.perf_counter()
        # The library's timeout is per read; a server that trickles bytes could hold a call
        # for ever. This overall deadline is the backstop, a little after the library's.
        deadline = 1.5 * request.timeout + 2.0
        try:
            async with asyncio.timeout(deadline):  # no extra task per call, unlike wait_for
                response = await self._lib.acompletion(**kwargs)
        except Exception as exc:  # every foreign error is mapped, in one place
            raise map_exception(exc, provider=prefix) from exc
        latency = time.perf_counter() - start
        return self.parse_response(response, request, latency)

    def parse_response(
        self, response: Any, request: CompletionRequest, latency: float
    ) -> Completion:
        """Text, finish_reason, reasoning, usage and cost of a LiteLLM ``ModelResponse``."""
        choices = _get(response, "choices") or []
        choice = choices[0] if choices else None
        message = _get(choice, "message")
        content = _get(message, "content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(str(_get(p, "text") or "") for p in content)
        text, think = split_thinking(content or "")
        reasoning = "\n\n".join(r for r in (_reasoning_of(message), think) if r) or None
        usage = _get(response, "usage")
        pt = int(_get(usage, "prompt_tokens") or 0)
        ct = int(_get(usage, "completion_tokens") or 0)
        read, write = _cache_tokens(usage)
        cost = completion_cost(request.model, pt, ct, response, read, write)
        if cost is None and self.litellm_model:
            cost = completion_cost(self.litellm_model, pt, ct, response, read, write)
        return Completion(
            text=text,
            finish_reason=_get(choice, "finish_reason"),
            reasoning=reasoning,
            usage=CompletionUsage(
                prompt_tokens=pt,
                completion_tokens=ct,
                cost_usd=cost,
                cached_tokens=read,
                cache_write_tokens=write,
            ),
            model=_get(response, "model"),
            latency_s=latency,
        )
