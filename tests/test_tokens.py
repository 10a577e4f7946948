"""Token counting: the encodings built in generator.tokens are tiktoken's own."""

from __future__ import annotations

import pytest
import tiktoken

from generator import tokens


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_encodings_built_here_equal_tiktokens(name: str):
    ours = tokens.get_encoding(name)
    theirs = tiktoken.get_encoding(name)
    assert ours is not theirs  # built here, not taken from tiktoken's registry
    assert ours.name == theirs.name
    assert ours._pat_str == theirs._pat_str
    assert ours._special_tokens == theirs._special_tokens
    assert ours._mergeable_ranks == theirs._mergeable_ranks
    assert ours.n_vocab == theirs.n_vocab
    text = "Employees' leave: 30 days/yr.\r\n  Überstunden — 残業 <|endoftext|> 'll\tdone"
    assert ours.encode(text, disallowed_special=()) == theirs.encode(text, disallowed_special=())
    assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all")


def test_other_encodings_come_from_tiktoken():
    assert tokens.get_encoding("p50k_base").n_vocab == tiktoken.get_encoding("p50k_base").n_vocab


def test_model_names_pick_their_encoding():
    assert tokens.encoding_for("gpt-4o-mini").name == "o200k_base"
    assert tokens.encoding_for("anthropic/claude-x").name == "cl100k_base"
    assert tokens.count_tokens("hello world", "gpt-4o") == 2
