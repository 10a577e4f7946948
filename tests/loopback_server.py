"""A loopback OpenAI-compatible server in a thread of the test process, whose answer the test
sets: an error status with headers (a 429 with ``Retry-After``, a 401), or good replies
built by the benchmark server's code (:func:`benchmarks.mock_openai_server.reply_for`).

Subprocess tests point ``generate --model openai/NAME --api-base server.url`` at it, so every
call goes through LiteLLM and the real HTTP stack.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.mock_openai_server import reply_for


class LoopbackServer:
    """``with LoopbackServer(status=429, headers={"Retry-After": "60"}) as server:``; set
    ``server.status = 200`` to answer good replies from then on. ``server.requests`` counts
    completion requests."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.requests += 1
                    status, headers = server.status, dict(server.headers)
                if status == 200:
                    payload = reply_for(raw, hashlib.sha256(raw).hexdigest())
                else:
                    error = {"message": f"status {status} from the test server", "type": "error"}
                    payload = json.dumps({"error": error}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
