"""Generation throughput against a local OpenAI-compatible server with a fixed latency.

Starts ``benchmarks/mock_openai_server.py`` (127.0.0.1 only, 200 ms per reply), ingests a
generated corpus once, then, in the same run and against the same server:

- a bare ``litellm.acompletion`` loop (the same requests: the keyword arguments that shape
  what goes on the wire, nothing else) at each concurrency, in a new process (LiteLLM's
  state in this one, where pipelines ran, must not help it);
- the whole pipeline (render, call through LiteLLM with retries/limiter, parse, validate,
  novelty, provenance, journal, JSONL) as ``generate`` runs it by default
  (``--workers auto``: from concurrency 32 on, the calls run in worker processes, one per
  core, and everything else in this one);
- the same pipeline with ``--workers 0`` (everything in one process), for comparison;
- the pipeline with ``--workers N`` at the highest concurrency;
- for N > 1, the bare loop split over N processes started together: the ceiling that
  ``--workers N`` could reach on this machine at that moment (LiteLLM's CPU alone, no
  pipeline), so the 1.5x target can be read against what the cores gave;
- at the highest concurrency, the bare loop given what our provider gives LiteLLM for a
  model missing from its map (``model_info.call_pricing``: pricing keywords and an entry in
  its map, which spare it several searches of the map per call), to show how much of the
  pipeline's gain is LiteLLM's own work spared rather than ours made cheaper.

The machine is shared and noisy, so each configuration runs ``--repeat`` times, interleaved
(bare, then the others in an order rotated each repetition); the table shows medians, and "vs bare"
is the median of the ratios of runs made back to back. Also printed: records/s, the ratio to
the ideal (concurrency / latency), and client CPU ms per request (this process plus
workers, without the server). Targets: the pipeline >= 0.9 of the bare loop at both
concurrencies; ``--workers N`` >= 1.5x the one-process bare loop at the highest concurrency.

    .venv/bin/python benchmarks/bench_generate.py [--units 1500] [--repeat 3]
        [--concurrency 64 256] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.generate.backend import LocalBackend, call_processes, settle_heap  # noqa: E402
from generator.generate.budget import CostModel  # noqa: E402
from generator.generate.engine import Engine  # noqa: E402
from generator.generate.executor import UnitSpec  # noqa: E402
from generator.generate.journal import GenJournal  # noqa: E402
from generator.generate.outputs import JsonlSink  # noqa: E402
from generator.generate.settings import GenerateSettings  # noqa: E402
from generator.generate.setup import prepare, record_start  # noqa: E402
from generator.generate.workers import ProcessBackend  # noqa: E402
from generator.providers.litellm_provider import LiteLLMProvider  # noqa: E402
from generator.providers.model_info import PRICING_KEYWORDS, call_pricing, litellm  # noqa: E402
from generator.store import Journal  # noqa: E402

MODEL = "openai/bench-model"
PER_CHUNK = 50  # 10 calls of 5 records per chunk


def _vocabulary(n: int = 4000) -> list[str]:
    """Pseudo-words: real documents have large vocabularies, and novelty search cost depends
    on how many instructions share words."""
    import random

    rng = random.Random(5)
    syll = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    return sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(n)})


def start_server(latency_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "mock_openai_server.py"),
         "--latency-ms", str(latency_ms), "--max-seconds", "1800"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"mock server did not start: {line!r}")
    return proc, int(line.split()[1])


def make_corpus(folder: Path, docs: int) -> None:
    import random

    rng = random.Random(3)
    words = _vocabulary()
    folder.mkdir(parents=True)
    for i in range(docs):
        paras = [
            " ".join(
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 14))).capitalize() + "."
                for _ in range(4)
            )
            for _ in range(4)
        ]
        text = f"# Handbook page {i}\n\n" + "\n\n".join(paras) + "\n"
        (folder / f"page{i:04d}.md").write_text(text, encoding="utf-8")


def settings_for(
    docs: Path, run: Path, api_base: str, concurrency: int, workers: int | str = "auto"
):
    return GenerateSettings(
        docs=str(docs), run_dir=str(run), model=MODEL, template="qa", per_chunk=PER_CHUNK,
        concurrency=concurrency, api_base=api_base, workers=workers, max_retries=2,
    )  # fmt: skip


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def client_cpu(server_pid: int) -> float:
    """CPU of this process and its children, except the mock server."""
    me = psutil.Process()
    server = psutil.Process(server_pid)
    return cpu_seconds(me) - cpu_seconds(server)


def server_stats(port: int) -> dict:
    """The mock server's counters (``/stats``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as reply:
        return json.loads(reply.read())


def server_cpu(server_pid: int) -> float:
    return cpu_seconds(psutil.Process(server_pid))


async def run_pipeline(template: Path, work: Path, name: str, settings_kw: dict, server: int):
    run = work / name
    run.mkdir()
    shutil.copy(template / "run.sqlite", run / "run.sqlite")
    settings = settings_for(run=run, **settings_kw)
    journal = Journal(run)
    gj = GenJournal(journal)
    p = prepare(settings, journal, gj)
    record_start(p, journal)
    sinks = JsonlSink(run / "records.jsonl"), JsonlSink(run / "rejected.jsonl")
    gj.start_session(p.fingerprint)
    engine = Engine(p, gj, CostModel(MODEL, p.fitter), *sinks)
    n = call_processes(settings, len(p.pending))
    if n > 0:
        backend = ProcessBackend(settings, engine.on_call, n)
        await backend.ready()
    else:
        backend = LocalBackend(settings, engine.on_call)
    cpu0, t0 = client_cpu(server), time.perf_counter()
    await engine.run(backend)
    wall, cpu = time.perf_counter() - t0, client_cpu(server) - cpu0
    await backend.aclose()
    for sink in sinks:
        sink.close()
    journal.close()
    t = engine.tally
    return {"wall": wall, "cpu": cpu, "requests": t.calls, "records": t.accepted, "units": t.units}


def _bare_kwargs(template: Path, work: Path, settings_kw: dict, hints: bool = False) -> list[dict]:
    """The ``litellm.acompletion`` arguments of every pending unit's request: what goes on
    the wire, plus (``hints``) the pricing keywords our provider gives LiteLLM to spare it
    work (:func:`generator.providers.model_info.call_pricing`)."""
    run = work / f"bare{settings_kw['concurrency']}"
    run.mkdir(parents=True)
    shutil.copy(template / "run.sqlite", run / "run.sqlite")
    settings = settings_for(run=run, **settings_kw)
    with Journal(run) as journal:
        p = prepare(settings, journal, GenJournal(journal))
        engine = Engine(p, GenJournal(journal), CostModel(MODEL, p.fitter), None, None)  # type: ignore[arg-type]
        specs = [engine.build_spec(u) for u in p.pending]
    provider = LiteLLMProvider(api_base=settings.api_base)
    kwargs = [provider.call_kwargs(s.request) for s in specs if isinstance(s, UnitSpec)]
    if not hints:
        kwargs = [{k: v for k, v in kw.items() if k not in PRICING_KEYWORDS} for kw in kwargs]
    return kwargs


def _bare_child(kwargs: list[dict], concurrency: int, hints: bool, barrier, results) -> None:
    """One of the processes of :func:`run_bare`."""
    lib = litellm()
    if hints:  # as our provider does: also an entry in LiteLLM's map for an unmapped model
        call_pricing(kwargs[0]["model"])
    settle_heap()  # as a call process does

    async def go() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(kw: dict) -> None:
            async with sem:
                await lib.acompletion(**kw)

        barrier.wait()
        cpu0 = time.process_time()
        await asyncio.gather(*(one(kw) for kw in kwargs))
        results.put(time.process_time() - cpu0)

    asyncio.run(go())


async def run_bare(
    template: Path, work: Path, settings_kw: dict, n: int = 1, hints: bool = False
) -> dict:
    """The same requests through ``litellm.acompletion`` and nothing else, in ``n`` new
    processes (each with 1/n of the requests and of the concurrency; n > 1: the ceiling for
    ``--workers n``), started together once imported. New processes: LiteLLM's state in
    this one (its map holds what our provider entered in it) must not help the bare loop."""
    import multiprocessing

    kwargs = _bare_kwargs(template, work, settings_kw, hints)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n + 1), ctx.Queue()
    c = max(1, settings_kw["concurrency"] // n)
    procs = [
        ctx.Process(target=_bare_child, args=(kwargs[i::n], c, hints, barrier, results))
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    await asyncio.to_thread(barrier.wait)
    t0 = time.perf_counter()
    cpu = sum([await asyncio.to_thread(results.get) for _ in procs])
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join(30)
    return {"wall": wall, "cpu": cpu, "requests": len(kwargs), "records": 0, "units": len(kwargs)}


def rate(r: dict) -> float:
    return r["requests"] / r["wall"]


def line(name: str, runs: list[dict], ratio: float | None, ideal: float) -> str:
    """Medians over the repetitions of one configuration."""
    med = statistics.median
    rps = med(rate(r) for r in runs)
    records = med(r["records"] / r["wall"] for r in runs)
    cpu = med(1000 * r["cpu"] / max(1, r["requests"]) for r in runs)
    shown = f"{ratio:.2f}" if ratio is not None else "-"
    return f"{name:<42} {records:>9.1f} {rps:>9.1f} {shown:>8} {rps / ideal:>8.2f} {cpu:>8.2f}"


async def main() -> None:
    ap = argparse.ArgumentParser(description="generation throughput benchmark")
    ap.add_argument("--units", type=int, default=1500, help="calls per configuration")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per configuration")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    args = ap.parse_args()
    server, port = start_server(args.latency_ms)
    api_base = f"http://127.0.0.1:{port}/v1"
    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    try:
        docs = work / "docs"
        make_corpus(docs, max(1, args.units // (PER_CHUNK // 5)))
        template = work / "template"
        from generator.ingest.chunking import ChunkSettings
        from generator.ingest.pipeline import IngestSettings, ingest_folder

        with Journal(template) as journal:
            ingest_folder(docs, journal, IngestSettings(ChunkSettings(model=MODEL)))
        litellm()  # import once, outside every timing
        # As the runner and the call processes do (the bare loops too, so the comparison is
        # of the pipeline's own work): LiteLLM's static heap frozen, fewer young collections.
        settle_heap()
        print(f"latency {args.latency_ms:.0f} ms, {args.units} calls per run, "
              f"{args.repeat} interleaved runs per configuration, "
              f"{psutil.cpu_count()} cores (shared: figures are noisy)")  # fmt: skip
        head = f"{'configuration (medians)':<42} {'records/s':>9} {'req/s':>9} {'vs bare':>8} "
        print(head + f"{'vs ideal':>8} {'cpu ms/req':>8}")
        n = 0

        async def pipeline(kw: dict) -> dict:
            nonlocal n
            n += 1
            return await run_pipeline(template, work, f"pipe{n}", kw, server.pid)

        async def bare(kw: dict, processes: int = 1, hints: bool = False) -> dict:
            nonlocal n
            n += 1
            return await run_bare(template, work / f"b{n}", kw, processes, hints)

        top = max(args.concurrency)
        all_runs: list[dict] = []
        for c in args.concurrency:
            kw = {"docs": docs, "api_base": api_base, "concurrency": c}
            configs = {
                "pipeline (default: --workers auto)": dict(kw),
                "pipeline, one process (--workers 0)": {**kw, "workers": 0},
            }
            if c == top:
                for w in args.workers:
                    configs[f"pipeline --workers {w}"] = {**kw, "workers": w}
            ceilings = [w for w in args.workers if w > 1] if c == top else []
            for w in ceilings:  # what n processes of bare calls reach: the --workers ceiling
                configs[f"bare loop in {w} processes (ceiling)"] = {**kw, "workers": w}
            if c == top:  # how much of the pipeline's gain is LiteLLM spared work
                configs["bare loop + our pricing keywords/entry"] = {**kw, "hints": True}
            bares: list[dict] = []
            runs: dict[str, list[dict]] = {name: [] for name in configs}
            ratios: dict[str, list[float]] = {name: [] for name in configs}
            names = list(configs)
            for rep in range(args.repeat):
                b = await bare(kw)
                bares.append(b)
                # Rotated each repetition: no configuration always runs right after the
                # bare loop (or any other), so order effects spread over all of them.
                shift = rep % len(names)
                for name in names[shift:] + names[:shift]:
                    ckw = configs[name]
                    if name.startswith("bare loop +"):
                        r = await bare(kw, hints=True)
                    elif name.startswith("bare loop in"):
                        r = await bare(kw, processes=ckw["workers"])
                    else:
                        r = await pipeline(ckw)
                    runs[name].append(r)
                    ratios[name].append(rate(r) / rate(b))
            all_runs += bares + [r for rs in runs.values() for r in rs]
            ideal = c / (args.latency_ms / 1000)
            print(line(f"bare litellm loop c={c}", bares, None, ideal), flush=True)
            for name in configs:
                label = f"{name} c={c}"
                print(line(label, runs[name], statistics.median(ratios[name]), ideal), flush=True)
        served = sum(r["requests"] for r in all_runs)
        cached = server_stats(port).get("cached", 0) / max(1, served)
        print(
            f"mock server CPU: {1000 * server_cpu(server.pid) / max(1, served):.2f} ms per request "
            f"(shares the cores with the clients; {100 * cached:.0f}% answered from its reply "
            "cache: the same requests in every run)"
        )
        print(
            "targets: pipeline >= 0.90 of the bare loop at each concurrency; "
            f"--workers N >= 1.50x the bare loop at c={top}"
        )
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
