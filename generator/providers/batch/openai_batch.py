"""OpenAI's Batch API (Files + Batches) through the official ``openai`` SDK.

Lines are ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` where
the body is what the synchronous call sends (model without its ``openai/`` prefix,
messages, sampling, ``response_format``). Results come from the batch's output file
(answered requests, 200 or an error status) and its error file (requests that failed or
were never run: ``batch_expired``, ``batch_cancelled``).
"""

from __future__ import annotations

import json
from typing import Any

from generator.providers.base import Completion, CompletionRequest
from generator.providers.batch.base import (
    BatchClient,
    BatchLimits,
    BatchResult,
    BatchResults,
    BatchStatus,
    batch_usage,
    dumps,
    line_error,
    one_of,
)
from generator.providers.litellm_provider import (
    _cache_tokens,
    _get,
    _reasoning_of,
    split_thinking,
)

LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
ENDPOINT = "/v1/chat/completions"
WIRE_KEYS = ("messages", "temperature", "top_p", "max_tokens", "seed", "response_format")
_STATES = {"cancelling": "cancelling", "in_progress": "in_progress", "validating": "validating"}
_LOST = ("batch_expired", "batch_cancelled")


def wire_model(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("openai/") else model


def parse_completion(model: str, body: dict[str, Any]) -> Completion:
    """A chat.completion body as a Completion priced at the batch rate."""
    choice = (body.get("choices") or [None])[0]
    message = _get(choice, "message")
    content = _get(message, "content")
    if isinstance(content, list):
        content = "".join(str(_get(p, "text") or "") for p in content)
    text, think = split_thinking(content or "")
    reasoning = "\n\n".join(r for r in (_reasoning_of(message), think) if r) or None
    raw = body.get("usage") or {}
    read, write = _cache_tokens(raw)
    usage = batch_usage(
        model,
        int(raw.get("prompt_tokens") or 0),
        int(raw.get("completion_tokens") or 0),
        read,
        write,
    )
    return Completion(
        text=text,
        finish_reason=_get(choice, "finish_reason"),
        reasoning=reasoning,
        usage=usage,
        model=body.get("model"),
    )


class OpenAIBatchClient(BatchClient):
    provider = "openai"
    limits = LIMITS

    def sdk_client(self, api_key: str, base_url: str | None) -> Any:
        import openai

        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)

    def line(self, custom_id: str, request: CompletionRequest) -> bytes:
        kwargs = self.sync.call_kwargs(request)
        body = {"model": wire_model(kwargs["model"])}
        body.update({k: kwargs[k] for k in WIRE_KEYS if k in kwargs})
        return dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})

    async def upload(self, lines: list[bytes]) -> str | None:
        data = b"\n".join(lines) + b"\n"
        f = await self.sdk(self.client.files.create(file=("batch.jsonl", data), purpose="batch"))
        return f.id

    async def create(self, file_id: str | None, lines: list[bytes], key: str) -> str:
        b = await self.sdk(
            self.client.batches.create(
                input_file_id=str(file_id),
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"instructforge_batch": key},
            )
        )
        return b.id

    async def find(self, file_id: str | None, key: str, n: int, since: float) -> str | None:
        found: list[str] = []
        try:
            async for b in self.client.batches.list(limit=100):
                if b.created_at < since - 60:
                    break  # listed newest first
                tag = (b.metadata or {}).get("instructforge_batch")
                if b.input_file_id == file_id or tag == key:
                    found.append(b.id)
        except Exception as exc:
            raise self.call(exc) from exc
        return one_of(found, key)

    def _status(self, b: Any) -> BatchStatus:
        counts = b.request_counts
        errors = getattr(b, "errors", None)
        detail = None
        if errors is not None and getattr(errors, "data", None):
            detail = "; ".join(f"{e.code}: {e.message}" for e in errors.data[:3])
        return BatchStatus(
            batch_id=b.id,
            state=_STATES.get(b.status, b.status),
            output_file_id=b.output_file_id,
            error_file_id=b.error_file_id,
            total=counts.total if counts else 0,
            succeeded=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            error=detail,
        )

    async def retrieve(self, batch_id: str) -> BatchStatus:
        return self._status(await self.sdk(self.client.batches.retrieve(batch_id)))

    async def cancel(self, batch_id: str) -> BatchStatus:
        return self._status(await self.sdk(self.client.batches.cancel(batch_id)))

    async def results(
        self, status: BatchStatus, requests: dict[str, CompletionRequest]
    ) -> BatchResults:
        out = BatchResults()
        for file_id in (status.output_file_id, status.error_file_id):
            if file_id:
                data = (await self.sdk(self.client.files.content(file_id))).content
                self.read_lines(data, requests, out)
        return out

    def result_of(self, cid: str, request: CompletionRequest, obj: dict[str, Any]) -> BatchResult:
        resp, err = obj.get("response") or {}, obj.get("error") or {}
        code = int(resp.get("status_code") or 0)
        body = resp.get("body") or {}
        if code == 200 and not err:
            return BatchResult(cid, completion=parse_completion(request.model, body))
        if err.get("code") in _LOST:
            return BatchResult(cid, error=line_error(None, str(err), self.provider), lost=True)
        message = json.dumps(body.get("error") or err or body)[:300]
        return BatchResult(cid, error=line_error(code or None, message, self.provider))
