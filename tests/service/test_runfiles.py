"""The child command of a job: ``serve --cluster`` reaches generate and curate jobs only."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.service.runfiles import JobPaths, command
from generator.service.settings import ServiceSettings


def _job(kind: str, **params: object) -> dict:
    return {"id": 7, "project_id": 1, "run_id": 3, "kind": kind, "params": params}


def test_cluster_is_passed_to_generate_and_curate_jobs_only(tmp_path: Path):
    gen = _job("generate", model="mock/echo", records=5)
    paths = JobPaths(tmp_path, gen)
    plain = command(gen, paths)
    assert "--cluster" not in plain
    assert command(gen, paths, "tcp://127.0.0.1:8786") == [
        *plain,
        "--cluster",
        "tcp://127.0.0.1:8786",
    ]
    cur = _job("curate")
    assert command(cur, JobPaths(tmp_path, cur), "local:2")[-2:] == ["--cluster", "local:2"]
    exp = _job("export", format="alpaca", use="evaluation", strict=True)
    assert "--cluster" not in command(exp, JobPaths(tmp_path, exp), "local:2")


def test_a_bad_cluster_setting_stops_the_server(tmp_path: Path):
    with pytest.raises(ConfigError, match="--cluster must be local:N or tcp://HOST:PORT"):
        ServiceSettings(tmp_path, "sqlite://", cluster="somewhere")


def test_a_batch_generate_job_does_not_get_the_cluster(tmp_path: Path):
    gen = _job("generate", model="openai/gpt-4o-mini", batch=True)
    argv = command(gen, JobPaths(tmp_path, gen), "tcp://127.0.0.1:8786")
    assert argv[-1] == "--batch" and "--cluster" not in argv
