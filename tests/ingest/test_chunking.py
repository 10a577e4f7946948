"""Property tests of token chunking: max size, exact spans, coverage, overlap, stable ids."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.errors import ConfigError
from generator.ingest.base import Parsed, build_document
from generator.ingest.chunking import Chunker, ChunkSettings
from generator.records import Document
from generator.tokens import count_tokens

WORDS = [
    "leave",
    "policy",
    "employee",
    "manager",
    "days",
    "request",
    "approval",
    "device",
    "battery",
    "probe",
    "signal",
    "firmware",
    "update",
    "calibration",
    "certificate",
    "warranty",
    "travel",
    "hotel",
    "limit",
    "receipt",
    "expense",
    "security",
    "password",
    "incident",
    "report",
    "laptop",
    "encryption",
    "the",
    "a",
    "of",
    "to",
    "and",
    "within",
    "per",
]

word = st.sampled_from(WORDS)
sentence = st.lists(word, min_size=3, max_size=15).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph = st.lists(sentence, min_size=1, max_size=5).map(" ".join)
heading = st.tuples(st.integers(1, 4), st.lists(word, min_size=1, max_size=4)).map(
    lambda t: "#" * t[0] + " " + " ".join(t[1]).title()
)
section = st.tuples(heading, st.lists(paragraph, min_size=0, max_size=4)).map(
    lambda t: "\n\n".join([t[0], *t[1]])
)
structured = st.lists(section, min_size=1, max_size=6).map("\n\n".join)
# arbitrary text: any characters, odd whitespace, long "words", emoji, combining marks
wild = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=3000
) | st.lists(
    st.sampled_from(["#", "# H", "\n", "\n\n", " ", "word", "é", "😀", "漢字", "x" * 300]),
    max_size=200,
).map("".join)

SETTINGS = [
    ChunkSettings(max_tokens=64, overlap=16),
    ChunkSettings(max_tokens=200, overlap=0, model="openai/gpt-4o-mini"),
    ChunkSettings(max_tokens=120, overlap=30),
]


def doc(text: str, type_name: str = "md") -> Document:
    return build_document(
        Parsed(text=text),
        path=f"t.{type_name}",
        sha256="f" * 64,
        size=len(text),
        type_name=type_name,
    )


def check_invariants(d: Document, s: ChunkSettings) -> list:
    chunks = Chunker(s).chunk(d)
    covered = bytearray(len(d.text))
    for i, c in enumerate(chunks):
        assert c.index == i
        assert d.text[c.span[0] : c.span[1]] == c.text
        assert c.text.strip()
        assert c.tokens == count_tokens(c.text, s.model) <= s.max_tokens
        covered[c.span[0] : c.span[1]] = b"\x01" * (c.span[1] - c.span[0])
    missed = [ch for ch, cov in zip(d.text, covered, strict=True) if not cov]
    assert all(ch.isspace() for ch in missed), "only whitespace may fall between chunks"
    starts = [c.span[0] for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    return chunks


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.key())
@settings(max_examples=40, deadline=None)
@given(text=structured)
def test_structured_text_invariants(s: ChunkSettings, text: str):
    check_invariants(doc(text), s)


@pytest.mark.parametrize("s", SETTINGS[:1], ids=lambda s: s.key())
@settings(max_examples=150, deadline=None)
@given(text=wild)
@example(text=" 😀" + "0" * 187)  # a document token straddling a chunk start
def test_arbitrary_text_invariants(s: ChunkSettings, text: str):
    if not text.strip():
        assert (
            Chunker(s).chunk(Document(path="t", sha256="0", type="txt", title="t", text=text)) == []
        )
        return
    check_invariants(doc(text), s)


# plain text (type txt): hard-wrapped lines, no heading lines
hard_wrapped = st.lists(paragraph, min_size=1, max_size=12).map(
    lambda ps: "\n\n".join("\n".join(p[i : i + 60] for i in range(0, len(p), 60)) for p in ps)
)


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.key())
@settings(max_examples=40, deadline=None)
@given(text=hard_wrapped | wild)
def test_plain_text_invariants(s: ChunkSettings, text: str):
    if text.strip():
        check_invariants(doc(text, "txt"), s)


def test_plain_text_is_cut_at_paragraphs_not_at_wrapped_lines():
    paras = [" ".join(["The probe battery lasts a year in the field."] * 6) for _ in range(30)]
    text = "\n\n".join("\n".join(p[i : i + 70] for i in range(0, len(p), 70)) for p in paras)
    chunks = check_invariants(doc(text, "txt"), ChunkSettings(max_tokens=200, overlap=0))
    assert len(chunks) > 3
    for c in chunks[:-1]:
        assert text[c.span[1] : c.span[1] + 2] == "\n\n", text[c.span[1] - 20 : c.span[1] + 5]


@settings(max_examples=40, deadline=None)
@given(paras=st.lists(paragraph, min_size=4, max_size=14))
def test_overlap_is_about_the_configured_tokens(paras: list[str]):
    s = ChunkSettings(max_tokens=150, overlap=30)
    d = doc("\n\n".join(paras))  # no headings: every cut continues a section
    chunks = check_invariants(d, s)
    for a, b in itertools.pairwise(chunks):
        assert b.span[0] < a.span[1], "consecutive chunks overlap"
        shared = count_tokens(d.text[b.span[0] : a.span[1]])
        assert shared <= s.overlap + 2
        # the overlap reaches at most halfway back into the previous chunk
        if a.tokens >= 2 * s.overlap + 10:
            assert shared >= s.overlap // 2, (shared, a.tokens)


def test_a_chunk_that_opens_a_section_has_no_overlap():
    body = " ".join(["The laptop encryption rule applies to every device."] * 40)
    d = doc(f"# One\n\n{body}\n\n# Two\n\n{body}")
    chunks = check_invariants(d, ChunkSettings(max_tokens=400, overlap=50))
    two = d.text.index("# Two")
    opener = next(c for c in chunks if c.span[0] == two)
    prev = chunks[opener.index - 1]
    assert prev.span[1] <= two and opener.heading_path == ["Two"]


@settings(max_examples=40, deadline=None)
@given(text=structured)
def test_heading_path_is_the_headings_in_force_at_the_start(text: str):
    d = doc(text)
    for c in Chunker(ChunkSettings(max_tokens=80, overlap=20)).chunk(d):
        stack: list[tuple[int, str]] = []
        for h in d.headings:
            if h.offset > c.span[0]:
                break
            while stack and stack[-1][0] >= h.level:
                stack.pop()
            stack.append((h.level, h.text))
        assert c.heading_path == [t for _, t in stack]


@settings(max_examples=30, deadline=None)
@given(text=structured)
def test_ids_are_stable_and_depend_on_settings(text: str):
    d = doc(text)
    s = ChunkSettings(max_tokens=100, overlap=20)
    first = [c.id for c in Chunker(s).chunk(d)]
    assert first == [c.id for c in Chunker(ChunkSettings(100, 20)).chunk(d)]
    assert len(set(first)) == len(first)
    other = [c.id for c in Chunker(ChunkSettings(max_tokens=101, overlap=20)).chunk(d)]
    assert not set(first) & set(other)
    moved = d.model_copy(update={"sha256": "e" * 64})
    assert not set(first) & {c.id for c in Chunker(s).chunk(moved)}


def test_pages_of_a_chunk():
    text = "\n\n".join(f"Page {i} " + "battery probe signal " * 60 for i in range(1, 5))
    starts, off = [], 0
    for part in text.split("\n\n"):
        starts.append(off)
        off += len(part) + 2
    d = doc(text).model_copy(update={"pages": [(i + 1, o) for i, o in enumerate(starts)]})
    for c in Chunker(ChunkSettings(max_tokens=100, overlap=10)).chunk(d):
        first = bisect.bisect_right(starts, c.span[0])
        last = bisect.bisect_right(starts, c.span[1] - 1)
        assert c.pages == list(range(first, last + 1))
        for p in c.pages:
            assert f"Page {p} " in d.text[starts[p - 1] :]


def test_encoding_follows_the_model():
    assert ChunkSettings(model="openai/gpt-4o").encoding == "o200k_base"
    assert ChunkSettings(model="anthropic/claude-sonnet-4-5").encoding == "cl100k_base"
    assert ChunkSettings().encoding == "cl100k_base"


@pytest.mark.parametrize(
    "kw", [{"max_tokens": 10}, {"max_tokens": 100, "overlap": 60}, {"overlap": -1}]
)
def test_bad_settings_are_config_errors(kw: dict):
    with pytest.raises(ConfigError):
        ChunkSettings(**kw)
