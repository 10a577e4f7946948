"""The provider contract: one method that takes messages and settings and returns a
completion with usage. Auth and base-URL setup stay apart from request/parse code.

Providers raise only ``generator.errors.ProviderError`` subclasses (the LiteLLM adapter maps
LiteLLM's exceptions in one place). Retries, rate limiting and the circuit breaker wrap a
provider from the outside (``generator.providers.resilience``); a provider makes one attempt.
"""

from __future__ import annotations

import abc
import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class CompletionRequest(BaseModel):
    """One chat-completion request, provider-neutral. Frozen: :func:`request_hash` caches
    its digest on the request (change one with ``model_copy(update=...)``, never in place)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str  # the user's model string, e.g. openai/gpt-4o-mini, mock/echo, local/qwen...
    messages: list[dict[str, str]]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    # A JSON Schema the reply must follow (None: free text). The provider decides how to ask
    # for it (json_schema response_format, json_object + schema, or prompt-only).
    json_schema: dict[str, Any] | None = None
    seed: int | None = None
    timeout: float = 120.0
    api_base: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # passed through to LiteLLM
    _digest: str | None = PrivateAttr(default=None)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy (with ``update`` applied) whose digest is computed afresh."""
        copied = super().model_copy(update=update, deep=deep)
        copied._digest = None
        return copied


class CompletionUsage(BaseModel):
    prompt_tokens: int = 0  # all input tokens, cached ones included
    completion_tokens: int = 0
    cost_usd: float | None = None  # None when the price of the model is unknown
    # Of prompt_tokens, those the provider read from its prompt cache (priced at its cached
    # rate) and those it wrote to it (Anthropic: priced at its cache-write rate).
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class Completion(BaseModel):
    """What came back from one successful call."""

    text: str
    finish_reason: str | None = None  # "stop", "length", ...
    reasoning: str | None = None  # a reasoning model's separate thinking, never parsed
    usage: CompletionUsage = Field(default_factory=CompletionUsage)
    model: str | None = None  # the model the provider says answered
    latency_s: float = 0.0
    # Set when the reply came from the cross-run call cache (``providers/cache.py``):
    # {"hit": True, "made_at": ..., "run": ...}; ``usage`` is then the original call's.
    cache: dict[str, Any] | None = None


class Provider(abc.ABC):
    """Base class of every provider. Subclasses implement :meth:`complete` only."""

    #: registry name of the provider family (``litellm``, ``mock``, ``local``)
    name: str = "base"

    @abc.abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Make exactly one attempt; raise a ``ProviderError`` subclass on failure."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, clients). Default: nothing to release."""


def request_hash(request: CompletionRequest) -> str:
    """Stable sha256 of everything that shapes the reply (the timeout does not). Cached on
    the request: the executor and the retry layer both ask for it on every call."""
    if request._digest is None:
        data = request.model_dump(exclude={"timeout"})
        blob = json.dumps(
            data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
        request._digest = hashlib.sha256(blob.encode()).hexdigest()
    return request._digest
