"""The response body as a stream: what ``response.content`` is.

The reading itself is ``tidewire.protocol.stream``'s ``BodyStream``; the client adds its
deadlines: each wait for bytes is bounded by the request's ``sock_read``/``total``
budget, and when that bound passes the whole exchange fails, not only the read (the
connection cannot be reused with half a body in flight).

This module sits below both ``protocol.py``, whose connection feeds the stream, and
``response.py``, which hands it to the user; it knows its connection only through
``BodySource``.
"""

from __future__ import annotations

from typing import Protocol

from tidewire.protocol.stream import BodyStream, FlowControl, WaitLimit

from .timeouts import Deadline

__all__ = ["BodySource", "ResponseStream"]

HIGH_WATER = 256 * 1024
"""Buffered body bytes at which the socket stops being read until the user catches up."""
LOW_WATER = 64 * 1024
"""Buffered body bytes at which reading the socket resumes."""


class BodySource(FlowControl, Protocol):
    """What a response body needs of its connection: flow control, and a way to fail the
    exchange when a wait outlasts its deadline."""

    def fail(self, error: BaseException | None) -> None: ...


class ResponseStream(BodyStream):
    """The body of one response (``response.content``), read in whatever pieces suit.

    Read it with ``read(n)`` (``n < 0``: all of it), ``readany()``, ``readexactly(n)``,
    ``readline()``, ``iter_chunked(n)``, ``iter_any()`` or ``async for line in ...``;
    ``b""`` means the body ended. A read that has to wait is bounded by the request's
    ``ClientTimeout``: ``sock_read`` raises ``SocketTimeoutError``, ``total``
    ``ServerTimeoutError``; a connection lost mid-body raises ``ClientPayloadError``.
    aiohttp's name for it, ``tidewire.client.StreamReader``, is the same class.
    """

    __slots__ = ("_deadline", "_source")

    def __init__(
        self, source: BodySource | None, deadline: Deadline | None, *, eof: bool = False
    ) -> None:
        super().__init__(source, high_water=HIGH_WATER, low_water=LOW_WATER, eof=eof)
        self._source = source
        self._deadline = deadline

    def _wait_limit(self) -> WaitLimit | None:
        if self._source is None or self._deadline is None:
            return None
        return self._deadline.read_limit()

    def _timed_out(self, error: BaseException) -> None:
        if self._source is not None:
            self._source.fail(error)  # drops the connection and fails this stream with error
        if self._exception is None:
            self.set_exception(error)


EMPTY_BODY = ResponseStream(None, None, eof=True)
"""The body of a response that has none (a 101, a HEAD): reading it returns ``b""``."""
