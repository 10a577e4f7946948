"""What one ``serve`` process runs with (from its flags)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path

from generator.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321
DEFAULT_DATA = "instructforge-data"
DEFAULT_MAX_UPLOAD_MB = 100.0
DEFAULT_WORKERS = 1
DEFAULT_HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class ServiceSettings:
    data: Path
    db_url: str
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    workers: int = DEFAULT_WORKERS  # jobs this server runs at once (0: API only)
    heartbeat_s: float = DEFAULT_HEARTBEAT_S  # a running job's beat; stale after 3 missed
    cluster: str | None = None  # --cluster for generate and curate jobs (Dask)

    def __post_init__(self) -> None:
        if not 0 < self.max_upload_mb < math.inf:
            raise ConfigError("--max-upload-mb must be a positive number")
        if not 0 <= self.workers <= 64:
            raise ConfigError("--workers must be a number from 0 to 64")
        if not 0.1 <= self.heartbeat_s <= 600:
            raise ConfigError("--heartbeat must be from 0.1 to 600 seconds")
        if self.cluster is not None:
            from generator.cluster.connect import parse_spec

            parse_spec(self.cluster)  # a bad value stops the server before it starts

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
