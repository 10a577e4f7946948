"""Offline token counting with the encoding of the target model.

tiktoken reads its BPE files from ``TIKTOKEN_CACHE_DIR``, which ``generator.config`` points
at the copies LiteLLM ships, so nothing is downloaded. Current OpenAI models (gpt-4o,
gpt-4.1, gpt-5, o-series) use o200k_base; everything else is counted with cl100k_base,
which is an approximation for non-OpenAI tokenizers (usually within about 10-20%).
"""

from __future__ import annotations

import re
from functools import cache

import tiktoken

from generator.config import apply_offline_defaults

DEFAULT_ENCODING = "cl100k_base"
_O200K = re.compile(r"(^|/)(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)")


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding used to count tokens for ``model``."""
    if model and _O200K.search(model.lower()):
        return "o200k_base"
    return DEFAULT_ENCODING


@cache
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    apply_offline_defaults()
    return tiktoken.get_encoding(name)


def encoding_for(model: str | None) -> tiktoken.Encoding:
    return get_encoding(encoding_name(model))


def count_tokens(text: str, model: str | None = None) -> int:
    """Number of tokens of ``text`` for ``model`` (special tokens counted as text)."""
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_many(texts: list[str], model: str | None = None) -> list[int]:
    """Token counts of many texts at once (tiktoken batches them across threads)."""
    enc = encoding_for(model)
    return [len(t) for t in enc.encode_ordinary_batch(texts)]
