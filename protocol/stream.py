"""The body of an HTTP message as an asyncio stream: ``request.content`` and ``response.content``.

Like ``websocket.py`` this module waits on asyncio futures, the second deliberate exception
to "protocol/ is sans-I/O", because server/ and client/ may not import each other and both
read bodies the same way.

The connection feeds the stream (``feed_data``, ``feed_eof``, ``set_exception``); the user
reads it aiohttp-style. Bytes are kept as the chunks they arrived in, with an offset into
the first one, so a chunk read whole is handed out without a copy and a partial read copies
only what it returns. When more than ``high_water`` bytes wait unread the stream asks its
flow control to stop reading the socket, and to resume once at most ``low_water`` remain.

Each side adapts the stream through small hooks instead of re-implementing reading:
``_before_wait`` runs before the reader blocks (the server sends ``100 Continue`` there),
``_wait_limit`` bounds each wait and ``_timed_out`` receives the error when that bound
passes (the client's ``sock_read``/``total`` deadlines).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol

__all__ = ["DEFAULT_HIGH_WATER", "BodyStream", "FlowControl", "WaitLimit"]

DEFAULT_HIGH_WATER = 256 * 1024
"""Buffered unread bytes above which the stream pauses reading."""

WaitLimit = tuple[float, Callable[[], BaseException]]
"""How long one wait may last, in seconds, and what makes the error it ends with.

The one deadline type of the library: a body stream bounds each wait for bytes with
it, and the client's request deadlines (``tidewire.client.timeouts``) hand it out for
every wait of a request. The error is made only if the limit passes, so an unexpired
limit costs no exception object."""


class FlowControl(Protocol):
    """What the stream needs of its connection: stop and restart reading the socket."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class BodyStream:
    """An aiohttp-like body stream: ``read(n)``, ``readany``, ``readline``, ``iter_chunked``.

    One reader at a time; one waiter Future at most, created only when that reader has to
    wait, and woken by whatever the connection feeds next.
    """

    __slots__ = (
        "_buffer",
        "_eof",
        "_exception",
        "_flow",
        "_high_water",
        "_low_water",
        "_offset",
        "_paused",
        "_size",
        "_waiter",
    )

    def __init__(
        self,
        flow: FlowControl | None = None,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        low_water: int | None = None,
        eof: bool = False,
    ) -> None:
        self._flow = flow
        self._high_water = high_water
        self._low_water = high_water // 4 if low_water is None else low_water
        self._buffer: deque[bytes] = deque()
        self._offset = 0  # bytes of _buffer[0] already read
        self._size = 0  # unread bytes in _buffer
        self._eof = eof
        self._paused = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- the producer side (the connection) ---------------------------------------------

    def feed_data(self, data: bytes) -> None:
        """Append a piece of the body (the connection calls this as bytes arrive)."""
        if not data:
            return
        self._buffer.append(data)
        self._size += len(data)
        self._wake()
        if self._size > self._high_water and not self._paused and self._flow is not None:
            self._paused = True
            self._flow.pause_reading()

    def feed_eof(self) -> None:
        """Mark the end of the body: readers get what is buffered, then ``b""``."""
        self._eof = True
        if self._paused:  # nothing more comes: the connection reads on, for what follows
            self._paused = False
            assert self._flow is not None
            self._flow.resume_reading()
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        """Fail the stream: a reader that has to wait (now or later) raises ``exc``."""
        self._exception = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- state -------------------------------------------------------------------------

    @property
    def holds_back(self) -> bool:
        """True while this stream keeps the connection from reading (too much unread)."""
        return self._paused

    def is_eof(self) -> bool:
        """True once the whole body arrived (it may still be buffered)."""
        return self._eof

    def at_eof(self) -> bool:
        """True once the whole body arrived and was read."""
        return self._eof and not self._buffer

    def exception(self) -> BaseException | None:
        """The error the stream failed with, if it did (aiohttp's accessor)."""
        return self._exception

    # -- hooks for each side -------------------------------------------------------------

    def _before_wait(self) -> None:
        """Called each time a reader is about to wait for more bytes."""

    def _wait_limit(self) -> WaitLimit | None:
        """The bound of the wait about to start; ``None`` waits as long as it takes."""
        return None

    def _timed_out(self, error: BaseException) -> None:
        """A wait outlasted its limit: fail the stream (a subclass may fail more)."""
        self.set_exception(error)

    # -- waiting and taking bytes ------------------------------------------------------

    async def _wait(self) -> None:
        if self._exception is not None:
            raise self._exception
        self._before_wait()
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        limit = self._wait_limit()
        handle = None
        if limit is not None:
            handle = loop.call_later(limit[0], self._expire, limit[1])
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()
        if self._exception is not None:
            raise self._exception

    def _expire(self, make_error: Callable[[], BaseException]) -> None:
        self._timed_out(make_error())

    def _consumed(self, size: int) -> None:
        self._size -= size
        if self._paused and self._size <= self._low_water:
            self._paused = False
            if self._flow is not None:
                self._flow.resume_reading()

    def _take_first(self, n: int) -> bytes:
        """Up to ``n > 0`` bytes from the first buffered chunk (which must exist)."""
        buffer = self._buffer
        first = buffer[0]
        start = self._offset
        end = start + n
        if end < len(first):
            self._offset = end
            data = first[start:end]
        else:
            buffer.popleft()
            self._offset = 0
            data = first[start:] if start else first
        self._consumed(len(data))
        return data

    def _take(self, n: int) -> bytes:
        """Up to ``n > 0`` buffered bytes (at least one must be buffered)."""
        data = self._take_first(n)
        if len(data) == n or not self._buffer:
            return data
        parts = [data]
        missing = n - len(data)
        while missing and self._buffer:
            data = self._take_first(missing)
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    def _take_all(self) -> bytes:
        buffer = self._buffer
        if self._offset:
            buffer[0] = buffer[0][self._offset :]
            self._offset = 0
        data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        buffer.clear()
        self._consumed(self._size)
        return data

    # -- the reader's side ---------------------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes as soon as any are there; ``n < 0`` reads the whole rest."""
        if n < 0:
            # Take as it comes, so a body larger than high_water does not stall reading.
            parts: list[bytes] = []
            while True:
                if self._buffer:
                    parts.append(self._take_all())
                if self._eof:
                    return b"".join(parts)
                await self._wait()
        if n == 0:
            return b""
        while not self._buffer:
            if self._eof:
                return b""
            await self._wait()
        return self._take(n)

    async def read_bounded(self, limit: int) -> bytes:
        """The body up to ``limit`` bytes; the rest is left unread."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (chunk := await self.read(limit - size)):
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    async def readany(self) -> bytes:
        """The next piece of the body as it arrived; ``b""`` at the end."""
        while not self._buffer:
            if self._eof:
                return b""
            await self._wait()
        return self._take_first(self._size)

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or ``asyncio.IncompleteReadError`` if the body ends first."""
        parts: list[bytes] = []
        missing = n
        while missing > 0:
            while not self._buffer:
                if self._eof:
                    raise asyncio.IncompleteReadError(b"".join(parts), n)
                await self._wait()
            data = self._take(missing)
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    async def readline(self) -> bytes:
        """Bytes up to and including the next ``\\n`` (the last line may lack it)."""
        parts: list[bytes] = []
        while True:
            while not self._buffer:
                if self._eof:
                    return b"".join(parts)
                await self._wait()
            end = self._buffer[0].find(b"\n", self._offset)
            if end < 0:
                parts.append(self._take_first(self._size))
                continue
            parts.append(self._take_first(end + 1 - self._offset))
            return b"".join(parts)

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Pieces of at most ``n`` bytes until the end of the body."""
        while chunk := await self.read(n):
            yield chunk

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Pieces as they arrived until the end of the body."""
        while chunk := await self.readany():
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Line by line, like aiohttp."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line
