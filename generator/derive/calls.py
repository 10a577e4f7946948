"""Model calls of the derive stages, through the judge machinery.

:class:`KindClient` is a :class:`~generator.curate.judge.JudgeClient` whose requests carry
a template's sampling and a reply schema: so every call is journaled by request hash in
``judge_calls`` before it is used (a re-run pays nothing twice), goes through generation's
retries, limiter and circuit breaker (and the cross-run call cache), and a failed or
unusable reply comes back as None: a finding, never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.curate.judge import JudgeClient, _json, resilient
from generator.generate.prompts import PromptTemplate, _compiled, _variables
from generator.providers.base import CompletionRequest, request_hash
from generator.records import Chunk
from generator.store import Journal


class KindClient(JudgeClient):
    """Journaled calls of one template (its sampling) to one model, with a reply schema."""

    def __init__(
        self,
        model: str,
        journal: Journal,
        template: PromptTemplate,
        schema: dict[str, Any],
        *,
        temperature: float | None = None,
        api_base: str | None = None,
        provider: Any = None,
    ) -> None:
        from generator.providers.registry import get_provider

        inner = provider or resilient(get_provider(model, api_base=api_base))
        super().__init__(inner, model, journal)
        self.template, self.schema, self.api_base = template, schema, api_base
        s = template.sampling
        self.temperature = s.temperature if temperature is None else temperature
        self.top_p, self.max_tokens = s.top_p, s.max_tokens

    def request(self, kind: str, messages: list[dict[str, str]]) -> CompletionRequest:
        return CompletionRequest(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            json_schema=self.schema,
            api_base=self.api_base,
        )

    def ask(
        self, kind: str, batch: Sequence[tuple[str, list[dict[str, str]]]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """(parsed JSON object or None, usage) per (item id, messages), in order."""
        replies = self._run(kind, batch)
        parsed = self._parsed(replies, _json)
        return [(p, self.usage(kind, m)) for p, (_, m) in zip(parsed, batch, strict=True)]

    def usage(self, kind: str, messages: list[dict[str, str]]) -> dict[str, Any]:
        """Tokens and cost the journal holds for this call (0 for a cache hit)."""
        digest = request_hash(self.request(kind, messages))
        rows = self.journal.query(
            "SELECT prompt_tokens p, completion_tokens c, cost_usd usd FROM judge_calls"
            " WHERE request_hash=?",
            (digest,),
        )
        if not rows:
            return {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": None}
        r = rows[0]
        return {"prompt_tokens": r["p"], "completion_tokens": r["c"], "cost_usd": r["usd"]}


def render_with(
    template: PromptTemplate,
    chunks: Sequence[Chunk],
    examples: Sequence[dict[str, str]] = (),
    n: int = 1,
) -> list[dict[str, str]]:
    """The template's (system, user) messages over one or more chunks of a document: their
    ``<document>`` blocks one after another in ``document``. ``examples`` carry the question
    and answers a pair template works on (neutralised like any data)."""
    vars_ = _variables(template, chunks[0], list(examples), n)
    if len(chunks) > 1:
        more = [_variables(template, c, [], n) for c in chunks[1:]]
        vars_["document"] = "\n".join([vars_["document"], *(v["document"] for v in more)])
        vars_["text"] = "\n\n".join([vars_["text"], *(v["text"] for v in more)])
    return [
        {"role": "system", "content": _compiled(template.system).render(vars_).strip()},
        {"role": "user", "content": _compiled(template.user).render(vars_).strip()},
    ]
