"""Providers: one contract, one LiteLLM code path, a mock, and resilience around them.

Public API (import from ``generator.providers``; importing this package does not import
LiteLLM: that happens when a provider is built)::

    from generator.providers import (
        CompletionRequest, Completion, CompletionUsage, Provider, request_hash,
        get_provider, check_credentials, context_window, price, register_price,
        ResilientProvider, RetryPolicy, CircuitBreaker, AdaptiveLimiter, Attempt,
    )

    check_credentials(model, api_base)        # MissingKeyError (exit 2) before any work
    provider = get_provider("openai/gpt-4o-mini", api_base=None, json_mode="auto",
                            price_per_m=None, context_window_tokens=None)
    resilient = ResilientProvider(provider, concurrency=16, rpm=None, tpm=None,
                                  retry=RetryPolicy(max_attempts=6),
                                  on_attempt=journal_callback)   # sync or async
    completion = await resilient.complete(CompletionRequest(
        model="openai/gpt-4o-mini", messages=[...], temperature=0.7, max_tokens=1024,
        json_schema=schema_or_None, seed=None, timeout=120))
    completion.text            # the answer, <think> blocks removed
    completion.reasoning       # thinking (reasoning_content, thinking blocks, <think>)
    completion.finish_reason   # "stop", "length" (never trust "length")
    completion.usage           # prompt_tokens, completion_tokens, cost_usd (None: unknown)
    context_window(model)      # int | None (registered override, else LiteLLM's map)

Errors (``generator.errors``): BadRequestError, ContextWindowError are raised at once;
TransientError (RateLimitError with ``retry_after``, ServerError, ProviderTimeoutError) is
retried, then RetriesExhausted(attempts, last_error, usage); CircuitOpen (exit 4) when >= 80%
of the last 20 calls (at least 10) failed; an AuthError (401/403) opens it at once as
KeyRejected (a CircuitOpen naming the key's variable), raised by that call and every later
one. No message ever contains an API key (:func:`generator.providers.errors.scrub`).

``on_attempt`` receives an :class:`Attempt` for every call: request_hash, model, attempt
(1-based), status (ok, rate_limited, server_error, timeout, auth_error, context_window,
bad_request, error), latency_s, usage, error, finish_reason, will_retry.

Mock provider ``mock/<name>[?options]``: deterministic replies built from the sentences of
the prompt's ``<document>…</document>`` block; format, envelope and count from the request's
JSON schema (an object with an array property such as ``records`` → ``{"records": [...]}``;
record properties decide alpaca/chat/completion; ``minItems``/``maxItems``) or from the
prompt ("Write 3 records"); without a schema ``{"records": [...]}``. Options (probabilities
per call): fail (500), rate_limit (429) with retry_after (s), malformed (prose, no JSON),
truncated (cut JSON, finish_reason length), timeout, slow + slow_ms, latency_ms, auth (401),
bad_request (400), think (<think> block), records (N per reply), seed. In tests:
``with mock.use_plan(MockPlan(fail=1.0)): ...``.

``local/<name>``: ``generator.providers.local.create_provider(model, **settings)`` (built
separately) returns a Provider, typically ``LiteLLMProvider(litellm_model="openai/<alias>",
api_base=..., json_mode="json_object_schema")``.
"""

from __future__ import annotations

from generator.providers.base import (
    Completion,
    CompletionRequest,
    CompletionUsage,
    Provider,
    request_hash,
)
from generator.providers.keys import check_credentials, key_var
from generator.providers.limits import AdaptiveLimiter, TokenBucket
from generator.providers.model_info import (
    Price,
    completion_cost,
    context_window,
    price,
    register_context_window,
    register_price,
)
from generator.providers.registry import get_provider, register_factory, validate_model
from generator.providers.resilience import (
    Attempt,
    CircuitBreaker,
    ResilientProvider,
    RetryPolicy,
    status_of,
)

__all__ = [
    "AdaptiveLimiter",
    "Attempt",
    "CircuitBreaker",
    "Completion",
    "CompletionRequest",
    "CompletionUsage",
    "Price",
    "Provider",
    "ResilientProvider",
    "RetryPolicy",
    "TokenBucket",
    "check_credentials",
    "completion_cost",
    "context_window",
    "get_provider",
    "key_var",
    "price",
    "register_context_window",
    "register_factory",
    "register_price",
    "request_hash",
    "status_of",
    "validate_model",
]
