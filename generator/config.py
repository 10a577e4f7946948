"""Environment variables, offline defaults and data paths: the one place that reads the
process environment.

Every environment variable the tool reads is listed in ``ENV_VARS`` (with why). Secrets
(API keys) are read only through :func:`api_key_env` callers and never written anywhere.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

# Variables instructforge itself reads or sets. Provider API keys are read by LiteLLM
# (and checked by us before a run starts) under the names of ``PROVIDER_KEY_VARS``.
ENV_VARS: dict[str, str] = {
    "INSTRUCTFORGE_HOME": "cache for assembled local models (default ~/.cache/instructforge)",
    "INSTRUCTFORGE_LOCAL_THREADS": "CPU threads of the local model server (1 on <= 2 cores)",
    "INSTRUCTFORGE_LOCAL_SERVER_CMD": "command that runs the local model server (default: "
    "python -m llama_cpp.server); tests point it at a fake server",
    "XDG_CACHE_HOME": "base folder of the cross-run call cache and the fitted harm classifier "
    "(default ~/.cache)",
    "INSTRUCTFORGE_CACHE_DIR": "folder of the fitted harm classifier cache (its harm/ subfolder; "
    "default $XDG_CACHE_HOME/instructforge)",
    "INSTRUCTFORGE_PROMPTS": "extra folder of prompt templates, searched before the shipped ones",
    "INSTRUCTFORGE_POLICIES": "folder of policy files to use instead of the shipped ones",
    "INSTRUCTFORGE_POLICY_MAX_AGE_DAYS": "days after a policy review before it warns (180)",
    "INSTRUCTFORGE_AUTHORIZATIONS": "authorizations.yaml with providers' written grants "
    "(default: the file of that name in the policies folder, if any)",
    "INSTRUCTFORGE_SELF_HOSTED": "comma-separated API hosts that are our own servers (their "
    "models get the `local` terms; loopback always does)",
    "INSTRUCTFORGE_DOMICILE": "the licensee's region for licences with a domicile rule: EU, or "
    "another region code (Llama 3.2 Vision / Llama 4 grant no rights in the EU)",
    "INSTRUCTFORGE_REVIEWER": "reviewer name recorded with review decisions (default: $USER)",
    "LITELLM_OFFLINE_MODE": "set to true by us: LiteLLM uses its bundled price map",
    "LITELLM_LOCAL_MODEL_COST_MAP": "set to True by us: no price-map download at import",
    "TIKTOKEN_CACHE_DIR": "set by us to LiteLLM's bundled tokenizer files (no download)",
    "HF_HUB_OFFLINE": "set to 1 by us: embeddings load from the installed package only",
    "TRANSFORMERS_OFFLINE": "set to 1 by us, with HF_HUB_OFFLINE",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "set empty by us: presidio must not fetch lists",
    "DISABLE_AIOHTTP_TRANSPORT": "set by tests so respx sees LiteLLM's async calls",
    "HF_TOKEN": "Hugging Face token for `export --push-to-hub` (sent to the Hub only)",
    "HF_ENDPOINT": "the Hub `export --push-to-hub` uploads to (default: the public Hub)",
    "EDITOR": "editor opened by `review` for edits",
    "USER": "default reviewer / exporter name",
    "<PROVIDER>_API_BASE, <PROVIDER>_BASE_URL": "read by LiteLLM and the SDKs (OPENAI_BASE_URL"
    ", ...); we read them to decide which key may go there (providers/keys.py)",
    "<NAME> of --api-key-env": "the key for a custom --api-base, named by the user",
}

# Which environment variable holds the key for a LiteLLM provider prefix. Providers not
# listed here (ollama, hosted_vllm, local, mock) need no key.
PROVIDER_KEY_VARS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "groq": "GROQ_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "dashscope": "DASHSCOPE_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    # further hosted providers, under the names LiteLLM reads (its validate_environment)
    "xai": "XAI_API_KEY",
    "azure": "AZURE_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
    "replicate": "REPLICATE_API_KEY",
    "huggingface": "HUGGINGFACE_API_KEY",
    "nvidia_nim": "NVIDIA_NIM_API_KEY",
    "ai21": "AI21_API_KEY",
}


# Names of variables that hold credentials for any service LiteLLM can reach (AZURE_API_KEY,
# HF_TOKEN, AWS_SECRET_ACCESS_KEY, ...), whether or not we list the provider above: their
# values are scrubbed from every message we write.
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?)(_|$)", re.I)


# Variables the user named as holding a key (``--api-key-env``), whatever their name.
_DECLARED_SECRETS: set[str] = set()


def declare_secret_var(name: str) -> None:
    """Treat ``name`` as a secret variable from now on: its value is scrubbed like a key's."""
    _DECLARED_SECRETS.add(name)


def secret_env(min_length: int = 6) -> dict[str, str]:
    """Name -> value of the provider key variables, of the variables named by
    ``--api-key-env`` and of every credential-named variable set in the environment. Only
    ever used to find and redact those values, never to print them; values shorter than
    ``min_length`` would match ordinary text and are left out."""
    names = set(PROVIDER_KEY_VARS.values()) | _DECLARED_SECRETS
    names |= {n for n in os.environ if _SECRET_NAME.search(n)}
    found = {name: os.environ.get(name, "") for name in sorted(names)}
    return {name: value for name, value in found.items() if len(value) >= min_length}


def secret_values(min_length: int = 6) -> list[str]:
    """The values of :func:`secret_env`, longest first (so a longer key is redacted whole)."""
    return sorted(set(secret_env(min_length).values()), key=len, reverse=True)


def _litellm_tokenizer_dir() -> str | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return str(path) if path.is_dir() else None


def apply_offline_defaults() -> None:
    """Make every library we use work without a network. Idempotent; never overrides a
    value the user set explicitly. Called by the CLI at start and by the library right
    before it first loads LiteLLM, tiktoken, presidio or transformers; never on import."""
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        tok_dir = _litellm_tokenizer_dir()
        if tok_dir:
            os.environ["TIKTOKEN_CACHE_DIR"] = tok_dir


def env(name: str, default: str | None = None) -> str | None:
    """Read one of the variables of ``ENV_VARS`` (or a provider key variable)."""
    if name not in ENV_VARS and name not in PROVIDER_KEY_VARS.values():
        raise KeyError(f"environment variable {name} is not declared in generator.config")
    return os.environ.get(name, default)


def api_key_env(provider: str) -> str | None:
    """Name of the environment variable holding ``provider``'s key, or None if it needs none."""
    return PROVIDER_KEY_VARS.get(provider)


def has_api_key(provider: str) -> bool:
    var = api_key_env(provider)
    return var is None or bool(os.environ.get(var))


def home_dir() -> Path:
    """Cache folder for instructforge's own files (assembled local models)."""
    val = os.environ.get("INSTRUCTFORGE_HOME")
    return Path(val) if val else Path.home() / ".cache" / "instructforge"


_PKG_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Find a top-level data folder (``prompts``, ``policies``, ``samples``).

    From a checkout it is ``<repo>/<name>``; from an installed wheel the build copies it to
    ``generator/_data/<name>``.
    """
    checkout = _PKG_DIR.parent / name
    if checkout.is_dir() and (_PKG_DIR.parent / "pyproject.toml").is_file():
        return checkout
    packaged = _PKG_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(f"data folder {name!r} not found in the checkout or the package")


def prompts_dir() -> Path:
    return data_dir("prompts")


def policies_dir() -> Path:
    override = os.environ.get("INSTRUCTFORGE_POLICIES")
    return Path(override) if override else data_dir("policies")
