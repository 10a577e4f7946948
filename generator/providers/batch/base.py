"""The contract of a provider's batch API: upload, create, find, retrieve, results, cancel.

A :class:`BatchClient` turns :class:`~generator.providers.base.CompletionRequest` objects into
the provider's batch lines (built from the same keyword arguments as the synchronous call,
:meth:`~generator.providers.litellm_provider.LiteLLMProvider.call_kwargs`), and the
provider's result lines back into :class:`~generator.providers.base.Completion` objects or
our :class:`~generator.errors.ProviderError` tree, one line at a time: a malformed line is
counted, never fatal, and its request simply stays unanswered.

Each step is one provider call, so the caller can journal before and after it
(:mod:`generator.generate.batch`). Costs are the batch prices (:func:`batch_price`).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from generator.errors import CircuitOpen, ProviderError
from generator.providers.base import Completion, CompletionRequest, CompletionUsage
from generator.providers.errors import map_exception
from generator.providers.model_info import batch_price

if TYPE_CHECKING:
    from generator.providers.litellm_provider import LiteLLMProvider

# Our names of a batch's states (both providers' are mapped to these).
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("completed", "expired", "failed", "cancelled")
T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    """Per batch, at most this many requests and this many bytes of request lines."""

    max_requests: int
    max_bytes: int


@dataclass
class BatchStatus:
    """A batch as the provider reports it."""

    batch_id: str
    state: str  # ACTIVE or TERMINAL
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    error: str | None = None  # why a batch failed as a whole (validation)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass
class BatchResult:
    """One request's answer: a completion, or an error (``lost``: the request was never
    run: the batch expired or was cancelled before reaching it)."""

    custom_id: str
    completion: Completion | None = None
    error: ProviderError | None = None
    lost: bool = False


@dataclass
class BatchResults:
    results: list[BatchResult] = field(default_factory=list)
    malformed: int = 0  # lines that could not be read (their requests stay unanswered)


class _LineError(Exception):
    """A per-request error from a result line, shaped for :func:`map_exception`."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message


def line_error(status: int | None, message: str, provider: str) -> ProviderError:
    return map_exception(_LineError(status, message or f"status {status}"), provider=provider)


def batch_usage(
    model: str, prompt: int, completion: int, cached: int, cache_write: int
) -> CompletionUsage:
    """A batch call's usage, priced at the batch rate (cached input tokens at the cached
    batch rate); the cost is None for a model without a price."""
    usage = CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
    )
    p = batch_price(model)
    if p is not None:
        usage.cost_usd = p.cost(prompt, completion, cached, cache_write)
    return usage


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class BatchClient(abc.ABC):
    """One provider's batch API (see module docstring)."""

    provider: str = "base"
    limits: BatchLimits

    def __init__(self, sync: LiteLLMProvider, api_base: str | None, api_key: str | None) -> None:
        self.sync = sync  # builds each request's keyword arguments, as the synchronous call
        # The SDK insists on a key; a keyless local server gets a placeholder, never a
        # real key meant for another host (providers/keys.py decides which key goes where).
        self.client = self.sdk_client(api_key or "unused", api_base or None)

    @abc.abstractmethod
    def sdk_client(self, api_key: str, base_url: str | None) -> Any:
        """The provider SDK's async client (its own retries off: the caller journals each
        step and decides)."""

    @abc.abstractmethod
    def line(self, custom_id: str, request: CompletionRequest) -> bytes:
        """The batch line (JSON, no newline) asking ``request``."""

    @abc.abstractmethod
    async def upload(self, lines: list[bytes]) -> str | None:
        """Upload the request lines; the file id (None: the API takes requests inline)."""

    @abc.abstractmethod
    async def create(self, file_id: str | None, lines: list[bytes], key: str) -> str:
        """Create the batch; its id. ``key`` is ours, stored with it where the API can."""

    @abc.abstractmethod
    async def find(self, file_id: str | None, key: str, n: int, since: float) -> str | None:
        """The id of a batch created from ``file_id`` / tagged ``key`` (created after
        ``since``, epoch seconds, with ``n`` requests), None if there is none: re-attaching
        after a crash between creating a batch and journaling its id. Several candidates
        raise :class:`~generator.errors.CircuitOpen` (exit 4): creating another batch could
        pay for the same requests twice, so a person decides."""

    @abc.abstractmethod
    async def retrieve(self, batch_id: str) -> BatchStatus: ...

    @abc.abstractmethod
    async def results(
        self, status: BatchStatus, requests: dict[str, CompletionRequest]
    ) -> BatchResults:
        """Every answer of a terminal batch (``requests``: custom id -> request)."""

    @abc.abstractmethod
    async def cancel(self, batch_id: str) -> BatchStatus: ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        await self.client.close()

    def call(self, exc: BaseException) -> ProviderError:
        """A failed step (an SDK exception) in our tree."""
        return map_exception(exc, provider=self.provider)

    async def sdk(self, step: Awaitable[T]) -> T:
        """Await one SDK call; its failure raised in our tree (:meth:`call`)."""
        try:
            return await step
        except Exception as exc:
            raise self.call(exc) from exc

    @abc.abstractmethod
    def result_of(self, cid: str, request: CompletionRequest, obj: dict[str, Any]) -> BatchResult:
        """One result line of ours (parsed) in the provider's wire format, as a result; a
        line not in that format raises ValueError, KeyError, TypeError, AttributeError or
        IndexError."""

    def read_lines(
        self, data: bytes, requests: dict[str, CompletionRequest], out: BatchResults
    ) -> None:
        """Every non-blank line of a results file into ``out``: a line that is not JSON, not
        in the wire format or not one of ``requests`` is counted malformed, never fatal."""
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                cid = obj["custom_id"]
                request = requests.get(cid)
                result = None if request is None else self.result_of(cid, request, obj)
            except (ValueError, KeyError, TypeError, AttributeError, IndexError):
                result = None
            if result is None:
                out.malformed += 1
            else:
                out.results.append(result)


def one_of(found: list[str], key: str) -> str | None:
    """:meth:`BatchClient.find`'s answer from its candidates."""
    if len(found) > 1:
        raise CircuitOpen(
            f"stopped: batch {key} was being created when the run stopped, and the provider "
            f"has {len(found)} batches that could be it ({', '.join(found[:5])}); cancel the "
            "ones that are not this run's at the provider, then re-run the same command"
        )
    return found[0] if found else None
