"""The batch APIs of OpenAI (Files + Batches) and Anthropic (Message Batches), on loopback,
for ``mock_openai_server.py`` (benchmarks and tests).

A batch is ``in_progress`` for ``delay_s`` after it is created; the first poll after that
runs every request line through the same reply builder as the chat endpoint and ends the
batch (OpenAI: output and error files; Anthropic: results). Faults, set at start or with
``POST /mock/faults`` (JSON; ``delay_s`` too): ``expire`` (share of requests left unrun: the batch
expires), ``errors`` (share answered with a 500), ``malformed`` (result lines replaced by
garbage), ``fail_polls`` (the next N polls answer 500), ``fail_batch`` (the next batch
fails validation). Shares are decided by the request's hash and the batch id, so they are
reproducible and a request asked again in another batch may fare differently.

Billing is counted per request body (``GET /stats``): ``billed`` requests answered (an
answer whose result line is garbled was still paid), and ``paid_twice``: bodies answered
more than once (a request paid twice). Expired and errored requests are not billed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Reply = Callable[[bytes, str], bytes]  # (chat request body, digest) -> chat.completion body
PREFIX_CACHE_MIN = 1024  # tokens: providers cache a prompt prefix from this size on


@dataclass
class Faults:
    expire: float = 0.0
    errors: float = 0.0
    malformed: float = 0.0
    fail_polls: int = 0
    fail_batch: int = 0


@dataclass
class _Batch:
    id: str
    kind: str  # openai | anthropic
    lines: list[bytes]
    created: float
    input_file_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    state: str = "in_progress"
    out: list[bytes] = field(default_factory=list)
    err: list[bytes] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    cancel_requested: bool = False
    error: str | None = None


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


def canonical_digest(body: dict[str, Any]) -> str:
    """What a reply depends on: the messages and the reply schema (not how a client
    serialised them), so a request sent alone or in a batch gets the same reply."""
    key = {"messages": body.get("messages") or [], "schema": schema_of(body)}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _share(digest: str, salt: str) -> float:
    return int(hashlib.sha256((salt + digest).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def cached_prefix_tokens(messages: list[dict[str, Any]]) -> int:
    """Tokens a provider would read from its prompt cache: the system prompt, if long
    enough, in 128-token steps (OpenAI's rule), 4 characters a token."""
    if not messages or messages[0].get("role") != "system":
        return 0
    content = messages[0].get("content")
    if isinstance(content, list):
        content = "".join(str(b.get("text") or "") for b in content)
    tokens = len(str(content or "")) // 4
    return tokens // 128 * 128 if tokens >= PREFIX_CACHE_MIN else 0


def _multipart_file(body: bytes) -> bytes:
    boundary = body.split(b"\r\n", 1)[0]
    for part in body.split(boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    raise ValueError("no file part")


class BatchAPI:
    """Routes for both batch APIs; ``reply`` builds a chat.completion for a request body."""

    def __init__(self, reply: Reply, delay_s: float = 1.0, faults: Faults | None = None) -> None:
        self.reply, self.delay_s = reply, delay_s
        self.faults = faults or Faults()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.billed: Counter[str] = Counter()
        self.stats = {"batches_created": 0, "polls": 0, "cancels": 0}

    def summary(self) -> dict[str, Any]:
        return {
            **self.stats,
            "billed": sum(self.billed.values()),
            "paid_twice": sum(1 for n in self.billed.values() if n > 1),
        }

    # ---------------------------------------------------------------- routing
    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, bytes] | None:
        """The answer, or None when ``path`` is not a batch route."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and path == "/mock/faults":
            for k, v in json.loads(raw).items():
                if k == "delay_s":
                    self.delay_s = float(v)
                else:
                    setattr(self.faults, k, type(getattr(self.faults, k))(v))
            return 200, b"{}"
        if path.startswith("/v1/messages/batches"):
            return self._anthropic(method, path, raw)
        if path == "/v1/files" and method == "POST":
            return self._upload(raw)
        if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
            data = self.files.get(m.group(1))
            return (200, data) if data is not None else (404, b'{"error": {"message": "no file"}}')
        if path.startswith("/v1/batches"):
            return self._openai(method, path, raw)
        return None

    def _new_file(self, data: bytes) -> str:
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = data
        return fid

    def _upload(self, raw: bytes) -> tuple[int, bytes]:
        data = _multipart_file(raw)
        fid = self._new_file(data)
        obj = {
            "id": fid,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": "batch.jsonl",
            "purpose": "batch",
            "status": "processed",
        }
        return 200, json.dumps(obj).encode()

    def _create(self, kind: str, lines: list[bytes], **kw: Any) -> _Batch:
        self.stats["batches_created"] += 1
        prefix = "batch" if kind == "openai" else "msgbatch"
        b = _Batch(f"{prefix}_{len(self.batches) + 1}", kind, lines, time.time(), **kw)
        if self.faults.fail_batch:
            self.faults.fail_batch -= 1
            b.state, b.error = "failed", "invalid_request: the file is not valid"
        self.batches[b.id] = b
        return b

    def _poll(self, b: _Batch) -> tuple[int, bytes] | None:
        self.stats["polls"] += 1
        if self.faults.fail_polls:
            self.faults.fail_polls -= 1
            return 500, b'{"error": {"message": "internal error", "type": "server_error"}}'
        if b.state == "in_progress" and (
            b.cancel_requested or time.time() >= b.created + self.delay_s
        ):
            self._run(b)
        return None

    # ---------------------------------------------------------------- running
    def _run(self, b: _Batch) -> None:
        expired = 0
        for n, line in enumerate(b.lines):
            req = json.loads(line)
            cid = req["custom_id"]
            body = req["body"] if b.kind == "openai" else self._as_chat(req["params"])
            digest = canonical_digest(body)
            if b.cancel_requested and n >= len(b.lines) // 2:
                b.counts["canceled"] += 1
                if b.kind == "anthropic":
                    b.out.append(
                        json.dumps({"custom_id": cid, "result": {"type": "canceled"}}).encode()
                    )
                continue
            if _share(digest, "expire" + b.id) < self.faults.expire:
                expired += 1
                b.counts["expired"] += 1
                (b.out if b.kind == "anthropic" else b.err).append(
                    self._lost(b.kind, cid, "expired")
                )
                continue
            if _share(digest, "errors" + b.id) < self.faults.errors:
                b.counts["errored"] += 1  # not billed: providers bill answered requests
                (b.err if b.kind == "openai" else b.out).append(self._error(b.kind, cid))
                continue
            self.billed[digest] += 1
            b.counts["succeeded"] += 1
            ok = self._answer(b.kind, cid, body, digest)
            if _share(digest, "malformed" + b.id) < self.faults.malformed:
                ok = b'{"custom_id": "' + cid.encode() + b'", "response": {"status_co'
            b.out.append(ok)
        b.state = "cancelled" if b.cancel_requested else "expired" if expired else "completed"

    def _answer(self, kind: str, cid: str, body: dict[str, Any], digest: str) -> bytes:
        if kind == "openai":
            chat = json.loads(self.reply(json.dumps(body).encode(), digest))
            cached = cached_prefix_tokens(body.get("messages") or [])
            chat["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
            resp = {"status_code": 200, "request_id": f"req_{digest[:8]}", "body": chat}
            return json.dumps(
                {"id": f"br_{digest[:8]}", "custom_id": cid, "response": resp, "error": None}
            ).encode()
        messages = body["messages"]
        tools = body.pop("tools", [])
        chat = json.loads(self.reply(json.dumps(body).encode(), digest))
        text = chat["choices"][0]["message"]["content"]
        usage = chat["usage"]
        cached = cached_prefix_tokens(messages)
        if tools:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{digest[:8]}",
                    "name": tools[0]["name"],
                    "input": json.loads(text),
                }
            ]
        else:
            content = [{"type": "text", "text": text}]
        msg = {
            "id": f"msg_{digest[:8]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": "tool_use" if tools else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage["prompt_tokens"] - cached,
                "output_tokens": usage["completion_tokens"],
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
            },
        }
        return json.dumps(
            {"custom_id": cid, "result": {"type": "succeeded", "message": msg}}
        ).encode()

    @staticmethod
    def _as_chat(params: dict[str, Any]) -> dict[str, Any]:
        """Anthropic parameters as the chat request a synchronous call would send."""
        system = params.get("system") or []
        if isinstance(system, list):
            system = "".join(b.get("text", "") for b in system)
        messages = [{"role": "system", "content": system}] if system else []
        body: dict[str, Any] = {
            "model": params.get("model"),
            "messages": messages + list(params.get("messages") or []),
        }
        tools = params.get("tools") or []
        if tools:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"schema": tools[0]["input_schema"]},
            }
            body["tools"] = tools
        return body

    @staticmethod
    def _lost(kind: str, cid: str, why: str) -> bytes:
        if kind == "anthropic":
            return json.dumps({"custom_id": cid, "result": {"type": why}}).encode()
        err = {"code": f"batch_{why}", "message": f"This request could not be executed ({why})."}
        return json.dumps({"id": "br_x", "custom_id": cid, "response": None, "error": err}).encode()

    @staticmethod
    def _error(kind: str, cid: str) -> bytes:
        if kind == "anthropic":
            err = {"type": "error", "error": {"type": "api_error", "message": "Internal error"}}
            return json.dumps(
                {"custom_id": cid, "result": {"type": "errored", "error": err}}
            ).encode()
        resp = {
            "status_code": 500,
            "request_id": "req_x",
            "body": {"error": {"message": "The server had an error", "type": "server_error"}},
        }
        return json.dumps(
            {"id": "br_x", "custom_id": cid, "response": resp, "error": None}
        ).encode()

    # ---------------------------------------------------------------- OpenAI
    def _openai_obj(self, b: _Batch) -> dict[str, Any]:
        if b.state in ("completed", "expired", "cancelled") and b.out and "out" not in b.metadata:
            b.metadata["out"] = self._new_file(b"\n".join(b.out) + b"\n")
        if b.state in ("completed", "expired", "cancelled") and b.err and "err" not in b.metadata:
            b.metadata["err"] = self._new_file(b"\n".join(b.err) + b"\n")
        status = "cancelling" if b.cancel_requested and b.state == "in_progress" else b.state
        errors = {"object": "list", "data": [{"code": "invalid_request", "message": b.error}]}
        return {
            "id": b.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": errors if b.error else None,
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": status,
            "created_at": int(b.created),
            "output_file_id": b.metadata.get("out"),
            "error_file_id": b.metadata.get("err"),
            "request_counts": {
                "total": len(b.lines),
                "completed": b.counts["succeeded"],
                "failed": b.counts["errored"] + b.counts["expired"],
            },
            "metadata": {k: v for k, v in b.metadata.items() if k not in ("out", "err")},
        }

    def _openai(self, method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if method == "POST" and path == "/v1/batches":
            req = json.loads(raw)
            data = self.files.get(req["input_file_id"])
            if data is None:
                return 404, b'{"error": {"message": "no such file"}}'
            b = self._create(
                "openai",
                [x for x in data.splitlines() if x.strip()],
                input_file_id=req["input_file_id"],
                metadata=dict(req.get("metadata") or {}),
            )
            return 200, json.dumps(self._openai_obj(b)).encode()
        if method == "GET" and path == "/v1/batches":
            data = [
                self._openai_obj(b) for b in reversed(self.batches.values()) if b.kind == "openai"
            ]
            page = {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            return 200, json.dumps(page).encode()
        m = re.fullmatch(r"/v1/batches/([\w-]+)(/cancel)?", path)
        b = self.batches.get(m.group(1)) if m else None
        if b is None:
            return 404, b'{"error": {"message": "no such batch"}}'
        if m and m.group(2):
            self.stats["cancels"] += 1
            b.cancel_requested = True
        elif (fault := self._poll(b)) is not None:
            return fault
        return 200, json.dumps(self._openai_obj(b)).encode()

    # ---------------------------------------------------------------- Anthropic
    def _anthropic_obj(self, b: _Batch) -> dict[str, Any]:
        ended = b.state != "in_progress"
        c = b.counts
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(b.created))
        processing = 0 if ended else len(b.lines)
        return {
            "id": b.id,
            "type": "message_batch",
            "processing_status": "ended"
            if ended
            else "canceling"
            if b.cancel_requested
            else "in_progress",
            "request_counts": {
                "processing": processing,
                "succeeded": c["succeeded"],
                "errored": c["errored"],
                "canceled": c["canceled"],
                "expired": c["expired"],
            },
            "ended_at": iso if ended else None,
            "created_at": iso,
            "expires_at": iso,
            "cancel_initiated_at": iso if b.cancel_requested else None,
            "archived_at": None,
            "results_url": f"/v1/messages/batches/{b.id}/results" if ended else None,
        }

    def _anthropic(self, method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if method == "POST" and path == "/v1/messages/batches":
            reqs = json.loads(raw)["requests"]
            b = self._create("anthropic", [json.dumps(r).encode() for r in reqs])
            return 200, json.dumps(self._anthropic_obj(b)).encode()
        if method == "GET" and path == "/v1/messages/batches":
            data = [
                self._anthropic_obj(b)
                for b in reversed(self.batches.values())
                if b.kind == "anthropic"
            ]
            page = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            return 200, json.dumps(page).encode()
        m = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/cancel|/results)?", path)
        b = self.batches.get(m.group(1)) if m else None
        if b is None or b.kind != "anthropic":
            return 404, b'{"type": "error", "error": {"type": "not_found_error", "message": "no"}}'
        tail = m.group(2) if m else None
        if tail == "/results":
            return 200, b"\n".join(b.out) + b"\n"
        if tail == "/cancel":
            self.stats["cancels"] += 1
            b.cancel_requested = True
        elif (fault := self._poll(b)) is not None:
            return fault
        return 200, json.dumps(self._anthropic_obj(b)).encode()
