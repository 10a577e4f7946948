"""Everything a generation run resolves before its first call.

:func:`prepare` loads the template and seeds, checks the run's fingerprint (refusing changed
settings), resolves the policy and the source documents' labels, plans the work units,
sizes them against the context window, and loads from the journal what a resumed run needs:
which units are done, the novelty pool, and replies that arrived for units not yet done.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.derive import KIND_COMMANDS
from generator.errors import ConfigError
from generator.generate.commit import Provenance
from generator.generate.filters import InstructionFilter, InstructionFilterConfig
from generator.generate.journal import CallRow, GenJournal
from generator.generate.plan import ContextFitter, PoolView, WorkUnit, plan_units
from generator.generate.prompts import PromptTemplate, load_template, reply_schema
from generator.generate.seeding import (
    Example,
    default_seeds_path,
    describe_seeds,
    load_seeds,
    seeds_sha256,
)
from generator.generate.settings import FINGERPRINT_KEY, GenerateSettings, check_fingerprint
from generator.generate.tool_schema import tool_reply_schema
from generator.generate.tools import load_catalogue
from generator.ingest.settings import SETTINGS_KEY as INGEST_KEY
from generator.ingest.settings import stored_values
from generator.providers.keys import provider_prefix
from generator.providers.model_info import context_window
from generator.records import Ref
from generator.redact import scrub_url_credentials
from generator.store import Journal
from generator.textsim import NoveltyIndex

log = logging.getLogger(__name__)
CONFIG_FILE = "config.json"
PLAN_KEY = "generate.plan"


@dataclass
class Prepared:
    """A run ready to execute (or to estimate, for ``--dry-run``)."""

    settings: GenerateSettings
    template: PromptTemplate
    seeds: list[Example]
    units: list[WorkUnit]
    pending: list[WorkUnit]
    fingerprint: str
    provenance: Provenance
    novelty: NoveltyIndex
    pool: PoolView
    fitter: ContextFitter
    window: int | None
    schema_by_n: dict[int, dict[str, Any]]
    instruction_filter: InstructionFilter | None
    cached: dict[str, dict[str, CallRow]] = field(default_factory=dict)  # unit id -> hash -> row
    accepted_before: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run resolved (seeds used)
    tools: tuple[dict[str, Any], ...] = ()  # the --tools catalogue (OpenAI's tools shape)

    @property
    def uses_pool(self) -> bool:
        s = self.template.seeds
        return s is not None and s.n_from_pool > 0


def _policy_ref(model: str, api_base: str | None, warnings: list[str]) -> Ref:
    from generator import policies

    policy = policies.resolve_policy(model, api_base)
    stale = policies.stale_warning(policy)
    if stale:
        warnings.append(stale)
    return policy.ref()


def _source_infos(docs: Path, journal: Journal) -> dict[str, dict[str, Any]]:
    from generator import sources

    table = sources.load_sources(docs)
    out: dict[str, dict[str, Any]] = {}
    for doc in journal.documents():
        file = docs / doc.path
        mtime = file.stat().st_mtime if file.is_file() else None
        info = sources.source_info(doc.path, doc.metadata, mtime, table)
        out[doc.path] = info.to_meta()
    return out


def _longest_examples(seeds: list[Example], k: int) -> list[dict[str, Any]]:
    """The k longest seeds: the in-context block of the largest prompt we will render."""
    ranked = sorted(seeds, key=lambda e: len(e.instruction) + len(e.input) + len(e.output))
    return [e.as_dict() for e in ranked[-k:]] if k else []


def _filter_for(template: PromptTemplate) -> InstructionFilter:
    """Self-Instruct's filters in full for seeded templates; for document Q&A, chat and
    completion the paper's blacklist (file, map, ...) and banned prefixes would reject
    ordinary questions about the documents, so only the length and punctuation checks run."""
    if template.seeds is not None:
        return InstructionFilter(InstructionFilterConfig())
    return InstructionFilter(InstructionFilterConfig(blacklist=[], banned_prefixes=[]))


def prepare(settings: GenerateSettings, journal: Journal, gj: GenJournal) -> Prepared:
    """Resolve, check and plan (see module docstring). Raises ConfigError on bad input."""
    template = load_template(settings.template)
    if template.format in ("preference", "eval"):
        raise ConfigError(
            f"template {template.id!r} is for `instructforge {KIND_COMMANDS[template.format]}`"
        )
    seeds: list[Example] = []
    notes: list[str] = []
    if template.seeds is not None:
        # The file actually used goes to config.json, whether named or the generic default.
        seed_path = settings.seeds or str(default_seeds_path())
        seeds = load_seeds(seed_path)
        notes.append(f"seeds: {describe_seeds(settings.seeds, seeds)}")
        settings.seeds = seed_path
        settings.seeds_sha256 = seeds_sha256(seeds)
    elif settings.seeds:
        raise ConfigError(
            f"template {template.id!r} does not use seed tasks; --seeds applies to templates "
            "with in-context examples such as self-instruct"
        )
    settings.prompt_ref = template.ref
    tools = _tools(template, settings)
    fingerprint = settings.fingerprint_hash()
    check_fingerprint(
        journal.get_setting(FINGERPRINT_KEY), settings.fingerprint(), settings.force_new
    )
    warnings: list[str] = []
    window = settings.context_window or context_window(settings.model)
    k = template.seeds.k if template.seeds else 0
    fitter = ContextFitter(template, settings.model, window, _longest_examples(seeds, k), tools)
    chunks = list(journal.chunks())
    if not chunks:
        raise ConfigError(f"no text to generate from: {settings.docs} gave no chunks")
    units = plan_units(chunks, template, fingerprint, settings.per_chunk, fitter)
    done = gj.done_units()
    pending = [u for u in units if u.id not in done]
    pending_ids = {u.id for u in pending}
    cached: dict[str, dict[str, CallRow]] = {}
    for row in gj.pending_replies():
        if row.unit_id in pending_ids:
            cached.setdefault(row.unit_id, {})[row.request_hash] = row
    novelty = NoveltyIndex(e.instruction for e in seeds)
    for text in gj.pool_instructions():
        novelty.add(text)
    prov = Provenance(
        model=settings.model,
        provider=provider_prefix(settings.model),
        policy=_policy_ref(settings.model, settings.api_base, warnings),
        prompt=template.ref,
        fmt=template.format,
        template=template.id,
        fingerprint=fingerprint,
        source_info=_source_infos(Path(settings.docs), journal),
        redact_before_send=settings.redact_before_send,
        api_base=scrub_url_credentials(settings.api_base) if settings.api_base else None,
    )
    sizes = sorted({u.n for u in units})
    return Prepared(
        settings=settings,
        template=template,
        seeds=seeds,
        units=units,
        pending=pending,
        fingerprint=fingerprint,
        provenance=prov,
        novelty=novelty,
        pool=PoolView(gj.pool(fingerprint)),
        fitter=fitter,
        window=window,
        schema_by_n={
            n: tool_reply_schema(n, tools, template.tool_use, template.bounds.message)
            if template.tool_use
            else reply_schema(template.format, n, template.bounds, template.turns)
            for n in sizes
        },
        instruction_filter=_filter_for(template),
        cached=cached,
        accepted_before=gj.accepted(fingerprint),
        warnings=warnings,
        notes=notes,
        tools=tools,
    )


def _tools(template: PromptTemplate, settings: GenerateSettings) -> tuple[dict[str, Any], ...]:
    """The tool catalogue a ``tool_use:`` template needs (and only such a template takes);
    its hash goes into the fingerprint."""
    if template.tool_use is None:
        if settings.tools:
            raise ConfigError(
                f"--tools applies to a tool-calling template (such as tool-use); template "
                f"{template.id!r} has no tool_use: rules"
            )
        return ()
    if not settings.tools:
        raise ConfigError(
            f"template {template.id!r} calls tools: give the tool catalogue with --tools FILE "
            "(a JSON or YAML list of JSON Schema functions)"
        )
    catalogue = load_catalogue(settings.tools)
    settings.tools_sha256 = catalogue.sha256
    return catalogue.tools


def record_start(p: Prepared, journal: Journal) -> None:
    """Store the fingerprint, the plan size and ``RUN/config.json`` (no secrets; with the
    ingest settings the run's chunks were made with)."""
    journal.set_setting(FINGERPRINT_KEY, p.settings.fingerprint())
    chunks = len({u.chunk.id for u in p.units})
    journal.set_setting(PLAN_KEY, {"units": len(p.units), "chunks": chunks, "fp": p.fingerprint})
    path = Path(p.settings.run_dir) / CONFIG_FILE
    tmp = path.with_suffix(".json.tmp")
    config = p.settings.public_config()
    config["ingest"] = stored_values(journal.get_setting(INGEST_KEY))  # what chunks came from
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
