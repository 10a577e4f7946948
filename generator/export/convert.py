"""Conversions between record formats for export, refusing any that would lose content.

Rules (each keeps every character of the record's text, or refuses):

* alpaca -> chat: ``user`` = instruction, then a blank line, then the input when there is
  one (the same join Alpaca's own prompt makes between its sections); ``assistant`` = output.
  ``--system-prompt`` adds a leading ``system`` message.
* completion -> chat: ``user`` = prompt, ``assistant`` = completion.
* chat -> alpaca / completion: only a single exchange (one user turn, one assistant turn).
  Alpaca and completion have no place for a system message, so a record's system message is
  refused as lossy, unless it is exactly the ``--system-prompt`` you declare: then it is the
  system prompt your trainer adds back, nothing is lost, and the manifest records it.
* alpaca <-> completion: prompt = instruction (+ blank line + input); completion = output.
* chat -> chat: a record's own system message always wins over ``--system-prompt``, which is
  added only to conversations that have none. OpenAI's extras (``tools``, and ``name``,
  ``weight``, ``tool_calls``, ``tool_call_id`` on turns, ``tool`` turns) are carried along;
  a format without a place for them refuses such a record (:func:`plain_messages`).

A refused conversion is a per-record exclusion (``LossyConversion`` with the reason), not an
error for the whole export: one multi-turn chat should not stop 5,000 single-turn ones. The
export command turns "every record refused" into a usage error (exit 2).
"""

from __future__ import annotations

from typing import Any

from generator.records import AlpacaRecord, ChatRecord, CompletionRecord, Record

Row = dict[str, Any]
TARGETS = ("alpaca", "chat", "completion")


class LossyConversion(Exception):
    """The record cannot be expressed in the target format without losing content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def join_instruction(instruction: str, input_text: str) -> str:
    """Instruction and input as one user turn, separated by a blank line."""
    return f"{instruction}\n\n{input_text}" if input_text.strip() else instruction


def _same(a: str, b: str | None) -> bool:
    return b is not None and a.strip() == b.strip()


def _single_exchange(record: ChatRecord, target: str, system_prompt: str | None) -> tuple[str, str]:
    """(user, assistant) of a one-exchange conversation, or LossyConversion."""
    if record.openai_extras():
        raise LossyConversion(
            f"chat -> {target}: the conversation has tools, tool calls, names or weights, "
            f"which {target} cannot hold (export it as openai-chat)"
        )
    msgs = list(record.messages)
    if msgs and msgs[0].role == "system":
        if not _same(msgs[0].content, system_prompt):
            raise LossyConversion(
                f"chat -> {target}: the record has a system message and {target} has no field "
                "for it (declare it with --system-prompt if your trainer adds that exact text)"
            )
        msgs = msgs[1:]
    roles = [m.role for m in msgs]
    if roles != ["user", "assistant"]:
        users = roles.count("user")
        what = f"{users} user turns" if users != 1 else f"turns {'/'.join(roles)}"
        raise LossyConversion(
            f"chat -> {target}: only a single user/assistant exchange converts; this "
            f"conversation has {what}"
        )
    return msgs[0].content or "", msgs[1].content or ""


_PLAIN = {"role", "content"}


def plain_messages(row: Row, fmt: str) -> list[Row]:
    """The ``{role, content}`` turns of a chat row, or LossyConversion when the row has
    OpenAI extras that ``fmt`` has no place for."""
    if "tools" in row or any(set(m) - _PLAIN or m["role"] == "tool" for m in row["messages"]):
        raise LossyConversion(
            f"chat -> {fmt}: the conversation has tools, tool calls, names or weights, which "
            f"{fmt} cannot hold (export it as openai-chat)"
        )
    return row["messages"]


def to_chat(record: Record, system_prompt: str | None = None) -> Row:
    """The record as ``{"messages": [...]}`` (roles system/user/assistant)."""
    if isinstance(record, ChatRecord):
        messages = [m.model_dump(mode="json") for m in record.messages]
        if system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": system_prompt})
        row: Row = {"messages": messages}
        if record.tools is not None:
            row["tools"] = record.tools
        return row
    if isinstance(record, AlpacaRecord):
        user, assistant = join_instruction(record.instruction, record.input), record.output
    else:
        user, assistant = record.prompt, record.completion
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return {
        "messages": [
            *head,
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def to_alpaca(record: Record, system_prompt: str | None = None) -> Row:
    """The record as ``{"instruction", "input", "output"}``."""
    if isinstance(record, AlpacaRecord):
        return {"instruction": record.instruction, "input": record.input, "output": record.output}
    if isinstance(record, CompletionRecord):
        return {"instruction": record.prompt, "input": "", "output": record.completion}
    user, assistant = _single_exchange(record, "alpaca", system_prompt)
    return {"instruction": user, "input": "", "output": assistant}


def to_completion(record: Record, system_prompt: str | None = None) -> Row:
    """The record as ``{"prompt", "completion"}``."""
    if isinstance(record, CompletionRecord):
        return {"prompt": record.prompt, "completion": record.completion}
    if isinstance(record, AlpacaRecord):
        return {
            "prompt": join_instruction(record.instruction, record.input),
            "completion": record.output,
        }
    user, assistant = _single_exchange(record, "completion", system_prompt)
    return {"prompt": user, "completion": assistant}


_CONVERTERS = {"alpaca": to_alpaca, "chat": to_chat, "completion": to_completion}


def convert(record: Record, target: str, system_prompt: str | None = None) -> Row:
    """The record's content in ``target`` format (no ``meta``), or ``LossyConversion``."""
    if record.FORMAT not in TARGETS or target not in _CONVERTERS:  # pairs and eval items
        if target == record.FORMAT:
            return {k: v for k, v in record.to_dict().items() if k != "meta"}
        if target in TARGETS or target in ("preference", "eval"):
            raise LossyConversion(f"{record.FORMAT} -> {target}: a different kind of data")
        raise ValueError(f"unknown target format {target!r} (known: {', '.join(TARGETS)})")
    return _CONVERTERS[target](record, system_prompt)
