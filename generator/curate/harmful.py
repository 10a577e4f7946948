"""Harmful-content step: quarantine records with hate, harassment, violence, sexual content
involving minors, self-harm or dangerous instructions.

The offline baseline is precision-first: patterns need a harmful act *and* a human target
or a dangerous object in the same sentence, so operational language of internal documents
("kill the process", "execute the order", "terminate the contract", "shoot an email") is
never flagged. When a model is configured, records the baseline passes can also be checked
by a provider (``curate/judge.py``: LiteLLM's moderation endpoint where the provider has
one, else an LLM judge with a fixed rubric). Flagged records go to quarantine with their
category and reason; nothing is deleted silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from pydantic import BaseModel, ConfigDict

from generator.curate.base import Step
from generator.curate.registry import StepContext, register_step
from generator.records import Record

CATEGORIES = ("hate", "harassment", "violence", "sexual_minors", "self_harm", "dangerous")

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
_WEAPON = (
    r"(?:bomb|pipe bomb|explosives?|detonator|ied|nerve agent|sarin|ricin|anthrax|mustard gas|"
    r"napalm|thermite|ghost gun|silencer|methamphetamine|meth|fentanyl|ransomware|keylogger|"
    r"botnet|malware)"
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
    "dangerous": [
        rf"\b(?:how to|steps to|instructions (?:to|for)|guide to|recipe for) (?:make|build|"
        rf"synthesi[sz]e|cook|assemble|produce|write|create|deploy) (?:a |an |some )?"
        rf"(?:homemade )?{_WEAPON}\b",
        rf"\b(?:synthesi[sz]e|cook|manufacture) {_WEAPON}\b",
        rf"\b(?:recipe|instructions|blueprint|tutorial) for (?:a |an )?(?:homemade |making )?"
        rf"{_WEAPON}\b",
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

# Sentences of sexual-health, safeguarding or HR-policy text mention minors and sexual
# terms together legitimately ("report sexual harassment of minors"); these phrases mark
# protective context and veto the sexual_minors pattern in that sentence.
_PROTECTIVE = re.compile(
    r"\b(?:report|reporting|prevent|prevention|protect|protection|safeguarding|abuse|"
    r"harassment policy|education|awareness|mandatory reporter|child protection)\b",
    re.I,
)

_COMPILED = {cat: [re.compile(p, re.I) for p in pats] for cat, pats in PATTERNS.items()}

# One cheap scan per category decides whether its (costlier) patterns can match at all:
# every pattern of a category contains at least one of its gate words.
_GATES = {
    "self_harm": r"myself|yourself|themselves|herself|himself|suicide|life",
    "violence": r"kill|murder|shoot|stab|strangle|beat up|hurt|poison|kidnap|torture|behead|"
    r"dismember|shooting",
    "dangerous": _WEAPON,
    "sexual_minors": _SEXUAL,
    "hate": _GROUPS,
    "harassment": r"you(?: are|'re)|yourself|where you live|nobody",
}
_GATE_RE = {cat: re.compile(rf"\b(?:{g})", re.I) for cat, g in _GATES.items()}


def scan_text(text: str) -> list[tuple[str, str]]:
    """(category, matched phrase) for every baseline hit in ``text``."""
    hits: list[tuple[str, str]] = []
    for category, patterns in _COMPILED.items():
        if not _GATE_RE[category].search(text):
            continue
        for pattern in patterns:
            for m in pattern.finditer(text):
                if category == "sexual_minors":
                    lo = max(0, text.rfind(".", 0, m.start()) + 1)
                    hi_stop = re.search(r"[.!?\n]", text[m.end() :])
                    hi = m.end() + (hi_stop.start() if hi_stop else len(text))
                    if _PROTECTIVE.search(text[lo:hi]):
                        continue
                hits.append((category, m.group(0)))
    return hits


# checker([record, ...]) -> [[(category, reason), ...] or None per record]; built from
# HarmfulConfig.model (curate/judge.py); None when no model is configured.
Checker = Callable[[list[Record]], list[list[tuple[str, str]] | None]]


class HarmfulConfig(BaseModel):
    """``harmful:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    categories: list[str] = list(CATEGORIES)
    # Provider check: a moderation model (e.g. openai/omni-moderation-latest) uses LiteLLM's
    # moderation call; any other model is an LLM judge with a fixed rubric; None: offline
    # baseline only.
    model: str | None = None


class HarmfulContentStep(Step):
    """Quarantine records the baseline (or the optional provider check) flags."""

    name = "harmful"

    def __init__(
        self,
        config: HarmfulConfig | None = None,
        checker: Checker | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.config = config or HarmfulConfig()
        unknown = set(self.config.categories) - set(CATEGORIES)
        if unknown:
            from generator.errors import ConfigError

            raise ConfigError(f"harmful.categories: unknown {sorted(unknown)}; known: {CATEGORIES}")
        self.checker = checker
        self.batch_size = batch_size

    def baseline(self, record: Record) -> list[tuple[str, str]]:
        return [
            (cat, f"baseline: {phrase!r} in {field}")
            for field, text in record.text_fields()
            for cat, phrase in scan_text(text)
            if cat in self.config.categories
        ]

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        batch: list[Record] = []
        for record in records:
            self.seen += 1
            hits = self.baseline(record)
            if hits:
                self._quarantine(record, hits)
                continue
            batch.append(record)
            if len(batch) >= self.batch_size:
                yield from self._check(batch)
                batch = []
        yield from self._check(batch)

    def _check(self, batch: list[Record]) -> Iterator[Record]:
        """Run the provider check (if any) on records the baseline passed."""
        results = self.checker(batch) if self.checker and batch else [[]] * len(batch)
        for record, hits in zip(batch, results, strict=True):
            if hits is None:  # the check failed or was unparsable: a finding, never a pass
                self.check_failed(record, "provider check: call failed or reply unparsable")
                continue
            else:
                hits = [h for h in hits if h[0] in self.config.categories or h[0] not in CATEGORIES]
                if hits:
                    self._quarantine(record, hits)
                    continue
            self.kept += 1
            yield record

    def _quarantine(self, record: Record, hits: list[tuple[str, str]]) -> None:
        cats = sorted({c for c, _ in hits})
        self.exclude(
            record,
            f"harmful:{'+'.join(cats)}",
            destination="quarantine",
            details={"flags": [{"category": c, "reason": r} for c, r in hits]},
        )


def _build(config: HarmfulConfig, ctx: StepContext) -> HarmfulContentStep:
    if config.model is None:
        return HarmfulContentStep(config)
    from generator.curate.moderation import checker_for

    # a moderation endpoint or an LLM judge, journaled, with retries, limiter and breaker
    client = checker_for(config.model, ctx.journal, ctx.run_dir)
    step = HarmfulContentStep(config, checker=client.harmful)
    step.check_client = client
    return step


register_step("harmful", HarmfulConfig, order=20, factory=_build)(HarmfulContentStep)
