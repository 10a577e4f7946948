"""Seed tasks and in-context example sampling."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.generate.seeding import (
    Example,
    load_seeds,
    rng_for,
    sample_examples,
    seeds_sha256,
)


def _seed_file(tmp_path: Path, n: int = 10) -> Path:
    lines = [
        json.dumps({"instruction": f"Explain rule {i}.", "input": "", "output": f"Rule {i}."})
        for i in range(n)
    ]
    # Self-Instruct layout, and a duplicate that must be kept once.
    lines.append(
        json.dumps(
            {
                "id": "seed_task_0",
                "name": "breakfast",
                "instruction": "Suggest a healthy breakfast.",
                "instances": [{"input": "", "output": "Oatmeal with fruit."}],
                "is_classification": False,
            }
        )
    )
    lines.append(lines[0])
    path = tmp_path / "seeds.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return path


def test_load_both_layouts_and_drop_duplicates(tmp_path: Path) -> None:
    seeds = load_seeds(_seed_file(tmp_path))
    assert len(seeds) == 11
    assert seeds[0] == Example(instruction="Explain rule 0.", output="Rule 0.")
    assert seeds[-1].as_dict() == {
        "instruction": "Suggest a healthy breakfast.",
        "input": "",
        "output": "Oatmeal with fruit.",
    }


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "seeds.jsonl:2"),
        ('{"instruction": "Do it.", "output": ""}', "seeds.jsonl:2"),
        ('{"instruction": 5, "output": "x"}', "instruction"),
        ('{"instruction": "Do it.", "instances": []}', "instances"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_seed_line_names_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"instruction": "Fine.", "output": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_seeds(path)
    assert needle in str(info.value)
    assert "seeds.jsonl:2" in str(info.value)


def test_extra_metadata_keys_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    line = {"id": "s1", "category": "hr", "instruction": "Do it.", "input": "", "output": "Done."}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert load_seeds(path) == [Example(instruction="Do it.", output="Done.")]


def test_missing_or_empty_seed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_seeds(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no seed tasks"):
        load_seeds(empty)


def test_sampling_counts_follow_the_paper(tmp_path: Path) -> None:
    seeds = load_seeds(_seed_file(tmp_path))
    pool = [Example(instruction=f"Machine task {i}.", output="x") for i in range(5)]
    rng = random.Random(0)
    # No machine pool yet: all 8 from the seeds.
    got = sample_examples(seeds, [], rng, k=8, n_from_pool=2)
    assert len(got) == 8 and all(e in seeds for e in got)
    # One machine task: 1 from the pool, 7 from the seeds.
    got = sample_examples(seeds, pool[:1], rng, k=8, n_from_pool=2)
    assert Counter(e in seeds for e in got) == Counter({True: 7, False: 1})
    # Enough: 2 from the pool, 6 from the seeds, no repeats.
    got = sample_examples(seeds, pool, rng, k=8, n_from_pool=2)
    assert Counter(e in seeds for e in got) == Counter({True: 6, False: 2})
    assert len(set(got)) == 8
    # Fewer seeds than asked: as many as there are.
    assert len(sample_examples(seeds[:3], [], rng, k=8)) == 3
    assert sample_examples(seeds, pool, rng, k=0) == []


def test_sampling_is_reproducible_and_uses_no_global_state(tmp_path: Path) -> None:
    seeds = load_seeds(_seed_file(tmp_path))
    pool = [Example(instruction=f"Machine task {i}.", output="x") for i in range(5)]
    random.seed(1)
    a = sample_examples(seeds, pool, rng_for("run", "chunk-1", "0"))
    random.seed(2)
    b = sample_examples(seeds, pool, rng_for("run", "chunk-1", "0"))
    c = sample_examples(seeds, pool, rng_for("run", "chunk-2", "0"))
    assert a == b
    assert a != c
    state = random.getstate()
    sample_examples(seeds, pool, rng_for("x"))
    assert random.getstate() == state


def test_seeds_hash_changes_with_content(tmp_path: Path) -> None:
    seeds = load_seeds(_seed_file(tmp_path))
    assert seeds_sha256(seeds) == seeds_sha256(list(seeds))
    assert seeds_sha256(seeds) != seeds_sha256(seeds[:-1])


# --- which seeds a run uses (issue 16, item 6) -------------------------------------------

SAMPLE_COMPANY = "Larkspur"  # the invented company of samples/


def test_default_seeds_are_generic_not_the_sample_company(tmp_path: Path) -> None:
    from generator.generate.seeding import default_seeds_path

    path = default_seeds_path()
    assert path.name == "generic.jsonl" and "samples" not in path.parts
    seeds = load_seeds()
    assert len(seeds) >= 16
    text = json.dumps([s.as_dict() for s in seeds])
    for word in (SAMPLE_COMPANY, "FieldLog", "Northwind"):
        assert word not in text
    # and none of the bundled sample company's tasks leaks in
    samples = Path(__file__).resolve().parents[2] / "samples" / "seed_tasks.jsonl"
    assert not {s.instruction for s in seeds} & {s.instruction for s in load_seeds(samples)}


def test_self_instruct_run_says_which_seeds_it_used(tmp_path: Path) -> None:
    from tests.generate.engine_helpers import gen, make_docs

    docs = make_docs(tmp_path / "docs", topics=("leave",), sections=1)
    run = tmp_path / "run"
    result = gen(docs, run, "--template", "self-instruct", "--records", "2")
    assert result.exit_code == 0, result.output
    assert "generic seed tasks" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["seeds"].endswith("generic.jsonl")
    assert config["seeds_sha256"] == seeds_sha256(load_seeds())

    mine = tmp_path / "mine.jsonl"
    mine.write_text(
        "\n".join(
            json.dumps({"instruction": f"Explain leave rule {i} to a colleague.", "output": "ok."})
            for i in range(8)
        )
        + "\n",
        encoding="utf-8",
    )
    run2 = tmp_path / "run2"
    result = gen(docs, run2, "--template", "self-instruct", "--records", "2", "--seeds", str(mine))
    assert result.exit_code == 0, result.output
    assert "8 seed tasks from" in result.output and "mine.jsonl" in result.output
    assert json.loads((run2 / "config.json").read_text())["seeds"] == str(mine)
