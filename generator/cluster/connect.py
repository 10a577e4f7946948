"""Open a Dask cluster from a ``--cluster`` value.

``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
127.0.0.1 (about 0.4 s); ``tcp://HOST:PORT`` connects to a running ``dask scheduler``.
Dask is the optional ``cluster`` extra: without it the flag fails with an install hint.
The dashboard (bokeh, also in the extra) is bound to loopback, and its address is printed
when a local cluster starts; it serves its own files and fetches nothing.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import ConfigError

INSTALL_HINT = 'pip install "instructforge[cluster]"'
_LOCAL = re.compile(r"^local:(\d{1,3})$")
_TCP = re.compile(r"^tcp://[^\s/:]+:\d{1,5}$")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``workers`` for a local cluster, or an ``address``."""

    workers: int = 0
    address: str | None = None

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


def parse_spec(value: str) -> ClusterSpec:
    """``local:N`` (1..64) or ``tcp://HOST:PORT``; anything else is a ConfigError (exit 2)."""
    value = value.strip()
    if m := _LOCAL.match(value):
        n = int(m.group(1))
        if not 1 <= n <= 64:
            raise ConfigError(f"--cluster local:N needs N from 1 to 64, not {n}")
        return ClusterSpec(workers=n)
    if _TCP.match(value):
        return ClusterSpec(address=value)
    raise ConfigError(f"--cluster must be local:N or tcp://HOST:PORT, not {value!r}")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"--cluster needs Dask distributed: {INSTALL_HINT}") from exc
    return distributed


@dataclass
class Cluster:
    """A connected Dask client plus what the run summary reports about the cluster."""

    client: Any
    spec: ClusterSpec
    dashboard: str | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # more summary lines (a stage's own)
    #: where partitioned steps spill (the run folder when there is one: with several
    #: machines it must be on a filesystem every worker sees)
    spill_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))

    @property
    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def worker_memory(self) -> dict[str, int]:
        """Current RSS (bytes) of every worker process, by worker address."""
        import psutil

        def rss() -> int:
            return psutil.Process().memory_info().rss

        return self.client.run(rss)

    @contextlib.contextmanager
    def stage(self, name: str, *, items: int = 0, size: int = 0) -> Iterator[dict[str, Any]]:
        """Time one stage and sample the workers' peak memory while it runs; the dict
        yielded can be updated (``items``, ``bytes``) before the block ends."""
        row: dict[str, Any] = {"stage": name, "items": items, "bytes": size}
        peak: dict[str, int] = {}
        sampler = _MemorySampler(self, peak)
        sampler.start()
        started = time.perf_counter()
        try:
            yield row
        finally:
            sampler.stop()
            row["seconds"] = round(time.perf_counter() - started, 3)
            row["peak_worker_rss_mb"] = round(max(peak.values(), default=0) / 2**20, 1)
            self.stages.append(row)

    def summary_lines(self) -> list[str]:
        """One line per stage: items/s, MB/s, seconds, peak worker memory."""
        lines = []
        for r in self.stages:
            secs = max(r["seconds"], 1e-9)
            rate = f"{r['items'] / secs:,.1f} items/s"
            if r["bytes"]:
                rate += f", {r['bytes'] / 2**20 / secs:,.2f} MB/s"
            lines.append(
                f"cluster {self.spec} stage {r['stage']}: {r['items']:,} items in "
                f"{r['seconds']:.2f} s ({rate}); peak worker memory {r['peak_worker_rss_mb']} MB"
            )
        return lines + [f"cluster {self.spec}: {note}" for note in self.notes]


class _MemorySampler:
    """Samples worker RSS every half second (through the scheduler's heartbeat metrics)."""

    def __init__(self, cluster: Cluster, peak: dict[str, int]) -> None:
        import threading

        self.cluster, self.peak = cluster, peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        info = self.cluster.client.scheduler_info(n_workers=-1).get("workers", {})
        for addr, w in info.items():
            mem = (w.get("metrics") or {}).get("memory") or 0
            self.peak[addr] = max(self.peak.get(addr, 0), int(mem))

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):  # a sample that fails is only a missing point
                self._sample()

    def start(self) -> None:
        with contextlib.suppress(Exception):
            self._sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        with contextlib.suppress(Exception):
            self._sample()


def _dashboard_wanted() -> bool:
    try:
        import bokeh  # noqa: F401  (the dashboard needs it; without it there is none)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def open_cluster(
    value: str,
    *,
    say: Callable[[str], None] | None = None,
    summary: Callable[[str], None] | None = None,
) -> Iterator[Cluster]:
    """Connect to (or start) the cluster named by ``value``; closed on exit. ``say`` gets
    the start line (with the dashboard address); ``summary`` the per-stage lines at the
    end, also when the command stops early (a guard, Ctrl-C, an error)."""
    spec = parse_spec(value)
    distributed = _import_distributed()
    import logging

    # Dask logs start-up and shutdown chatter at INFO: the run's own lines are enough.
    for name in ("distributed", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:  # closed last: the client, then a local cluster
        link = None
        if spec.address is None:
            dashboard = "127.0.0.1:0" if _dashboard_wanted() else None
            local = distributed.LocalCluster(
                n_workers=spec.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=dashboard,
                silence_logs=logging.WARNING,
            )
            stack.callback(local.close)
            client = distributed.Client(local)
            stack.callback(client.close)
            link = local.dashboard_link if dashboard else None
            if say is not None:
                say(
                    f"cluster local:{spec.workers} started"
                    + (f"; dashboard {link}" if link else " (no dashboard: bokeh not installed)")
                )
        else:
            try:
                client = distributed.Client(spec.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"--cluster {spec.address}: no Dask scheduler answered ({exc})"
                ) from exc
            stack.callback(client.close)
            if say is not None:
                say(f"cluster {spec.address}: {len(client.scheduler_info()['workers'])} workers")
        cluster = Cluster(client, spec, link)
        try:
            yield cluster
        finally:
            _summarise(cluster, summary)


def _summarise(cluster: Cluster, summary: Callable[[str], None] | None) -> None:
    if summary is not None:
        for line in cluster.summary_lines():
            summary(line)
