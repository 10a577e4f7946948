"""A message channel between two processes' event loops over one stream socket.

Messages are pickled in lists: everything one side sends in one event-loop iteration travels
as one frame (8-byte big-endian length, then the pickle), so a call's row and its unit's
outcome usually cost one write and one wake-up of the other side. Both directions run on the
loop (asyncio transports): a write never blocks, so two sides writing at once cannot
deadlock, and no thread has to hand the GIL back and forth for every batch.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import Callable
from typing import Any

_HEADER = 8  # frame length: no batch can outgrow it


class Channel(asyncio.Protocol):
    """One end of the channel: ``on_message`` gets each message received, ``on_close`` the
    exception (or None) once the other end is gone."""

    def __init__(
        self, on_message: Callable[[Any], None], on_close: Callable[[Exception | None], None]
    ) -> None:
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._batch: list[Any] = []
        self._closed: asyncio.Future[None] | None = None

    @classmethod
    async def open(
        cls,
        sock: socket.socket,
        on_message: Callable[[Any], None],
        on_close: Callable[[Exception | None], None],
    ) -> Channel:
        """Run a channel on ``sock`` (one end of a ``socket.socketpair()``) in this loop."""
        loop = asyncio.get_running_loop()
        chan = cls(on_message, on_close)
        chan._closed = loop.create_future()
        await loop.connect_accepted_socket(lambda: chan, sock=sock)
        return chan

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= _HEADER:
            size = int.from_bytes(buf[pos : pos + _HEADER], "big")
            if end - pos - _HEADER < size:
                break
            start = pos + _HEADER
            batch = pickle.loads(buf[start : start + size])
            pos = start + size
            for msg in batch:
                self.on_message(msg)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.on_close(exc)

    # -- sending ------------------------------------------------------------------------
    def send(self, obj: Any) -> None:
        """Queue ``obj``; the batch leaves at the end of this loop iteration."""
        if not self._batch:
            asyncio.get_running_loop().call_soon(self.flush)
        self._batch.append(obj)

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        if self.transport is None or self.transport.is_closing():
            return  # the other end is gone: nobody left to tell
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        self.transport.write(len(data).to_bytes(_HEADER, "big") + data)

    async def aclose(self) -> None:
        """Send what is queued, then close (waits until the socket is closed)."""
        self.flush()
        if self.transport is not None:
            self.transport.close()
        if self._closed is not None:
            await self._closed
