"""Building blocks for the service tests: zip archives and uploads."""

from __future__ import annotations

import io
import stat
import zipfile

DOC = b"# Leave\n\nEmployees get 25 days of paid leave a year. Requests go to the manager.\n"


def zip_bytes(members: list[tuple[str, bytes]], *, modes: dict[str, int] | None = None) -> bytes:
    """A zip with ``members`` (name, data); ``modes`` gives Unix modes (symlinks, devices)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            mode = (modes or {}).get(name, stat.S_IFREG | 0o644)
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The ``files`` multipart parts for httpx."""
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


def error(res) -> dict:  # type: ignore[no-untyped-def]
    """The error object of an error answer (and check its shape)."""
    body = res.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return body["error"]
