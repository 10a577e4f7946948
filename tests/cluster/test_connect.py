"""``--cluster`` values, and a local cluster: loopback only, dashboard address printed,
per-stage lines with the workers' memory."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from generator.cluster.connect import ClusterSpec, open_cluster, parse_spec
from generator.errors import ConfigError


def test_cluster_values():
    assert parse_spec("local:3") == ClusterSpec(workers=3)
    assert parse_spec(" tcp://10.0.0.5:8786 ") == ClusterSpec(address="tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:65", "local", "http://h:1", "tcp://h", "8786"):
        with pytest.raises(ConfigError):
            parse_spec(bad)


def test_a_local_cluster_is_on_loopback_and_prints_its_dashboard():
    said: list[str] = []
    with open_cluster("local:1", say=said.append) as cluster:
        assert cluster.n_workers == 1
        info = cluster.client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])
        assert said[0].startswith("cluster local:1 started; dashboard http://127.0.0.1:")
        link = said[0].split("dashboard ", 1)[1]
        assert link == cluster.dashboard
        with urllib.request.urlopen(link, timeout=30) as page:  # served from this machine
            assert page.status == 200
            html = page.read().decode()
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
        assert scripts and not [s for s in scripts if "//" in s]  # bokeh's own copies, no CDN
        with cluster.stage("work", items=10, size=2**20) as row:
            time.sleep(0.6)
            row["items"] = 20
    [line] = cluster.summary_lines()
    assert line.startswith("cluster local:1 stage work: 20 items in ")
    assert "MB/s" in line and "peak worker memory" in line
    assert cluster.stages[0]["peak_worker_rss_mb"] > 10  # a Python process at least


def test_an_address_nobody_serves_is_a_usage_error():
    with (
        pytest.raises(ConfigError, match="no Dask scheduler answered"),
        open_cluster("tcp://127.0.0.1:9"),
    ):
        pass
