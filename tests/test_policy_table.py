"""(model string, API base, use) -> verdict: the resolution table a legal reader checks first.

Every case goes through the real resolver and the shipped policy files: the host first
(API base or LiteLLM route), then the maker's terms or the weights' licence; the strictest
verdict wins. The context is explicit (no domicile, no self-hosted hosts) unless a case sets
it, so the developer's environment cannot change a verdict here.
"""

from __future__ import annotations

import pytest

from generator.policy_resolve import ResolveContext, assess, resolve, scrub_url

DASHSCOPE = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
DASHSCOPE_CN = "https://dashscope.aliyuncs.com/compatible-mode/v1"
TOGETHER = "https://api.together.xyz/v1"
GROQ = "https://api.groq.com/openai/v1"
AZURE = "https://acme.openai.azure.com/openai/deployments/gpt-4o"
GOOGLE_OPENAI = "https://generativelanguage.googleapis.com/v1beta/openai/"
VERTEX = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"
BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com"
LOOPBACK = "http://127.0.0.1:8000/v1"
GPU1, GPU2 = "https://gpu1.corp.example/v1", "https://gpu2.corp.example/v1"

TABLE = [
    # 1. provenance: the model string decides, whatever a tag says
    ("openai/gpt-4o-mini", None, "competing-model", "block"),
    ("openai/gpt-4o-mini", None, "evaluation", "allow"),
    # 2. hosted is not local: the API base's host first
    ("openai/qwen3-235b-a22b", DASHSCOPE, "competing-model", "block"),  # Model Studio 4.48
    ("openai/qwen3-235b-a22b", DASHSCOPE_CN, "competing-model", "block"),
    ("openai/qwen3-235b-a22b", DASHSCOPE, "internal-fine-tune", "review"),
    ("openai/qwen3-235b-a22b", LOOPBACK, "competing-model", "allow"),  # ours: Apache-2.0
    ("openai/qwen3-8b", "http://localhost:11434/v1", "commercial", "allow"),
    ("openai/qwen3-8b", "https://llm.example.net/v1", "commercial", "review"),  # unknown host
    ("openai/gpt-4o", "https://api.openai.com/v1", "competing-model", "block"),
    ("openai/gpt-4o", "https://api.openai.com/v1", "evaluation", "allow"),
    ("openai/gpt-4o", "https://llm.example.net/v1", "evaluation", "review"),
    ("openai/gpt-4o", "https://llm.example.net/v1", "competing-model", "block"),  # + maker
    ("openai/llama-3.3-70b-versatile", GROQ, "evaluation", "review"),
    ("openai/llama3-70b-8192", GROQ, "competing-model", "block"),  # Groq's llama3 = 3.0
    ("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", TOGETHER, "internal-fine-tune", "review"),
    ("hosted_vllm/meta-llama/Llama-2-7b-chat-hf", TOGETHER, "competing-model", "block"),
    ("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", LOOPBACK, "internal-fine-tune", "allow"),
    ("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", None, "internal-fine-tune", "review"),
    ("ollama/llama3.1:8b", None, "internal-fine-tune", "allow"),  # Ollama's default: loopback
    ("openai/claude-sonnet-4-5", "http://127.0.0.1:4000", "competing-model", "block"),  # proxy
    ("openai/my-finetune", LOOPBACK, "evaluation", "review"),  # our server, unknown weights
    ("ollama/qwen2.5:7b", "https://ollama.example.com", "commercial", "review"),
    # routes without an API base: the host's policy, then the model's
    ("groq/llama3-8b-8192", None, "competing-model", "block"),
    ("groq/llama-3.3-70b-versatile", None, "competing-model", "review"),
    ("groq/openai/gpt-oss-120b", None, "commercial", "review"),
    ("together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo", None, "competing-model", "review"),
    ("together_ai/Qwen/Qwen2.5-3B-Instruct", None, "commercial", "block"),  # research licence
    ("fireworks_ai/accounts/fireworks/models/deepseek-r1", None, "competing-model", "block"),
    ("fireworks_ai/accounts/fireworks/models/deepseek-r1", None, "evaluation", "review"),
    ("bedrock/qwen.qwen3-32b-v1:0", None, "competing-model", "block"),  # AWS's own clause
    ("deepinfra/meta-llama/Meta-Llama-3-8B-Instruct", None, "competing-model", "block"),
    ("openrouter/openai/gpt-4o", None, "competing-model", "block"),
    ("openrouter/anthropic/claude-3.5-sonnet", None, "internal-fine-tune", "block"),
    ("openrouter/x-ai/grok-4", None, "internal-fine-tune", "block"),
    ("newprovider/gpt-4o", None, "evaluation", "review"),
    # cloud resellers: the reseller's terms and the maker's both bind
    ("azure/gpt-4o", None, "competing-model", "block"),
    ("azure/my-deployment", None, "evaluation", "review"),  # the name does not show the model
    ("openai/gpt-4o", AZURE, "competing-model", "block"),
    ("vertex_ai/gemini-2.5-pro", None, "competing-model", "block"),
    ("vertex_ai/claude-sonnet-4-5@20250929", None, "internal-fine-tune", "block"),
    ("openai/gemini-2.5-pro", VERTEX, "competing-model", "block"),
    ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", None, "internal-fine-tune", "block"),
    ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", None, "commercial", "block"),
    ("bedrock/meta.llama3-70b-instruct-v1:0", None, "evaluation", "review"),
    ("openai/anthropic.claude-3-haiku-20240307-v1:0", BEDROCK, "internal-fine-tune", "block"),
    ("openai/gemini-2.5-flash", GOOGLE_OPENAI, "competing-model", "block"),
    ("openai/gemini-2.5-flash", GOOGLE_OPENAI, "evaluation", "allow"),
    # 4. corrections: makers
    ("anthropic/claude-sonnet-4-5", None, "internal-fine-tune", "block"),
    ("anthropic/claude-sonnet-4-5", None, "commercial", "block"),
    ("anthropic/claude-sonnet-4-5", None, "evaluation", "allow"),
    ("cohere/command-r-plus", None, "evaluation", "review"),
    ("cohere/command-r-plus", None, "competing-model", "block"),
    ("xai/grok-4", None, "internal-fine-tune", "block"),
    ("xai/grok-4", None, "commercial", "block"),
    ("openai/grok-4", "https://api.x.ai/v1", "competing-model", "block"),
    ("dashscope/qwen-max", None, "competing-model", "block"),
    ("deepseek/deepseek-chat", None, "competing-model", "allow"),
    ("mock/anything", None, "internal-fine-tune", "block"),
    ("mock/echo", "https://llm.example.net/v1", "evaluation", "review"),  # in-process: mock
    ("local/smollm2-135m-instruct", "https://llm.example.net/v1", "commercial", "allow"),
    ("somethingelse", None, "evaluation", "review"),
    # 4. corrections: open weights
    ("ollama/command-r", None, "commercial", "block"),  # CC-BY-NC
    ("ollama/aya-expanse:8b", None, "commercial", "block"),
    ("ollama/command-r", None, "evaluation", "review"),
    ("ollama/mistral-large", None, "internal-fine-tune", "block"),  # MRL
    ("ollama/codestral", None, "commercial", "block"),  # MNPL
    ("ollama/ministral-8b", None, "competing-model", "block"),
    ("ollama/mistral-small", None, "internal-fine-tune", "block"),  # 22B MRL or 24B: stricter
    ("ollama/mistral-small:24b", None, "internal-fine-tune", "allow"),
    ("ollama/mistral:7b", None, "commercial", "allow"),
    ("ollama/deepseek-r1:7b", None, "competing-model", "allow"),  # Qwen distill
    ("ollama/deepseek-r1:70b", None, "competing-model", "review"),  # Llama 3.3 distill
    ("ollama/deepseek-r1:671b", None, "competing-model", "allow"),  # MIT
    ("hosted_vllm/deepseek-ai/DeepSeek-V3", LOOPBACK, "internal-fine-tune", "review"),
    ("ollama/deepseek-v3.1", None, "competing-model", "allow"),
    ("ollama/gpt-oss:20b", None, "commercial", "allow"),
    ("ollama/granite3.3:8b", None, "commercial", "allow"),
    ("ollama/gemma4:27b", None, "commercial", "allow"),  # Gemma 4: Apache-2.0
    ("ollama/gemma3:4b", None, "commercial", "review"),  # Gemma Terms of Use
    ("ollama/qwen2:7b", None, "commercial", "allow"),
    ("ollama/qwen2:72b", None, "commercial", "review"),
    ("ollama/qwq:32b", None, "competing-model", "allow"),
    ("ollama/llama3", None, "competing-model", "block"),
    ("meta_llama/Llama-4-Maverick-17B-128E-Instruct-FP8", None, "evaluation", "review"),
    ("ollama/llama3.2-vision:11b", None, "internal-fine-tune", "review"),  # domicile unset
]

# (model, API base, use, context) -> verdict: the settings that decide a verdict
WITH_CONTEXT = [
    ("meta_llama/Llama-4-Maverick-17B-128E-Instruct-FP8", None, "evaluation", "EU", (), "block"),
    ("meta_llama/Llama-4-Maverick-17B-128E-Instruct-FP8", None, "evaluation", "US", (), "allow"),
    ("ollama/llama3.2-vision:11b", None, "internal-fine-tune", "EU", (), "block"),
    ("ollama/llama3.2-vision:11b", None, "internal-fine-tune", "UK", (), "allow"),
    ("groq/meta-llama/llama-4-scout-17b-16e-instruct", None, "evaluation", "EU", (), "block"),
    ("openai/qwen3-8b", GPU1, "commercial", None, ("gpu1.corp.example",), "allow"),
    ("openai/qwen3-8b", GPU2, "commercial", None, ("gpu1.corp.example",), "review"),
    ("openai/qwen3-8b", GPU2, "commercial", None, ("*.corp.example",), "allow"),
]


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(TABLE) + len(WITH_CONTEXT) >= 40
    assert len({(m, b, u) for m, b, u, _ in TABLE}) == len(TABLE)  # no duplicate rows


@pytest.mark.parametrize(("model", "api_base", "use", "expected"), TABLE)
def test_resolution_table(model: str, api_base: str | None, use: str, expected: str) -> None:
    ctx = ResolveContext()
    res = resolve(model, api_base, ctx=ctx)
    a = assess(res, use, ctx)
    layers = [(layer.policy.id, layer.role, v.verdict) for layer, v in a.verdicts]
    assert a.verdict == expected, layers


@pytest.mark.parametrize(
    ("model", "api_base", "use", "domicile", "self_hosted", "expected"), WITH_CONTEXT
)
def test_resolution_with_context(
    model: str,
    api_base: str | None,
    use: str,
    domicile: str | None,
    self_hosted: tuple[str, ...],
    expected: str,
) -> None:
    ctx = ResolveContext(self_hosted, domicile)
    assert assess(resolve(model, api_base, ctx=ctx), use, ctx).verdict == expected


def test_host_layer_comes_first_and_names_why() -> None:
    ctx = ResolveContext()
    res = resolve("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", TOGETHER, ctx=ctx)
    assert [(layer.policy.id, layer.role) for layer in res.layers] == [
        ("together", "host"),
        ("local", "licence"),
    ]
    assert "api.together.xyz" in res.why and "llama-3.1*" in res.why
    bedrock = resolve("bedrock/anthropic.claude-3-haiku-20240307-v1:0", ctx=ctx)
    assert [layer.policy.id for layer in bedrock.layers] == ["aws-bedrock", "anthropic"]
    assert resolve("openai/qwen3-8b", DASHSCOPE, ctx=ctx).policy.id == "qwen"
    # the built-in providers never call an API base: their own policies apply
    assert resolve("mock/echo", "https://llm.example.net/v1", ctx=ctx).policy.id == "mock"


def test_api_base_credentials_are_scrubbed() -> None:
    base = "https://user:s3cret@llm.example.net:8443/v1"
    res = resolve("openai/gpt-4o", base, ctx=ResolveContext())
    assert res.api_base == "https://***@llm.example.net:8443/v1" == scrub_url(base)
    assert "s3cret" not in res.why


def test_domicile_must_be_a_region_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.errors import ConfigError

    monkeypatch.setenv("INSTRUCTFORGE_DOMICILE", "eu")
    monkeypatch.setenv("INSTRUCTFORGE_SELF_HOSTED", " GPU1.corp.example , ")
    ctx = ResolveContext.from_env()
    assert (ctx.domicile, ctx.self_hosted) == ("EU", ("gpu1.corp.example",))
    monkeypatch.setenv("INSTRUCTFORGE_DOMICILE", "the EU!")
    with pytest.raises(ConfigError, match="INSTRUCTFORGE_DOMICILE"):
        ResolveContext.from_env()
