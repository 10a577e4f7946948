"""Prices and context windows of models: LiteLLM's bundled map, overridable by config.

Registered values (:func:`register_price`, :func:`register_context_window`) win over the
bundled map, so a local server or a new model gets a price and a limit from our config. An
unknown model has price None and cost None (never a guessed number). LiteLLM is imported
lazily (about 3 s at import).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

from generator.providers.keys import provider_prefix


@dataclass(frozen=True)
class Price:
    """USD per one million tokens. Input tokens read from the provider's prompt cache cost
    ``cached_per_m`` and those written to it ``cache_write_per_m``; None bills them at the
    input rate (the dearer assumption where a discount is not known)."""

    input_per_m: float
    output_per_m: float
    cached_per_m: float | None = None
    cache_write_per_m: float | None = None

    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD of one call; ``prompt_tokens`` includes the cached and cache-write ones."""
        read = min(cached_tokens, prompt_tokens)
        write = min(cache_write_tokens, prompt_tokens - read)
        plain = prompt_tokens - read - write
        cached = self.input_per_m if self.cached_per_m is None else self.cached_per_m
        wrote = self.input_per_m if self.cache_write_per_m is None else self.cache_write_per_m
        usd = plain * self.input_per_m + read * cached + write * wrote
        return (usd + completion_tokens * self.output_per_m) / 1e6

    def batch(self, info: dict[str, Any] | None = None) -> Price:
        """The batch APIs' price: LiteLLM's ``*_batches`` rates where ``info`` (its map
        entry) has them, else half of each rate (both OpenAI and Anthropic bill batches at
        half price, and Anthropic's cache discounts stack with it)."""
        info = info or {}

        def rate(key: str, sync: float | None) -> float | None:
            val = info.get(key)
            if isinstance(val, (int, float)):
                return float(val) * 1e6
            return None if sync is None else sync / 2

        return Price(
            rate("input_cost_per_token_batches", self.input_per_m) or 0.0,
            rate("output_cost_per_token_batches", self.output_per_m) or 0.0,
            rate("cache_read_input_token_cost_batches", self.cached_per_m),
            rate("cache_creation_input_token_cost_batches", self.cache_write_per_m),
        )


_PRICES: dict[str, Price] = {}
_WINDOWS: dict[str, int] = {}
# Our own providers (mock, local models) cost nothing per token.
_FREE_PREFIXES = ("mock", "local")
MOCK_CONTEXT_WINDOW = 32_768
_quieted = False


def litellm() -> Any:
    """Import LiteLLM lazily, offline, quietly (import costs seconds and RSS)."""
    from generator.config import apply_offline_defaults

    apply_offline_defaults()
    import litellm as _litellm

    global _quieted
    if not _quieted:
        _litellm.suppress_debug_info = True
        # LiteLLM builds its pydantic models lazily (at whichever call comes first) and
        # pydantic then warns about their ReadOnly TypedDict items: noise for our users.
        warnings.filterwarnings(
            "ignore", message=r".*(is|are) using the `ReadOnly` qualifier", category=UserWarning
        )
        _quieted = True
    return _litellm


def register_price(
    model: str, input_per_m: float, output_per_m: float, cached_per_m: float | None = None
) -> None:
    """Set the price of ``model`` in USD per 1M input / output tokens, and optionally per 1M
    input tokens read from the provider's prompt cache (wins over LiteLLM's)."""
    if input_per_m < 0 or output_per_m < 0 or (cached_per_m or 0) < 0:
        raise ValueError("prices must be >= 0")
    cached = None if cached_per_m is None else float(cached_per_m)
    _PRICES[model] = Price(float(input_per_m), float(output_per_m), cached)


def register_context_window(model: str, tokens: int) -> None:
    """Set the context window (input tokens) of ``model`` (wins over LiteLLM's map)."""
    if tokens <= 0:
        raise ValueError("context window must be > 0")
    _WINDOWS[model] = int(tokens)


def clear_overrides() -> None:
    """Forget registered prices and windows (tests)."""
    _PRICES.clear()
    _WINDOWS.clear()


def _base(model: str) -> str:
    return model.split("?", 1)[0]


def _info(model: str) -> dict[str, Any] | None:
    """LiteLLM's model info; None for a model its bundled map does not know (entries we
    made for :func:`call_pricing` do not count)."""
    if _base(model) in _ENTERED:
        return None
    return _map_info(model)


@functools.lru_cache(maxsize=256)
def _map_info(model: str) -> dict[str, Any] | None:
    """LiteLLM's model info (cached: asked for every call's cost)."""
    try:
        return dict(litellm().get_model_info(_base(model)))
    except Exception:  # unmapped models raise (several exception types): unknown
        return None


def supports_response_schema(model: str) -> bool:
    """LiteLLM's ``supports_response_schema`` for ``model``, as it answered before
    :func:`call_pricing` entered the model in its map (an entry of ours is no knowledge)."""
    base = _base(model)
    if base in _SCHEMA_SUPPORT:
        return _SCHEMA_SUPPORT[base]
    try:
        return bool(litellm().supports_response_schema(model=base))
    except Exception:  # unmapped model: LiteLLM cannot say
        return False


def price(model: str) -> Price | None:
    """The price of ``model``: registered, else LiteLLM's map, else None (unknown)."""
    base = _base(model)
    if base in _PRICES:
        return _PRICES[base]
    if provider_prefix(base) in _FREE_PREFIXES:
        return Price(0.0, 0.0)
    info = _info(base)
    if not info:
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if inp is None and out is None:
        return None
    read, write = (
        info.get("cache_read_input_token_cost"),
        info.get("cache_creation_input_token_cost"),
    )
    return Price(
        float(inp or 0.0) * 1e6,
        float(out or 0.0) * 1e6,
        None if read is None else float(read) * 1e6,
        None if write is None else float(write) * 1e6,
    )


def batch_price(model: str) -> Price | None:
    """The price of ``model`` through a provider's batch API (:meth:`Price.batch`)."""
    p = price(model)
    if p is None:
        return None
    base = _base(model)
    return p.batch(None if base in _PRICES else _info(base))


# LiteLLM checks every reply it prices at 0 for a missing price ("zero-cost diagnostic": a
# second search of its map, about a tenth of its CPU per call). A price this small is never
# 0 to it and is nothing in any total; we never read LiteLLM's figure where it applies.
_NOT_FREE = 1e-15  # USD per token
PRICING_KEYWORDS = ("input_cost_per_token", "output_cost_per_token")
# Models missing from LiteLLM's bundled map that call_pricing entered in it (name -> prices
# per token), in this process.
_ENTERED: dict[str, tuple[float, float]] = {}
_SCHEMA_SUPPORT: dict[str, bool] = {}  # LiteLLM's answer for those, asked before the entry


def call_pricing(model: str, sent_as: str | None = None) -> dict[str, float]:
    """Pricing keywords for ``litellm.acompletion`` (``sent_as``: the model string sent to
    LiteLLM when it differs from the user's): the registered price; for a model missing
    from LiteLLM's map without one, a negligible price (``_NOT_FREE`` per token, the floor
    of either price); for a mapped model without one, nothing.

    LiteLLM prices every reply itself. For a model missing from its map it searches the map
    for a similar entry several times per call (building the request, pricing the reply),
    and for a reply priced at 0 it searches again to explain why: together a fifth to a
    quarter of its CPU per call (``benchmarks/bench_generate.py``). So an unmapped model is
    also entered in LiteLLM's map (``litellm.register_model``, once per process) with the
    same price: with both, LiteLLM searches nothing. We never read its figures for such a
    model (:func:`completion_cost` takes the registered price or reports the cost as
    unknown; :func:`price`, :func:`context_window` ignore the entry), so neither misreports
    anything of ours, and neither reaches the wire."""
    names = [_base(n) for n in (model, sent_as) if n]
    registered = next((_PRICES[n] for n in names if n in _PRICES), None)
    if registered is None and any(_info(n) is not None for n in names):
        return {}  # LiteLLM knows the model: its own lookup is direct
    p = registered or Price(0.0, 0.0)
    inp, out = max(p.input_per_m / 1e6, _NOT_FREE), max(p.output_per_m / 1e6, _NOT_FREE)
    _enter_in_litellm_map(names[-1], inp, out)
    return {"input_cost_per_token": inp, "output_cost_per_token": out}


def _enter_in_litellm_map(name: str, inp: float, out: float) -> None:
    if _ENTERED.get(name) == (inp, out) or provider_prefix(name) in _FREE_PREFIXES:
        return  # done, or our own provider (LiteLLM routes it to us, not by its map)
    _SCHEMA_SUPPORT.setdefault(name, supports_response_schema(name))
    _ENTERED[name] = (inp, out)
    entry = {
        "input_cost_per_token": inp,
        "output_cost_per_token": out,
        # without these LiteLLM warns on stderr that cached tokens will be priced at 0
        "cache_read_input_token_cost": inp,
        "cache_creation_input_token_cost": inp,
        "litellm_provider": provider_prefix(name),
        "mode": "chat",
    }
    litellm().register_model({name: entry})


def context_window(model: str) -> int | None:
    """Max input tokens of ``model``: registered, else LiteLLM's map, else None (unknown)."""
    base = _base(model)
    if base in _WINDOWS:
        return _WINDOWS[base]
    if provider_prefix(base) == "mock":
        return MOCK_CONTEXT_WINDOW
    info = _info(base)
    if not info:
        return None
    val = info.get("max_input_tokens") or info.get("max_tokens")
    return int(val) if val else None


def completion_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    response: Any = None,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """Cost in USD of one call; None when the price is unknown.

    A registered price is used as is (cached input tokens at its cached rate). Otherwise
    LiteLLM's ``completion_cost`` is asked (it
    knows tiered and cached-token prices); it returns None or raises for unmapped models,
    both of which mean unknown here.
    """
    base = _base(model)
    cache = (cached_tokens, cache_write_tokens)
    if base in _PRICES or provider_prefix(base) in _FREE_PREFIXES:
        p = price(base)
        return p.cost(prompt_tokens, completion_tokens, *cache) if p else None
    if response is not None and _info(base) is not None:
        # LiteLLM priced this reply already (the same call of its own completion_cost,
        # stamped on the response): asking again would double its cost-map work per call.
        stamped = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        if isinstance(stamped, (int, float)) and math.isfinite(stamped) and stamped >= 0:
            return float(stamped)
        try:
            val = litellm().completion_cost(completion_response=response, model=base)
        except Exception:  # None or raising both mean "no price" (ENVIRONMENT.md)
            val = None
        if val is not None:
            return float(val)
    p = price(base)
    return p.cost(prompt_tokens, completion_tokens, *cache) if p else None
