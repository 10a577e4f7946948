"""Harmful-content step: records that ask for (or give) serious harm leave the dataset.

Categories: weapons and explosives, drug synthesis and dealing, violence and threats,
self-harm, sexual content involving minors, hate against protected groups, harassment,
stalking, malware and intrusion, fraud. The offline classifier (``curate/harm/``) combines
precise patterns with a model fitted on the bundled exemplars: cue counts, plus the
sentence embedding and nearest-exemplar evidence from the packaged all-MiniLM-L6-v2 model
when the ``embeddings`` extra is installed. ``classifier: auto`` (default) uses the embeddings when
installed and otherwise runs patterns-only, saying so in the report with that mode's own
measured figures; ``classifier: embeddings`` refuses to start without the extra.

When a model is configured, records the baseline passes can also be checked by a provider
(``curate/judge.py``: LiteLLM's moderation endpoint where the provider has one, else an LLM
judge with a fixed rubric). A flagged record goes to ``excluded`` (or ``review``, per
``destination``) with its category, score and evidence; nothing is deleted silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Step
from generator.curate.harm import cues
from generator.curate.harm.classifier import HarmClassifier, Verdict, fitted
from generator.curate.harm.evaluation import stored_figures
from generator.curate.harm.patterns import scan_text
from generator.curate.registry import StepContext, register_step
from generator.errors import ConfigError
from generator.records import Record

log = logging.getLogger(__name__)

# "dangerous" is what provider checks report for illicit or violent instructions.
CATEGORIES = (*cues.CATEGORIES, "dangerous")
INSTALL_HINT = (
    "Install torch first (pip install torch==2.13.0), then pip install 'instructforge[embeddings]'"
)

__all__ = ["CATEGORIES", "HarmfulConfig", "HarmfulContentStep", "scan_text"]


# checker([record, ...]) -> [[(category, reason), ...] or None per record]; built from
# HarmfulConfig.model (curate/judge.py); None when no model is configured.
Checker = Callable[[list[Record]], list[list[tuple[str, str]] | None]]


class HarmfulConfig(BaseModel):
    """``harmful:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    categories: list[str] = list(CATEGORIES)
    # auto: embeddings when the extra is installed, else patterns-only (reported);
    # embeddings: refuse to run without the extra; patterns: never load the model.
    classifier: Literal["auto", "embeddings", "patterns"] = "auto"
    # Share of the bundled benign look-alike exemplars (cross-validated) allowed above the
    # threshold; None: the mode's default (classifier.DEFAULT_FPR), the measured one.
    operating_fpr: float | None = Field(None, gt=0, lt=0.5)
    destination: Literal["excluded", "review"] = "excluded"
    threads: int = Field(1, ge=1)  # torch threads for the embeddings
    # Provider check: a moderation model (e.g. openai/omni-moderation-latest) uses LiteLLM's
    # moderation call; any other model is an LLM judge with a fixed rubric; None: offline
    # baseline only.
    model: str | None = None


def resolve_mode(config: HarmfulConfig) -> tuple[str, str | None]:
    """(mode, warning): the classifier mode to run and why it is not the configured one."""
    from generator.curate.semantic_dedup import embeddings_available

    if config.classifier == "patterns":
        return "patterns", None
    if embeddings_available():
        return "embeddings", None
    if config.classifier == "embeddings":
        raise ConfigError(
            "harmful.classifier: embeddings needs the [embeddings] extra, which is not "
            f"installed. {INSTALL_HINT}; or set harmful.classifier: patterns"
        )
    return "patterns", "harmful: the [embeddings] extra is not installed, so the classifier "


class HarmfulContentStep(Step):
    """Remove records the offline classifier (or the optional provider check) flags."""

    name = "harmful"

    def __init__(
        self,
        config: HarmfulConfig | None = None,
        checker: Checker | None = None,
        batch_size: int = 256,
        classifier: HarmClassifier | None = None,
    ) -> None:
        super().__init__()
        self.config = config or HarmfulConfig()
        unknown = set(self.config.categories) - set(CATEGORIES)
        if unknown:
            raise ConfigError(f"harmful.categories: unknown {sorted(unknown)}; known: {CATEGORIES}")
        self.checker = checker
        self.batch_size = batch_size
        self.warnings: list[str] = []
        if classifier is None:
            mode, why = resolve_mode(self.config)
            classifier = fitted(mode, self.config.operating_fpr, threads=self.config.threads)  # type: ignore[arg-type]
            if why:
                self.warnings.append(why + _figures_line(classifier) + f". {INSTALL_HINT}")
                log.warning(self.warnings[-1])
        self.classifier = classifier

    @property
    def per_record(self) -> bool:  # type: ignore[override]
        return self.checker is None  # a provider check runs here, with its journal

    def baseline(self, records: list[Record]) -> list[Verdict]:
        """The offline verdict per record: its highest-scoring text field."""
        texts, owner = [], []
        for i, record in enumerate(records):
            for _field, text in record.text_fields():
                texts.append(text)
                owner.append(i)
        best = [Verdict(False, 0.0)] * len(records)
        for i, verdict in zip(owner, self.classifier.classify(texts), strict=True):
            if verdict.flagged and verdict.category not in self.config.categories:
                verdict = Verdict(False, verdict.score)
            if (verdict.flagged, verdict.score) > (best[i].flagged, best[i].score):
                best[i] = verdict
        return best

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        pending: list[Record] = []
        for record in records:
            self.seen += 1
            pending.append(record)
            if len(pending) >= self.batch_size:
                yield from self._batch(pending)
                pending = []
        yield from self._batch(pending)

    def _batch(self, records: list[Record]) -> Iterator[Record]:
        passed: list[Record] = []
        for record, verdict in zip(records, self.baseline(records), strict=True):
            if verdict.flagged:
                self.annotate(record, category=verdict.category, score=verdict.score)
                reason = f"{verdict.via}: {verdict.evidence!r}"
                self._quarantine(record, [(verdict.category or "unspecified", reason)], verdict)
            else:
                passed.append(record)
        yield from self._check(passed)

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

    def _quarantine(
        self, record: Record, hits: list[tuple[str, str]], verdict: Verdict | None = None
    ) -> None:
        """Send a flagged record to the configured destination with its flags."""
        cats = sorted({c for c, _ in hits})
        details: dict[str, Any] = {"flags": [{"category": c, "reason": r} for c, r in hits]}
        if verdict is not None:
            details.update(category=verdict.category, score=verdict.score, via=verdict.via)
        self.exclude(
            record,
            f"harmful:{'+'.join(cats)}",
            destination=self.config.destination,
            details=details,
        )

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["classifier"] = self.classifier.describe()
        figures = stored_figures(self.classifier)
        if figures:
            data["measured"] = figures
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


# The labelled set measured once, after the classifier was final, by an author who saw
# neither the classifier, its exemplars nor the other sets: the honest figure for new text.
UNSEEN_SET = "harm_blind4"


def figures_text(figures: dict[str, dict[str, Any]]) -> str:
    """One sentence with the development-set figures, the unseen set's (``UNSEEN_SET``), then
    those of every other labelled set measured for the setting (named by file), which were
    all studied while the classifier was developed."""
    dev = figures["harm_labelled"]
    text = (
        f"recall {dev['recall']:.1%}, false positives {dev['fpr']:.1%} on the development set "
        f"({dev['harmful']} harmful, {dev['benign']} look-alikes)"
    )
    unseen = figures.get(UNSEEN_SET)
    if unseen:
        text += (
            f"; {UNSEEN_SET} recall {unseen['recall']:.1%}, false positives {unseen['fpr']:.1%} "
            f"({unseen['harmful']} harmful, {unseen['benign']} look-alikes; another author's "
            "set, never used in development, measured once)"
        )
    others = [
        f"{name} recall {f['recall']:.1%}, false positives {f['fpr']:.1%} "
        f"({f['harmful']} harmful, {f['benign']} look-alikes)"
        for name, f in sorted(figures.items())
        if name not in ("harm_labelled", UNSEEN_SET)
    ]
    if others:
        text += "; sets studied during development: " + "; ".join(others)
    return text


def _figures_line(classifier: HarmClassifier) -> str:
    figures = stored_figures(classifier)
    if not figures:
        return "runs patterns-only (not measured for these settings)"
    return "runs patterns-only: " + figures_text(figures)


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
