"""The call cache itself (``generator/providers/cache.py``): keys, entries, corrupt files,
concurrent writers, no secrets on disk."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from pathlib import Path

import pytest

from generator.providers.base import Completion, CompletionRequest, CompletionUsage, Provider
from generator.providers.cache import (
    CachingProvider,
    CallCache,
    cache_from_option,
    cache_key,
    default_dir,
    host_of,
)

SECRET = "sk-proj-SECRETKEY0123456789abcdefXYZ"


class Counting(Provider):
    __test__ = False
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        usage = CompletionUsage(prompt_tokens=120, completion_tokens=30, cost_usd=0.0042)
        return Completion(text=f"reply {self.calls}", finish_reason="stop", usage=usage)


def _req(**kw: object) -> CompletionRequest:
    data = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    return CompletionRequest(**{**data, **kw})


def test_key_covers_what_shapes_the_reply_and_not_the_timeout() -> None:
    base = cache_key(_req(), api_base=None, json_mode="json_schema")
    assert cache_key(_req(timeout=5), api_base=None, json_mode="json_schema") == base
    for other in (
        cache_key(_req(temperature=0.2), api_base=None, json_mode="json_schema"),
        cache_key(_req(model="openai/gpt-4o"), api_base=None, json_mode="json_schema"),
        cache_key(_req(json_schema={"type": "object"}), api_base=None, json_mode="json_schema"),
        cache_key(_req(), api_base="http://127.0.0.1:8080/v1", json_mode="json_schema"),
        cache_key(_req(), api_base=None, json_mode="none"),
    ):
        assert other != base
    # the host counts, not the path or user:pass@ in the URL
    a = cache_key(_req(), api_base="http://u:p@Example.org:81/v1", json_mode=None)
    assert a == cache_key(
        _req(api_base="http://example.org:81/other"), api_base=None, json_mode=None
    )
    assert host_of("http://user:secret@example.org:81/v1?key=x") == "example.org:81"


def test_hit_returns_the_original_reply_usage_and_provenance(tmp_path: Path) -> None:
    inner = Counting()
    first = CachingProvider(inner, CallCache(tmp_path, run="run-a"))
    made = asyncio.run(first.complete(_req()))
    assert made.cache is None and inner.calls == 1
    second = CachingProvider(inner, CallCache(tmp_path, run="run-b"))
    hit = asyncio.run(second.complete(_req()))
    assert inner.calls == 1  # answered from the cache
    assert hit.text == made.text and hit.usage == made.usage  # what the original call cost
    assert hit.cache is not None and hit.cache["hit"] is True and hit.cache["run"] == "run-a"
    assert second.cache.stats() == {"hits": 1, "misses": 0, "stored": 0, "corrupt": 0}


def test_corrupt_entries_are_ignored_counted_and_replaced(tmp_path: Path) -> None:
    inner, warned = Counting(), []
    cache = CallCache(tmp_path, run="r", warn=warned.append)
    prov = CachingProvider(inner, cache)
    key = prov.key(_req())
    path = cache.path(key)
    for bad in ("{not json", json.dumps({"format": 1, "key": key, "reply": {}, "usage": {}})):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(bad)
        out = asyncio.run(prov.complete(_req()))
        assert out.cache == {"hit": False, "corrupt": True}
        assert json.loads(path.read_text())["key"] == key  # replaced by a whole entry
    assert inner.calls == 2 and cache.counts["corrupt"] == 2 and len(warned) == 2
    # a wrong usage type is corrupt too
    entry = json.loads(path.read_text())
    entry["usage"]["prompt_tokens"] = "many"
    path.write_text(json.dumps(entry))
    assert cache.get(key) is None and cache.counts["corrupt"] == 3


def test_no_secret_or_prompt_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    prov = CachingProvider(Counting(), CallCache(tmp_path, run="r"))
    asyncio.run(prov.complete(_req(messages=[{"role": "user", "content": "PRIVATE TEXT"}])))
    blobs = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert blobs and SECRET not in blobs and "PRIVATE TEXT" not in blobs


def _writer(root: str, n: int) -> None:
    prov = CachingProvider(Counting(), CallCache(Path(root), run=f"proc-{n}"))
    for _ in range(30):
        prov.cache.put(prov.key(_req()), asyncio.run(prov.inner.complete(_req())), "m")


def test_two_processes_writing_the_same_entry_leave_a_whole_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    files = list(tmp_path.rglob("*"))
    entries = [f for f in files if f.is_file()]
    assert len(entries) == 1 and not [f for f in entries if f.name.endswith(".tmp")]
    cache = CallCache(tmp_path)
    assert cache.get(entries[0].stem) is not None and cache.counts["corrupt"] == 0


def test_default_folder_follows_xdg_and_off_switches_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_dir() == tmp_path / "xdg" / "instructforge" / "calls"
    cache = cache_from_option("default", run="r", warn=None)
    assert cache is not None and cache.root == default_dir()
    assert cache_from_option("off", run="r", warn=None) is None
    assert cache_from_option(None, run="r", warn=None) is None
    mine = cache_from_option(str(tmp_path / "mine"), run="r", warn=None)
    assert mine is not None and mine.root == tmp_path / "mine"


def test_resumed_unit_answered_by_the_cache_keeps_its_provenance(tmp_path: Path) -> None:
    """A unit whose reply came from the call cache before a crash: on resume the executor
    asks the cache again (free) rather than the journal, so the record keeps meta.cache."""
    from generator.generate.executor import UnitExecutor, UnitSpec
    from generator.generate.journal import CallRow
    from generator.providers.base import request_hash

    reply = '{"records": [{"instruction": "How many days?", "input": "", "output": "25."}]}'

    class Valid(Counting):
        async def complete(self, request: CompletionRequest) -> Completion:
            self.calls += 1
            usage = CompletionUsage(prompt_tokens=120, completion_tokens=30, cost_usd=0.0042)
            return Completion(text=reply, finish_reason="stop", usage=usage)

    inner = Valid()
    cache = CallCache(tmp_path, run="first")
    asyncio.run(CachingProvider(inner, cache).complete(_req()))  # another run paid it
    digest = request_hash(_req())
    row = CallRow(digest, "u1", "c1", "ask", 1, "ok", reply=reply, cache_hit=1)
    rows = []
    spec = UnitSpec("u1", 0, "c1", "alpaca", _req(), cached={digest: row})
    out = asyncio.run(UnitExecutor(CachingProvider(inner, cache), rows.append).run(spec))
    assert inner.calls == 1 and out.cache is not None and out.cache["run"] == "first"
    assert out.usage.cost_usd == 0.0042 and len(out.valid) == 1
    assert rows[0].cache_hit == 1 and rows[0].cost_usd == 0.0
    # without the cache the journaled reply is reused as before: no call
    out = asyncio.run(UnitExecutor(inner, rows.append).run(spec))
    assert inner.calls == 1 and out.cache is None and len(out.valid) == 1
