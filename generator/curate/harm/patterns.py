"""Precise phrasings of serious harm: a harmful act *and* its human target or a dangerous
object in one sentence. A hit flags on its own (no model needed); the fitted classifier
(``classifier.py``) covers the many phrasings these do not.

Operational language ("kill the process", "execute the order", "shoot an email") never
matches: each pattern needs a person, a weapon, a drug or malware as its object.
"""

from __future__ import annotations

import re

_PEOPLE = (
    r"(?:him|her|them|you|people|everyone|somebody|someone|my (?:boss|manager|wife|husband|"
    r"coworker|colleague|neighbou?r)|the (?:boss|manager|children|kids|students|staff|"
    r"employees|police|president)|children|kids|students|employees|civilians|a person)"
)
_GROUPS = (
    r"(?:jews|muslims|christians|hindus|sikhs|blacks|whites|asians|arabs|latinos|mexicans|"
    r"immigrants|refugees|gays|lesbians|trans(?:gender)? people|women|men|disabled people)"
)
_MINOR = (
    r"(?:child|children|kid|kids|minor|minors|underage|preteen|(?:1[0-7]|[1-9])[- ]year[- ]old)"
)
_SEXUAL = r"(?:sex|sexual|sexually|nude|naked|porn|pornographic|erotic|explicit)"
_OBJECTS = {
    "weapons": r"(?:bomb|pipe bomb|nail bomb|explosives?|detonator|ied|nerve agent|sarin|ricin|"
    r"anthrax|mustard gas|napalm|thermite|ghost gun|silencer)",
    "drugs": r"(?:methamphetamine|meth|fentanyl|heroin|crack cocaine|mdma|lsd)",
    "malware": r"(?:ransomware|keylogger|botnet|malware|computer virus|rootkit)",
}
_MAKE = (
    r"(?:how to|steps to|instructions (?:to|for)|guide (?:to|for)|recipe for|tutorial (?:on|for)) "
    r"(?:make|making|build|building|synthesi[sz]e|synthesi[sz]ing|cook|cooking|assemble|"
    r"assembling|produce|producing|write|writing|create|creating|deploy|deploying) "
    r"(?:a |an |some )?(?:homemade )?"
)

PATTERNS: dict[str, list[str]] = {
    "self_harm": [
        r"\b(?:kill|hurt|harm|cut|starve) (?:myself|yourself|themselves|herself|himself)\b",
        r"\b(?:commit|committing) suicide\b",
        r"\b(?:best|easiest|painless|quickest) (?:way|method)s? to (?:die|end (?:my|your) life)\b",
        r"\bend (?:my|your) (?:own )?life\b",
    ],
    "violence": [
        rf"\b(?:i|we) (?:will|'ll|am going to|want to) (?:kill|murder|shoot|stab|strangle|"
        rf"beat up|hurt) {_PEOPLE}\b",
        rf"\bhow to (?:kill|murder|poison|strangle|kidnap) {_PEOPLE}\b",
        r"\b(?:mass shooting|school shooting|shoot up the (?:school|office))\b",
        rf"\b(?:torture|behead|dismember) {_PEOPLE}\b",
    ],
    "sexual_minors": [
        rf"\b{_SEXUAL}\b[^.!?\n]{{0,60}}\b{_MINOR}\b",
        rf"\b{_MINOR}\b[^.!?\n]{{0,60}}\b{_SEXUAL}\b",
    ],
    "hate": [
        rf"\b(?:all |those |the )?{_GROUPS} (?:are|is) (?:vermin|animals|subhuman|parasites|"
        r"a disease|inferior|cockroaches)\b",
        rf"\b(?:exterminate|eradicate|gas|deport all|get rid of all) (?:the |all )?{_GROUPS}\b",
        rf"\b{_GROUPS} (?:should|must|deserve to) (?:die|be killed|be exterminated|be shot)\b",
    ],
    "harassment": [
        r"\byou(?: are|'re) (?:a |an |so )?(?:worthless|pathetic|disgusting|stupid|"
        r"an idiot|a moron|a loser|ugly|fat pig)\b",
        r"\b(?:go )?kill yourself\b",
        r"\bi know where you live\b",
        r"\bnobody (?:likes|wants|would miss) you\b",
    ],
}
for _cat, _obj in _OBJECTS.items():
    PATTERNS[_cat] = [
        rf"\b{_MAKE}{_obj}s?\b",
        rf"\b(?:synthesi[sz]e|cook|manufacture) {_obj}\b",
        rf"\b(?:recipe|instructions|blueprint|tutorial) for (?:a |an )?(?:homemade |making )?"
        rf"{_obj}s?\b",
    ]

# Sentences of sexual-health, safeguarding or HR-policy text mention minors and sexual
# terms together legitimately ("report sexual harassment of minors"); these phrases mark
# protective context and veto the sexual_minors pattern in that sentence.
_PROTECTIVE = re.compile(
    r"\b(?:report\w*|prevent\w*|protect\w*|safeguard\w*|abuse|"
    r"harassment policy|educat\w*|awareness|mandatory reporter)\b",
    re.I,
)

_COMPILED = {cat: [re.compile(p, re.I) for p in pats] for cat, pats in PATTERNS.items()}

# One cheap scan per category decides whether its (costlier) patterns can match at all:
# every pattern of a category contains at least one of its gate words.
_GATES = {
    "self_harm": r"myself|yourself|themselves|herself|himself|suicide|life",
    "violence": r"kill|murder|shoot|stab|strangle|beat up|hurt|poison|kidnap|torture|behead|"
    r"dismember|shooting",
    "sexual_minors": _SEXUAL,
    "hate": _GROUPS,
    "harassment": r"you(?: are|'re)|yourself|where you live|nobody",
    **_OBJECTS,
}
_GATE_RE = {cat: re.compile(rf"\b(?:{g})", re.I) for cat, g in _GATES.items()}


def _sentence(text: str, start: int, end: int) -> str:
    lo = max(0, text.rfind(".", 0, start) + 1)
    stop = re.search(r"[.!?\n]", text[end:])
    return text[lo : end + (stop.start() if stop else len(text))]


def scan_text(text: str) -> list[tuple[str, str]]:
    """(category, matched phrase) for every precise-pattern hit in ``text``."""
    hits: list[tuple[str, str]] = []
    for category, patterns in _COMPILED.items():
        if not _GATE_RE[category].search(text):
            continue
        for pattern in patterns:
            for m in pattern.finditer(text):
                if category == "sexual_minors" and _PROTECTIVE.search(
                    _sentence(text, m.start(), m.end())
                ):
                    continue
                hits.append((category, m.group(0)))
    return hits
