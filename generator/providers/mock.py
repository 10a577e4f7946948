"""The built-in mock provider ``mock/<name>``, served through LiteLLM's custom-provider map.

:func:`register_mock` (idempotent) adds :class:`MockLLM` to ``litellm.custom_provider_map``,
so ``LiteLLMProvider`` calls ``litellm.acompletion("mock/…")`` exactly as for a real model.

Replies are deterministic functions of the messages (sha256): records are built from the
sentences of the prompt's data block (``<document>…</document>``; else the last user
message), so they are grounded and differ per chunk. Format and count come from the
request's JSON schema (record properties, ``minItems``/``maxItems``, the array property
name) or, without one, from the prompt ("3 records", ``"messages"`` …); see
:mod:`generator.providers.mock_records`.

Fault injection, from the model name (``mock/echo?fail=0.2&rate_limit=0.1&retry_after=1``)
or a :class:`MockPlan` installed with :func:`use_plan` (tests). Each call draws its faults
from ``seed``, the messages' hash and how many times this process has seen those messages,
so a retry of a failed request can succeed and reruns are reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl

from generator.providers.mock_records import build_reply, malformed_text
from generator.providers.model_info import MOCK_CONTEXT_WINDOW, litellm
from generator.tokens import count_tokens, encoding_for

PROVIDER = "mock"


@dataclass(frozen=True)
class MockPlan:
    """Which faults the mock injects, and how often (probabilities per call, 0..1)."""

    fail: float = 0.0  # 500 server error
    rate_limit: float = 0.0  # 429 with Retry-After
    retry_after: float | None = 1.0  # seconds in the 429's Retry-After header (None: no header)
    malformed: float = 0.0  # prose instead of JSON
    truncated: float = 0.0  # JSON cut off, finish_reason "length"
    timeout: float = 0.0  # the call hangs until the request's timeout, then times out
    slow: float = 0.0  # a reply delayed by slow_ms
    slow_ms: float = 1000.0
    latency_ms: float = 0.0  # delay of every reply
    auth: float = 0.0  # 401 (1: a revoked key)
    bad_request: float = 0.0  # 400
    think: float = 0.0  # a <think> block (with braces) before the answer
    records: int | None = None  # force the number of records per reply
    seed: int = 0

    @classmethod
    def from_query(cls, query: str) -> MockPlan:
        """Parse ``fail=0.2&retry_after=1&seed=3`` (unknown keys are a ValueError)."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in parse_qsl(query, keep_blank_values=True):
            if key not in known:
                raise ValueError(f"unknown mock option {key!r} (known: {', '.join(known)})")
            if key in ("records", "seed"):
                values[key] = int(raw)
            elif key == "retry_after" and raw.lower() in ("", "none"):
                values[key] = None
            else:
                values[key] = float(raw)
        return cls(**values)


def split_model(model: str) -> tuple[str, MockPlan]:
    """``mock/echo?fail=0.1`` (or ``echo?fail=0.1``) -> (``echo``, plan)."""
    name = model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model
    base, _, query = name.partition("?")
    return base, MockPlan.from_query(query)


_plan_override: MockPlan | None = None
_seen: Counter[str] = Counter()
_lock = threading.Lock()


@contextlib.contextmanager
def use_plan(plan: MockPlan) -> Iterator[MockPlan]:
    """Use ``plan`` for every mock call inside the block (instead of the model name's)."""
    global _plan_override
    old, _plan_override = _plan_override, plan
    try:
        yield plan
    finally:
        _plan_override = old


def reset() -> None:
    """Forget how often each request was seen (fault draws start over)."""
    with _lock:
        _seen.clear()


def messages_hash(messages: list[dict[str, Any]]) -> str:
    blob = json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _error(
    kind: str, message: str, model: str, status: int, headers: dict[str, str] | None = None
) -> Exception:
    import httpx

    lib = litellm()
    request = httpx.Request("POST", "http://mock.invalid/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    cls = getattr(lib, kind)
    return cls(message=message, llm_provider=PROVIDER, model=model, response=response)


def _schema_of(optional_params: dict[str, Any]) -> dict[str, Any] | None:
    fmt = optional_params.get("response_format") or {}
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


class MockLLM:
    """LiteLLM custom handler (built on ``litellm.CustomLLM`` at registration time)."""

    async def acompletion(
        self,
        model: str,
        messages: list,
        model_response: Any,
        optional_params: dict,
        timeout: Any = None,
        **_: Any,
    ) -> Any:
        name, plan = split_model(model)
        plan = _plan_override or plan
        full = f"{PROVIDER}/{name}"
        digest = messages_hash(messages)
        with _lock:
            seen = _seen[digest]
            _seen[digest] += 1
        rng = random.Random(f"{plan.seed}:{digest}:{seen}")
        prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
        prompt_tokens = count_tokens(prompt_text)

        if rng.random() < plan.auth:
            raise _error("AuthenticationError", "invalid api key (mock)", full, 401)
        if prompt_tokens + int(optional_params.get("max_tokens") or 0) > MOCK_CONTEXT_WINDOW:
            lib = litellm()
            raise lib.ContextWindowExceededError(
                message=f"context window of {MOCK_CONTEXT_WINDOW} tokens exceeded (mock)",
                model=full,
                llm_provider=PROVIDER,
            )
        if rng.random() < plan.bad_request:
            raise _error("BadRequestError", "invalid request (mock)", full, 400)
        if rng.random() < plan.rate_limit:
            headers = {} if plan.retry_after is None else {"retry-after": f"{plan.retry_after:g}"}
            raise _error("RateLimitError", "rate limit reached (mock)", full, 429, headers)
        if rng.random() < plan.fail:
            raise _error("InternalServerError", "internal server error (mock)", full, 500)
        limit = float(timeout) if isinstance(timeout, int | float) else None
        delay = plan.latency_ms / 1000.0
        if rng.random() < plan.slow:
            delay += plan.slow_ms / 1000.0
        if rng.random() < plan.timeout:
            delay = max(delay, limit or 0.0) + 1.0
        if limit is not None and delay > limit:
            await asyncio.sleep(limit)
            raise litellm().Timeout(
                message=f"request timed out after {limit:g}s (mock)",
                model=full,
                llm_provider=PROVIDER,
            )
        if delay > 0:
            await asyncio.sleep(delay)

        count = plan.records
        variant = f"{name}:{optional_params.get('temperature')}"  # two models/settings differ
        text = build_reply(messages, _schema_of(optional_params), digest, count, variant=variant)
        finish = "stop"
        if rng.random() < plan.malformed:
            text = malformed_text(text)
        elif rng.random() < plan.truncated:
            text, finish = text[: max(1, int(len(text) * 0.6))], "length"
        if rng.random() < plan.think:
            text = (
                '<think>The user wants JSON like {"draft": true}; check the document.</think>\n'
                + text
            )
        max_tokens = optional_params.get("max_tokens")
        completion_tokens = count_tokens(text)
        if max_tokens and completion_tokens > int(max_tokens) and finish == "stop":
            # Like a real model: stop at the token budget.
            enc = encoding_for(None)
            text = enc.decode(enc.encode(text, disallowed_special=())[: int(max_tokens)])
            completion_tokens, finish = int(max_tokens), "length"

        lib = litellm()
        model_response.choices[0].message.content = text
        model_response.choices[0].finish_reason = finish
        model_response.model = full
        model_response.usage = lib.Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        return model_response


_registered = False


def register_mock() -> None:
    """Add the mock to LiteLLM's custom-provider map once (idempotent, thread-safe)."""
    global _registered
    with _lock:
        if _registered:
            return
        lib = litellm()
        if not any(item.get("provider") == PROVIDER for item in lib.custom_provider_map):
            handler_cls = type("MockHandler", (MockLLM, lib.CustomLLM), {})
            lib.custom_provider_map.append({"provider": PROVIDER, "custom_handler": handler_cls()})
        _registered = True


__all__ = ["PROVIDER", "MockPlan", "register_mock", "reset", "split_model", "use_plan"]
