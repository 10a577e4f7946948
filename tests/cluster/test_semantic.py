"""Semantic dedup and the harmful step under ``--cluster``: embeddings bit for bit as one
process, the same pairs (exact and bucketed search), the same curated files; the harmful
classifier is fitted once, in the coordinator, never per partition on the workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.cluster.connect import Cluster, parse_spec
from generator.curate import semantic_dedup as sd
from tests.curate.corpus import as_rows, corpus

pytestmark = [
    pytest.mark.embeddings,
    pytest.mark.skipif(not sd.embeddings_available(), reason="needs the [embeddings] extra"),
]
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster(dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client

    client = Client(dask_address)
    try:
        yield Cluster(client, parse_spec(dask_address), spill_root=tmp_path_factory.mktemp("sp"))
    finally:
        client.close()


def _texts() -> list[str]:
    rows = as_rows(corpus(260, 80, seed=5))
    return [f"{r['instruction']}\n{r['output']}" for r in rows]


@pytest.mark.parametrize("exact_max", [20_000, 60], ids=["exact", "bucketed"])
def test_workers_embed_bit_for_bit_and_find_the_same_pairs(cluster: Cluster, exact_max: int):
    from generator.cluster.semantic import ClusterSemantic

    texts = _texts()
    cfg = sd.SemanticDedupConfig(batch_size=16, exact_max=exact_max, probes=2)
    local = sd.embed(texts, cfg.batch_size, cfg.max_tokens, cfg.threads)
    pairs = sd.similar_pairs(local, cfg.threshold, cfg.exact_max, cfg.probes, 3, cfg.threads)
    spread = ClusterSemantic(cluster, texts, cfg, seed=3)
    try:
        assert isinstance(spread.emb, np.memmap)  # spilled, not held by the coordinator
        assert np.array_equal(spread.emb, local)
        assert spread.pairs == pairs  # (i, j, cosine), cosines equal to the last bit
        assert len(pairs) >= 40
    finally:
        spread.close()
    assert not list(cluster.spill_root.glob(".semantic-dedup-spill-*"))


def test_the_batches_matter_so_bit_equality_is_not_a_given():
    """Why the workers must embed the very same batches: another cut of the same length
    order pads differently and the floats differ (so the test above can fail)."""
    texts = _texts()[:96]
    ordered = [texts[i] for i in sd.length_order(texts)]
    a = sd.embed_batches(ordered, 16)
    b = np.vstack([sd.embed_batches(ordered[:8], 16), sd.embed_batches(ordered[8:], 16)])
    assert not np.array_equal(a, b)
    assert np.allclose(a, b, atol=1e-4)


CONFIG = """
steps: [harmful, exact_dedup, semantic_dedup]
harmful: {enabled: true}
exact_dedup: {on_instruction: false}
semantic_dedup: {batch_size: 16, exact_max: 100, probes: 2}
"""


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "curation").iterdir()) if p.is_file()}


def test_curate_with_semantic_dedup_on_a_cluster_writes_the_same_files(
    tmp_path: Path, cluster: Cluster, dask_address: str, monkeypatch: pytest.MonkeyPatch
):
    from generator.curate.harm import classifier

    rows = as_rows(corpus(300, 90, seed=13))
    rows[7]["output"] += " Step one: mix bleach and ammonia in a closed room to make gas."
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(CONFIG)
    run = tmp_path / "run"
    base = ["curate", "--input", str(src), "--config", str(cfg), "--out", str(run)]
    plain = runner.invoke(app, base)
    assert plain.exit_code == 0, plain.output
    a = _files(run)

    def no_local_embedding(*_a, **_k):
        raise AssertionError("semantic dedup embedded in the coordinator under --cluster")

    monkeypatch.setattr(sd, "embed", no_local_embedding)  # the workers must do it
    spread = runner.invoke(app, [*base, "--cluster", dask_address])
    assert spread.exit_code == 0, spread.output
    b = _files(run)
    assert not list(run.glob(".semantic-dedup-spill-*"))
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    stats = {s["step"]: s for s in json.loads(a["stats.json"])["steps"]}
    assert stats["semantic_dedup"]["dropped"]["semantic_duplicate"] > 10
    assert sum(stats["harmful"]["dropped"].values()) >= 1
    assert "stage curate:semantic_dedup: " in spread.stdout

    def caches() -> tuple[int, int, int]:
        return (
            classifier.fitted.cache_info().misses,
            classifier._embed_exemplars.cache_info().misses,
            sd._model.cache_info().misses,
        )

    per_worker = cluster.client.run(caches)
    assert len(per_worker) == 2
    for fits, exemplar_embeddings, model_loads in per_worker.values():
        # the harmful step's classifier arrives fitted (its exemplar embeddings inside),
        # whatever the number of partitions; the model is loaded at most once per process
        assert fits == 0 and exemplar_embeddings == 0
        assert model_loads <= 1
    assert sum(m for *_, m in per_worker.values()) >= 1
