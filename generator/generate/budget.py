"""Token and cost estimates: ``--dry-run`` and the ``--max-cost`` guard.

A unit's prompt tokens are the template overhead (measured once with the longest in-context
examples) plus the chunk's tokens; its output is estimated per record asked for: a default
until replies have been seen, then the observed mean (with a margin). The guard refuses the
next call when what the run has spent (all sessions, from the journal), plus what calls in
flight may still cost, plus the next call's estimate would pass the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import BudgetExceeded, ConfigError
from generator.generate.plan import ContextFitter, WorkUnit
from generator.generate.prompts import PromptTemplate, render
from generator.generate.seeding import Example
from generator.providers.model_info import Price, batch_price, price
from generator.tokens import count_tokens

DEFAULT_TOKENS_PER_RECORD = 160
MARGIN = 1.25


@dataclass
class Estimate:
    """What ``--dry-run`` prints: one plan priced four ways (sync or batch, without or with
    the prompt caching the static prefix of the prompts should get)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the model's price is unknown
    skipped_done: int  # units already done (resume)
    batch_cost_usd: float | None = None
    cached_tokens: int = 0  # prompt tokens expected from the provider's prompt cache
    cost_cached_usd: float | None = None
    batch_cost_cached_usd: float | None = None
    prefix_tokens: int = 0  # the static prefix every prompt shares


# Providers cache a prompt prefix only from this many tokens on (OpenAI: 1,024; Anthropic:
# 1,024 for Sonnet and Opus, more for some Haiku models): below it nothing is expected.
MIN_CACHEABLE_PREFIX = 1024


def expected_cached(calls: int, prefix_tokens: int) -> int:
    """Prompt tokens read from the provider's cache if every call after the first finds
    the shared static prefix there (caches live for minutes: a steady run keeps it warm)."""
    if prefix_tokens < MIN_CACHEABLE_PREFIX or calls < 2:
        return 0
    return (calls - 1) * prefix_tokens


def over_budget(max_cost: float, spent: float, reserved: float, est: float) -> str:
    """The one line of a ``--max-cost`` stop (exit 4, resumable)."""
    return (
        f"stopped before the budget of ${max_cost:.4f} would be exceeded "
        f"(spent ${spent:.4f}, in flight ${reserved:.4f}, next call about "
        f"${est:.4f}); raise --max-cost and re-run the same command to resume"
    )


def needs_price(model: str) -> Price:
    """The price ``--max-cost`` needs for ``model`` (ConfigError when it is unknown)."""
    known = price(model)
    if known is None:
        raise ConfigError(
            f"--max-cost needs the price of {model!r}, which is unknown; give it with "
            "--price INPUT,OUTPUT (USD per million tokens)"
        )
    return known


class CallBudget:
    """``--max-cost`` for single calls outside generation's plan (the derive stages' and
    other journaled checks): before each call that is not already in the journal, its
    estimate (the prompt's tokens, and ``max_tokens`` of output: the worst case) plus what
    was spent (``spent``: every session, from the journal) and what calls in flight may
    still cost must fit the budget; a call that would not fit is not made (the caller
    stops with :class:`BudgetExceeded`, exit 4, and a re-run resumes)."""

    def __init__(self, max_cost: float, spent: float, models: list[str]) -> None:
        self.max_cost, self.spent, self.reserved = max_cost, spent, 0.0
        self.prices = {m: needs_price(m) for m in models}
        self.refused: str | None = None  # the line of the first call refused

    def estimate(self, model: str, messages: list[dict[str, str]], max_tokens: int | None) -> float:
        text = "\n".join(str(m.get("content") or "") for m in messages)
        out = max_tokens or DEFAULT_TOKENS_PER_RECORD
        return self.prices[model].cost(count_tokens(text, model) + 4 * len(messages), out)

    def take(
        self, model: str, messages: list[dict[str, str]], max_tokens: int | None
    ) -> float | None:
        """Reserve one call's estimate; None: it would pass the budget (not to be made)."""
        est = self.estimate(model, messages, max_tokens)
        if self.spent + self.reserved + est > self.max_cost:
            self.refused = self.refused or over_budget(
                self.max_cost, self.spent, self.reserved, est
            )
            return None
        self.reserved += est
        return est

    def settle(self, reserved: float, actual: float | None) -> None:
        """After the call: its reservation released, what it cost spent (unknown: the
        estimate, the dearer assumption)."""
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += reserved if actual is None else actual


class CostModel:
    """Estimates per unit and tracks the budget (one per run)."""

    def __init__(
        self,
        model: str,
        fitter: ContextFitter,
        max_cost: float | None = None,
        spent: float = 0.0,
        max_tokens: int | None = None,
        batch: bool = False,
    ) -> None:
        self.model = model
        self.fitter = fitter
        # --batch: calls are billed at the batch price (half), and so are estimated
        self.price: Price | None = batch_price(model) if batch else price(model)
        self.max_cost = max_cost
        self.spent = spent
        self.reserved = 0.0
        self.max_tokens = max_tokens
        self._out_tokens = 0
        self._out_records = 0
        if max_cost is not None and self.price is None:
            needs_price(model)  # raises: the budget cannot be kept without a price

    def observe(self, completion_tokens: int, records_asked: int) -> None:
        self._out_tokens += completion_tokens
        self._out_records += max(1, records_asked)

    def tokens(self, unit: WorkUnit) -> tuple[int, int]:
        """(prompt, completion) tokens expected for one unit."""
        chunk_tokens = unit.chunk.tokens or count_tokens(unit.chunk.text, self.model)
        prompt = self.fitter.overhead + chunk_tokens
        if self._out_records >= 5:
            per = self._out_tokens / self._out_records * MARGIN
        else:
            per = DEFAULT_TOKENS_PER_RECORD
        out = int(per * unit.n)
        if self.max_tokens:
            out = min(out, self.max_tokens)
        return prompt, out

    def cost(self, unit: WorkUnit) -> float:
        if self.price is None:
            return 0.0
        return self.price.cost(*self.tokens(unit))

    def reserve(self, unit: WorkUnit, free: bool = False) -> float:
        """Reserve the next call's estimate, or raise BudgetExceeded (exit 4) if the budget
        would be passed. ``free``: the reply is already in the journal."""
        est = 0.0 if free else self.cost(unit)
        if self.max_cost is not None and self.spent + self.reserved + est > self.max_cost:
            raise BudgetExceeded(over_budget(self.max_cost, self.spent, self.reserved, est))
        self.reserved += est
        return est

    def settle(self, reserved: float, actual: float | None) -> None:
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += actual or 0.0

    def estimate(self, pending: list[WorkUnit], done: int, prefix_tokens: int = 0) -> Estimate:
        """The plan's tokens priced sync and batch, without and with expected caching."""
        pt = ct = 0
        for unit in pending:
            p, c = self.tokens(unit)
            pt, ct = pt + p, ct + c
        cached = expected_cached(len(pending), prefix_tokens)
        sync, batch = price(self.model), batch_price(self.model)

        def usd(p: Price | None, read: int = 0) -> float | None:
            return None if p is None else p.cost(pt, ct, read)

        return Estimate(
            len(pending), pt, ct, usd(sync), done,
            batch_cost_usd=usd(batch), cached_tokens=cached, cost_cached_usd=usd(sync, cached),
            batch_cost_cached_usd=usd(batch, cached), prefix_tokens=prefix_tokens,
        )  # fmt: skip


def shared_prefix_tokens(
    template: PromptTemplate, units: list[WorkUnit], seeds: list[Example], model: str
) -> int:
    """Tokens of the prompt prefix two different calls share (the system prompt and the
    instructions: templates put every static part first), measured on two rendered
    prompts with different excerpts and, for seeded templates, different examples."""
    if len(units) < 2:
        return 0
    k = template.seeds.k if template.seeds else 0
    shown = [e.as_dict() for e in seeds]
    texts = []
    for i, unit in enumerate(units[:2]):
        examples = shown[i * k : (i + 1) * k] or shown[:k][::-1]
        messages = render(template, unit.chunk, examples, unit.n)
        texts.append("\n".join(m["content"] for m in messages))
    a, b = texts
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    prefix = a[:n]
    return count_tokens(prefix, model) if prefix else 0
