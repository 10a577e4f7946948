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
from generator.providers.model_info import Price, price
from generator.tokens import count_tokens

DEFAULT_TOKENS_PER_RECORD = 160
MARGIN = 1.25


@dataclass
class Estimate:
    """What ``--dry-run`` prints."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the model's price is unknown
    skipped_done: int  # units already done (resume)


class CostModel:
    """Estimates per unit and tracks the budget (one per run)."""

    def __init__(
        self,
        model: str,
        fitter: ContextFitter,
        max_cost: float | None = None,
        spent: float = 0.0,
        max_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.fitter = fitter
        self.price: Price | None = price(model)
        self.max_cost = max_cost
        self.spent = spent
        self.reserved = 0.0
        self.max_tokens = max_tokens
        self._out_tokens = 0
        self._out_records = 0
        if max_cost is not None and self.price is None:
            raise ConfigError(
                f"--max-cost needs the price of {model!r}, which is unknown; give it with "
                "--price INPUT,OUTPUT (USD per million tokens)"
            )

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
            raise BudgetExceeded(
                f"stopped before the budget of ${self.max_cost:.4f} would be exceeded "
                f"(spent ${self.spent:.4f}, in flight ${self.reserved:.4f}, next call about "
                f"${est:.4f}); raise --max-cost and re-run the same command to resume"
            )
        self.reserved += est
        return est

    def settle(self, reserved: float, actual: float | None) -> None:
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += actual or 0.0

    def estimate(self, pending: list[WorkUnit], done: int) -> Estimate:
        pt = ct = 0
        for unit in pending:
            p, c = self.tokens(unit)
            pt, ct = pt + p, ct + c
        cost = self.price.cost(pt, ct) if self.price is not None else None
        return Estimate(len(pending), pt, ct, cost, done)
