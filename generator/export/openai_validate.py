"""Checks of OpenAI's chat fine-tuning data-preparation guide, with line numbers.

Format checks (the guide's error types): each line is a JSON object (``data_type``);
``messages`` is a non-empty list (``missing_messages_list``); every message has ``role`` and
``content`` (``message_missing_key``); no keys beyond role, content, name, weight,
function_call, tool_calls, tool_call_id (``message_unrecognized_key``; the last answers a
call in a ``tool`` turn); the role is system, user,
assistant, function or tool (``unrecognized_role``); content is a non-empty string unless
the assistant calls a function/tool (``missing_content``); at least one assistant message
(``example_missing_assistant_message``). Also: ``weight`` is 0 or 1, no unknown top-level
keys, at least 10 examples (the API's minimum), and no example above the target model's
per-example token limit (the guide warns they are truncated, which cuts off the answer).
Tool calling (``openai_tools.py``): the ``tools`` list, each call's shape and its arguments
against the function's schema, and each ``tool`` turn answering an earlier call; the
``tools`` definitions count towards an example's tokens.

Statistics as in the guide: messages, tokens and assistant tokens per example (min, max,
mean, median, p5, p95), examples missing a system or user message and, for the training file
only, billed tokens per epoch (each example capped at the limit), the default number of epochs
OpenAI picks, and the estimated training tokens (epochs x billed tokens). A validation file is
not trained on, so it gets the checks and the distribution but no epochs or training tokens.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.export.openai_tools import tool_errors
from generator.tokens import count_tokens

MESSAGE_KEYS = ("role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id")
ROLES = ("system", "user", "assistant", "function", "tool")
TOP_KEYS = ("messages", "tools", "functions", "parallel_tool_calls")
MIN_EXAMPLES = 10
# Per-example training limits ("Training examples context length") from the "Token limits"
# table of OpenAI's fine-tuning guide, https://platform.openai.com/docs/guides/fine-tuning
# (text of late 2024, read 2026-11-25 from a public copy of the guide; Microsoft's Azure OpenAI
# fine-tuning table gives the same 65,536 for gpt-4o-mini 2024-07-18 and gpt-4o 2024-08-06).
# The guide lists dated snapshots; an undated alias takes its snapshots' figure (for
# gpt-3.5-turbo, 0125 and 1106 agree).
# gpt-4-0613 is fine-tunable but has no row in that table, and no figure was found for the
# gpt-4.1 family: those use LiteLLM's bundled context size for the model.
TRAINING_LIMITS = {
    "gpt-4o-mini-2024-07-18": 65536,
    "gpt-4o-mini": 65536,
    "gpt-4o-2024-08-06": 65536,
    "gpt-4o": 65536,
    "gpt-3.5-turbo-0125": 16385,
    "gpt-3.5-turbo-1106": 16385,
    "gpt-3.5-turbo": 16385,
    "gpt-3.5-turbo-0613": 4096,
}
DEFAULT_TARGET = "gpt-4o-mini-2024-07-18"
# The guide's default-epoch rule (OpenAI picks epochs from the dataset size).
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25000
MIN_DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS = 1, 25


@dataclass(frozen=True)
class Issue:
    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.code}: {self.message}"


TRAINING_ONLY = ("billed_tokens_per_epoch", "epochs", "epochs_source", "training_tokens")


@dataclass
class ValidationReport:
    target_model: str
    limit: int
    limit_source: str
    role: str = "training"  # "training" or "validation": which file of the fine-tuning job
    n_examples: int = 0
    errors: list[Issue] = field(default_factory=list)
    n_missing_system: int = 0
    n_missing_user: int = 0
    n_too_long: int = 0
    messages: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    assistant_tokens: dict[str, float] = field(default_factory=dict)
    # Training file only (None for a validation file, which is not trained on).
    billed_tokens_per_epoch: int | None = None
    epochs: int | None = None
    epochs_source: str | None = None
    training_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def is_training(self) -> bool:
        return self.role == "training"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["errors"] = [asdict(e) for e in self.errors]
        if not self.is_training:
            for key in TRAINING_ONLY:
                del data[key]
        return data


@cache
def _litellm_model_map() -> dict[str, Any]:
    """LiteLLM's bundled model map, read as a file: importing LiteLLM itself costs seconds
    (20 s on a busy machine here) and this needs only the context sizes."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    try:
        return json.loads((path / "model_prices_and_context_window_backup.json").read_text())
    except (OSError, ValueError):
        return {}


def training_limit(model: str) -> tuple[int, str]:
    """Per-example token limit for fine-tuning ``model`` and where the figure comes from."""
    name = model.strip().lower().removeprefix("openai/").removeprefix("ft:").split(":")[0]
    if name in TRAINING_LIMITS:
        return TRAINING_LIMITS[name], "OpenAI fine-tuning guide (token limits)"
    table = _litellm_model_map()
    info = table.get(model.strip()) or table.get(model.strip().rsplit("/", 1)[-1]) or {}
    limit = info.get("max_input_tokens") or info.get("max_tokens")
    if not isinstance(limit, int) or limit <= 0:
        raise ConfigError(
            f"--target-model {model}: no known context size (not in our fine-tuning table or "
            "LiteLLM's bundled model map)"
        )
    return limit, "LiteLLM model map (max_input_tokens)"


def default_epochs(n: int) -> int:
    """The number of epochs OpenAI picks by default for ``n`` examples (the guide's rule)."""
    if n and n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
    if n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n)
    return TARGET_EPOCHS


def _distribution(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:  # linear interpolation, as numpy.quantile's default
        pos = (len(ordered) - 1) * p
        lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
        return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 1)

    return {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": round(statistics.fmean(values), 1),
        "median": q(0.5),
        "p5": q(0.05),
        "p95": q(0.95),
    }


def _message_errors(n: int, messages: list[Any]) -> list[Issue]:
    errors = []
    for i, m in enumerate(messages, start=1):
        at = f"message {i}"
        if not isinstance(m, dict):
            errors.append(Issue(n, "message_missing_key", f"{at} is not an object"))
            continue
        if "role" not in m or "content" not in m:
            missing = [k for k in ("role", "content") if k not in m]
            errors.append(Issue(n, "message_missing_key", f"{at} has no {' or '.join(missing)}"))
        extra = sorted(k for k in m if k not in MESSAGE_KEYS)
        if extra:
            errors.append(Issue(n, "message_unrecognized_key", f"{at} has {', '.join(extra)}"))
        if m.get("role") not in ROLES:
            errors.append(Issue(n, "unrecognized_role", f"{at} has role {m.get('role')!r}"))
        content, call = m.get("content"), m.get("function_call") or m.get("tool_calls")
        if not (content is None and call) and not (isinstance(content, str) and content.strip()):
            errors.append(Issue(n, "missing_content", f"{at} content must be a non-empty string"))
        if "weight" in m and m["weight"] not in (0, 1):
            errors.append(Issue(n, "invalid_weight", f"{at} weight must be 0 or 1"))
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        errors.append(Issue(n, "example_missing_assistant_message", "no assistant message"))
    return errors


def _tokens(messages: list[dict[str, Any]], model: str) -> tuple[int, int]:
    """(tokens of the example, tokens of its assistant messages), counted as in the guide:
    3 per message, 1 more per name, 3 to prime the reply."""
    total, assistant = 3, 0
    for m in messages:
        total += 3
        for key, value in m.items():
            if key == "weight":
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            total += count_tokens(text, model) + (1 if key == "name" else 0)
        if m.get("role") == "assistant" and isinstance(m.get("content"), str):
            assistant += count_tokens(m["content"], model)
    return total, assistant


def validate_lines(
    lines: list[str],
    target_model: str = DEFAULT_TARGET,
    epochs: int | None = None,
    role: str = "training",
) -> ValidationReport:
    """Validate the lines of an ``openai-chat`` JSONL file (line numbers start at 1).
    ``role`` is ``training`` (the 10-example minimum, epochs and training tokens apply) or
    ``validation`` (format checks, token limit and distribution only)."""
    if role not in ("training", "validation"):
        raise ValueError(f"role must be 'training' or 'validation', not {role!r}")
    limit, source = training_limit(target_model)
    rep = ValidationReport(target_model, limit, source, role)
    n_msgs, lens, alens = [], [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            rep.errors.append(Issue(n, "data_type", "blank line"))
            continue
        try:
            ex = json.loads(line)
        except ValueError as exc:
            rep.errors.append(Issue(n, "data_type", f"not JSON: {exc}"))
            continue
        rep.n_examples += 1
        if not isinstance(ex, dict):
            rep.errors.append(Issue(n, "data_type", f"a {type(ex).__name__}, not an object"))
            continue
        extra = sorted(k for k in ex if k not in TOP_KEYS)
        if extra:
            rep.errors.append(Issue(n, "unrecognized_key", f"top-level {', '.join(extra)}"))
        messages = ex.get("messages")
        if not messages or not isinstance(messages, list):
            rep.errors.append(
                Issue(n, "missing_messages_list", "messages must be a non-empty list")
            )
            continue
        errors = _message_errors(n, messages)
        errors += [Issue(n, code, msg) for code, msg in tool_errors(ex)]
        rep.errors += errors
        if errors:
            continue
        roles = {m["role"] for m in messages}
        rep.n_missing_system += "system" not in roles
        rep.n_missing_user += "user" not in roles
        total, assistant = _tokens(messages, target_model)
        if ex.get("tools"):  # the definitions are part of what the model reads
            total += count_tokens(json.dumps(ex["tools"], ensure_ascii=False), target_model)
        n_msgs.append(len(messages))
        lens.append(total)
        alens.append(assistant)
        if total > limit:
            rep.n_too_long += 1
            rep.errors.append(
                Issue(
                    n,
                    "too_long",
                    f"{total} tokens > {limit} ({target_model}): it would be truncated in training",
                )
            )
    if rep.is_training and rep.n_examples < MIN_EXAMPLES:
        rep.errors.append(
            Issue(
                None,
                "too_few_examples",
                f"{rep.n_examples} examples; fine-tuning needs at least {MIN_EXAMPLES}",
            )
        )
    rep.messages, rep.tokens, rep.assistant_tokens = map(_distribution, (n_msgs, lens, alens))
    if not rep.is_training:
        return rep
    rep.billed_tokens_per_epoch = sum(min(limit, t) for t in lens)
    rep.epochs = epochs if epochs is not None else default_epochs(rep.n_examples)
    rep.epochs_source = "--epochs" if epochs is not None else "OpenAI default for this size"
    rep.training_tokens = rep.epochs * rep.billed_tokens_per_epoch
    return rep


def validate_file(
    path: Path,
    target_model: str = DEFAULT_TARGET,
    epochs: int | None = None,
    role: str = "training",
) -> ValidationReport:
    """Validate an ``openai-chat`` JSONL file (``role`` as in :func:`validate_lines`)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return validate_lines(lines, target_model, epochs, role)
