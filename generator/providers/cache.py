"""Cross-run call cache: an identical request made by another run on this machine is
answered from a local content-addressed store instead of the provider.

Key: sha256 of a canonical JSON of what shapes the reply: the request (model, messages,
sampling, seed, JSON schema, extra parameters: :func:`~generator.providers.base.request_hash`
without the timeout), the host of the API base it goes to and the JSON mode used to ask
for the schema. Never the API key (a request carries none: keys are added at the wire).

Entry: ``DIR/<2 hex>/<sha256>.json`` holding the reply (text, finish reason, reasoning,
model), its usage (what the original call cost), when it was made and by which run. No
messages (document text stays in the run folder) and no headers or keys are stored.
Written to a temp file beside it and renamed into place, so two processes writing the same
entry each leave a whole file. An entry that cannot be read or does not match its key is
ignored (counted as ``corrupt``, warned about) and the call goes to the provider, whose
reply then replaces it.

A hit costs this run nothing: :class:`CachingProvider` returns the stored reply with its
original usage and ``Completion.cache = {"hit": True, "made_at", "run"}``; callers journal
the call as a hit at cost 0 and keep the original usage on the record. A call sent because
its entry was corrupt comes back with ``cache = {"hit": False, "corrupt": True}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.atomic import atomic_write_text
from generator.providers.base import (
    Completion,
    CompletionRequest,
    CompletionUsage,
    Provider,
    request_hash,
)
from generator.records import utcnow

FORMAT = 1  # bump when an entry's layout or the key's recipe changes


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/instructforge/calls`` (default ``~/.cache/instructforge/calls``)."""
    from generator import config

    base = config.env("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "instructforge" / "calls"


def host_of(api_base: str | None) -> str | None:
    """The host (and port) of ``api_base``: never its path, query or user info."""
    if not api_base:
        return None
    parts = urlsplit(api_base if "//" in api_base else f"//{api_base}")
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def cache_key(request: CompletionRequest, *, api_base: str | None, json_mode: str | None) -> str:
    """sha256 of the canonical JSON of the request and where and how it is sent."""
    base = request.api_base or api_base
    data = {
        "format": FORMAT,
        "request": request_hash(request.model_copy(update={"api_base": None})),
        "host": host_of(base),
        "json_mode": json_mode,
    }
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    """A folder of cached replies, with counts of what happened in this process."""

    def __init__(self, root: Path, *, run: str = "", warn: Callable[[str], None] | None = None):
        self.root = Path(root).expanduser()
        self.run = run
        self.warn = warn
        self.counts: Counter[str] = Counter()  # hits, misses, stored, corrupt

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry of ``key``, or None (missing, or corrupt: counted and warned)."""
        path = self.path(key)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.counts["misses"] += 1
            return None
        except OSError as exc:
            return self._corrupt(path, f"unreadable ({type(exc).__name__})")
        try:
            entry = json.loads(raw)
            ok = (
                entry["format"] == FORMAT
                and entry["key"] == key
                and isinstance(entry["reply"]["text"], str)
                and isinstance(entry["usage"], dict)
            )
            if ok:
                CompletionUsage.model_validate(entry["usage"])
        except (ValueError, KeyError, TypeError):  # ValidationError is a ValueError
            ok = False
        if not ok:
            return self._corrupt(path, "not a cache entry of this version")
        self.counts["hits"] += 1
        return entry

    def _corrupt(self, path: Path, why: str) -> None:
        self.counts["corrupt"] += 1
        self.counts["misses"] += 1
        if self.warn is not None:
            self.warn(
                f"call cache: ignored corrupt entry {path.name} ({why}); calling the provider"
            )
        return None

    def put(self, key: str, completion: Completion, model: str) -> None:
        """Store a successful reply (atomically: temp file beside it, then rename)."""
        entry = {
            "format": FORMAT,
            "key": key,
            "model": model,
            "reply": {
                "text": completion.text,
                "finish_reason": completion.finish_reason,
                "reasoning": completion.reasoning,
                "model": completion.model,
            },
            "usage": completion.usage.model_dump(),
            "made_at": utcnow(),
            "run": self.run,
        }
        try:
            atomic_write_text(self.path(key), json.dumps(entry, ensure_ascii=False))
        except OSError as exc:  # a full or read-only cache never fails the call
            self.counts["write_errors"] += 1
            if self.warn is not None:
                self.warn(f"call cache: could not store a reply ({type(exc).__name__})")
            return
        self.counts["stored"] += 1

    def stats(self) -> dict[str, int]:
        return {k: self.counts[k] for k in ("hits", "misses", "stored", "corrupt")}


class CachingProvider(Provider):
    """``inner`` (usually a ResilientProvider) behind a :class:`CallCache`.

    A hit returns the stored reply without calling ``inner``; a miss calls it and stores a
    reply that ended normally (a truncated one, ``finish_reason == "length"``, is stored
    too: the same request would be truncated again, and the caller decides)."""

    name = "cache"

    def __init__(
        self,
        inner: Provider,
        cache: CallCache,
        *,
        api_base: str | None = None,
        json_mode: str | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.api_base = api_base
        self.json_mode = json_mode

    def key(self, request: CompletionRequest) -> str:
        return cache_key(request, api_base=self.api_base, json_mode=self.json_mode)

    async def complete(self, request: CompletionRequest) -> Completion:
        key = self.key(request)
        corrupt_before = self.cache.counts["corrupt"]
        entry = self.cache.get(key)
        if entry is not None:
            reply = entry["reply"]
            return Completion(
                text=reply["text"],
                finish_reason=reply.get("finish_reason"),
                reasoning=reply.get("reasoning"),
                model=reply.get("model"),
                usage=entry["usage"],
                cache={"hit": True, "made_at": entry.get("made_at"), "run": entry.get("run")},
            )
        completion = await self.inner.complete(request)
        self.cache.put(key, completion, request.model)
        if self.cache.counts["corrupt"] > corrupt_before:
            completion = completion.model_copy(update={"cache": {"hit": False, "corrupt": True}})
        return completion

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:  # breaker, limiter, ... of the wrapped provider
        return getattr(self.inner, name)


def cache_from_option(
    value: str | os.PathLike[str] | None, *, run: str, warn: Callable[[str], None] | None
) -> CallCache | None:
    """A CallCache for a ``--cache`` / config value: None or "off" -> None, "default" or ""
    -> :func:`default_dir`, else that folder."""
    if value is None or str(value).lower() in ("off", "false", "no", "none"):
        return None
    root = default_dir() if str(value) in ("", "default") else Path(value)
    return CallCache(root, run=run, warn=warn)
