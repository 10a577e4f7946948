"""One work unit's calls: ask, parse and validate, re-ask once, and report every call.

:class:`UnitExecutor` needs nothing but a provider and a callback, so the same code runs in
the engine's process and in ``--workers`` processes. A reply already in the journal for a
request hash (``UnitSpec.cached``) is reused instead of paid again: that is how a unit whose
reply arrived just before a crash costs nothing on resume.

Outcome of a unit: the valid record fields (format fields only: the committer adds ``meta``,
filters and novelty), reply-level rejections (reason, detail, raw output), the usage of all
its calls, and, when the provider failed, the error code. A unit whose provider call failed
(auth, retries exhausted, bad request) stays pending so a later run retries it; only a
context-window refusal is final, because the same request would fail again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.errors import (
    CircuitOpen,
    ContextWindowError,
    InstructforgeError,
    ProviderError,
    RetriesExhausted,
)
from generator.generate.journal import CallRow
from generator.generate.parsing import parse_reply, reask_messages, summarise
from generator.generate.tools import ToolUse
from generator.providers.base import Completion, CompletionRequest, CompletionUsage, request_hash
from generator.providers.cache import CachingProvider
from generator.providers.errors import scrub
from generator.providers.resilience import Attempt, status_of

OnCall = Callable[[CallRow], None]


@dataclass
class UnitSpec:
    """Everything needed to run one unit (picklable: it crosses process boundaries)."""

    unit_id: str
    pos: int
    chunk_id: str
    fmt: str
    request: CompletionRequest
    cached: dict[str, CallRow] = field(default_factory=dict)
    turns: tuple[int, int] | None = None  # a conversation template's (min, max) turns
    tools: tuple[tuple[dict[str, Any], ...], ToolUse] | None = None  # catalogue and rules


@dataclass
class UnitOutcome:
    """What a unit produced (before filters, novelty and provenance)."""

    unit_id: str
    pos: int
    valid: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    usage: CompletionUsage = field(default_factory=lambda: CompletionUsage(cost_usd=0.0))
    error: str | None = None  # status code of a provider failure (see module docstring)
    error_detail: str | None = None
    final: bool = True  # False: the unit stays pending (retry on a later run)
    reasoning: str | None = None
    fresh_calls: int = 0  # calls actually sent (not reused from the journal)
    # {"hit": True, "made_at", "run"} when the reply came from the cross-run call cache
    # (``usage`` is then what the original call cost; this run paid nothing).
    cache: dict[str, Any] | None = None


def _add_usage(total: CompletionUsage, more: CompletionUsage) -> None:
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens
    total.cached_tokens += more.cached_tokens
    total.cache_write_tokens += more.cache_write_tokens
    if more.cost_usd is not None:
        total.cost_usd = (total.cost_usd or 0.0) + more.cost_usd


class UnitExecutor:
    """Runs units against a (resilient) provider, reporting every call to ``on_call``.

    Pass :meth:`on_attempt` as the resilient provider's ``on_attempt`` so failed attempts
    (429s, 5xx, timeouts) are journaled too; successful calls are reported with their raw
    reply once :meth:`run` has it.
    """

    def __init__(self, provider: Any, on_call: OnCall) -> None:
        self.provider = provider
        self.on_call = on_call
        self._ctx: dict[str, tuple[str, str, str]] = {}  # request hash -> unit, chunk, kind
        self._ok_attempt: dict[str, int] = {}

    def on_attempt(self, attempt: Attempt) -> None:
        if attempt.status == "ok":
            self._ok_attempt[attempt.request_hash] = attempt.attempt
            return
        unit_id, chunk_id, kind = self._ctx.get(attempt.request_hash, ("?", "?", "ask"))
        self.on_call(
            CallRow(
                request_hash=attempt.request_hash,
                unit_id=unit_id,
                chunk_id=chunk_id,
                kind=kind,
                attempt=attempt.attempt,
                status="error",
                latency_s=round(attempt.latency_s, 4),
                error_code=attempt.status,
                error=scrub(str(attempt.error))[:300] if attempt.error else None,
            )
        )

    async def _complete(
        self, spec: UnitSpec, request: CompletionRequest, kind: str
    ) -> tuple[Completion, bool]:
        digest = request_hash(request)
        row = spec.cached.get(digest)
        # A journaled reply is reused, except one the call cache answered while the cache is
        # still in use: asking it again is free and brings back the reply's provenance.
        caching = isinstance(self.provider, CachingProvider)
        from_cache = row is not None and bool(row.cache_hit) and caching
        if row is not None and row.reply is not None and not from_cache:
            usage = CompletionUsage(
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cost_usd=row.cost_usd,
            )
            reply = Completion(
                text=row.reply,
                finish_reason=row.finish_reason,
                usage=usage,
                reasoning=row.reasoning,
            )
            return reply, False
        self._ctx[digest] = (spec.unit_id, spec.chunk_id, kind)
        try:
            completion = await self.provider.complete(request)
        finally:
            self._ctx.pop(digest, None)
        u = completion.usage
        note = completion.cache or {}
        hit = bool(note.get("hit"))  # from the call cache: nothing sent, nothing paid
        self.on_call(
            CallRow(
                request_hash=digest,
                unit_id=spec.unit_id,
                chunk_id=spec.chunk_id,
                kind=kind,
                attempt=self._ok_attempt.pop(digest, 1),
                status="ok",
                latency_s=round(completion.latency_s, 4),
                prompt_tokens=0 if hit else u.prompt_tokens,
                completion_tokens=0 if hit else u.completion_tokens,
                cost_usd=0.0 if hit else u.cost_usd,
                finish_reason=completion.finish_reason,
                reply=completion.text,
                reasoning=completion.reasoning,  # always journaled; exported on request
                cached_tokens=0 if hit else u.cached_tokens,
                cache_hit=int(hit),
                cache_corrupt=int(bool(note.get("corrupt"))),
            )
        )
        return completion, not hit

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        """Ask, validate, re-ask once on failure. Raises only CircuitOpen (the run stops)."""
        out = UnitOutcome(spec.unit_id, spec.pos)
        request = spec.request
        schema = request.json_schema
        for kind in ("ask", "reask"):
            try:
                completion, fresh = await self._complete(spec, request, kind)
            except CircuitOpen:
                raise
            except (ProviderError, RetriesExhausted) as exc:
                err = exc.last_error if isinstance(exc, RetriesExhausted) else exc
                out.error = status_of(err) if isinstance(err, ProviderError) else "error"
                out.error_detail = scrub(str(exc))[:300]
                out.final = isinstance(exc, ContextWindowError)
                out.rejections.append(
                    {"reason": f"provider:{out.error}", "detail": out.error_detail, "raw": None}
                )
                break
            except InstructforgeError:
                raise
            out.fresh_calls += int(fresh)
            _add_usage(out.usage, completion.usage)
            if completion.cache is not None and completion.cache.get("hit"):
                out.cache = completion.cache
            # kept beside the records, never in them: the reasoning of the reply the records
            # come from (a re-ask's own, not the failed ask's)
            out.reasoning = completion.reasoning
            parsed = parse_reply(
                completion.text,
                spec.fmt,
                finish_reason=completion.finish_reason,
                schema=schema,
                turns=spec.turns,
                tools=spec.tools,
            )
            valid = parsed.valid
            if valid:
                out.valid.extend(valid)
                # Invalid siblings of valid records: each is a rejection of its own.
                for item in parsed.items:
                    if item.error is not None:
                        out.rejections.append(
                            {
                                "reason": item.error.code,
                                "detail": item.error.detail,
                                "raw": completion.text,
                            }
                        )
                break
            reason = summarise(parsed)
            assert reason is not None  # no valid record means there is a reason
            out.rejections.append(
                {
                    "reason": reason.code,
                    "detail": reason.detail,
                    "raw": completion.text,
                    "reasked": kind == "ask",
                }
            )
            if kind == "ask":
                messages = reask_messages(request.messages, completion.text, reason)
                request = request.model_copy(update={"messages": messages})
        return out
