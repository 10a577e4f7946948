"""A tiny stand-in for ``python -m llama_cpp.server`` (loopback, OpenAI format), so the
local provider's lifecycle is tested without compiling llama.cpp.

Accepts the same flags (``--model --model_alias --host --port ...``). Behaviour is chosen
by ``FAKE_SERVER_MODE``:

- ``ok``: serve ``/v1/models`` and ``/v1/chat/completions`` (a schema-shaped JSON reply);
- ``crash``: print an error and exit 3 before listening;
- ``hang``: never listen (readiness times out);
- ``die_on_request``: serve ``/v1/models``, then kill itself with SIGKILL on a completion;
- ``grandchild``: like ``ok`` but first start a ``sleep`` child in its process group.

``FAKE_SERVER_LOG`` (a file) receives one JSON line per completion request body, and the
first line written is ``{"pid": ..., "argv": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("FAKE_SERVER_MODE", "ok")
LOG = os.environ.get("FAKE_SERVER_LOG")


def _log(obj: dict) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj) + "\n")


def _reply(body: dict) -> str:
    """Records shaped like the request's schema; a raw newline inside a string, as
    llama.cpp's grammar allows."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object" and "schema" in fmt:
        return (
            '{"records": [{"instruction": "How many days of leave do staff get?", "input": "",'
            ' "output": "Staff get 25 days of paid leave a year.\nUnused days carry over."}]}'
        )
    return "Sure! Here is some text that is not JSON."


class Handler(BaseHTTPRequestHandler):
    alias = "local"

    def log_message(self, *args: object) -> None:  # keep the log for our own lines
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.alias, "object": "model"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        _log({"body": body, "auth": self.headers.get("Authorization")})
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": "not found"})
            return
        if MODE == "die_on_request":
            os.kill(os.getpid(), signal.SIGKILL)
        if (body.get("response_format") or {}).get("type") == "json_schema":
            self._send(500, {"error": {"message": "json_schema is not supported"}})
            return
        text = _reply(body)
        self._send(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.alias,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--model_alias", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, _rest = parser.parse_known_args()
    _log({"pid": os.getpid(), "argv": sys.argv[1:]})
    if MODE == "crash":
        print("error: failed to load model from file", args.model, file=sys.stderr)
        sys.exit(3)
    if MODE == "hang":
        time.sleep(3600)
    if MODE == "grandchild":
        child = subprocess.Popen(["sleep", "3600"])
        _log({"grandchild": child.pid})
    Handler.alias = args.model_alias
    try:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as exc:  # the wording uvicorn uses too
        print(f"ERROR: [Errno {exc.errno}] error while attempting to bind: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"fake llama server on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
