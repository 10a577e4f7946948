"""Token-bounded chunks that follow the document's structure.

Defaults: at most 800 tokens per chunk, about 100 tokens of overlap. 800 tokens (about 600
words, one or two pages) holds a self-contained section, and with a generation prompt and a
few answers still fits the 4k context of small local models; larger chunks make every
generation call dearer and let questions drift across topics. 100 tokens (about one
paragraph, 12%) carries the context across a cut inside a section without making many
near-duplicate questions.

How: ``semantic-text-splitter``'s MarkdownSplitter cuts at the highest structural level that
fits (headings, then blocks and paragraphs, then sentences, words); it is sized in characters
(fast) from the document's measured characters-per-token, then every chunk is counted exactly
with the model's tiktoken encoding, and a chunk above the limit is split again. Overlap is
added here, counted in tokens: a chunk that continues a section starts with the last
``overlap`` tokens of the chunk before it (at most half of that chunk, snapped to a word
start, never before the section's heading); a chunk that opens a section has none. The
tokens come from the previous chunk's exact count, so overlap costs no extra encoding.

Guarantees (property-tested): no chunk above ``max_tokens``; ``text[span[0]:span[1]] ==
chunk.text``; the spans cover every non-whitespace character (the gaps between chunks are
whitespace only, which the splitter trims); the same document and settings give the same ids.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from semantic_text_splitter import MarkdownSplitter

from generator.errors import ConfigError
from generator.records import Chunk, Document, record_id
from generator.tokens import encoding_name, get_encoding

CHUNKER_VERSION = "1"
DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP = 100
MIN_MAX_TOKENS = 32
_SAFETY = 0.9  # size chunks at 90% of the estimate: most fit on the first try
_SAMPLE = 4000  # characters per sample window when estimating characters per token


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk size, overlap and the model whose encoding counts the tokens."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap: int = DEFAULT_OVERLAP
    model: str | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < MIN_MAX_TOKENS:
            raise ConfigError(f"--max-tokens must be at least {MIN_MAX_TOKENS}")
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise ConfigError("--overlap must be between 0 and half of --max-tokens")

    @property
    def encoding(self) -> str:
        return encoding_name(self.model)

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

    def count(self, text: str) -> int:
        return len(self.enc.encode_ordinary(text))

    def _split(self, text: str, capacity: int) -> list[tuple[int, int]]:
        splitter = self._splitters.get(capacity)
        if splitter is None:
            splitter = self._splitters[capacity] = MarkdownSplitter(capacity, trim=True)
        return [(s, s + len(piece)) for s, piece in splitter.chunk_indices(text) if piece]

    def _chars_per_token(self, text: str) -> float:
        n = len(text)
        if n <= 3 * _SAMPLE:
            windows = [text]
        else:
            mid = n // 2 - _SAMPLE // 2
            windows = [text[:_SAMPLE], text[mid : mid + _SAMPLE], text[-_SAMPLE:]]
        chars = sum(len(w) for w in windows)
        return max(chars / max(sum(self.count(w) for w in windows), 1), 0.25)

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
        if last - first <= self.max * 12:  # may fit whole: one exact count decides
            whole = self.count(text[first:last])
            if whole <= self.max:
                return [(first, last, whole)]
            ratio = (last - first) / whole
        else:
            ratio = self._chars_per_token(text)
        capacity = max(1, int(self.budget * ratio * _SAFETY))
        queue = self._merge_small(self._split(text, capacity), ratio, sections)
        queue.reverse()  # a stack: pop() takes the next span in document order
        out: list[tuple[int, int, int]] = []
        prev: list[int] = []  # tokens of the previous chunk: its tail is the next overlap
        while queue:
            s, e = queue.pop()
            start = self._overlap_start(text, s, out[-1][1] if out else -1, prev, sections)
            tokens = self.enc.encode_ordinary(text[start:e])
            if len(tokens) > self.max and start != s:
                start, tokens = self._shrink_overlap(text, start, s, e)
            if len(tokens) > self.max:
                queue.extend(reversed(self._resplit(text, s, e, len(tokens))))
                continue
            out.append((start, e, len(tokens)))
            prev = tokens
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
        self, text: str, s: int, prev_end: int, prev: list[int], sections: list[int]
    ) -> int:
        """Where a chunk whose own text starts at ``s`` begins: ``overlap`` tokens (at most
        half of the previous chunk) before it, unless it opens a section."""
        if not self.overlap or prev_end < 0:
            return s
        i = bisect.bisect_right(sections, s) - 1
        section = sections[i] if i >= 0 else 0
        if i >= 0 and section == s:
            return s  # a chunk that opens a section needs no context from the one before
        n = min(self.overlap, len(prev) // 2)
        if n <= 0:
            return s
        # the previous chunk's last n tokens are the last characters before prev_end
        tail = self.enc.decode_bytes(prev[-n:]).decode("utf-8", "ignore")
        lo = max(prev_end - len(tail), section)
        # snap forward to the start of a word so a chunk never begins mid-word
        if lo > 0 and not text[lo - 1].isspace():
            while lo < s and not text[lo].isspace():
                lo += 1
        while lo < s and text[lo].isspace():
            lo += 1
        return lo

    def _shrink_overlap(self, text: str, start: int, s: int, e: int) -> tuple[int, list[int]]:
        """Move the start toward the base until the chunk fits (rare: BPE merges at joins)."""
        for frac in (0.5, 0.75):
            cut = start + int((s - start) * frac)
            while cut < s and not text[cut].isspace():
                cut += 1
            while cut < s and text[cut].isspace():
                cut += 1
            tokens = self.enc.encode_ordinary(text[cut:e])
            if len(tokens) <= self.max:
                return cut, tokens
        return s, self.enc.encode_ordinary(text[s:e])

    def _resplit(self, text: str, s: int, e: int, tokens: int) -> list[tuple[int, int]]:
        """Split an oversized span again with a capacity scaled to what it measured."""
        part = text[s:e]
        capacity = max(1, int(len(part) * self.budget / tokens * _SAFETY))
        pieces = [(s + a, s + b) for a, b in self._split(part, capacity)]
        if len(pieces) > 1:
            return pieces
        return self._hard_split(text, s, e)

    def _hard_split(self, text: str, s: int, e: int) -> list[tuple[int, int]]:
        """Last resort (e.g. one enormous grapheme): cut by characters at the token budget."""
        out: list[tuple[int, int]] = []
        while s < e:
            lo, hi = s + 1, e
            while lo < hi:  # largest end with count(text[s:end]) <= budget
                mid = (lo + hi + 1) // 2
                if self.count(text[s:mid]) <= self.budget:
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
