"""Token-bounded chunks that follow the document's structure.

Defaults: at most 800 tokens per chunk, about 100 tokens of overlap. 800 tokens (about 600
words, one or two pages) holds a self-contained section, and with a generation prompt and a
few answers still fits the 4k context of small local models; larger chunks make every
generation call dearer and let questions drift across topics. 100 tokens (about one
paragraph, 12%) carries the context across a cut inside a section without making many
near-duplicate questions.

How: ``semantic-text-splitter``'s MarkdownSplitter cuts at the highest structural level that
fits (headings, then blocks and paragraphs, then sentences, words); it is sized in characters
(fast) from the document's characters-per-token, then every chunk is counted exactly in the
model's tiktoken encoding, and a chunk above the limit is split again. The document is
encoded once; chunk counts come from that encoding (:class:`TokenIndex`, exact), so neither
overlaps nor re-splits are encoded again. Overlap is added here, counted in tokens: a chunk
that continues a section starts with the document's last ``overlap`` tokens that end inside
the chunk before it (at most half of that chunk, snapped to a word start, never before the
section's heading); a chunk that opens a section has none.

Guarantees (property-tested): no chunk above ``max_tokens``; ``text[span[0]:span[1]] ==
chunk.text``; the spans cover every non-whitespace character (the gaps between chunks are
whitespace only, which the splitter trims); the same document and settings give the same ids.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from semantic_text_splitter import MarkdownSplitter

from generator.errors import ConfigError
from generator.ingest.token_index import TokenIndex
from generator.records import Chunk, Document, record_id
from generator.tokens import encoding_name, get_encoding

CHUNKER_VERSION = "2"  # 2: overlap measured on the document's own tokens
DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP = 100
MIN_MAX_TOKENS = 32
TOKENIZERS = ("cl100k_base", "o200k_base")  # what encoding_name() can choose
_SAFETY = 0.9  # size chunks at 90% of the estimate: most fit on the first try


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk size, overlap and the model whose encoding counts the tokens (``tokenizer``,
    a tiktoken encoding name, overrides the model's: a run keeps the one it was ingested
    with)."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap: int = DEFAULT_OVERLAP
    model: str | None = None
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < MIN_MAX_TOKENS:
            raise ConfigError(f"--max-tokens must be at least {MIN_MAX_TOKENS}")
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise ConfigError("--overlap must be between 0 and half of --max-tokens")
        if self.tokenizer is not None and self.tokenizer not in TOKENIZERS:
            raise ConfigError(
                f"unknown tokenizer {self.tokenizer!r} (known: {', '.join(TOKENIZERS)})"
            )

    @property
    def encoding(self) -> str:
        return self.tokenizer or encoding_name(self.model)

    def key(self) -> str:
        """What chunk ids depend on: a change here gives new ids."""
        return f"v{CHUNKER_VERSION}|{self.max_tokens}|{self.overlap}|{self.encoding}"


class Chunker:
    """Splits documents into :class:`Chunk` objects under one set of settings."""

    def __init__(self, settings: ChunkSettings | None = None) -> None:
        self.settings = settings or ChunkSettings()
        self.enc = get_encoding(self.settings.encoding)
        self.max = self.settings.max_tokens
        self.overlap = self.settings.overlap
        self.budget = self.max - self.overlap  # size of a chunk before its overlap
        self._splitters: dict[int, MarkdownSplitter] = {}

    def _split(self, text: str, capacity: int) -> list[tuple[int, int]]:
        splitter = self._splitters.get(capacity)
        if splitter is None:
            splitter = self._splitters[capacity] = MarkdownSplitter(capacity, trim=True)
        return [(s, s + len(piece)) for s, piece in splitter.chunk_indices(text) if piece]

    # ------------------------------------------------------------------ spans

    def spans(
        self, text: str, section_starts: list[int] | None = None
    ) -> list[tuple[int, int, int]]:
        """(start, end, tokens) of every chunk of ``text``; ``section_starts`` are the
        offsets of heading lines (overlap never reaches back past one)."""
        first = len(text) - len(text.lstrip())
        last = len(text.rstrip())
        if first >= last:
            return []
        sections = section_starts or []
        index = TokenIndex(self.enc, text)  # the one full encoding; counts come from it
        whole = index.count(first, last)
        if whole <= self.max:
            return [(first, last, whole)]
        ratio = (last - first) / whole
        capacity = max(1, int(self.budget * ratio * _SAFETY))
        queue = self._merge_small(self._split(text, capacity), ratio, sections)
        queue.reverse()  # a stack: pop() takes the next span in document order
        out: list[tuple[int, int, int]] = []
        while queue:
            s, e = queue.pop()
            start = self._overlap_start(index, s, out[-1] if out else None, sections)
            tokens = index.count(start, e)
            if tokens > self.max and start != s:
                start, tokens = self._shrink_overlap(index, start, s, e)
            if tokens > self.max:
                queue.extend(reversed(self._resplit(index, s, e, tokens)))
                continue
            out.append((start, e, tokens))
        return out

    def _merge_small(
        self, spans: list[tuple[int, int]], ratio: float, sections: list[int]
    ) -> list[tuple[int, int]]:
        """Join neighbours the splitter left apart although they fit together (it stops
        filling a chunk when the next block does not fit whole); never across a heading."""
        limit = self.budget * ratio * _SAFETY
        heads = set(sections)
        out: list[tuple[int, int]] = []
        for s, e in spans:
            if out and s not in heads and e - out[-1][0] <= limit:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out

    def _overlap_start(
        self,
        index: TokenIndex,
        s: int,
        prev: tuple[int, int, int] | None,
        sections: list[int],
    ) -> int:
        """Where a chunk whose own text starts at ``s`` begins: ``overlap`` tokens (at most
        half of the previous chunk ``prev``) before it, unless it opens a section."""
        if not self.overlap or prev is None:
            return s
        i = bisect.bisect_right(sections, s) - 1
        section = sections[i] if i >= 0 else 0
        if i >= 0 and section == s:
            return s  # a chunk that opens a section needs no context from the one before
        n = min(self.overlap, prev[2] // 2)
        if n <= 0:
            return s
        # the document's last n tokens that end inside the previous chunk
        prev_end = prev[1]
        k = index.tokens_before(prev_end)
        # a document token may straddle the previous chunk's start: never reach back to it
        lo = max(index.char_at_token(max(k - n, 0), prev_end), section, prev[0] + 1)
        return _word_start(index.text, lo, s)

    def _shrink_overlap(self, index: TokenIndex, start: int, s: int, e: int) -> tuple[int, int]:
        """Move the start toward the base until the chunk fits (rare: BPE merges at joins)."""
        for frac in (0.5, 0.75):
            cut = _word_start(index.text, start + int((s - start) * frac), s, forward=True)
            tokens = index.count(cut, e)
            if tokens <= self.max:
                return cut, tokens
        return s, index.count(s, e)

    def _resplit(self, index: TokenIndex, s: int, e: int, tokens: int) -> list[tuple[int, int]]:
        """Split an oversized span again with a capacity scaled to what it measured."""
        part = index.text[s:e]
        capacity = max(1, int(len(part) * self.budget / tokens * _SAFETY))
        pieces = [(s + a, s + b) for a, b in self._split(part, capacity)]
        if len(pieces) > 1:
            return pieces
        return self._hard_split(index, s, e)

    def _hard_split(self, index: TokenIndex, s: int, e: int) -> list[tuple[int, int]]:
        """Last resort (e.g. one enormous grapheme): cut by characters at the token budget."""
        out: list[tuple[int, int]] = []
        while s < e:
            lo, hi = s + 1, e
            while lo < hi:  # largest end with count(text[s:end]) <= budget
                mid = (lo + hi + 1) // 2
                if index.count(s, mid) <= self.budget:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((s, lo))
            s = lo
        return out

    # ------------------------------------------------------------------ chunks

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in order, with heading path, pages and stable ids."""
        offsets = [h.offset for h in doc.headings]
        paths = _heading_paths(doc)
        page_starts = [off for _, off in doc.pages]
        key = self.settings.key()
        chunks = []
        for index, (start, end, tokens) in enumerate(self.spans(doc.text, offsets)):
            i = bisect.bisect_right(offsets, start) - 1
            pages: list[int] = []
            if doc.pages:
                a = max(bisect.bisect_right(page_starts, start) - 1, 0)
                b = max(bisect.bisect_left(page_starts, end) - 1, a)
                pages = [doc.pages[j][0] for j in range(a, b + 1)]
            chunks.append(
                Chunk(
                    id=record_id(doc.sha256, key, f"{start}:{end}"),
                    doc_path=doc.path,
                    doc_sha256=doc.sha256,
                    index=index,
                    text=doc.text[start:end],
                    span=(start, end),
                    heading_path=paths[i] if i >= 0 else [],
                    tokens=tokens,
                    pages=pages,
                )
            )
        return chunks


def _word_start(text: str, lo: int, limit: int, *, forward: bool = False) -> int:
    """``lo`` moved forward (never past ``limit``) to the start of a word, so that a chunk
    never begins mid-word or on whitespace; ``forward`` always skips the word at ``lo``."""
    if forward or (lo > 0 and not text[lo - 1].isspace()):
        while lo < limit and not text[lo].isspace():
            lo += 1
    while lo < limit and text[lo].isspace():
        lo += 1
    return lo


def _heading_paths(doc: Document) -> list[list[str]]:
    """For each heading, the path of headings in force from it on (outermost first)."""
    stack: list[tuple[int, str]] = []
    paths = []
    for h in doc.headings:
        while stack and stack[-1][0] >= h.level:
            stack.pop()
        stack.append((h.level, h.text))
        paths.append([t for _, t in stack])
    return paths
