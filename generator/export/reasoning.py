"""``export --keep-reasoning``: a model's reasoning put into the exported example, in the
place the target's trainers read it; never without the flag.

Generation always keeps a reasoning model's thinking (LiteLLM's ``reasoning_content``,
Anthropic thinking blocks, ``<think>`` in the text) apart from the answer: in the journal and
in the record's ``meta.reasoning``, never in the record's fields. On export it goes:

- ``trl-chat``: a ``reasoning_content`` field on the final assistant turn (what the chat
  templates of reasoning models, Qwen3 and DeepSeek-R1 among them, read);
- ``sharegpt``, ``parquet`` (chat), ``alpaca``, ``alpaca-json``, ``prompt-completion``:
  ``<think>\\n...\\n</think>\\n\\n`` before the answer (the final assistant turn's text, the
  output or the completion), the layout LLaMA-Factory's and axolotl's reasoning templates and
  R1-style distillation sets use;
- ``openai-chat``: refused (exit 2): OpenAI's fine-tuning format has no reasoning field and
  rejects unknown keys, and ``<think>`` text would be trained as part of the answer.

A record's reasoning is what the model thought while writing that reply; a reply that held
several records (``records_per_call`` above 1) shares one trace between them
(``meta.reasoning_shared``), which the export counts and warns about.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from generator.errors import ConfigError

Row = dict[str, Any]
STYLES = ("field", "think", "none")


def check_style(fmt: str, style: str) -> None:
    """Refuse ``--keep-reasoning`` for a format with no place for reasoning."""
    if style == "none":
        raise ConfigError(
            f"--keep-reasoning: --format {fmt} has no place for reasoning (its trainers reject "
            "extra fields, and <think> text would be trained as the answer); export trl-chat "
            "(reasoning_content) or sharegpt (<think>) instead"
        )


def _think(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{answer}"


def add_reasoning(data: Row, reasoning: str, style: str) -> Row:
    """``data`` (a converted example: chat, alpaca or completion fields) with ``reasoning``
    placed as ``style`` says; a copy, the input is not changed."""
    if "messages" in data:
        messages = [dict(m) for m in data["messages"]]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        if style == "field":
            messages[last]["reasoning_content"] = reasoning.strip()
        else:
            messages[last]["content"] = _think(reasoning, messages[last].get("content") or "")
        return {**data, "messages": messages}
    key = next((k for k in ("output", "completion") if k in data), None)
    if key is None:  # not a format with an answer to put it before
        raise ConfigError("--keep-reasoning: this format has no answer field for reasoning")
    return {**data, key: _think(reasoning, data[key])}


def exported_meta(meta: Row, keep_reasoning: bool) -> Row:
    """A record's meta for the sidecar or parquet column: its reasoning stays out unless
    --keep-reasoning put it into the examples (``meta`` is a fresh dump: changed in place)."""
    if not keep_reasoning:
        meta.pop("reasoning", None)
        meta.pop("reasoning_shared", None)
    return meta


def reasoning_warnings(n_exported: int, counts: Counter[str]) -> list[str]:
    """What --keep-reasoning could not do: records without reasoning, shared traces."""
    out = []
    if counts["with"] < n_exported:
        out.append(
            f"--keep-reasoning: {n_exported - counts['with']} of {n_exported} exported "
            "records have no reasoning (their model returned none)"
        )
    if counts["shared"]:
        out.append(
            f"--keep-reasoning: {counts['shared']} records share one reply's reasoning with "
            "other records (records_per_call > 1); a template with records_per_call: 1 gives "
            "each record its own trace"
        )
    return out
