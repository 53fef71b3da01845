"""The request body as a stream: what ``request.content`` is.

The connection feeds it as llhttp hands out body bytes; when more than ``high_water``
bytes wait unread, the connection stops reading the socket so a fast uploader cannot
make the server buffer without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

__all__ = ["EMPTY_STREAM", "StreamReader"]


class FlowControl(Protocol):
    """What the stream needs of its connection."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def send_continue(self) -> None: ...


class StreamReader:
    """An aiohttp-like body stream: ``read(n)``, ``readany``, ``readline``, ``iter_chunked``.

    One waiter Future at most, created only when the reader must wait.
    """

    __slots__ = (
        "_buffer",
        "_eof",
        "_exception",
        "_expect_continue",
        "_flow",
        "_high_water",
        "_paused",
        "_waiter",
    )

    def __init__(
        self,
        flow: FlowControl | None = None,
        *,
        high_water: int = 256 * 1024,
        expect_continue: bool = False,
    ) -> None:
        self._flow = flow
        self._buffer = bytearray()
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._high_water = high_water
        self._paused = False
        self._expect_continue = expect_continue

    # -- producer side (the connection) -------------------------------------------

    def feed_data(self, data: bytes) -> None:
        self._buffer += data
        self._wake()
        if not self._paused and self._flow is not None and len(self._buffer) > self._high_water:
            self._paused = True
            self._flow.pause_reading()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- consumer side (the handler) ----------------------------------------------

    @property
    def holds_back(self) -> bool:
        """True while this stream keeps the connection from reading (buffer too full)."""
        return self._paused

    def is_eof(self) -> bool:
        """True once the whole body arrived (it may still be buffered)."""
        return self._eof

    def at_eof(self) -> bool:
        """True once the whole body arrived and was read."""
        return self._eof and not self._buffer

    async def _wait(self) -> None:
        if self._exception is not None:
            raise self._exception
        if self._expect_continue and self._flow is not None:
            self._expect_continue = False
            self._flow.send_continue()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        await waiter
        if self._exception is not None:
            raise self._exception

    def _take(self, n: int) -> bytes:
        buffer = self._buffer
        if n < 0 or n >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:n])
            del buffer[:n]
        if self._paused and len(buffer) <= self._high_water // 2:
            self._paused = False
            if self._flow is not None:
                self._flow.resume_reading()
        return data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (the whole rest of the body when ``n`` is negative)."""
        if n < 0:
            # Take as it comes, so a body larger than high_water does not stall reading.
            parts = []
            while True:
                if self._buffer:
                    parts.append(self._take(-1))
                if self._eof and not self._buffer:
                    return b"".join(parts)
                await self._wait()
        if n == 0:
            return b""
        return await self._read_some(n)

    async def readany(self) -> bytes:
        """Whatever is buffered, waiting for something first; ``b""`` at the end."""
        return await self._read_some(-1)

    async def _read_some(self, n: int) -> bytes:
        while not self._buffer and not self._eof:
            await self._wait()
        return self._take(n)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n and not self._eof:
            await self._wait()
        if len(self._buffer) < n:
            raise asyncio.IncompleteReadError(self._take(-1), n)
        return self._take(n)

    async def readline(self) -> bytes:
        """One line including its ``\\n`` (the last line may lack it)."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                return self._take(end + 1)
            if self._eof:
                return self._take(-1)
            await self._wait()

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Pieces of at most ``n`` bytes until the end of the body."""
        while chunk := await self.read(n):
            yield chunk

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Pieces as they arrive until the end of the body."""
        while chunk := await self.readany():
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Line by line, like aiohttp."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line


def _empty() -> StreamReader:
    stream = StreamReader()
    stream.feed_eof()
    return stream


EMPTY_STREAM = _empty()
"""Shared by every request without a body: reading it returns ``b""`` at once."""
