"""A scripted OpenAI batch endpoint at the wire (respx) for the batch engine's tests.

Each created batch takes the next :class:`Plan` (the last one repeats): how many polls
fail with a 500 first, the batch's end state, and what happens to each request by its
position in the batch (``ok``, ``500``, ``400``, ``lost``: never run, ``garbled``: its
result line cannot be read).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

from tests.providers.test_wire import ANSWER

API = "https://api.openai.com/v1"


@dataclass
class Plan:
    fail_polls: int = 0
    end: str = "completed"  # completed | expired | cancelled | failed
    outcome: dict[int, str] = field(
        default_factory=dict
    )  # position -> ok|500|400|lost|garbled|prose
    polls_before_end: int = 1


@dataclass
class FakeOpenAIBatches:
    plans: list[Plan] = field(default_factory=lambda: [Plan()])
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: int = 0
    creates: int = 0
    billed: list[str] = field(default_factory=list)  # custom ids run (paid)

    def install(self, mock: respx.MockRouter) -> None:
        mock.post(f"{API}/files").mock(side_effect=self._upload)
        mock.post(f"{API}/batches").mock(side_effect=self._create)
        mock.get(f"{API}/batches").mock(side_effect=self._list)
        mock.get(url__regex=rf"{re.escape(API)}/batches/(?P<bid>[\w-]+)$").mock(
            side_effect=self._retrieve
        )
        mock.get(url__regex=rf"{re.escape(API)}/files/(?P<fid>[\w-]+)/content$").mock(
            side_effect=lambda request, fid: httpx.Response(200, content=self.files[fid])
        )

    def _upload(self, request: httpx.Request) -> httpx.Response:
        self.uploads += 1
        lines = re.findall(rb'^\{"custom_id".*$', request.content, re.MULTILINE)
        fid = f"file-in{self.uploads}"
        self.files[fid] = b"\n".join(lines)
        return httpx.Response(200, json={"id": fid, "object": "file", "bytes": 1,
                                         "created_at": 1, "filename": "batch.jsonl",
                                         "purpose": "batch", "status": "processed"})  # fmt: skip

    def _obj(self, b: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": b["id"], "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": b.get("errors"), "input_file_id": b["input_file_id"],
            "completion_window": "24h", "status": b["status"], "created_at": 2_000_000_000,
            "output_file_id": b.get("out"), "error_file_id": b.get("err"),
            "metadata": b["metadata"],
            "request_counts": {"total": len(b["lines"]), "completed": 0, "failed": 0},
        }  # fmt: skip

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        plan = self.plans[min(self.creates, len(self.plans) - 1)]
        self.creates += 1
        bid = f"batch_{self.creates}"
        lines = [json.loads(x) for x in self.files[body["input_file_id"]].splitlines()]
        self.batches[bid] = {"id": bid, "status": "validating", "plan": plan, "polls": 0,
                             "input_file_id": body["input_file_id"], "lines": lines,
                             "metadata": body.get("metadata") or {}}  # fmt: skip
        return httpx.Response(200, json=self._obj(self.batches[bid]))

    def _list(self, request: httpx.Request) -> httpx.Response:
        data = [self._obj(b) for b in reversed(self.batches.values())]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": False})

    def _retrieve(self, request: httpx.Request, bid: str) -> httpx.Response:
        b = self.batches[bid]
        plan: Plan = b["plan"]
        if plan.fail_polls > 0:
            plan.fail_polls -= 1
            return httpx.Response(500, json={"error": {"message": "internal", "type": "server"}})
        b["polls"] += 1
        if b["status"] in ("validating", "in_progress") and b["polls"] > plan.polls_before_end:
            self._finish(b, plan)
        elif b["status"] == "validating":
            b["status"] = "in_progress"
        return httpx.Response(200, json=self._obj(b))

    def _finish(self, b: dict[str, Any], plan: Plan) -> None:
        out: list[Any] = []
        err: list[Any] = []
        for i, line in enumerate(b["lines"]):
            cid, what = line["custom_id"], plan.outcome.get(i, "ok")
            if what == "lost" or plan.end == "failed":
                if plan.end != "failed":
                    lost = {"code": "batch_expired", "message": "expired"}
                    err.append({"id": "x", "custom_id": cid, "response": None, "error": lost})
                continue
            self.billed.append(cid)
            if what in ("500", "400"):
                body = {"error": {"message": f"status {what}", "type": "x"}}
                resp = {"status_code": int(what), "request_id": "q", "body": body}
                err.append({"id": "x", "custom_id": cid, "response": resp, "error": None})
            elif what == "prose":  # answered, but not the JSON asked for: a re-ask
                chat = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": "Sure! Here are some ideas."}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 8}}  # fmt: skip
                resp = {"status_code": 200, "request_id": "q", "body": chat}
                out.append({"id": "x", "custom_id": cid, "response": resp, "error": None})
            elif what == "garbled":
                out.append(f'{{"custom_id": "{cid}", "respo')  # a torn line
            else:
                content = json.loads(ANSWER)
                content["records"][0]["instruction"] += f" ({cid[:10]})"
                chat = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": json.dumps(content)}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20,
                                  "prompt_tokens_details": {"cached_tokens": 64}}}  # fmt: skip
                resp = {"status_code": 200, "request_id": "q", "body": chat}
                out.append({"id": "x", "custom_id": cid, "response": resp, "error": None})
        if plan.end == "failed":
            b["errors"] = {"object": "list", "data": [{"code": "invalid", "message": "bad file"}]}
        for key, rows in (("out", out), ("err", err)):
            if rows:
                fid = f"file-{key}-{b['id']}"
                text = (r if isinstance(r, str) else json.dumps(r) for r in rows)
                self.files[fid] = "\n".join(text).encode()
                b[key] = fid
        b["status"] = plan.end
