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


@dataclass(frozen=True)
class ServiceSettings:
    data: Path
    db_url: str
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    def __post_init__(self) -> None:
        if not 0 < self.max_upload_mb < math.inf:
            raise ConfigError("--max-upload-mb must be a positive number")

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
