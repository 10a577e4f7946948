"""A loopback-only OpenAI-compatible chat server with a fixed latency, for benchmarks.

``python benchmarks/mock_openai_server.py --latency-ms 200 [--port 0] [--max-seconds 900]``
prints ``READY <port>`` once listening on 127.0.0.1. ``POST /v1/chat/completions`` waits the
latency (asyncio, so concurrent requests overlap) and answers with schema-valid records built
from the request's document block by the same code as the ``mock/`` provider. It binds to
127.0.0.1 only and exits after ``--max-seconds`` (bounded), or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from generator.providers.mock_records import build_reply


def _schema(body: dict) -> dict | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


def make_app(latency_s: float) -> web.Application:
    stats = {"requests": 0}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        messages = body.get("messages") or []
        await asyncio.sleep(latency_s)
        digest = hashlib.sha256(json.dumps(messages).encode()).hexdigest()
        text = build_reply(messages, _schema(body), digest)
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
        stats["requests"] += 1
        reply = {
            "id": f"chatcmpl-{digest[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            # Tokens approximated (4 characters a token): counting exactly would cost the
            # server CPU that the client under test shares on this machine.
            "usage": {
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": len(text) // 4,
                "total_tokens": (prompt_chars + len(text)) // 4,
            },
        }
        return web.json_response(reply)

    async def count(_: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", count)
    return app


async def serve(latency_ms: float, port: int, max_seconds: float) -> None:
    runner = web.AppRunner(make_app(latency_ms / 1000.0), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        print("mock server: --max-seconds reached, exiting", file=sys.stderr)
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    args = ap.parse_args()
    asyncio.run(serve(args.latency_ms, args.port, args.max_seconds))


if __name__ == "__main__":
    main()
