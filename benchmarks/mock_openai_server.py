"""A loopback-only OpenAI-compatible chat server with a fixed latency, for benchmarks.

``python benchmarks/mock_openai_server.py --latency-ms 200 [--port 0] [--max-seconds 900]``
prints ``READY <port>`` once listening on 127.0.0.1. ``POST /v1/chat/completions`` waits the
latency (asyncio, so concurrent requests overlap) and answers with schema-valid records built
from the request's document block by the same code as the ``mock/`` provider;
``GET /stats`` answers ``{"requests": N, ...}``. It also speaks OpenAI's and Anthropic's
batch APIs (``benchmarks/mock_batch_api.py``; ``--batch-delay-s``: how long a batch runs).
It binds to 127.0.0.1 only and exits after
``--max-seconds`` (bounded), or on SIGTERM.

The server shares the machine's cores with the clients it measures, so every millisecond it
spends is taken from them, most of all from the runs that use every core. It is therefore
plain HTTP/1.1 on an asyncio protocol (keep-alive, Content-Length bodies: what LiteLLM's
clients send) rather than a web framework, it hashes the raw body, and it answers in compact
JSON (Python's C encoder). A reply depends only on the request body (its digest seeds the
records), so replies are kept by body digest: a benchmark sends the same requests in every
configuration and repetition, and only the first of each is built (``/stats`` counts the
requests answered from this cache as ``cached``). ``bench_generate.py`` prints its CPU per
request.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.mock_batch_api import (
    BatchAPI,
    Faults,
    cached_prefix_tokens,
    canonical_digest,
    schema_of,
)
from generator.providers.mock_records import build_reply

_REASONS = {200: "OK", 404: "Not Found", 400: "Bad Request", 411: "Length Required"}
Handler = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


class HttpConnection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, each answered by ``handler``
    in its own task, replies written in request order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.previous: asyncio.Task[None] | None = None
        self._need = 0  # bytes the request being received still needs (large uploads)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) < self._need:
            return  # a large body still arriving: do not parse its head again per packet
        self._need = 0
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            method, path = [*lines[0].split(" "), "", ""][:2]
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._reply_now(411, b'{"error": "send a Content-Length body"}', close=True)
                return
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < end + 4 + length:
                self._need = end + 4 + length
                if headers.get("expect", "").lower() == "100-continue" and self.transport:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            close = headers.get("connection", "").lower() == "close"
            self.previous = asyncio.get_running_loop().create_task(
                self._answer(method, path, body, close, self.previous)
            )

    async def _answer(
        self, method: str, path: str, body: bytes, close: bool, before: asyncio.Task[None] | None
    ) -> None:
        try:
            status, payload = await self.handler(method, path, body)
        except Exception as exc:  # a bad request must not kill the server
            status, payload = 400, json.dumps({"error": str(exc)}).encode()
        if before is not None:
            await before  # replies in request order on one connection
        self._reply_now(status, payload, close)

    def _reply_now(self, status: int, payload: bytes, close: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + payload)
        if close:
            self.transport.close()


# Replies kept by request-body digest, at most this many (then the cache starts again).
MAX_CACHED = 100_000


def reply_for(raw: bytes, digest: str | None = None) -> bytes:
    """The chat.completion reply to a request body (built by the mock provider's code),
    seeded by the request's content (:func:`canonical_digest`) unless ``digest`` is given."""
    body = json.loads(raw)
    digest = digest or canonical_digest(body)
    messages = body.get("messages") or []
    text = build_reply(messages, schema_of(body), digest, indent=None)
    prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
    reply = {
        "id": f"chatcmpl-{digest[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "mock"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        # Tokens approximated (4 characters a token): counting exactly would cost the server
        # CPU that the client under test shares on this machine.
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(text) // 4,
            "total_tokens": (prompt_chars + len(text)) // 4,
            # the static prefix a provider would read from its prompt cache
            "prompt_tokens_details": {"cached_tokens": cached_prefix_tokens(messages)},
        },
    }
    return json.dumps(reply, ensure_ascii=False).encode()


def make_handler(
    latency_s: float, batch_delay_s: float = 1.0, faults: Faults | None = None
) -> Handler:
    stats = {"requests": 0, "cached": 0}
    replies: dict[bytes, bytes] = {}
    billed: dict[bytes, int] = {}

    batches = BatchAPI(reply_for, batch_delay_s, faults)

    async def handle(method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if method == "GET" and path == "/stats":
            twice = sum(1 for n in billed.values() if n > 1)
            return 200, json.dumps({**stats, "sync_paid_twice": twice,
                                    "batch": batches.summary()}).encode()  # fmt: skip
        answer = batches.handle(method, path, raw)
        if answer is not None:
            return answer
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            return 404, b'{"error": "not found"}'
        key = hashlib.sha256(raw).digest()
        billed[key] = billed.get(key, 0) + 1
        payload = replies.get(key)
        if payload is None:
            payload = reply_for(raw)  # a bad body raises: answered with a 400
            if len(replies) >= MAX_CACHED:
                replies.clear()
            replies[key] = payload
        else:
            stats["cached"] += 1
        await asyncio.sleep(latency_s)
        stats["requests"] += 1
        return 200, payload

    return handle


async def serve(
    latency_ms: float, port: int, max_seconds: float, batch_delay_s: float = 1.0
) -> None:
    loop = asyncio.get_running_loop()
    handler = make_handler(latency_ms / 1000.0, batch_delay_s)
    server = await loop.create_server(
        lambda: HttpConnection(handler), "127.0.0.1", port, backlog=2048
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        print("mock server: --max-seconds reached, exiting", file=sys.stderr)
    server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    ap.add_argument("--batch-delay-s", type=float, default=1.0, help="how long a batch runs")
    args = ap.parse_args()
    asyncio.run(serve(args.latency_ms, args.port, args.max_seconds, args.batch_delay_s))


if __name__ == "__main__":
    main()
