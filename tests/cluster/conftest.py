"""One Dask LocalCluster per test module (two single-threaded worker processes on
loopback); the CLI reaches it as ``--cluster tcp://127.0.0.1:PORT``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest.importorskip("distributed", reason="needs the [cluster] extra")


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
