"""Policy files: every shipped file loads, the gate matrix matches the files, resolution,
integrity (content hash), load-time validation and review staleness."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from generator.config import policies_dir
from generator.errors import ConfigError, PolicyFileError
from generator.policies import (
    SOURCE_LABELS_FILE,
    explain_resolution,
    family_verdict,
    get_policy,
    is_stale,
    load_policies,
    resolve_policy,
    stale_warning,
    verdict,
)
from generator.records import USES

SHIPPED = policies_dir()
FILES = sorted(p for p in SHIPPED.glob("*.yaml") if p.name != SOURCE_LABELS_FILE)
REQUIRED = {
    "openai",
    "anthropic",
    "google-gemini",
    "mistral",
    "cohere",
    "meta-llama",
    "qwen",
    "deepseek",
    "local",
    "mock",
    "unknown",
}


def _raw(policy_id: str) -> dict:
    return yaml.safe_load((SHIPPED / f"{policy_id}.yaml").read_text(encoding="utf-8"))


def test_every_shipped_policy_loads_with_its_file_hash() -> None:
    policies = load_policies()
    assert set(policies) >= REQUIRED
    assert {p.stem for p in FILES} == set(policies)
    for pol in policies.values():
        assert pol.sha256 == hashlib.sha256(pol.path.read_bytes()).hexdigest()
        ref = {"id": pol.id, "version": pol.version, "sha256": pol.sha256}
        assert pol.ref().model_dump() == ref
        assert set(pol.uses) == set(USES)
        for uv in pol.uses.values():
            assert uv.url and uv.clause and "\n" not in uv.reason


# ---------------------------------------------------------------- the gate matrix

MATRIX = [(f.stem, use) for f in FILES for use in USES]


@pytest.mark.parametrize(("policy_id", "use"), MATRIX)
def test_gate_matrix_matches_the_files(policy_id: str, use: str) -> None:
    expected = _raw(policy_id)["uses"][use]
    got = verdict(get_policy(policy_id), use)
    assert (got.verdict, got.reason, got.clause, got.url) == (
        expected["verdict"],
        expected["reason"].strip(),
        expected["clause"],
        expected["url"],
    )
    assert got.policy_id == policy_id and got.family is None


FAMILIES = [
    (pid, glob)
    for pid in ("local", "meta-llama", "qwen")
    for glob in (_raw(pid).get("models") or {})
]


STRICTNESS = ("allow", "review", "block")


@pytest.mark.parametrize(("policy_id", "glob"), FAMILIES)
def test_every_model_family_is_reachable_and_decides(policy_id: str, glob: str) -> None:
    """Read from the files: with ``host_terms: none`` the family's verdict alone, else (the
    default) the stricter of the policy-level (host) verdict and the family's."""
    pol = get_policy(policy_id)
    name = glob.replace("*", "")  # the shortest name the glob matches
    model = name if "/" in glob else f"x/{name}"
    assert pol.family_for(model)[0] == glob, f"family {glob!r} is shadowed"
    raw = _raw(policy_id)
    family, host = raw["models"][glob]["uses"], raw["uses"]
    alone = raw.get("host_terms", "apply") == "none"
    for use in USES:
        want = family[use]["verdict"]
        if raw["models"][glob].get("domicile"):  # domicile not set: review at best
            want = max(want, "review", key=STRICTNESS.index)
        if not alone:
            want = max(want, host[use]["verdict"], key=STRICTNESS.index)
        v = verdict(pol, use, model)
        assert (v.verdict, v.family) == (want, glob), use


def test_only_local_lets_the_family_decide_alone() -> None:
    """Hosted families (qwen, meta-llama) add the host's terms; local has no host."""
    policies = load_policies()
    assert {p.id for p in policies.values() if p.host_terms == "none"} == {"local"}
    assert {p.id for p in policies.values() if p.models} == {"local", "meta-llama", "qwen"}


# (model, use) -> (verdict, what decided, text the reason must contain)
HOSTED_CELLS = [
    # Model Studio's competing-products clause (policy level) beats the weights' licence.
    (
        "dashscope/qwen2.5-72b-instruct",
        "competing-model",
        ("block", "policy", ["Host terms decide", "qwen host terms: block", "Qwen LICENSE"]),
    ),
    (
        "dashscope/qwen3-8b",
        "competing-model",
        ("block", "policy", ["Host terms decide", "licence Apache-2.0 (Qwen3"]),
    ),
    # The research licence is stricter than the host's review.
    (
        "dashscope/qwen2.5-3b-instruct",
        "commercial",
        ("block", "family", ["Weights' licence decides", "qwen host terms: review"]),
    ),
    # Both say review: both reasons are given.
    (
        "dashscope/qwen2.5-7b-instruct",
        "internal-fine-tune",
        ("review", "both", ["agree", "Hosted terms not reviewed", "Apache-2.0 weights"]),
    ),
    # Llama 4's EU clause (domicile not set: review) is stricter than the host's allow.
    (
        "meta_llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "evaluation",
        ("review", "family", ["Weights' licence decides", "meta-llama host terms: allow"]),
    ),
    (
        "meta_llama/Llama-2-70b-chat-hf",
        "evaluation",
        ("allow", "both", ["agree", "Llama 2 / Meta Llama 3"]),
    ),
]


@pytest.mark.parametrize(("model", "use", "expected"), HOSTED_CELLS)
def test_hosted_family_takes_the_stricter_of_host_and_licence(
    model: str, use: str, expected: tuple[str, str, list[str]]
) -> None:
    pol = resolve_policy(model)
    v = verdict(pol, use, model)
    assert (v.verdict, v.decided_by) == expected[:2]
    assert v.family == pol.family_for(model)[0] and "\n" not in v.reason
    for text in expected[2]:
        assert text in v.reason, (text, v.reason)
    fam = family_verdict(pol.models[v.family], use)  # with its domicile rule (unset)
    decider = {"policy": pol.uses[use], "family": fam, "both": fam}[v.decided_by]
    assert v.url == decider.url and decider.reason in v.reason
    if v.decided_by == "both":  # the host's reason is named too
        assert pol.uses[use].reason in v.reason and pol.uses[use].clause in v.clause


def test_local_family_decides_alone_even_when_looser() -> None:
    local = get_policy("local")
    assert local.uses["commercial"].verdict == "review"  # a family not listed
    v = verdict(local, "commercial", "ollama/qwen2.5:7b")
    assert (v.verdict, v.decided_by, v.family) == ("allow", "family", "qwen2.5*")
    assert v.reason.startswith("Apache-2.0") and "host terms" not in v.reason


# Hand-written: the cells a legal reader would check first.
KEY_CELLS = [
    ("openai", None, "competing-model", "block"),
    ("anthropic", None, "competing-model", "block"),
    ("google-gemini", None, "competing-model", "block"),
    ("openai", None, "evaluation", "allow"),
    ("openai", None, "internal-fine-tune", "review"),
    ("mock", None, "internal-fine-tune", "block"),
    ("mock", None, "public-release", "block"),
    ("mock", None, "evaluation", "review"),
    ("deepseek", None, "internal-fine-tune", "allow"),  # Open Platform Terms 4.2(3)
    ("deepseek", None, "public-release", "review"),
    ("anthropic", None, "internal-fine-tune", "block"),  # Usage Policy: prior authorization
    ("qwen", "dashscope/qwen-max", "competing-model", "block"),  # Model Studio 4.48(d)(v)
    ("local", "local/smollm2-135m-instruct", "commercial", "allow"),
    ("local", "local/qwen2.5-coder-0.5b-instruct", "evaluation", "allow"),
    ("local", "local/qwen2.5-coder-0.5b-instruct", "commercial", "review"),
    ("local", "local/qwen2.5-0.5b-instruct", "internal-fine-tune", "review"),  # shipped file
    ("local", "local/qwen", "public-release", "review"),
    ("local", "ollama/Qwen/Qwen2.5-0.5B-Instruct", "commercial", "allow"),  # upstream
    ("local", "ollama/qwen2.5:3b", "commercial", "block"),
    ("local", "ollama/qwen2.5:72b", "commercial", "review"),
    ("local", "ollama/qwen2.5:7b", "commercial", "allow"),
    ("local", "ollama/llama3", "competing-model", "block"),
    ("local", "ollama/llama3.1:8b", "internal-fine-tune", "allow"),
    ("local", "ollama/llama3.1:8b", "public-release", "review"),
    ("local", "ollama/codestral", "commercial", "block"),
    ("local", "ollama/gemma2:2b", "internal-fine-tune", "review"),
    ("local", "ollama/some-new-model", "evaluation", "review"),
    ("meta-llama", "meta_llama/Llama-2-70b-chat-hf", "competing-model", "block"),
    ("qwen", "dashscope/qwen2.5-3b-instruct", "commercial", "block"),
    ("qwen", "dashscope/qwen2.5-72b-instruct", "competing-model", "block"),  # 4.48(d)(v)
    ("qwen", "dashscope/qwen2.5-7b-instruct", "competing-model", "block"),
    ("qwen", "dashscope/qwen3-32b", "competing-model", "block"),
    ("qwen", "dashscope/qwen2.5-72b-instruct", "commercial", "review"),
]


@pytest.mark.parametrize(("policy_id", "model", "use", "expected"), KEY_CELLS)
def test_key_cells(policy_id: str, model: str | None, use: str, expected: str) -> None:
    assert verdict(get_policy(policy_id), use, model).verdict == expected


def test_unknown_and_mock_never_allow() -> None:
    for pid in ("unknown", "mock"):
        assert all(verdict(get_policy(pid), u).verdict != "allow" for u in USES)
    training = ("internal-fine-tune", "commercial", "competing-model", "public-release")
    assert all(verdict(get_policy("mock"), u).verdict == "block" for u in training)


def test_a_forbidding_clause_always_blocks_competing_models() -> None:
    for pol in load_policies().values():
        if pol.clauses.competing_models.restriction == "forbidden":
            assert pol.uses["competing-model"].verdict == "block", pol.id


def test_unknown_use_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown use 'training'"):
        verdict(get_policy("openai"), "training")


# ---------------------------------------------------------------- resolution

RESOLUTION = [
    ("openai/gpt-4o-mini", "openai"),
    ("gpt-4o", "openai"),
    ("o3-mini", "openai"),
    ("ft:gpt-4o-mini:acme::abc", "openai"),
    ("openrouter/openai/gpt-4o", "openrouter"),  # host first; openai is its model layer
    ("anthropic/claude-3-5-haiku-20241022", "anthropic"),
    ("claude-sonnet-4-5", "anthropic"),
    ("gemini/gemini-2.5-flash", "google-gemini"),
    ("mistral/mistral-large-latest", "mistral"),
    ("codestral-latest", "mistral"),
    ("cohere_chat/command-r-plus", "cohere"),
    ("deepseek/deepseek-chat", "deepseek"),
    ("dashscope/qwen-max", "qwen"),
    ("together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo", "together"),
    ("together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "together"),
    ("groq/llama-3.3-70b-versatile", "groq"),
    ("meta_llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama"),
    ("xai/grok-4", "xai"),
    ("mock/alpaca", "mock"),
    ("MOCK/Anything", "mock"),
    ("local/smollm2", "local"),
    ("ollama/llama3.1", "local"),
    ("ollama_chat/qwen2.5:7b", "local"),
    ("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "unknown"),  # no API base: whose server?
    ("azure/gpt-4o", "azure"),
    ("vertex_ai/gemini-2.5-pro", "vertex-ai"),
    ("bedrock/anthropic.claude-3-haiku", "aws-bedrock"),
    ("somethingelse", "unknown"),
    ("newprovider/gpt-4o", "unknown"),  # a prefix no policy routes
]


@pytest.mark.parametrize(("model", "expected"), RESOLUTION)
def test_resolution(model: str, expected: str) -> None:
    assert resolve_policy(model).id == expected


def test_resolution_explains_which_pattern_won() -> None:
    res = explain_resolution("ollama/qwen2.5:3b")
    assert res.policy.id == "local" and res.pattern == "ollama/*"
    assert "'ollama/*'" in res.why
    assert explain_resolution("somethingelse").pattern is None


def test_api_base_means_not_the_provider() -> None:
    """The prefix names a wire format; the API base's host names whose server it is."""
    base = "http://127.0.0.1:8080/v1"
    assert resolve_policy("openai/gpt-4o", api_base=base).id == "local"  # loopback: ours
    res = explain_resolution("openai/qwen2.5-7b-instruct", api_base=base)
    assert res.policy.id == "local" and res.pattern == "127.0.0.1"
    assert resolve_policy("anthropic/claude-3-5-haiku", api_base=base).id == "local"
    assert resolve_policy("openai/gpt-4o", api_base="https://api.openai.com/v1").id == "openai"
    other = explain_resolution("openai/gpt-4o", api_base="https://llm.example.net/v1")
    assert [layer.policy.id for layer in other.layers] == ["unknown", "openai"]


# ---------------------------------------------------------------- integrity and validation


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(SHIPPED, folder)
    return folder


def test_tampered_policy_file_changes_its_hash(policy_copy: Path) -> None:
    before = load_policies(policy_copy)["openai"].ref()
    path = policy_copy / "openai.yaml"
    cell = "competing-model:\n    verdict: "
    path.write_text(path.read_text().replace(cell + "block", cell + "allow"))
    after = load_policies(policy_copy)["openai"]
    assert after.ref().sha256 != before.sha256
    assert after.ref().sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (after.version, after.uses["competing-model"].verdict) == (before.version, "allow")


def _break(folder: Path, name: str, old: str, new: str) -> Path:
    path = folder / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


BAD_FILES = [
    ("mock.yaml", "note:", "notes:", "field notes: Extra inputs are not permitted"),
    ("mock.yaml", "verdict: block", "verdict: maybe", "field uses.internal-fine-tune.verdict"),
    ("mock.yaml", "  public-release:\n", "  publish:\n", "field uses.publish"),
    ("openai.yaml", "reviewed_at: 2026-11-25", "reviewed_at: soon", "field reviewed_at"),
    ("groq.yaml", "serves: others", "serves: some", "field serves"),
    ("openai.yaml", "restriction: forbidden", "restriction: often", "competing_models.restriction"),
    ("anthropic.yaml", "id: anthropic", "id: claude", "field id: 'claude' must match"),
    ("local.yaml", '    licence: "Apache-2.0"\n', "", "smollm2-135m-instruct.licence: Field"),
    ("unknown.yaml", 'covers: ["hosted_vllm/*"]', "covers: [", "cannot read policy file: line "),
]


@pytest.mark.parametrize(("name", "old", "new", "message"), BAD_FILES)
def test_bad_file_fails_at_load_naming_path_and_field(
    policy_copy: Path, name: str, old: str, new: str, message: str
) -> None:
    path = _break(policy_copy, name, old, new)
    with pytest.raises(PolicyFileError) as err:
        load_policies(policy_copy)
    assert str(path) in str(err.value) and message in str(err.value)
    assert err.value.exit_code == 2


def test_a_missing_use_is_named(policy_copy: Path) -> None:
    text = (policy_copy / "mock.yaml").read_text()
    cut = text[: text.index("  public-release:")] + text[text.index("note:") :]
    (policy_copy / "mock.yaml").write_text(cut)
    with pytest.raises(PolicyFileError, match="missing verdicts for uses: public-release"):
        load_policies(policy_copy)


def test_a_multi_line_reason_is_refused(policy_copy: Path) -> None:
    old = "reason: Mock output is test data and must not be published as a dataset."
    _break(policy_copy, "mock.yaml", old, 'reason: "two\\nlines"')
    with pytest.raises(PolicyFileError, match=r"field uses\.public-release"):
        load_policies(policy_copy)


def test_two_policies_claiming_one_pattern_is_refused(policy_copy: Path) -> None:
    _break(policy_copy, "anthropic.yaml", '  - "claude-*"', '  - "claude-*"\n  - "gpt-*"')
    with pytest.raises(PolicyFileError, match="covers: 'gpt-\\*' is also claimed by"):
        load_policies(policy_copy)


def test_two_policies_claiming_one_host_is_refused(policy_copy: Path) -> None:
    _break(policy_copy, "groq.yaml", 'hosts: ["api.groq.com"]', 'hosts: ["api.openai.com"]')
    with pytest.raises(PolicyFileError, match=r"hosts: 'api\.openai\.com' is also claimed by"):
        load_policies(policy_copy)


def test_the_fallback_policy_is_required(policy_copy: Path) -> None:
    (policy_copy / "unknown.yaml").unlink()
    with pytest.raises(PolicyFileError, match=r"unknown\.yaml"):
        load_policies(policy_copy)


def test_host_terms_is_validated(policy_copy: Path) -> None:
    path = _break(policy_copy, "qwen.yaml", "host_terms: apply", "host_terms: sometimes")
    with pytest.raises(PolicyFileError, match="field host_terms") as err:
        load_policies(policy_copy)
    assert str(path) in str(err.value)
    _break(policy_copy, "qwen.yaml", "host_terms: sometimes", "host_terms: apply")
    _break(policy_copy, "openai.yaml", "reviewed_at:", "host_terms: none\nreviewed_at:")
    with pytest.raises(PolicyFileError, match="host_terms: none needs model families"):
        load_policies(policy_copy)


def test_host_terms_none_lets_a_hosted_family_decide(policy_copy: Path) -> None:
    """The field is what changes the verdict: the same file with ``none`` gives the
    family's looser verdict back."""
    _break(policy_copy, "qwen.yaml", "host_terms: apply", "host_terms: none")
    pol = load_policies(policy_copy)["qwen"]
    v = verdict(pol, "competing-model", "dashscope/qwen2.5-72b-instruct")
    assert (v.verdict, v.decided_by) == ("review", "family")


def test_get_policy_names_the_known_ids() -> None:
    with pytest.raises(ConfigError, match=r"unknown policy 'nope'.*openai"):
        get_policy("nope")


# ---------------------------------------------------------------- staleness


def test_stale_review_warns() -> None:
    pol = get_policy("openai")
    fresh = pol.reviewed_at + timedelta(days=180)
    late = pol.reviewed_at + timedelta(days=181)
    assert not is_stale(pol, today=fresh) and stale_warning(pol, today=fresh) is None
    assert is_stale(pol, today=late)
    text = stale_warning(pol, today=late)
    assert "'openai'" in text and "181 days" in text and pol.terms.url in text
    assert verdict(pol, "evaluation", today=late).stale == text
    assert verdict(pol, "evaluation", today=fresh).stale is None
    assert is_stale(pol, max_age_days=10, today=pol.reviewed_at + timedelta(days=11))


def test_max_age_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pol = get_policy("openai")
    day = pol.reviewed_at + timedelta(days=31)
    monkeypatch.setenv("INSTRUCTFORGE_POLICY_MAX_AGE_DAYS", "30")
    assert is_stale(pol, today=day)
    monkeypatch.setenv("INSTRUCTFORGE_POLICY_MAX_AGE_DAYS", "thirty")
    with pytest.raises(ConfigError, match="not an integer"):
        is_stale(pol, today=day)


def test_shipped_policies_are_reviewed_and_dated() -> None:
    for pol in load_policies().values():
        assert pol.reviewed_at <= date.today()
        eff = pol.terms.effective_date
        assert eff == "unknown" or eff <= pol.reviewed_at
