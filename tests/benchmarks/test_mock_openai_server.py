"""The benchmarks' OpenAI-compatible server: real HTTP/1.1 clients (LiteLLM through our
provider, raw sockets) get well-formed replies, in order, on kept-alive connections."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.providers import CompletionRequest, get_provider
from tests.providers.test_wire import SCHEMA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "mock_openai_server.py"),
         "--latency-ms", "20", "--max-seconds", "120"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("READY"), line
        yield int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(10)


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def _stats(port: int) -> dict:
    raw = _exchange(port, b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def _post(body: dict, close: bool = False) -> bytes:
    data = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode() + data


def test_litellm_calls_get_records_the_pipeline_parses(port: int) -> None:
    base = f"http://127.0.0.1:{port}/v1"
    provider = get_provider("openai/bench-server-test", api_base=base)
    doc = "The pump must be primed before use. Never run the pump dry for long."

    async def calls() -> list:
        reqs = [
            CompletionRequest(
                model="openai/bench-server-test",
                messages=[{"role": "user", "content": f"<document>{doc}</document> {n} records"}],
                json_schema=SCHEMA,
                api_base=base,
            )
            for n in (2, 3, 2, 3)
        ]
        return await asyncio.gather(*(provider.complete(r) for r in reqs))

    for completion, n in zip(asyncio.run(calls()), (2, 3, 2, 3), strict=True):
        records = json.loads(completion.text)["records"]
        assert len(records) == n
        assert all(r["output"] in doc for r in records)
        assert completion.usage.prompt_tokens > 0


def test_kept_alive_requests_are_answered_in_order_and_counted(port: int) -> None:
    before = _stats(port)
    bodies = [
        {
            "model": "m",
            "messages": [{"role": "user", "content": f"<document>{text}</document> 1 record"}],
        }
        for text in ("Alpha beta gamma delta epsilon.", "Zeta eta theta iota kappa.")
    ]
    raw = _exchange(port, _post(bodies[0]) + _post(bodies[1], close=True))
    replies = [part for part in raw.split(b"HTTP/1.1 200 OK\r\n") if part]
    assert len(replies) == 2
    texts = [
        json.loads(r.split(b"\r\n\r\n", 1)[1])["choices"][0]["message"]["content"] for r in replies
    ]
    assert "Alpha" in texts[0] and "Zeta" in texts[1]  # in request order
    after = _stats(port)
    assert after["requests"] == before["requests"] + 2


def test_a_repeated_request_gets_the_same_reply_from_the_cache(port: int) -> None:
    def ask(text: str) -> tuple[bytes, str]:
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": f"<document>{text}</document> 2 records"}],
        }
        payload = _exchange(port, _post(body, close=True)).split(b"\r\n\r\n", 1)[1]
        return payload, json.loads(payload)["choices"][0]["message"]["content"]

    before = _stats(port)
    first, text = ask("Lambda mu nu xi omicron pi. Rho sigma tau upsilon phi chi.")
    again, _ = ask("Lambda mu nu xi omicron pi. Rho sigma tau upsilon phi chi.")
    _, other_text = ask("Psi omega alpha beta gamma delta. Epsilon zeta eta theta iota.")
    after = _stats(port)
    assert again == first  # byte for byte: the reply depends on the body only
    assert "Lambda" in text and "Psi" in other_text
    assert after["requests"] == before["requests"] + 3
    assert after["cached"] == before["cached"] + 1  # the repeat only


def test_unknown_paths_and_chunked_bodies_get_clear_errors(port: int) -> None:
    assert _exchange(port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 404"
    )
    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    )
    assert _exchange(port, chunked).startswith(b"HTTP/1.1 411")
    bad = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{x}"
    assert _exchange(port, bad).startswith(b"HTTP/1.1 400")
