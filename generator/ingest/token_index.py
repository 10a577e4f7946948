"""Exact token counts of any span of a document from one encoding of the whole document.

Counting every chunk on its own encodes the text about 1.25 times (overlaps, the size
estimate, re-splits). Here the document is encoded once and a span's count is read from the
token offsets, exactly, thanks to how tiktoken works: it first cuts text into pieces with a
regular expression, then applies BPE to each piece on its own. A *safe point* is a space
between two ASCII letters (``"word word"``; ASCII so that the letter classes of Python and
of tiktoken's regex engine cannot disagree). No piece pattern of cl100k or o200k runs from
a letter across a space, and none looks behind, so a safe point starts a piece both in the
whole document and in any span that holds the letters on both sides of it; between two safe
points the span's pieces, so its tokens, are the document's. A span's count is its head up
to the first safe point and its tail from the last one, encoded on their own (a few
characters each), plus the document's tokens in between. A span without two safe points
(short, or no "letter space letter") is encoded whole. Property tests check every count
against an independent encoding (tests/ingest/test_token_index.py, test_chunking.py).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import tiktoken

_SEARCH = 64  # characters searched for a safe point before encoding a span whole


@cache
def _byte_lengths(enc: tiktoken.Encoding) -> np.ndarray:
    """Token id -> length in bytes for ``enc``; -1 until the id is first met (a document
    uses a small part of the vocabulary: decoding all of it would cost start-up time)."""
    return np.full(enc.n_vocab, -1, dtype=np.int32)


def _byte_ends(enc: tiktoken.Encoding, text: str) -> np.ndarray:
    """The byte offset where each token of ``text`` ends (numpy: a Python list of the
    tokens costs a third of the encoding time again)."""
    ids = enc.encode_to_numpy(text, disallowed_special=())
    lengths = _byte_lengths(enc)
    # set(), not np.unique: np.unique's first call imports numpy.ma (about 25 ms, a tenth
    # of ingesting the benchmark's PDFs), and the ids met for the first time are few
    for i in set(ids[lengths[ids] < 0].tolist()):
        lengths[i] = len(enc.decode_single_token_bytes(i))
    # 4 bytes per token while offsets fit (UTF-8 is at most 4 bytes a character)
    ends = lengths[ids].astype(np.int32 if len(text) < 500_000_000 else np.int64, copy=False)
    del ids
    return np.cumsum(ends, out=ends)


class TokenIndex:
    """The tokens of ``text`` under ``enc``, encoded once, with their byte offsets."""

    def __init__(self, enc: tiktoken.Encoding, text: str) -> None:
        self.enc = enc
        self.text = text
        self.ends = _byte_ends(enc, text)
        self._ascii = text.isascii()
        self._cursor = (0, 0)  # a known (character, byte) position, moved forward as we go

    def __len__(self) -> int:
        return len(self.ends)

    def byte(self, pos: int) -> int:
        """UTF-8 byte offset of character offset ``pos``."""
        if self._ascii:
            return pos
        char, byte = self._cursor
        if pos >= char:
            byte += len(self.text[char:pos].encode("utf-8"))
            self._cursor = (pos, byte)
            return byte
        return byte - len(self.text[pos:char].encode("utf-8"))

    def tokens_before(self, pos: int) -> int:
        """How many of the document's tokens end at or before character ``pos``."""
        # the value in the array's own dtype: a Python int would make numpy convert the array
        offset = self.ends.dtype.type(self.byte(pos))
        return int(np.searchsorted(self.ends, offset, side="right"))

    def char_at_token(self, index: int, pos: int) -> int:
        """Character offset where token ``index`` starts, for a token ending before ``pos``
        (rounded up to a whole character when the token starts inside one)."""
        start = int(self.ends[index - 1]) if index > 0 else 0
        if self._ascii:
            return start
        back = self.byte(pos) - start  # bytes between the token start and pos
        window = self.text[max(0, pos - back) : pos].encode("utf-8")
        return pos - len(window[len(window) - back :].decode("utf-8", "ignore"))

    def count(self, start: int, end: int) -> int:
        """Exactly ``len(enc.encode_ordinary(text[start:end]))``."""
        first = self._safe_point(start + 1, min(end - 2, start + _SEARCH), 1)
        last = self._safe_point(end - 2, max(start + 1, end - 2 - _SEARCH), -1)
        if first is None or last is None or first >= last:
            return self._encode(start, end)
        inner = self.tokens_before(last) - self.tokens_before(first)
        return self._encode(start, first) + inner + self._encode(last, end)

    def _encode(self, start: int, end: int) -> int:
        return len(self.enc.encode_ordinary(self.text[start:end])) if end > start else 0

    def _safe_point(self, frm: int, to: int, step: int) -> int | None:
        """The first space between two ASCII letters from ``frm`` toward ``to`` (inclusive)."""
        text = self.text
        pos = frm
        while (pos <= to) if step > 0 else (pos >= to):
            pos = text.find(" ", pos, to + 1) if step > 0 else text.rfind(" ", to, pos + 1)
            if pos < 0:
                return None
            before, after = text[pos - 1], text[pos + 1]
            if before.isascii() and before.isalpha() and after.isascii() and after.isalpha():
                return pos
            pos += step
        return None
