"""The asyncio Protocol of one HTTP/1.1 connection, and the ``Server`` that owns them.

Parsing is llhttp's (``httptools``), which already refuses the request-smuggling shapes
(Content-Length with Transfer-Encoding, duplicate Content-Length, a final coding other
than chunked); this layer adds the limits and deadlines: head size and header count
(431), target length (414), body size (413), the head deadline against slowloris (408),
the keep-alive idle timeout, and back-pressure in both directions.

Pipelined requests are parsed ahead and queued; one task answers them strictly in order,
so a connection costs a Task only while it has a request to answer.

After a protocol error the connection answers (in order) and closes: llhttp's state is
unusable after an error and the client's framing can no longer be trusted.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade, HttpRequestParser
from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.http import header_tokens
from tidewire.server.exceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPExpectationFailed,
    HTTPInternalServerError,
    HTTPNotImplemented,
    HTTPRequestEntityTooLarge,
    HTTPRequestHeaderFieldsTooLarge,
    HTTPRequestTimeout,
    HTTPRequestURITooLong,
)
from tidewire.server.request import Request
from tidewire.server.response import StreamResponse
from tidewire.server.streams import EMPTY_STREAM, StreamReader

if TYPE_CHECKING:
    from tidewire.server.app import Application

__all__ = ["HTTPProtocol", "Limits", "Server", "UpgradedConnection"]

logger = logging.getLogger("tidewire.server")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LINGER = 2.0
"""Seconds a connection closed after an error keeps discarding what the client sends."""


class UpgradedConnection(Protocol):
    """What ``HTTPProtocol.upgrade()`` takes: the protocol that owns the socket after a
    ``101 Switching Protocols`` (the WebSocket), closable by the server at shutdown."""

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits and deadlines, given to ``AppRunner``/``run_app`` as kwargs.

    The body size limit is the application's ``client_max_size``.
    """

    keepalive_timeout: float = 75.0
    """Seconds an idle keep-alive connection is kept open."""
    head_timeout: float = 10.0
    """Seconds from the first byte of a request to the end of its head (else 408)."""
    max_head_size: int = 64 * 1024
    """Bytes of the request line and headers together (else 431)."""
    max_target_size: int = 8 * 1024
    """Bytes of the request target (else 414)."""
    max_headers: int = 100
    """Number of header fields (else 431)."""
    max_pipelined: int = 32
    """Requests parsed ahead of the one being answered before reading pauses."""
    body_high_water: int = 256 * 1024
    """Unread body bytes buffered before reading pauses."""


if sys.version_info >= (3, 12):

    def _spawn(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Run the handler at once: a handler that never waits costs no loop iteration."""
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def _spawn(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        return loop.create_task(coro)


class Server:
    """The protocol factory of one application: its connections and their shutdown."""

    __slots__ = ("app", "closing", "connections", "limits", "upgraded")

    def __init__(self, app: Application, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.connections: set[HTTPProtocol] = set()
        self.upgraded: set[UpgradedConnection] = set()
        self.closing = False

    def __call__(self) -> HTTPProtocol:
        return HTTPProtocol(self)

    async def shutdown(self, timeout: float) -> None:
        """Close upgraded connections (1001) and idle ones, give running handlers up to
        ``timeout`` seconds, then cancel what is left and close every connection."""
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.upgraded:
            closes = [
                loop.create_task(conn.close(code=1001, message=b"server shutdown"))
                for conn in list(self.upgraded)
            ]
            done, pending = await asyncio.wait(closes, timeout=timeout)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.warning(
                        "closing an upgraded connection failed", exc_info=task.exception()
                    )
        for conn in list(self.connections):
            conn.close_if_idle()
        tasks = [conn.task for conn in self.connections if conn.task is not None]
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0))
            for handler_task in running:
                handler_task.cancel()
            if running:
                await asyncio.wait(running, timeout=1.0)
        for conn in list(self.connections):
            conn.abort()


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection.

    The upgrade contract: a handler answering ``101`` writes its head with
    ``StreamResponse.prepare`` and then calls ``request.protocol.upgrade(conn)``, which
    stops HTTP processing, hands the transport to ``conn`` and returns the bytes that
    already arrived after the request head (to feed into ``conn``). When that handler
    returns, nothing more is written and the connection is not reused.
    """

    __slots__ = (
        "_app",
        "_body_size",
        "_busy",
        "_drain_waiter",
        "_head_since",
        "_head_size",
        "_headers",
        "_idle_since",
        "_in_head",
        "_limits",
        "_loop",
        "_parser",
        "_parsing",
        "_peer_eof",
        "_queue",
        "_reading_paused",
        "_server",
        "_skipped",
        "_timer",
        "_upgrade_buffer",
        "_upgraded",
        "_url",
        "_writing_paused",
        "peername",
        "sockname",
        "task",
        "transport",
    )

    def __init__(self, server: Server) -> None:
        self._server = server
        self._app = server.app
        self._limits = server.limits
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peername: Any = None
        self.sockname: Any = None
        self._parser: HttpRequestParser | None = HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._head_size = 0
        self._in_head = False
        self._head_since = 0.0
        self._idle_since = 0.0
        self._parsing: Request | None = None
        self._body_size = 0
        self._skipped = 0  # body bytes llhttp skipped, still to come (on_headers_complete)
        # A list, not a deque: at most max_pipelined long, and an empty deque costs
        # 600 bytes on every connection, upgraded ones included.
        self._queue: list[Request | HTTPException] = []
        self._busy = False
        self.task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._upgrade_buffer: bytearray | None = None
        self._upgraded: UpgradedConnection | None = None
        self._peer_eof = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peername = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self._server.connections.add(self)
        self._idle_since = self._loop.time()
        self._ensure_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._parser = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.resume_writing()  # wakes drain(), which then finds the transport gone
        lost = ConnectionResetError("the client closed the connection")
        if self._parsing is not None:
            self._parsing.content.set_exception(lost)
        for item in self._queue:
            if isinstance(item, Request):
                item.content.set_exception(lost)
        if not self._busy:
            self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._upgrade_buffer is not None:
            self._upgrade_buffer += data
            if self._skipped:
                self._take_skipped()
            elif len(self._upgrade_buffer) > self._limits.body_high_water:
                self.pause_reading()  # until the handler upgrades or the connection ends
            return
        parser = self._parser
        if parser is None:
            return
        head = self._headers if self._in_head else None
        try:
            parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self._parser = None
            self._upgrade_buffer = bytearray(data[exc.args[0] :])
            if self._skipped:
                self._take_skipped()
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, HTTPException):
                self._fail(cause)
            else:
                logger.exception("HTTP parser callback failed", exc_info=cause)
                self._fail(HTTPInternalServerError())
        except HttpParserError as exc:
            self._fail(HTTPBadRequest(text=f"400: Bad Request ({exc})"))
        else:
            if head is self._headers and self._in_head:
                # The whole chunk extended a head still incomplete: bound what llhttp
                # buffers for a header that never ends.
                self._head_size += len(data)
                if self._head_size > self._limits.max_head_size:
                    self._fail(HTTPRequestHeaderFieldsTooLarge())
        self._kick()

    def eof_received(self) -> bool:
        """Keep the write side open if the client half-closed after a request; a body
        cut short by it fails, so its handler does not wait for the rest for ever."""
        self._peer_eof = True
        answering = self._parser is not None and (self._busy or bool(self._queue))
        if self._parsing is not None and (self._parser is not None or self._skipped):
            self._fail(HTTPBadRequest(text="400: the request body ended early"))
        return answering

    def _kick(self) -> None:
        """Start answering the queue unless a task already does."""
        if not self._busy and self._queue:
            self._busy = True
            task = _spawn(self._loop, self._answer())
            if not task.done():
                self.task = task

    # -- parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_head = True
        self._head_since = self._loop.time()
        self._ensure_timer()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_target_size:
            raise HTTPRequestURITooLong()

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(headers) > self._limits.max_headers:
            raise HTTPRequestHeaderFieldsTooLarge(text="431: too many header fields")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = cast(HttpRequestParser, self._parser)
        limits = self._limits
        size = len(self._url) + sum(len(n) + len(v) + 4 for n, v in self._headers)
        if size > limits.max_head_size:
            raise HTTPRequestHeaderFieldsTooLarge()
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        self._headers = []  # the request keeps its own copy, for as long as it lives
        minor = 1 if parser.get_http_version() == "1.1" else 0
        content = EMPTY_STREAM
        length = headers.get("Content-Length")
        chunked = "Transfer-Encoding" in headers
        if chunked:
            if minor == 0:
                raise HTTPBadRequest(text="400: Transfer-Encoding in an HTTP/1.0 request")
            codings = header_tokens(headers, "Transfer-Encoding")  # every header line
            if not codings or codings[-1] != "chunked":
                raise HTTPBadRequest(text="400: chunked must be the final transfer coding")
            if len(codings) > 1:
                raise HTTPNotImplemented(text="501: only the chunked transfer coding is supported")
        max_size = self._app.client_max_size
        if length is not None and max_size is not None and int(length) > max_size:
            raise HTTPRequestEntityTooLarge(
                text=f"413: the body exceeds the limit of {max_size} bytes"
            )
        expect = headers.get("Expect")
        if expect is not None and expect.lower() != "100-continue":
            raise HTTPExpectationFailed()
        upgrade = parser.should_upgrade()
        if upgrade and "websocket" not in header_tokens(headers, "Upgrade"):
            # llhttp takes the bytes after any Upgrade request's head for the new
            # protocol; one the application will not switch to still has its body there.
            if chunked:
                raise HTTPNotImplemented(text="501: a chunked body with this Upgrade")
            self._skipped = int(length or 0)
        if chunked or (length is not None and int(length) > 0):
            content = StreamReader(
                self,
                high_water=limits.body_high_water,
                expect_continue=expect is not None and minor == 1,
            )
        request = Request(
            self,
            parser.get_method().decode("ascii"),
            self._url.decode("latin-1"),
            headers,
            version_minor=minor,
            # llhttp stops after an upgrade request: if the handler refuses, we close.
            keep_alive=(parser.should_keep_alive() and not upgrade and not self._server.closing),
            content=content,
            app=self._app,
        )
        self._parsing = request
        self._body_size = 0
        self._queue.append(request)
        if len(self._queue) > limits.max_pipelined:
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        request = cast(Request, self._parsing)
        self._body_size += len(body)
        max_size = self._app.client_max_size
        if max_size is not None and self._body_size > max_size:
            raise HTTPRequestEntityTooLarge(
                text=f"413: the body exceeds the limit of {max_size} bytes"
            )
        request.content.feed_data(body)

    def on_message_complete(self) -> None:
        request = self._parsing
        if request is not None and not self._skipped:
            request.content.feed_eof()
            self._parsing = None

    def _take_skipped(self) -> None:
        """Feed the request the body llhttp skipped, from the bytes after its head."""
        buffer, request = self._upgrade_buffer, self._parsing
        assert buffer is not None and request is not None
        taken = bytes(buffer[: self._skipped])
        del buffer[: len(taken)]
        self._skipped -= len(taken)
        request.content.feed_data(taken)
        if not self._skipped:
            request.content.feed_eof()
            self._parsing = None

    # -- answering -------------------------------------------------------------------

    async def _answer(self) -> None:
        """Answer queued requests in order until the queue is empty or the connection ends."""
        queue = self._queue
        try:
            while queue:
                item = queue.pop(0)
                if self._reading_paused and len(queue) <= self._limits.max_pipelined:
                    self.resume_reading()
                if isinstance(item, HTTPException):
                    self._write_error(item)
                    return
                if not await self._handle(item):
                    if self._parsing is item:  # its body still coming: linger, discarding it
                        self._stop_parsing()
                    self.close()
                    return
        finally:
            self._busy = False
            self.task = None
            if self.transport is None or self._upgraded is not None:
                self._server.connections.discard(self)
            else:
                self._idle_since = self._loop.time()
                if self._server.closing and not queue and not self._in_head:
                    self.close()
                else:
                    self._ensure_timer()

    async def _handle(self, request: Request) -> bool:
        """Run the handler and send its response; whether the connection may be reused."""
        app = self._app
        try:
            handler = app._resolve(request)
            response = await handler(request)
        except HTTPException as exc:
            response = exc
        except Exception:
            app.logger.exception("error handling %s %s", request.method, request.path)
            response = HTTPInternalServerError()
        upgraded = self._upgraded
        if upgraded is not None:
            self._server.upgraded.discard(upgraded)
            try:
                await upgraded.close()
            except Exception:
                app.logger.exception("closing the upgraded connection failed")
            return False
        if not isinstance(response, StreamResponse):
            app.logger.error("handler returned %r, not a response", response)
            response = HTTPInternalServerError()
        started = request._response
        if started is not None and started is not response:
            # The handler failed (or returned another response) after sending a head.
            return False
        if self.transport is None:
            return False
        if not request.content.is_eof():
            # Answered before its body came: the rest is discarded, then we close.
            request._keep_alive = False
        try:
            if response.prepared:
                await response.write_eof()
            elif (
                type(response).prepare is StreamResponse.prepare
                and not request.app._prepare_signals
            ):
                self.write(response._render(request))
            else:
                await response.prepare(request)
                await response.write_eof()
        except ConnectionError:
            return False
        except Exception:  # a header that cannot be sent, a failing on_response_prepare
            app.logger.exception("error sending the response to %s", request.path)
            if request._response is None:  # none of it went out: a plain 500 instead
                request._keep_alive = False
                self.write(HTTPInternalServerError()._render(request))
            return False
        return (
            bool(response.keep_alive)
            and request.content.is_eof()
            and (self._parser is not None or bool(self._queue))
            and (not self._peer_eof or bool(self._queue))  # what came before EOF is answered
            and not self._server.closing
        )

    def _fail(self, exc: HTTPException) -> None:
        """Stop parsing and answer ``exc`` after the requests before it, then close.

        An error inside a body goes to that request's stream instead: its handler (which
        may be running already) raises it when reading, and its answer is the only one.
        """
        self._stop_parsing()
        request = self._parsing
        if request is not None and request.content is not EMPTY_STREAM:
            request._keep_alive = False
            request.content.set_exception(exc)
        else:
            self._queue.append(exc)

    def _stop_parsing(self) -> None:
        self._parser = None
        self._in_head = False
        self.pause_reading()

    def _write_error(self, exc: HTTPException) -> None:
        if self.transport is not None:
            exc.force_close()
            self.transport.write(exc._head_for("GET", 1, False) + exc.body)
        self.close()

    # -- timers ----------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        if self._timer is None and self.transport is not None:
            tick = min(self._limits.head_timeout, self._limits.keepalive_timeout)
            self._timer = self._loop.call_at(self._loop.time() + tick, self._on_timer)

    def _on_timer(self) -> None:
        """Enforce the head deadline and the idle timeout with one lazily re-armed timer,
        so a request costs two clock reads rather than timer churn."""
        self._timer = None
        if self.transport is None or self._upgraded is not None or self._parser is None:
            return
        now = self._loop.time()
        if self._in_head:
            deadline = self._head_since + self._limits.head_timeout
            if now >= deadline:
                self._fail(HTTPRequestTimeout())
                self._kick()
                return
        elif self._busy or self._queue:
            return
        else:
            deadline = self._idle_since + self._limits.keepalive_timeout
            if now >= deadline:
                self.close()
                return
        tick = min(self._limits.head_timeout, self._limits.keepalive_timeout)
        self._timer = self._loop.call_at(min(deadline, now + tick), self._on_timer)

    # -- writing and flow control ----------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)

    @property
    def server_closing(self) -> bool:
        return self._server.closing

    @property
    def writing_paused(self) -> bool:
        return self._writing_paused

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        if self.transport is None:
            raise ConnectionResetError("the connection is closed")
        if not self._writing_paused:
            return
        if self._drain_waiter is None:
            self._drain_waiter = self._loop.create_future()
        await asyncio.shield(self._drain_waiter)
        if self.transport is None:
            raise ConnectionResetError("the connection is closed")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if (
            self._reading_paused
            and self.transport is not None
            and (self._parser is not None or self._skipped)
        ):
            if len(self._queue) > self._limits.max_pipelined:
                return
            if self._parsing is not None and self._parsing.content.holds_back:
                return
            self._reading_paused = False
            self.transport.resume_reading()

    def send_continue(self) -> None:
        """``100 Continue``: the handler started reading a body the client holds back."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_CONTINUE)

    # -- upgrade and closing -----------------------------------------------------------

    def upgrade(self, protocol: UpgradedConnection) -> bytes:
        """Hand the transport to ``protocol`` after a 101 head was written.

        HTTP processing and its timers stop; ``protocol`` is registered so the server
        can close it (code 1001) at shutdown. Returns the bytes received after the
        upgrade request's head, which the caller feeds into ``protocol``.
        """
        if self._upgraded is not None:
            raise RuntimeError("the connection is already upgraded")
        transport = self.transport
        if transport is None:
            raise ConnectionResetError("the connection is closed")
        self._upgraded = protocol
        self._parser = None
        self._in_head = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        leftover = bytes(self._upgrade_buffer or b"")
        self._upgrade_buffer = None
        self._server.upgraded.add(protocol)
        transport.set_protocol(cast(asyncio.BaseProtocol, protocol))
        if self._writing_paused:
            protocol.pause_writing()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        return leftover

    def close_if_idle(self) -> None:
        """Close now if no request is being answered or received (for shutdown)."""
        if not self._busy and not self._queue and not self._in_head and self._upgraded is None:
            self.close()

    def close(self) -> None:
        """Close; if parsing stopped early (an error, an unread body) the client may still
        be sending, so half-close and discard its bytes for a moment first: closing with
        unread data would reset the connection and could destroy our answer in flight."""
        transport = self.transport
        if transport is None or self._upgraded is not None:
            return
        if self._parser is not None or self._peer_eof or not transport.can_write_eof():
            transport.close()
            return
        self._upgrade_buffer = None
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(_LINGER, transport.close)

    def abort(self) -> None:
        if self.transport is not None and self._upgraded is None:
            self.transport.abort()
