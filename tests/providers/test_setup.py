"""Keys, the registry, model info, error mapping helpers and thinking extraction."""

from __future__ import annotations

import asyncio
import email.utils
import sys
import types

import pytest

from generator.config import secret_env
from generator.errors import (
    ConfigError,
    MissingKeyError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from generator.providers import (
    CompletionRequest,
    Price,
    check_credentials,
    completion_cost,
    context_window,
    get_provider,
    price,
    register_context_window,
    register_price,
)
from generator.providers.errors import map_exception, parse_retry_after, scrub
from generator.providers.litellm_provider import LiteLLMProvider, split_thinking
from generator.providers.model_info import batch_price
from generator.providers.registry import register_factory

# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("model", "var"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("gemini/gemini-2.5-flash", "GEMINI_API_KEY"),
        ("xai/grok-3-mini", "XAI_API_KEY"),
        ("azure/my-gpt-4o-deployment", "AZURE_API_KEY"),
        ("perplexity/sonar", "PERPLEXITYAI_API_KEY"),
    ],
)
def test_missing_key_names_the_variable(model: str, var: str) -> None:
    with pytest.raises(MissingKeyError) as info:
        check_credentials(model)
    assert var in str(info.value) and info.value.exit_code == 2


def test_key_present_and_keyless_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdefghijklmnop")
    check_credentials("openai/gpt-4o-mini")
    monkeypatch.delenv("OPENAI_API_KEY")
    for model in ("mock/echo", "local/qwen", "ollama/llama3", "hosted_vllm/qwen"):
        check_credentials(model)
    check_credentials("openai/qwen", "http://127.0.0.1:8080/v1")
    check_credentials("openai/qwen", "http://localhost:8080/v1")
    # Another server never gets OPENAI_API_KEY (providers/keys.py), so it needs none...
    check_credentials("openai/qwen", "https://llm.example.com/v1")
    with pytest.raises(MissingKeyError):  # ...but OpenAI's own API does
        check_credentials("openai/qwen", "https://api.openai.com/v1")


def test_blank_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "  ")
    with pytest.raises(MissingKeyError):
        check_credentials("anthropic/claude-sonnet-4-5")


# ---------------------------------------------------------------- registry


def test_get_provider_checks_keys_before_any_work() -> None:
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        get_provider("openai/gpt-4o-mini")


@pytest.mark.parametrize("model", ["foo/bar", "", " mock/echo", "nonsense-model-x"])
def test_unknown_models_are_config_errors(model: str) -> None:
    with pytest.raises(ConfigError):
        get_provider(model, check_keys=False)


def test_bad_json_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="json mode"):
        get_provider("mock/echo", json_mode="xml")


def test_local_prefix_uses_the_local_module_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def create_provider(model: str, **settings: object) -> LiteLLMProvider:
        seen.update(model=model, **settings)
        return LiteLLMProvider(litellm_model="openai/qwen", json_mode="json_object_schema")

    fake = types.ModuleType("generator.providers.local")
    fake.create_provider = create_provider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "generator.providers.local", fake)
    provider = get_provider("local/qwen2.5-0.5b-instruct", threads=1)
    assert isinstance(provider, LiteLLMProvider)
    assert seen["model"] == "local/qwen2.5-0.5b-instruct" and seen["threads"] == 1


def test_plugin_factories_are_served_by_prefix() -> None:
    made: list[str] = []

    def factory(model: str, **settings: object) -> LiteLLMProvider:
        made.append(model)
        return LiteLLMProvider(litellm_model="mock/echo")

    register_factory("acme", factory)
    provider = get_provider("acme/model-1")
    completion = asyncio.run(
        provider.complete(
            CompletionRequest(
                model="acme/model-1",
                messages=[
                    {
                        "role": "user",
                        "content": "Write 1 record about the leave policy of the firm.",
                    }
                ],
            )
        )
    )
    assert made == ["acme/model-1"]
    assert completion.text.startswith("{")


# ---------------------------------------------------------------- model info


def test_prices_and_windows_from_litellm_and_overrides() -> None:
    assert context_window("openai/gpt-4o-mini") == 128_000
    p = price("openai/gpt-4o-mini")
    assert p is not None
    assert (p.input_per_m, p.output_per_m) == pytest.approx((0.15, 0.6))
    assert p.cached_per_m == pytest.approx(0.075)  # LiteLLM's cache_read_input_token_cost
    assert price("openai/my-private-model") is None
    assert context_window("openai/my-private-model") is None
    assert completion_cost("openai/my-private-model", 1000, 1000) is None
    register_price("openai/my-private-model", 1.0, 2.0)
    register_context_window("openai/my-private-model", 8192)
    assert completion_cost("openai/my-private-model", 1_000_000, 500_000) == pytest.approx(2.0)
    assert context_window("openai/my-private-model") == 8192
    assert completion_cost("mock/echo?fail=0.1", 5000, 5000) == 0.0
    assert completion_cost("local/qwen", 5000, 5000) == 0.0


def test_cached_input_tokens_priced_at_the_cached_rate() -> None:
    # --price INPUT,OUTPUT,CACHED: 400k of 1M input tokens read from the prompt cache
    register_price("openai/cached-model", 1.0, 2.0, 0.25)
    cost = completion_cost("openai/cached-model", 1_000_000, 0, cached_tokens=400_000)
    assert cost == pytest.approx(0.6 + 0.1)
    # no cached rate given: cached tokens are billed at the input rate (never cheaper)
    register_price("openai/plain-model", 1.0, 2.0)
    assert completion_cost("openai/plain-model", 1_000_000, 0, cached_tokens=400_000) == 1.0
    # LiteLLM's map: gpt-4o-mini reads cached input at half its input rate
    full = price("openai/gpt-4o-mini")
    assert full is not None
    assert full.cost(1_000_000, 0, 1_000_000) == pytest.approx(0.075)


def test_batch_price_from_the_map_or_half() -> None:
    mapped = batch_price("openai/gpt-4o-mini")  # input/output_cost_per_token_batches
    assert mapped is not None
    assert (mapped.input_per_m, mapped.output_per_m) == pytest.approx((0.075, 0.3))
    register_price("openai/in-house-batch", 2.0, 8.0, 1.0)
    half = batch_price("openai/in-house-batch")
    assert half == Price(1.0, 4.0, 0.5, None)
    assert batch_price("openai/unknown-model-x") is None


def test_get_provider_registers_configured_price_and_window() -> None:
    get_provider(
        "openai/in-house",
        api_base="http://127.0.0.1:9/v1",
        price_per_m=(0.5, 1.5),
        context_window_tokens=4096,
    )
    assert price("openai/in-house") == Price(0.5, 1.5)
    assert context_window("openai/in-house") == 4096


# ---------------------------------------------------------------- errors


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(60.0)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_scrub_removes_key_shapes_and_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "plainvalue123456")
    text = (
        "key sk-proj-abc123DEF456ghi789 and sk-ant-api03-xyzXYZ0123456789 "
        "AIzaSyA1234567890abcdefghijklmnopqrs Bearer eyJhbGciOi.JIUzI1NiJ9 "
        'api_key="supersecretvalue" x-api-key: anothersecret99 and plainvalue123456'
    )
    out = scrub(text)
    for secret in (
        "sk-proj-abc123DEF456ghi789",
        "xyzXYZ0123456789",
        "AIzaSyA1234567890",
        "eyJhbGciOi",
        "supersecretvalue",
        "anothersecret99",
        "plainvalue123456",
    ):
        assert secret not in out
    assert out.startswith("key [REDACTED]")


def test_scrub_removes_credentials_of_providers_we_do_not_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "7f3c9a1e5b2d4c6e8a0f")
    monkeypatch.setenv("HF_TOKEN", "abcdefghijklmnop42")
    monkeypatch.setenv("INSTRUCTFORGE_REVIEWER", "someone-long-enough")  # not a credential
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/opt/tokenizers")  # nor is this (TOKEN inside)
    err = map_exception(
        RuntimeError("401 for key 7f3c9a1e5b2d4c6e8a0f (token abcdefghijklmnop42)"),
        provider="azure",
    )
    assert "7f3c9a1e5b2d4c6e8a0f" not in str(err) and "abcdefghijklmnop42" not in str(err)
    assert "7f3c9a1e5b2d4c6e8a0f" not in err.body and str(err).count("[REDACTED]") == 2
    assert scrub("by someone-long-enough in /opt/tokenizers") == (
        "by someone-long-enough in /opt/tokenizers"
    )
    assert set(secret_env()) >= {"AZURE_API_KEY", "HF_TOKEN"}
    assert not set(secret_env()) & {"INSTRUCTFORGE_REVIEWER", "TIKTOKEN_CACHE_DIR"}


def test_map_exception_for_plain_exceptions() -> None:
    assert isinstance(map_exception(TimeoutError()), ProviderTimeoutError)
    assert isinstance(map_exception(ConnectionResetError()), ProviderTimeoutError)
    assert isinstance(map_exception(RuntimeError("weird")), ServerError)
    own = RateLimitError("429", retry_after=1.0)
    assert map_exception(own) is own


def test_split_thinking() -> None:
    assert split_thinking('<think>a {"x": 1}</think>\n{"records": []}') == (
        '{"records": []}',
        'a {"x": 1}',
    )
    assert split_thinking("<think>never closed {") == ("", "never closed {")
    assert split_thinking("plain") == ("plain", None)
