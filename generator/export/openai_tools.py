"""Tool checks of an OpenAI chat fine-tuning example (used by ``openai_validate.py``).

OpenAI's format for function calling: a top-level ``tools`` list of
``{"type": "function", "function": {"name", "description", "parameters"}}``; an assistant
turn's ``tool_calls`` of ``{"id", "type": "function", "function": {"name", "arguments"}}``
where ``arguments`` is a *string* of JSON; each call answered by a ``tool`` turn naming its
``tool_call_id``. Codes: ``invalid_tools`` (the list or an entry is malformed),
``invalid_tool_call`` (a call's shape, or arguments that are not a JSON object in a string),
``unknown_function`` (a call to a function the example's ``tools`` does not define),
``invalid_arguments`` (arguments not valid against that function's ``parameters`` schema),
``unknown_tool_call_id`` (a tool turn answering no earlier call), ``unanswered_tool_call``
(the conversation moves on before a call's result; a call the example ends on is fine).
"""

from __future__ import annotations

import json
from typing import Any

from generator.generate.tools import argument_errors


def _functions(tools: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Function name -> parameters schema, and the problems of the ``tools`` list."""
    if tools is None:
        return {}, []
    if not isinstance(tools, list):
        return {}, [("invalid_tools", "tools must be a list")]
    found: dict[str, Any] = {}
    errors = []
    for i, tool in enumerate(tools, start=1):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            errors.append(("invalid_tools", f'tool {i} is not {{"type": "function", "function"}}'))
            continue
        name, params = fn.get("name"), fn.get("parameters", {"type": "object"})
        if not isinstance(name, str) or not name:
            errors.append(("invalid_tools", f"tool {i} has no function name"))
        elif not isinstance(params, dict):
            errors.append(("invalid_tools", f"tool {i} ({name}): parameters is not an object"))
        else:
            found[name] = params
    return found, errors


def _call_errors(at: str, call: Any, functions: dict[str, Any], has_tools: bool) -> list:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or not isinstance(fn, dict) or call.get("type") != "function":
        return [("invalid_tool_call", f'{at}: not {{"id", "type": "function", "function"}}')]
    if not isinstance(call.get("id"), str) or not call["id"]:
        return [("invalid_tool_call", f"{at}: no id")]
    name, raw = fn.get("name"), fn.get("arguments")
    if not isinstance(raw, str):
        return [("invalid_tool_call", f"{at}: arguments must be a string of JSON")]
    try:
        args = json.loads(raw)
    except ValueError:
        return [("invalid_tool_call", f"{at}: arguments are not valid JSON")]
    if not isinstance(args, dict):
        return [("invalid_tool_call", f"{at}: arguments must encode a JSON object")]
    if has_tools and name not in functions:
        return [("unknown_function", f"{at}: {name!r} is not among the example's tools")]
    if name in functions:
        errors = argument_errors(functions[name], args)
        if errors:
            return [("invalid_arguments", f"{at} ({name}): {errors[0]}")]
    return []


def tool_errors(example: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, message) of every tool problem of one example (see the module docstring)."""
    functions, errors = _functions(example.get("tools"))
    has_tools = "tools" in example
    open_calls: list[str] = []
    for i, m in enumerate(example.get("messages") or [], start=1):
        if not isinstance(m, dict):
            continue
        if m.get("role") in ("user", "assistant", "system") and open_calls:
            # a call the example ends on may go unanswered (it teaches the call itself);
            # a conversation that moves on must have its results first
            errors += [
                ("unanswered_tool_call", f"call {cid!r} has no tool message before message {i}")
                for cid in open_calls
            ]
            open_calls = []
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list) or not calls:
                errors.append(("invalid_tool_call", f"message {i}: tool_calls must be a list"))
                continue
            for j, call in enumerate(calls, start=1):
                found = _call_errors(f"message {i} call {j}", call, functions, has_tools)
                errors += found
                cid = call.get("id") if isinstance(call, dict) else None
                if isinstance(cid, str) and cid:  # its result is not a second fault
                    open_calls.append(cid)
        if m.get("role") == "tool":
            cid = m.get("tool_call_id")
            if cid not in open_calls:
                errors.append(
                    ("unknown_tool_call_id", f"message {i} answers {cid!r}, no earlier call")
                )
            else:
                open_calls.remove(cid)
    return errors
