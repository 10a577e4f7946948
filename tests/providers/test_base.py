"""The request hash: stable, cached on the (frozen) request, recomputed for a changed copy."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from generator.providers.base import CompletionRequest, request_hash


def _request(content: str = "hello") -> CompletionRequest:
    return CompletionRequest(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": content}],
        json_schema={"type": "object"},
        timeout=30,
    )


def test_hash_is_stable_and_ignores_only_the_timeout():
    a, b = _request(), _request()
    assert request_hash(a) == request_hash(b)
    assert request_hash(a) == request_hash(a.model_copy(update={"timeout": 99.0}))
    assert request_hash(a) != request_hash(_request("hello!"))
    assert request_hash(a) != request_hash(a.model_copy(update={"temperature": 0.5}))


def test_a_changed_copy_never_keeps_the_cached_digest():
    a = _request()
    digest = request_hash(a)
    copy = a.model_copy(update={"messages": [{"role": "user", "content": "other"}]})
    assert request_hash(copy) != digest
    assert request_hash(copy) == request_hash(_request("other"))


def test_requests_are_frozen_so_the_cache_cannot_go_stale():
    a = _request()
    request_hash(a)
    with pytest.raises(ValidationError):
        a.model = "anthropic/claude-3-5-haiku"  # type: ignore[misc]


def test_digest_travels_with_a_pickled_request():
    a = _request()
    digest = request_hash(a)
    b = pickle.loads(pickle.dumps(a))  # a UnitSpec sent to a call process
    assert b._digest == digest
    assert request_hash(b) == request_hash(_request())
