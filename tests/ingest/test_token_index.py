"""TokenIndex: counts read from one encoding of the whole text equal encoding each span."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.ingest.token_index import TokenIndex
from generator.tokens import get_encoding

# pieces that stress tiktoken's pre-split: contractions, digits, punctuation runs, newlines,
# non-ASCII letters and marks, camel case, long words
PIECES = [
    "word",
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    "It's",
    " don't",
    "'ll",
    "é",
    "e\u0301",
    "😀",
    "漢字",
    "x" * 40,
    "123",
    "4567",
    ".",
    ",",
    "!?",
    " a",
    "#",
    "- ",
    "...",
    "HTTPServer",
    "l'été",
    "naïve",
    "Ωμέγα",
    " 2026",
    "/",
    "\u00a0",
]
texts = st.lists(st.sampled_from(PIECES), max_size=300).map("".join) | st.text(max_size=400)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@settings(max_examples=120, deadline=None)
@given(text=texts, data=st.data())
def test_every_span_count_is_exact(name: str, text: str, data: st.DataObject) -> None:
    enc = get_encoding(name)
    index = TokenIndex(enc, text)
    assert len(index) == len(enc.encode_ordinary(text))
    for _ in range(12):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, len(text)))
        assert index.count(start, end) == len(enc.encode_ordinary(text[start:end]))


@settings(max_examples=80, deadline=None)
@given(text=texts, data=st.data())
def test_a_token_start_is_where_its_bytes_begin(text: str, data: st.DataObject) -> None:
    enc = get_encoding("cl100k_base")
    index = TokenIndex(enc, text)
    pos = data.draw(st.integers(0, len(text)))
    k = index.tokens_before(pos)
    assert k == 0 or int(index.ends[k - 1]) <= len(text[:pos].encode("utf-8"))
    j = data.draw(st.integers(0, k))
    start_byte = int(index.ends[j - 1]) if j else 0
    char = index.char_at_token(j, pos)
    # token j starts at byte start_byte: ``char`` is that place, rounded up to a whole
    # character when the token begins inside a multi-byte character
    assert char <= pos
    assert 0 <= len(text[:char].encode("utf-8")) - start_byte < 4
    assert char == 0 or len(text[: char - 1].encode("utf-8")) < start_byte
