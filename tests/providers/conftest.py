"""Fixtures for provider tests: fake keys in the environment, a fresh mock state."""

from __future__ import annotations

import pytest

from generator.providers import mock, model_info

OPENAI_KEY = "sk-proj-TESTKEY0123456789abcdefXYZ"
ANTHROPIC_KEY = "sk-ant-api03-TESTKEY0123456789abcdefXYZ"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Realistic-looking (fake) keys for OpenAI and Anthropic in the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}


@pytest.fixture(autouse=True)
def _fresh_provider_state() -> None:
    mock.reset()
    model_info.clear_overrides()
