"""Token-length filter: min/max tokens per field and the whole example against the target
model's context, counted offline with the target model's tokenizer (``generator.tokens``).

Defaults, and why:

- output >= 10 tokens: shorter answers ("Yes.", "See the policy.") carry too little
  information to teach anything and mostly teach terseness;
- instruction >= 3 tokens: fewer cannot state a task (Self-Instruct drops <= 3 words too);
- output <= 2,048 and instruction <= 1,024 tokens: longer generated texts are mostly loops
  or pasted sources, and exceed the sequence length most fine-tuning jobs use;
- a conversation is measured as a whole: its "instruction" is every user turn, its
  "output" every assistant turn, its example all turns (``ChatRecord``'s text methods);
- whole example <= the target model's context minus a 64-token margin for the chat
  template; without a known target model, 4,096 (a common fine-tuning sequence length).
"""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Filter
from generator.curate.registry import StepContext, register_step
from generator.records import Record
from generator.tokens import count_tokens

FIELDS = ("instruction", "input", "output")
DEFAULT_CONTEXT = 4096


def _min_defaults() -> dict[str, int]:
    return {"instruction": 3, "input": 0, "output": 10}


def _max_defaults() -> dict[str, int]:
    return {"instruction": 1024, "input": 4096, "output": 2048}


class LengthConfig(BaseModel):
    """``length:`` in curate.yaml (token counts)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_tokens: dict[str, int] = Field(default_factory=_min_defaults)
    max_tokens: dict[str, int] = Field(default_factory=_max_defaults)
    # None: the target model's context window (LiteLLM's map), else 4,096.
    context_tokens: int | None = Field(None, ge=16)
    context_margin: int = Field(64, ge=0)  # chat template and special tokens


def _texts(record: Record) -> dict[str, str]:
    return {
        "instruction": record.instruction_text(),
        "input": record.input_text(),
        "output": record.output_text(),
    }


def resolve_context(config: LengthConfig, model: str | None) -> int:
    """The context limit to check whole examples against."""
    if config.context_tokens is not None:
        return config.context_tokens
    if model:
        from generator.providers.model_info import context_window  # lazy: imports LiteLLM

        return context_window(model) or DEFAULT_CONTEXT
    return DEFAULT_CONTEXT


@register_step(
    "length",
    LengthConfig,
    order=20,
    factory=lambda cfg, ctx: LengthFilter(cfg, ctx),  # type: ignore[arg-type]
)
class LengthFilter(Filter):
    """Drop records whose fields or whole example fall outside the token bounds."""

    name = "length"

    def __init__(self, config: LengthConfig | None = None, ctx: StepContext | None = None) -> None:
        super().__init__()
        self.config = config or LengthConfig()
        unknown = (set(self.config.min_tokens) | set(self.config.max_tokens)) - set(FIELDS)
        if unknown:
            from generator.errors import ConfigError

            raise ConfigError(f"length: unknown fields {sorted(unknown)}; known: {FIELDS}")
        self.model = ctx.target_model if ctx else None

    @cached_property
    def context(self) -> int:
        return resolve_context(self.config, self.model)

    def keep(self, record: Record) -> bool | tuple[bool, str]:
        counts = {f: count_tokens(t, self.model) for f, t in _texts(record).items()}
        counts["example"] = count_tokens(record.example_text(), self.model)
        self.annotate(record, tokens=counts)
        for field in FIELDS:
            if counts[field] < self.config.min_tokens.get(field, 0):
                return False, f"too_short:{field}"
            limit = self.config.max_tokens.get(field)
            if limit is not None and counts[field] > limit:
                return False, f"too_long:{field}"
        if counts["example"] > self.context - self.config.context_margin:
            return False, "exceeds_context"
        return True
