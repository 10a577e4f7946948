"""When two records ask the same question (for the contradiction step).

Questions written from one template ("What does the `sync --force` command do?" /
"... `sync --dry-run` ...") share most of their words, so a text-similarity threshold takes
them for one question. Here two questions are the same only
when they ask about the same things: they have the same **content words** (function words
such as "the", "do", "what", "my" left out, plurals folded, case and punctuation ignored),
or the content words of one contain all those of the other, their Jaccard is at least the
threshold and the added words are neither a negation nor part of a named **entity** of
the longer question (an added qualifier, "the warranty" / "the warranty period", is the same
question; "... on Windows" or "... not ..." is not). Entities are quoted or backticked
spans, flags (``--force``), tokens with digits (``X200``, ``4.2``), paths and dotted names,
and capitalised words inside a sentence (people, products, teams). A swapped word ("the
sync worker" / "the push worker", "`sync --force`" / "`sync --dry-run`") is a different
question, whatever the rest shares.

Groups are cliques: every member is the same question as every other member, never chained
through an intermediate one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from generator.curate.normalize import normalize

_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|\u201c([^\u201d]+)\u201d")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_TRIM = ".,;:!?()[]{}<>'\u2018\u2019*"
_POSSESSIVE = re.compile(r"['\u2019]s$")
_JOINED = re.compile(r"\w[./_:@\\#]\w")
_WONT = re.compile(r"\bwon['\u2019]t\b", re.I)
_CANT = re.compile(r"\b(?:can['\u2019]t|cannot)\b", re.I)
_NT = re.compile(r"n['\u2019]t\b", re.I)

NEGATIONS = frozenset(
    ["not", "no", "never", "without", "none", "nobody", "nothing", "neither", "nor"]
)
# Words that do not change what is asked: articles, auxiliaries, pronouns, generic
# prepositions and the two question words that are interchangeable ("what"/"which").
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "can",
        "could",
        "would",
        "will",
        "shall",
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "we",
        "us",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "into",
        "onto",
        "about",
        "as",
        "and",
        "what",
        "which",
        "s",
        "please",
        "tell",
    ]
)


def entities(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The named things a question asks about, normalised: (marked, capitalised).

    Marked entities (quoted spans, flags, tokens with digits, paths and dotted names) keep
    their inner order ("`prune --tags`" is not "`tag --prune`", "1.2" is not "2.1");
    capitalised words are kept apart because case alone may differ between two phrasings
    of one question ("the Leave Policy" / "the leave policy").
    """
    marked: set[str] = set()
    capitalised: set[str] = set()
    for m in _QUOTED.finditer(question):
        marked.add(normalize(m.group(m.lastindex or 0)))
    rest = _QUOTED.sub(" ", question)
    for sentence in _SENTENCE.split(rest):
        for k, raw in enumerate(sentence.split()):
            tok = _POSSESSIVE.sub("", raw.strip(_TRIM))
            if not tok or tok == "I" or tok.startswith(("I'", "I\u2019")):
                continue
            flag = tok.startswith("-") and tok.lstrip("-")[:1].isalnum()
            if flag or any(c.isdigit() for c in tok) or _JOINED.search(tok):
                marked.add(normalize(tok))
            elif any(c.isupper() for c in (tok if k > 0 else tok[1:])):
                capitalised.add(normalize(tok))
    return frozenset(marked), frozenset(capitalised)


def _stem(word: str) -> str:
    if any(c.isdigit() for c in word) or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(question: str) -> frozenset[str]:
    """The question's words less function words, plurals folded; negations kept."""
    text = _NT.sub(" not", _CANT.sub("can not", _WONT.sub("will not", question)))
    return frozenset(_stem(w) for w in normalize(text).split() if w not in FUNCTION_WORDS)


@dataclass(frozen=True)
class QuestionKey:
    """What decides whether two questions are the same (see the module docstring)."""

    words: frozenset[str]
    marked: frozenset[str]
    text: str  # normalised text: the identity of a question with no content word
    entity_words: frozenset[str] = field(compare=False)

    @classmethod
    def of(cls, question: str) -> QuestionKey:
        words = content_words(question)
        marked, capitalised = entities(question)
        named = content_words(" ".join(marked | capitalised))
        return cls(words, marked, "" if words else normalize(question), named)


def same_question(a: QuestionKey, b: QuestionKey, threshold: float) -> bool:
    """Whether two questions ask the same thing."""
    if a == b:
        return True
    if a.text or b.text or a.marked != b.marked:
        return False
    small, big = (a, b) if len(a.words) <= len(b.words) else (b, a)
    if not small.words < big.words or len(small.words) < threshold * len(big.words):
        return False
    return not (big.words - small.words) & (big.entity_words | NEGATIONS)


def question_groups(questions: Sequence[str], threshold: float) -> list[list[int]]:
    """Groups (size >= 2, members in input order) of mutually same questions."""
    keys = [QuestionKey.of(q) for q in questions]
    class_of: dict[QuestionKey, int] = {}
    members: list[list[int]] = []
    for i, key in enumerate(keys):
        c = class_of.setdefault(key, len(members))
        if c == len(members):
            members.append([])
        members[c].append(i)
    reps = [keys[m[0]] for m in members]
    neighbours: list[set[int]] = [set() for _ in members]
    if threshold < 1:
        # A question with added words contains every content word of the shorter one:
        # its candidates are the intersection of the postings of those words (same marked
        # entities only), no all-pairs loop.
        postings: dict[tuple[frozenset[str], str], set[int]] = defaultdict(set)
        for c, key in enumerate(reps):
            for w in key.words:
                postings[(key.marked, w)].add(c)
        for c, key in enumerate(reps):
            if not key.words:
                continue
            lists = sorted((postings[(key.marked, w)] for w in key.words), key=len)
            for d in set.intersection(*lists) - {c}:
                if same_question(key, reps[d], threshold):
                    neighbours[c].add(d)
                    neighbours[d].add(c)
    groups: list[list[int]] = []  # lists of class ids, each a clique
    group_of: dict[int, int] = {}
    for c in range(len(members)):
        joined = None
        for g in sorted({group_of[n] for n in neighbours[c] if n in group_of}):
            if all(m in neighbours[c] for m in groups[g]):
                joined = g
                break
        if joined is None:
            joined = len(groups)
            groups.append([])
        groups[joined].append(c)
        group_of[c] = joined
    out = [sorted(i for c in g for i in members[c]) for g in groups]
    return sorted((g for g in out if len(g) > 1), key=lambda g: g[0])
