"""How many processes make the calls: ``--workers auto|0|N``."""

from __future__ import annotations

import pytest

from generator.generate.backend import (
    AUTO_MAX_PROCESSES,
    AUTO_MIN_CONCURRENCY,
    call_processes,
    usable_cores,
)
from generator.generate.settings import GenerateSettings
from tests.generate.engine_helpers import gen, ok_calls, record_set


def _settings(**kw) -> GenerateSettings:
    return GenerateSettings(docs="d", run_dir="r", model=kw.pop("model", "mock/echo"), **kw)


def test_auto_uses_call_processes_only_with_many_calls_in_flight_and_enough_work():
    c = AUTO_MIN_CONCURRENCY
    assert call_processes(_settings(), 10_000, cores=2) == 0  # default concurrency 8
    assert call_processes(_settings(concurrency=c - 1), 10_000, cores=2) == 0
    assert call_processes(_settings(concurrency=c), 2 * c, cores=2) == 1
    assert call_processes(_settings(concurrency=c), 2 * c - 1, cores=2) == 0  # a short run
    assert call_processes(_settings(concurrency=256, model="local/qwen"), 10_000, cores=2) == 0


def test_auto_uses_one_call_process_per_core_and_per_32_calls_in_flight():
    assert call_processes(_settings(concurrency=64), 10_000, cores=2) == 2
    assert call_processes(_settings(concurrency=256), 10_000, cores=2) == 2
    assert call_processes(_settings(concurrency=96), 10_000, cores=16) == 3
    assert call_processes(_settings(concurrency=1024), 100_000, cores=64) == AUTO_MAX_PROCESSES
    assert call_processes(_settings(concurrency=256), 10_000, cores=1) == 0  # nothing to gain
    # Without ``cores``, this machine's usable cores decide.
    s = _settings(concurrency=256)
    assert call_processes(s, 10_000) == call_processes(s, 10_000, cores=usable_cores())


def test_explicit_workers_are_taken_as_given():
    assert call_processes(_settings(workers=0, concurrency=256), 10_000) == 0
    assert call_processes(_settings(workers="3", concurrency=8), 5) == 3


@pytest.mark.parametrize("value", ["x", "-1", "65", True])
def test_bad_workers_values_are_refused(value):
    with pytest.raises(ValueError, match="workers must be auto or a number from 0 to 64"):
        _settings(workers=value)


def test_workers_option_errors_are_one_line_and_exit_2(docs, tmp_path):
    res = gen(docs, tmp_path / "r", "--workers", "many")
    assert res.exit_code == 2
    assert "workers must be auto or a number from 0 to 64" in res.output
    res = gen(docs, tmp_path / "r2", "--workers", "4", "--concurrency", "2")
    assert res.exit_code == 2
    assert "--concurrency must be at least --workers" in res.output


@pytest.mark.slow
def test_auto_call_processes_give_the_same_records_as_one_process(docs, tmp_path):
    c = 2 * AUTO_MIN_CONCURRENCY
    one, auto = tmp_path / "one", tmp_path / "auto"
    args = ("--per-chunk", "120", "--concurrency", str(c))
    res_one = gen(docs, one, *args, "--workers", "0")
    assert res_one.exit_code == 0, res_one.output
    assert "worker process" not in res_one.output
    res = gen(docs, auto, *args)
    assert res.exit_code == 0, res.output
    n = min(usable_cores(), 2) if usable_cores() > 1 else 0
    if n:
        assert f"calls run in {n} worker process{'es' * (n > 1)} (--workers auto" in res.output
    else:
        assert "worker process" not in res.output
    assert record_set(auto) == record_set(one)
    assert len(ok_calls(auto)) == len(ok_calls(one))


def test_calls_heap_collects_young_objects_less_often_and_restores_the_thresholds():
    import gc

    from generator.generate.backend import GC_GEN0_THRESHOLD, calls_heap

    before = gc.get_threshold()
    with calls_heap():
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
