"""Anthropic's Message Batches through the official ``anthropic`` SDK.

A request is ``{"custom_id", "params"}`` with the Messages API body of the synchronous
call, made by LiteLLM's own Anthropic transformation from the same keyword arguments
(:meth:`~generator.providers.litellm_provider.LiteLLMProvider.call_kwargs`): the system
prompt as a text block carrying ``cache_control`` (the static part first), the other
messages, sampling, ``max_tokens``, and the reply schema as LiteLLM asks for it for that
model (``output_format`` for models with native structured outputs, with their beta
header on the batch; else one forced tool whose input is the reply). Results
(``succeeded``, ``errored``, ``canceled``, ``expired``) are read line by line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2

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
from generator.providers.litellm_provider import LiteLLMProvider

log = logging.getLogger(__name__)
LIMITS = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
TOOL = "json_tool_call"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; LiteLLM's default for Claude
_FINISH = {"end_turn": "stop", "tool_use": "stop", "max_tokens": "length", "stop_sequence": "stop"}


def wire_model(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("anthropic/") else model


STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"  # what LiteLLM sends with it


def params_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Messages API body LiteLLM sends for the synchronous call's keyword arguments."""
    from litellm.llms.anthropic.chat.transformation import AnthropicConfig

    model = wire_model(kwargs["model"])
    config = AnthropicConfig()
    asked = {k: kwargs[k] for k in ("temperature", "top_p", "max_tokens", "response_format",
                                    "seed") if k in kwargs}  # fmt: skip
    optional = config.map_openai_params(
        non_default_params=asked, optional_params={}, model=model,
        drop_params=bool(kwargs.get("drop_params", True)),
    )  # fmt: skip
    body = config.transform_request(
        model=model, messages=kwargs["messages"], optional_params=optional, litellm_params={},
        headers={},
    )  # fmt: skip
    body.pop("json_mode", None)  # LiteLLM's own flag, not sent
    body.pop("stream", None)
    body["model"] = model
    return body


def own_params_of(kwargs: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The same from our side, when LiteLLM's transformation is not usable (a release
    that moved it): system block, messages, sampling, the schema as a forced tool."""
    messages = [dict(m) for m in kwargs["messages"]]
    params: dict[str, Any] = {"model": wire_model(kwargs["model"])}
    if messages and messages[0].get("role") == "system":
        system = messages.pop(0)["content"]
        params["system"] = (
            system if isinstance(system, list) else [{"type": "text", "text": system}]
        )
    params["messages"] = messages
    params["max_tokens"] = kwargs.get("max_tokens") or DEFAULT_MAX_TOKENS
    for key in ("temperature", "top_p"):
        if key in kwargs:
            params[key] = kwargs[key]
    if schema is not None:
        params["tools"] = [{"name": TOOL, "description": "Reply with JSON", "input_schema": schema}]
        params["tool_choice"] = {"type": "tool", "name": TOOL}
    return params


def parse_message(model: str, msg: dict[str, Any]) -> Completion:
    text, thinking = "", []
    for block in msg.get("content") or []:
        kind = block.get("type")
        if kind == "tool_use" and block.get("name") == TOOL:
            text = json.dumps(block.get("input"), ensure_ascii=False)
        elif kind == "text" and not text:
            text = block.get("text") or ""
        elif kind == "thinking" and block.get("thinking"):
            thinking.append(block["thinking"])
    raw = msg.get("usage") or {}
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    # as LiteLLM counts them: every input token, cached and cache-write ones included
    prompt = int(raw.get("input_tokens") or 0) + read + write
    usage = batch_usage(model, prompt, int(raw.get("output_tokens") or 0), read, write)
    return Completion(
        text=text,
        finish_reason=_FINISH.get(msg.get("stop_reason") or "", msg.get("stop_reason")),
        reasoning="\n\n".join(thinking) or None,
        usage=usage,
        model=msg.get("model"),
    )


class AnthropicBatchClient(BatchClient):
    provider = "anthropic"
    limits = LIMITS

    def __init__(self, sync: LiteLLMProvider, api_base: str | None, api_key: str | None) -> None:
        super().__init__(sync, api_base, api_key)
        self.betas: set[str] = set()  # beta features the requests use (the batch needs them)

    def sdk_client(self, api_key: str, base_url: str | None) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0)

    def line(self, custom_id: str, request: CompletionRequest) -> bytes:
        kwargs = self.sync.call_kwargs(request)
        try:
            params = params_of(kwargs)
        except (ImportError, AttributeError, TypeError) as exc:  # LiteLLM moved it
            log.warning("LiteLLM's Anthropic transformation failed (%s): own builder", exc)
            params = own_params_of(kwargs, request.json_schema)
        if "output_format" in params:
            self.betas.add(STRUCTURED_OUTPUTS_BETA)
        return dumps({"custom_id": custom_id, "params": params})

    async def upload(self, lines: list[bytes]) -> str | None:
        return None  # requests travel inline with the create call

    async def create(self, file_id: str | None, lines: list[bytes], key: str) -> str:
        requests = [json.loads(x) for x in lines]
        headers = {"anthropic-beta": ",".join(sorted(self.betas))} if self.betas else None
        b = await self.sdk(
            self.client.messages.batches.create(requests=requests, extra_headers=headers)
        )
        return b.id

    async def find(self, file_id: str | None, key: str, n: int, since: float) -> str | None:
        """Anthropic keeps no tag of ours on a batch: one created since ``since`` with
        exactly ``n`` requests is taken as ours only if it is the only such batch."""
        found: list[str] = []
        try:
            async for b in self.client.messages.batches.list(limit=100):
                created = b.created_at.timestamp()
                if created < since - 60:
                    break
                c = b.request_counts
                total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
                if total == n:
                    found.append(b.id)
        except Exception as exc:
            raise self.call(exc) from exc
        return one_of(found, key)

    @staticmethod
    def _status(b: Any) -> BatchStatus:
        c = b.request_counts
        if b.processing_status == "ended":
            lost = c.expired + c.canceled
            state = (
                "cancelled" if b.cancel_initiated_at else "expired" if c.expired else "completed"
            )
            if not lost:
                state = "completed"
        elif b.processing_status == "canceling":
            state = "cancelling"
        else:
            state = "in_progress"
        total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
        return BatchStatus(
            batch_id=b.id,
            state=state,
            output_file_id=b.id if b.processing_status == "ended" else None,
            total=total,
            succeeded=c.succeeded,
            failed=c.errored + c.canceled + c.expired,
        )

    async def retrieve(self, batch_id: str) -> BatchStatus:
        return self._status(await self.sdk(self.client.messages.batches.retrieve(batch_id)))

    async def cancel(self, batch_id: str) -> BatchStatus:
        return self._status(await self.sdk(self.client.messages.batches.cancel(batch_id)))

    async def results(
        self, status: BatchStatus, requests: dict[str, CompletionRequest]
    ) -> BatchResults:
        # Read raw (not the SDK's typed decoder, which stops at the first bad line), from
        # the API's own path on the configured host: a results_url elsewhere never gets
        # the key.
        resp = await self.sdk(
            self.client.get(
                f"/v1/messages/batches/{status.batch_id}/results", cast_to=httpx2.Response
            )
        )
        out = BatchResults()
        self.read_lines(resp.content, requests, out)
        return out

    def result_of(self, cid: str, request: CompletionRequest, obj: dict[str, Any]) -> BatchResult:
        result = obj["result"]
        kind = result["type"]
        if kind == "succeeded":
            return BatchResult(cid, completion=parse_message(request.model, result["message"]))
        if kind in ("canceled", "expired"):
            return BatchResult(cid, error=line_error(None, kind, self.provider), lost=True)
        err = (result.get("error") or {}).get("error") or result.get("error") or {}
        status = {"rate_limit_error": 429, "overloaded_error": 529, "api_error": 500,
                  "authentication_error": 401, "permission_error": 403,
                  "invalid_request_error": 400}.get(err.get("type"), 500)  # fmt: skip
        return BatchResult(cid, error=line_error(status, json.dumps(err)[:300], self.provider))
