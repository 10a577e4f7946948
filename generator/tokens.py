"""Offline token counting with the encoding of the target model.

tiktoken reads its BPE files from ``TIKTOKEN_CACHE_DIR``, which ``generator.config`` points
at the copies LiteLLM ships, so nothing is downloaded. Current OpenAI models (gpt-4o,
gpt-4.1, gpt-5, o-series) use o200k_base; everything else is counted with cl100k_base,
which is an approximation for non-OpenAI tokenizers (usually within about 10-20%).

Those two encodings are built here from the same BPE files (read and sha256-checked by
tiktoken's own reader) with the same pattern and special tokens as ``tiktoken.get_encoding``
(tests/test_tokens.py compares all three): its loader decodes the 100k-200k lines one by one
in Python, and this start-up cost was a sixth of ingesting a small PDF corpus.
"""

from __future__ import annotations

import binascii
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


_FILES = "https://openaipublic.blob.core.windows.net/encodings/"  # tiktoken's cache key
_ENDOFTEXT, _ENDOFPROMPT = "<|endoftext|>", "<|endofprompt|>"
# name -> (BPE file, its sha256, piece pattern, special tokens), as in tiktoken_ext.openai_public
_BUILT_HERE: dict[str, tuple[str, str, str, dict[str, int]]] = {
    "cl100k_base": (
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+"""
        r"""| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
                r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
                r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}


@cache
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    apply_offline_defaults()
    if name not in _BUILT_HERE:
        return tiktoken.get_encoding(name)
    from tiktoken.load import read_file_cached

    file, sha256, pattern, special = _BUILT_HERE[name]
    tokens = read_file_cached(_FILES + file, sha256).split()[0::2]  # lines: token rank
    # the file (its hash checked) lists the tokens in rank order 0, 1, 2, ...
    ranks = dict(zip(map(binascii.a2b_base64, tokens), range(len(tokens)), strict=True))
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def encoding_for(model: str | None) -> tiktoken.Encoding:
    return get_encoding(encoding_name(model))


def count_tokens(text: str, model: str | None = None) -> int:
    """Number of tokens of ``text`` for ``model`` (special tokens counted as text)."""
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_many(texts: list[str], model: str | None = None) -> list[int]:
    """Token counts of many texts at once (tiktoken batches them across threads)."""
    enc = encoding_for(model)
    return [len(t) for t in enc.encode_ordinary_batch(texts)]
