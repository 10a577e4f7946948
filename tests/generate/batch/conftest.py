"""The loopback server that speaks both batch APIs (``benchmarks/mock_openai_server.py``),
started per test so its batches, faults and billing are the test's own."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class BatchServer:
    port: int
    proc: subprocess.Popen[str]

    @property
    def openai_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def stats(self) -> dict[str, Any]:
        return self._call("/stats")

    def faults(self, **values: Any) -> None:
        self._call("/mock/faults", values)


@pytest.fixture
def batch_server() -> Iterator[Callable[..., BatchServer]]:
    started: list[subprocess.Popen[str]] = []

    def start(delay_s: float = 0.3) -> BatchServer:
        server = ROOT / "benchmarks" / "mock_openai_server.py"
        cmd = [sys.executable, str(server), "--latency-ms", "1", "--max-seconds", "240",
               "--batch-delay-s", str(delay_s)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("READY"), line
        return BatchServer(int(line.split()[1]), proc)

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)
