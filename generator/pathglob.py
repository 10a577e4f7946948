"""Path globs for ``sources.yaml`` matched in bounded time, whatever the pattern.

``**`` crosses folders, ``*`` and ``?`` do not, ``**/`` is zero or more whole folders, a
pattern ending in ``/`` means everything below that folder; a pattern matches the whole
path. A backtracking regex takes exponential time on patterns such as
``*a*a*a*a*a*a*a*b`` against a long name (17 s for 60 characters), so patterns with more
than one wildcard run on a set-of-states automaton instead: at most (path length x pattern
length) steps. Patterns are also capped in length and wildcards when loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

MAX_PATTERN_CHARS = 1024
MAX_WILDCARDS = 32
_SPLIT = re.compile(r"(\*\*/|\*\*|\*|\?)")
_REGEX = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
_STARS = ("**/", "**", "*")


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None when it is fine."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern longer than {MAX_PATTERN_CHARS} characters"
    wildcards = sum(1 for p in _SPLIT.split(pattern) if p in _REGEX)
    if wildcards > MAX_WILDCARDS:
        return f"pattern with more than {MAX_WILDCARDS} wildcards"
    return None


def _normalise(pattern: str) -> str:
    pat = pattern.strip().removeprefix("./")
    return pat + "**" if pat.endswith("/") else pat


@dataclass(frozen=True)
class _Glob:
    tokens: tuple[str, ...]  # "**/", "**", "*", "?" or one literal character
    prefix: str  # literal text before the first wildcard
    suffix: str  # literal text after the last wildcard
    regex: re.Pattern[str] | None  # for patterns with at most one star (no blow-up)

    def match(self, path: str) -> bool:
        if not path.startswith(self.prefix) or not path.endswith(self.suffix):
            return False
        if self.regex is not None:
            return self.regex.match(path) is not None
        return _run(self.tokens, path)


@cache
def compile_glob(pattern: str) -> _Glob:
    parts = [p for p in _SPLIT.split(_normalise(pattern)) if p]
    tokens: list[str] = []
    for p in parts:
        tokens.extend([p] if p in _REGEX else list(p))
    wild = [i for i, t in enumerate(tokens) if t in _REGEX]
    prefix = "".join(tokens[: wild[0]]) if wild else "".join(tokens)
    suffix = "".join(tokens[wild[-1] + 1 :]) if wild else ""
    regex = None
    if sum(1 for t in tokens if t in _STARS) <= 1:
        regex = re.compile("".join(_REGEX.get(p, re.escape(p)) for p in parts) + r"\Z")
    return _Glob(tuple(tokens), prefix, suffix, regex)


def glob_match(pattern: str, path: str) -> bool:
    """Whether the POSIX ``path`` (relative) matches the whole ``pattern``."""
    return compile_glob(pattern).match(path)


def _closure(tokens: tuple[str, ...], states: set[int]) -> set[int]:
    """Add the states reachable without a character: a star may match nothing."""
    todo = list(states)
    while todo:
        s = todo.pop()
        if s < len(tokens) and tokens[s] in _STARS and s + 1 not in states:
            states.add(s + 1)
            todo.append(s + 1)
    return states


def _run(tokens: tuple[str, ...], path: str) -> bool:
    """Thompson simulation. State i: before token i; state m+1+i: inside the ``.*`` of a
    ``**/`` at token i (it must still end with a ``/``)."""
    m = len(tokens)
    states = _closure(tokens, {0})
    for c in path:
        nxt: set[int] = set()
        for s in states:
            if s > m:  # inside "**/" number s-m-1
                nxt.add(s)
                if c == "/":
                    nxt.add(s - m)
                continue
            if s == m:
                continue
            t = tokens[s]
            if t == "**":
                nxt.add(s)
            elif t == "*":
                if c != "/":
                    nxt.add(s)
            elif t == "**/":
                nxt.add(m + 1 + s)
                if c == "/":
                    nxt.add(s + 1)
            elif t == "?":
                if c != "/":
                    nxt.add(s + 1)
            elif t == c:
                nxt.add(s + 1)
        if not nxt:
            return False
        states = _closure(tokens, nxt)
    return m in states
