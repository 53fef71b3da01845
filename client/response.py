"""``ClientResponse`` and ``StreamReader``, the body as it arrives."""

from __future__ import annotations

import asyncio
import codecs
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDictProxy
from yarl import URL

from tidewire.protocol.http import parse_content_type

from .cookies import parse_set_cookies
from .exceptions import ClientResponseError, ContentTypeError, RequestInfo
from .timeouts import Deadline, arm

if TYPE_CHECKING:
    from .protocol import ResponseHandler

HIGH_WATER = 256 * 1024
"""Buffered body bytes at which the socket stops being read until the user catches up."""
LOW_WATER = 64 * 1024


class StreamReader:
    """The body of one response (``response.content``), read in whatever pieces suit.

    Bytes are kept as the chunks they arrived in; a waiting reader is woken by one future
    created only when it has to wait, and its wait is bounded by ``sock_read``/``total``.
    """

    __slots__ = (
        "_buffer",
        "_deadline",
        "_eof",
        "_exception",
        "_handler",
        "_paused",
        "_size",
        "_waiter",
    )

    def __init__(
        self, handler: ResponseHandler | None, deadline: Deadline | None, *, eof: bool = False
    ) -> None:
        self._handler = handler
        self._deadline = deadline
        self._buffer: deque[bytes] = deque()
        self._size = 0
        self._eof = eof
        self._paused = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- the producer side (the connection) ---------------------------------------------

    def feed_data(self, data: bytes) -> None:
        if not data:
            return
        self._buffer.append(data)
        self._size += len(data)
        self._wake()
        if self._size > HIGH_WATER and not self._paused and self._handler is not None:
            self._paused = True
            self._handler.pause_reading()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def complete(self) -> bool:
        """Whether the whole body has arrived (it may still be buffered here)."""
        return self._eof

    # -- the user's side -------------------------------------------------------------

    def at_eof(self) -> bool:
        """Whether the body has been read to its end."""
        return self._eof and not self._buffer

    def exception(self) -> BaseException | None:
        return self._exception

    async def _wait(self) -> None:
        if self._exception is not None:
            raise self._exception
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        handler = self._handler
        handle = None
        if handler is not None and self._deadline is not None:
            handle = arm(loop, self._deadline.read_limit(), handler.fail)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def _taken(self, size: int) -> None:
        self._size -= size
        if self._paused and self._size < LOW_WATER and self._handler is not None:
            self._paused = False
            self._handler.resume_reading()

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes as soon as any are there; ``n < 0`` reads the whole rest."""
        if n < 0:
            chunks: list[bytes] = []
            while True:
                if self._buffer:
                    chunks.extend(self._buffer)
                    self._buffer.clear()
                    self._taken(self._size)
                if self._eof:
                    return b"".join(chunks)
                await self._wait()
        while not self._buffer:
            if self._eof or n == 0:
                return b""
            await self._wait()
        first = self._buffer[0]
        if len(first) > n:
            self._buffer[0] = first[n:]
            first = first[:n]
        else:
            self._buffer.popleft()
        self._taken(len(first))
        return first

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
        chunk = self._buffer.popleft()
        self._taken(len(chunk))
        return chunk

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or ``asyncio.IncompleteReadError`` if the body ends first."""
        parts: list[bytes] = []
        missing = n
        while missing:
            chunk = await self.read(missing)
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts), n)
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    async def readline(self) -> bytes:
        """Bytes up to and including the next ``\\n`` (or the end of the body)."""
        parts: list[bytes] = []
        while True:
            while not self._buffer:
                if self._eof:
                    return b"".join(parts)
                await self._wait()
            chunk = self._buffer[0]
            end = chunk.find(b"\n")
            if end < 0:
                parts.append(self._buffer.popleft())
                self._taken(len(chunk))
                continue
            parts.append(chunk[: end + 1])
            if end + 1 < len(chunk):
                self._buffer[0] = chunk[end + 1 :]
            else:
                self._buffer.popleft()
            self._taken(end + 1)
            return b"".join(parts)

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Pieces of at most ``n`` bytes until the end."""
        while chunk := await self.read(n):
            yield chunk

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Pieces as they arrived until the end."""
        while chunk := await self.readany():
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Lines, as ``async for line in response.content`` does in aiohttp."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line


class ClientResponse:
    """One received response: status, headers, and the body to read or stream."""

    __slots__ = (
        "_body",
        "_connection",
        "_content_type",
        "content",
        "cookies",
        "headers",
        "history",
        "method",
        "reason",
        "request_info",
        "status",
        "url",
        "version",
    )

    def __init__(
        self,
        method: str,
        url: URL,
        *,
        status: int,
        reason: str,
        version: str,
        headers: CIMultiDictProxy[str],
        content: StreamReader,
        request_info: RequestInfo,
        history: tuple[ClientResponse, ...],
        connection: ResponseHandler | None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.content = content
        self.request_info = request_info
        self.history = history
        self._connection = connection
        self._body: bytes | None = None
        self._content_type: tuple[str, dict[str, str]] | None = None
        self.cookies: SimpleCookie = parse_set_cookies(headers.getall("set-cookie", ()))

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def real_url(self) -> URL:
        return self.request_info.real_url

    def _parsed_content_type(self) -> tuple[str, dict[str, str]]:
        if self._content_type is None:
            self._content_type = parse_content_type(
                self.headers.get("content-type", "application/octet-stream")
            )
        return self._content_type

    @property
    def content_type(self) -> str:
        return self._parsed_content_type()[0]

    @property
    def charset(self) -> str | None:
        return self._parsed_content_type()[1].get("charset")

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    def get_encoding(self) -> str:
        """The body's text encoding: the declared charset if Python knows it, else UTF-8."""
        charset = self.charset
        if charset:
            try:
                return codecs.lookup(charset).name
            except LookupError:
                pass
        return "utf-8"

    def raise_for_status(self) -> None:
        """Raise ``ClientResponseError`` for a 4xx/5xx status, releasing the connection."""
        if self.status >= 400:
            self.release()
            raise ClientResponseError(
                self.request_info,
                self.history,
                status=self.status,
                message=self.reason,
                headers=self.headers,
            )

    async def read(self) -> bytes:
        """The whole body (decoded from gzip/deflate); kept for later calls."""
        if self._body is None:
            try:
                self._body = await self.content.read()
            finally:
                self.release()
        return self._body

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        body = await self.read()
        return body.decode(encoding or self.get_encoding(), errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        """The body parsed as JSON; refuses another Content-Type unless ``content_type=None``."""
        body = await self.read()
        if content_type is not None and content_type not in self.content_type:
            raise ContentTypeError(
                self.request_info,
                self.history,
                status=self.status,
                message=f"Attempt to decode JSON with unexpected mimetype: {self.content_type}",
                headers=self.headers,
            )
        if not body.strip():
            return None
        return loads(body.decode(encoding or self.get_encoding()))

    def release(self) -> None:
        """Give up the connection: reused if the body was complete, else closed."""
        connection, self._connection = self._connection, None
        if connection is not None and not self.content.complete:
            connection.release(reusable=False)

    def close(self) -> None:
        """Close the connection unless it already went back to the pool with the whole body."""
        self.release()

    @property
    def closed(self) -> bool:
        return self._connection is None

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
