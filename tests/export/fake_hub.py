"""A loopback fake of the Hugging Face Hub's HTTP API, enough for ``huggingface_hub`` to
create a dataset repo and commit small files: ``POST /api/repos/create``, the card check
``POST /api/validate-yaml``, the ``preupload``
call (every file answered as a "regular" git blob, so the commit carries the bytes inline)
and the NDJSON ``commit`` call. Every request is recorded with its headers; the files of the
commits are kept by path. ``fail`` makes every call answer that status."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    def __init__(self, fail: int | None = None) -> None:
        self.fail = fail
        self.requests: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.repos: list[dict[str, Any]] = []
        self.cards: list[dict[str, Any]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _record(self) -> bytes:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers)}
                )
                return raw

            def do_GET(self) -> None:
                self._record()
                self._send(hub.fail or 404, {"error": "not in the fake"})

            def do_POST(self) -> None:
                raw = self._record()
                if hub.fail:
                    return self._send(hub.fail, {"error": "refused by the fake hub"})
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    hub.repos.append(json.loads(raw))
                    return self._send(200, {"url": f"{hub.url}/datasets/x/y", "name": "y"})
                if path == "/api/validate-yaml":  # the Hub checks a card's YAML header
                    hub.cards.append(json.loads(raw))
                    return self._send(200, {"errors": [], "warnings": []})
                if re.fullmatch(r"/api/datasets/[^/]+/[^/]+/preupload/[^/]+", path):
                    files = json.loads(raw)["files"]
                    modes = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                    return self._send(200, {"files": modes, "commitOid": "0" * 40})
                if re.fullmatch(r"/api/datasets/[^/]+/[^/]+/commit/[^/]+", path):
                    for line in raw.decode().splitlines():
                        item = json.loads(line)
                        if item.get("key") == "file":
                            value = item["value"]
                            hub.files[value["path"]] = base64.b64decode(value["content"])
                    oid = "1" * 40
                    url = f"{hub.url}/datasets/x/y/commit/{oid}"
                    return self._send(200, {"commitUrl": url, "commitOid": oid})
                return self._send(404, {"error": f"{path} not in the fake"})

        return Handler
