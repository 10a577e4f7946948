"""A key goes only to its own provider: what a server receives, seen at the wire (respx).

Seen (issue 15): ``openai/<name>`` with ``--api-base`` on another OpenAI-compatible server
sent ``OPENAI_API_KEY`` with every request; so did a loopback server.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from generator.config import PROVIDER_KEY_VARS
from generator.errors import ConfigError, MissingKeyError, ProviderError
from generator.providers import check_credentials, get_provider
from generator.providers.keys import NO_KEY, OWN_HOSTS, key_route, key_var
from tests.providers.test_wire import ANSWER, anthropic_ok, openai_ok, request

LOOP = "http://127.0.0.1:8089/v1"
OTHER = "https://llm.example.net/v1"
MYKEY = "my-other-server-key-0123456789"


def _sent(model: str, url: str, reply: httpx.Response, **provider_kw) -> httpx.Request:
    """The one request ``model`` sends (through LiteLLM and the SDK) when called once."""
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=reply)
        provider = get_provider(model, **provider_kw)
        base = provider_kw.get("api_base")
        req = request(model, api_base=base) if base else request(model)
        completion = asyncio.run(provider.complete(req))
    assert completion.text == ANSWER
    assert route.call_count == 1
    return route.calls[0].request


def _raw(sent: httpx.Request) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in sent.headers.items())
    return f"{sent.url}\n{head}\n{sent.content.decode()}"


@pytest.mark.parametrize("base", [LOOP, OTHER])
def test_openai_key_is_not_sent_to_another_openai_compatible_server(keys, base) -> None:
    sent = _sent("openai/qwen-x", f"{base}/chat/completions", openai_ok(), api_base=base)
    assert keys["openai"] not in _raw(sent)
    assert keys["anthropic"] not in _raw(sent)
    assert sent.headers["authorization"] == f"Bearer {NO_KEY}"  # a placeholder, no secret


@pytest.mark.parametrize("base", [LOOP, OTHER])
def test_the_named_variable_is_sent_to_a_custom_base(keys, monkeypatch, base) -> None:
    monkeypatch.setenv("MYKEY", MYKEY)
    sent = _sent(
        "openai/qwen-x", f"{base}/chat/completions", openai_ok(), api_base=base, api_key_env="MYKEY"
    )
    assert sent.headers["authorization"] == f"Bearer {MYKEY}"
    assert keys["openai"] not in _raw(sent)


def test_the_real_openai_base_gets_the_openai_key(keys) -> None:
    sent = _sent("openai/gpt-4o-mini", "https://api.openai.com/v1/chat/completions", openai_ok())
    assert sent.headers["authorization"] == f"Bearer {keys['openai']}"
    explicit = "https://api.openai.com/v1"
    sent = _sent(
        "openai/gpt-4o-mini", f"{explicit}/chat/completions", openai_ok(), api_base=explicit
    )
    assert sent.headers["authorization"] == f"Bearer {keys['openai']}"


def test_plain_http_to_openais_host_is_not_its_own_api(keys) -> None:
    """The key never travels unencrypted, even to the right host name."""
    base = "http://api.openai.com/v1"
    sent = _sent("openai/gpt-4o-mini", f"{base}/chat/completions", openai_ok(), api_base=base)
    assert keys["openai"] not in _raw(sent)


def test_anthropic_key_is_not_sent_to_another_server(keys, monkeypatch) -> None:
    base = "https://claude-proxy.example.net"
    sent = _sent(
        "anthropic/claude-sonnet-4-5", f"{base}/v1/messages", anthropic_ok(), api_base=base
    )
    assert keys["anthropic"] not in _raw(sent)
    assert sent.headers["x-api-key"] == NO_KEY
    monkeypatch.setenv("MYKEY", MYKEY)
    sent = _sent(
        "anthropic/claude-sonnet-4-5",
        f"{base}/v1/messages",
        anthropic_ok(),
        api_base=base,
        api_key_env="MYKEY",
    )
    assert sent.headers["x-api-key"] == MYKEY
    assert keys["anthropic"] not in _raw(sent)


def test_anthropic_own_base_gets_the_anthropic_key(keys) -> None:
    sent = _sent(
        "anthropic/claude-sonnet-4-5", "https://api.anthropic.com/v1/messages", anthropic_ok()
    )
    assert sent.headers["x-api-key"] == keys["anthropic"]


def test_a_base_url_from_the_environment_is_a_custom_base(keys, monkeypatch) -> None:
    """OPENAI_BASE_URL redirects LiteLLM and the SDK: the OpenAI key must not follow."""
    monkeypatch.setenv("OPENAI_BASE_URL", OTHER)
    sent = _sent("openai/gpt-4o-mini", f"{OTHER}/chat/completions", openai_ok())
    assert keys["openai"] not in _raw(sent)
    assert key_route("openai/gpt-4o-mini").api_base == OTHER


def test_hosted_vllm_key_variable_is_not_sent_unless_named(monkeypatch) -> None:
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "vllm-secret-0123456789")
    sent = _sent("hosted_vllm/qwen", f"{OTHER}/chat/completions", openai_ok(), api_base=OTHER)
    assert "vllm-secret-0123456789" not in _raw(sent)


def test_key_rules_without_the_wire(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    assert key_var("openai/gpt-4o") == "OPENAI_API_KEY"
    assert key_var("gpt-4o") == "OPENAI_API_KEY"
    assert key_var("openai/x", OTHER) is None
    assert key_var("openai/x", OTHER, "MYKEY") == "MYKEY"
    assert key_var("openai/x", "https://user:pw@api.openai.com.evil.net/v1") is None
    assert key_var("openai/x", "https://api.openai.com@evil.net/v1") is None
    assert key_var("azure/gpt-4o", "https://team.openai.azure.com") == "AZURE_API_KEY"
    assert key_var("azure/gpt-4o", "https://openai.azure.com.evil.net") is None
    assert key_var("groq/llama3-8b-8192", "https://api.groq.com/openai/v1") == "GROQ_API_KEY"
    assert key_var("dashscope/qwen-max") == "DASHSCOPE_API_KEY"


def test_every_key_variable_has_its_own_hosts() -> None:
    assert set(PROVIDER_KEY_VARS) <= set(OWN_HOSTS)


def test_check_credentials_for_custom_bases(monkeypatch) -> None:
    check_credentials("openai/qwen-x", OTHER)  # no OPENAI_API_KEY needed: none is sent
    with pytest.raises(MissingKeyError, match="MYKEY is not set"):
        check_credentials("openai/qwen-x", OTHER, "MYKEY")
    monkeypatch.setenv("MYKEY", MYKEY)
    check_credentials("openai/qwen-x", OTHER, "MYKEY")
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        check_credentials("openai/qwen-x", OTHER, "sk-abc=123")
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        check_credentials("openai/gpt-4o-mini")


def test_cloud_signed_providers_refuse_a_foreign_base() -> None:
    with pytest.raises(ConfigError, match="not the cloud's own"):
        key_route("bedrock/anthropic.claude-3-haiku", "https://u:secret@bedrock.example.net")
    try:
        key_route("bedrock/anthropic.claude-3-haiku", "https://u:secret@bedrock.example.net")
    except ConfigError as exc:
        assert "secret" not in str(exc)
    ok = "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert key_route("bedrock/anthropic.claude-3-haiku", ok).var is None


def test_a_named_keys_value_is_scrubbed_from_errors(monkeypatch) -> None:
    monkeypatch.setenv("MYKEY", MYKEY)
    provider = get_provider("openai/qwen-x", api_base=OTHER, api_key_env="MYKEY")
    body = {"error": {"message": f"bad key {MYKEY}", "type": "invalid_request_error"}}
    with respx.mock() as mock:
        mock.post(f"{OTHER}/chat/completions").mock(return_value=httpx.Response(401, json=body))
        with pytest.raises(ProviderError) as info:
            asyncio.run(provider.complete(request("openai/qwen-x", api_base=OTHER)))
    assert MYKEY not in str(info.value)
    assert MYKEY not in (info.value.body or "")
