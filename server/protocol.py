"""The asyncio Protocol of one HTTP/1.1 connection, and the ``Server`` that owns them.

Parsing is llhttp's (``httptools``), which already refuses the request-smuggling shapes
(Content-Length with Transfer-Encoding, duplicate Content-Length, a final coding other
than chunked); this layer adds the limits and deadlines: head size and header count
(431), target length (414), the head deadline against slowloris (408),
the keep-alive idle timeout, and back-pressure in both directions.

Pipelined requests are parsed ahead and queued; one task answers them strictly in order,
so a connection costs a Task only while it has a request to answer.

After a protocol error the connection answers (in order) and closes: llhttp's state is
unusable after an error and the client's framing can no longer be trusted.

A connection's life is an explicit state machine, as in h11: ``HTTPState`` names the
states, ``_TRANSITIONS`` says which moves each allows, and ``HTTPProtocol._to`` makes
every move through it, refusing any other with a ``RuntimeError`` that names both
states. The three moves of every request (IDLE -> HEAD -> BODY -> IDLE) are checked
inline in llhttp's callbacks, by identity, so the per-request path pays no call for it.
"""

from __future__ import annotations

import asyncio
import enum
import html
import logging
import sys
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade, HttpRequestParser
from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.flow import WriteFlowControl
from tidewire.protocol.http import HeaderCollector, header_tokens
from tidewire.server.exceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPExpectationFailed,
    HTTPInternalServerError,
    HTTPNotImplemented,
    HTTPRequestHeaderFieldsTooLarge,
    HTTPRequestTimeout,
    HTTPRequestURITooLong,
)
from tidewire.server.request import Request
from tidewire.server.response import StreamResponse
from tidewire.server.streams import EMPTY_STREAM, StreamReader

if TYPE_CHECKING:
    from tidewire.server.accesslog import AccessLogger
    from tidewire.server.app import Application

__all__ = ["HTTPProtocol", "HTTPState", "Limits", "Server", "UpgradedConnection"]

logger = logging.getLogger("tidewire.server")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LINGER = 2.0
"""Seconds a connection closed after an error keeps discarding what the client sends."""
_ARRIVING = 0.25
"""Seconds a connection that turned idle just before a shutdown (accepted, or done with
its last answer) may still send its next request: it may be on its way already, and
closing with it unread resets the connection instead of answering it. Restarting
gunicorn workers (HUP, ``max_requests``) meets this on every busy server."""


class UpgradedConnection(Protocol):
    """What ``HTTPProtocol.upgrade()`` takes: the protocol that owns the socket after a
    ``101 Switching Protocols`` (``WebSocketResponse`` is one), closable by the server at
    shutdown. The transport calls the first four as it would any ``asyncio.Protocol``."""

    def data_received(self, data: bytes) -> None:
        """Bytes from the client, in the new protocol."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket closed (``exc`` says why, if it failed)."""

    def pause_writing(self) -> None:
        """The transport's write buffer is full: stop writing for now."""

    def resume_writing(self) -> None:
        """The write buffer drained: writing may go on."""

    async def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool:
        """Close the connection in the new protocol's way (the server passes ``1001``,
        going away, at shutdown); whether this call closed it."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits and deadlines, given to ``AppRunner``/``run_app`` as kwargs.

    The body size limit is the application's ``client_max_size``, applied by the
    request's ``read``/``post`` (a handler that streams ``content`` decides itself).
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
    """The protocol factory of one application: its connections and their shutdown.

    ``AppRunner`` makes one and passes it to ``loop.create_server``; each accepted socket
    gets an ``HTTPProtocol``. ``connections`` holds the open HTTP connections and
    ``upgraded`` the protocols they were handed to (WebSockets), which ``shutdown``
    closes first.
    """

    __slots__ = ("access_log", "app", "closing", "connections", "limits", "upgraded")

    def __init__(
        self,
        app: Application,
        limits: Limits | None = None,
        access_log: AccessLogger | None = None,
    ) -> None:
        """Serve ``app`` with ``limits`` (the defaults of ``Limits`` if ``None``),
        logging each answered request to ``access_log`` (None: no access log)."""
        self.app = app
        self.limits = limits or Limits()
        self.access_log = access_log
        self.connections: set[HTTPProtocol] = set()
        self.upgraded: set[UpgradedConnection] = set()
        self.closing = False
        """True once ``shutdown`` began: answers say ``Connection: close``."""

    def __call__(self) -> HTTPProtocol:
        """A protocol for a new connection (what ``loop.create_server`` calls)."""
        return HTTPProtocol(self)

    async def shutdown(self, timeout: float) -> None:
        """Close upgraded connections (1001) and idle ones, give running handlers up to
        ``timeout`` seconds, then cancel what is left and close every connection.

        A connection idle for less than ``_ARRIVING`` seconds is given the rest of that
        moment to send a request before it is closed as idle.

        ``AppRunner.cleanup`` calls it; it never raises for a connection that fails to
        close (that is logged).
        """
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
        latest = max((conn._idle_since for conn in self.connections), default=0.0)
        wait = min(latest + _ARRIVING - loop.time(), deadline - loop.time())
        if wait > 0:  # a request may be on its way: answered, with "Connection: close"
            await asyncio.sleep(wait)
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


class HTTPState(enum.IntEnum):
    """Where one HTTP/1.1 connection is in its life, as ``HTTPProtocol`` tracks it.

    The state follows what the client sends and who owns the socket. Answering runs
    beside it (requests are parsed ahead while earlier ones are answered, in order), so
    whether a handler is running is not a state of its own. ``_TRANSITIONS`` lists the
    moves each state allows; any other raises ``RuntimeError``.
    """

    IDLE = 0
    """Between requests: waiting for the first byte of the next one (idle timeout)."""
    HEAD = 1
    """A request head is arriving (head deadline, head size and field-count limits)."""
    BODY = 2
    """A request's body is arriving through llhttp, into its ``request.content``."""
    SWITCHING = 3
    """llhttp stopped after an ``Upgrade`` request's head: what follows is kept for the
    new protocol, and the body of a request not switched is fed from it."""
    UPGRADED = 4
    """``upgrade()`` handed the socket to another protocol: HTTP is over (final)."""
    STOPPED = 5
    """Parsing stopped (a malformed or refused request, or an answer sent before its
    request's body came): reading is paused, what is queued is answered, then close."""
    PEER_EOF = 6
    """The client half-closed: what it sent before is answered, then the connection
    closes."""
    LINGERING = 7
    """Closing after ``STOPPED`` or ``SWITCHING``: our side is shut for writing and what
    the client still sends is read and dropped for a moment, so that closing with unread
    bytes does not reset the connection and destroy the answer in flight."""
    CLOSING = 8
    """``transport.close()`` was called (or asyncio closes it after the client's EOF)."""
    CLOSED = 9
    """The connection is lost (final)."""


_IDLE, _HEAD, _BODY, _SWITCHING, _UPGRADED = tuple(HTTPState)[:5]
_STOPPED, _PEER_EOF, _LINGERING, _CLOSING, _CLOSED = tuple(HTTPState)[5:]
# Module globals rather than HTTPState.X: the hot path compares states by identity.

_READING = frozenset({_IDLE, _HEAD, _BODY})
"""States in which llhttp parses what arrives: requests may still come."""

_TRANSITIONS: dict[HTTPState, frozenset[HTTPState]] = {
    # A request begins; an error or a half-close; upgrade() by the handler of a request
    # llhttp did not see as an upgrade; close (idle timeout, shutdown, no keep-alive);
    # llhttp stops after an upgrade request (complete at once: BODY, IDLE, SWITCHING).
    _IDLE: frozenset({_HEAD, _SWITCHING, _STOPPED, _PEER_EOF, _UPGRADED, _CLOSING, _CLOSED}),
    # The head is complete; a limit, a parse error or the head deadline; the half-close;
    # a close after the answer to the request before.
    _HEAD: frozenset({_BODY, _STOPPED, _PEER_EOF, _CLOSING, _CLOSED}),
    # The request is complete; llhttp stops before the body of an upgrade request (it
    # comes in SWITCHING); a body error, an early answer, a half-close inside the body;
    # a close after the answer to the request before.
    _BODY: frozenset({_IDLE, _SWITCHING, _STOPPED, _CLOSING, _CLOSED}),
    # The handler upgrades, or refuses: then the connection lingers, since the client may
    # be sending the new protocol already; a half-close inside a skipped body.
    _SWITCHING: frozenset({_UPGRADED, _STOPPED, _LINGERING, _CLOSING, _CLOSED}),
    _UPGRADED: frozenset(),  # the other protocol owns the socket and its events
    # The error is answered, then the connection lingers (or closes at once if the
    # transport cannot half-close); the client half-closes or goes away meanwhile.
    _STOPPED: frozenset({_PEER_EOF, _LINGERING, _CLOSING, _CLOSED}),
    # The last answer is written (or a handler switches protocols, as from IDLE).
    _PEER_EOF: frozenset({_UPGRADED, _CLOSING, _CLOSED}),
    _LINGERING: frozenset({_CLOSING, _CLOSED}),  # the client's EOF, or the linger timer
    _CLOSING: frozenset({_CLOSED}),
    _CLOSED: frozenset(),
}
"""The moves each state allows: the one place that says so (``HTTPProtocol._to``)."""


class HTTPProtocol(WriteFlowControl, HeaderCollector, asyncio.Protocol):
    """One HTTP/1.1 connection: parses requests, runs their handlers, writes answers.

    Handlers reach it as ``request.protocol``; most never need to. It is created by
    ``Server`` per accepted socket; its life is the ``HTTPState`` machine (``state``).

    The upgrade contract: a handler answering ``101`` writes its head with
    ``StreamResponse.prepare`` and then calls ``request.protocol.upgrade(conn)``, which
    stops HTTP processing, hands the transport to ``conn`` and returns the bytes that
    already arrived after the request head (to feed into ``conn``). When that handler
    returns, nothing more is written and the connection is not reused.

    The ``on_*`` methods are llhttp's callbacks, called while ``data_received`` feeds it.
    """

    __slots__ = (
        "_answering",
        "_app",
        "_head_since",
        "_head_size",
        "_idle_since",
        "_limits",
        "_loop",
        "_max_header_fields",
        "_parser",
        "_parsing",
        "_queue",
        "_raw_headers",
        "_reading_paused",
        "_server",
        "_skipped",
        "_state",
        "_timer",
        "_upgrade_buffer",
        "_upgraded",
        "_url",
        "peername",
        "sockname",
        "task",
        "transport",
    )

    def __init__(self, server: Server) -> None:
        """A connection of ``server``, before asyncio calls ``connection_made``."""
        WriteFlowControl.__init__(self)
        self._server = server
        self._app = server.app
        self._limits = server.limits
        self._max_header_fields = server.limits.max_headers
        self._loop = asyncio.get_running_loop()
        self._state = _IDLE
        self.transport: asyncio.Transport | None = None
        """The socket's transport while the connection lives (``None`` before and after)."""
        self.peername: Any = None
        """The client's address, as the transport reports it (``(host, port)`` for TCP)."""
        self.sockname: Any = None
        """The server's own address of this connection."""
        # Only while reading requests (IDLE, HEAD, BODY): _to() drops it.
        self._parser: HttpRequestParser | None = HttpRequestParser(self)
        self._url = b""
        self._raw_headers: list[tuple[str, str]] = []
        self._head_size = 0
        self._head_since = 0.0
        self._idle_since = 0.0
        self._parsing: Request | None = None  # the request whose body is arriving
        self._skipped = 0  # body bytes llhttp skipped, still to come (on_headers_complete)
        # A list, not a deque: at most max_pipelined long, and an empty deque costs
        # 600 bytes on every connection, upgraded ones included.
        self._queue: list[Request | HTTPException] = []
        self._answering = False  # the task answering the queue runs (maybe eagerly)
        self.task: asyncio.Task[None] | None = None
        """The task answering this connection's requests, while one is suspended."""
        self._timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._upgrade_buffer: bytearray | None = None  # SWITCHING: the bytes after the head
        self._upgraded: UpgradedConnection | None = None  # UPGRADED: the new owner

    @property
    def state(self) -> HTTPState:
        """Where the connection is in its life (see ``HTTPState``)."""
        return self._state

    def _to(self, state: HTTPState) -> None:
        """Move to ``state``; ``RuntimeError`` if ``_TRANSITIONS`` does not allow it.

        Leaving the reading states drops the parser: a connection that stopped reading,
        or was upgraded, does not keep llhttp's state. (The three moves of every request
        are checked inline, in the llhttp callbacks.)
        """
        if state not in _TRANSITIONS[self._state]:
            self._refuse(state)
        self._state = state
        if state not in _READING:
            self._parser = None

    def _refuse(self, state: HTTPState) -> NoReturn:
        """Fail loudly: a move ``_TRANSITIONS`` does not allow is a bug, or a misuse."""
        raise RuntimeError(f"the HTTP connection cannot go from {self._state.name} to {state.name}")

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peername = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self._server.connections.add(self)
        self._idle_since = self._loop.time()
        self._ensure_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._to(_CLOSED)
        self.transport = None
        self._cancel_timer()
        self.resume_writing()  # wakes drain(), which then finds the transport gone
        lost = ConnectionResetError("the client closed the connection")
        if self._parsing is not None:
            self._parsing.content.set_exception(lost)
        for item in self._queue:
            if isinstance(item, Request):
                item.content.set_exception(lost)
        if not self._answering:
            self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state is _SWITCHING:
            buffer = cast(bytearray, self._upgrade_buffer)
            buffer += data
            if self._skipped:
                self._take_skipped()
            elif len(buffer) > self._limits.body_high_water:
                self.pause_reading()  # until the handler upgrades or the connection ends
            return
        parser = self._parser
        if parser is None:
            return  # not reading (STOPPED, LINGERING, ...): dropped
        fields = self._raw_headers if state is _HEAD else None
        try:
            parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self._to(_SWITCHING)
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
            if fields is self._raw_headers and self._state is _HEAD:
                # The whole chunk extended a head still incomplete: bound what llhttp
                # buffers for a header that never ends.
                self._head_size += len(data)
                if self._head_size > self._limits.max_head_size:
                    self._fail(HTTPRequestHeaderFieldsTooLarge())
        self._kick()

    def eof_received(self) -> bool:
        """Keep the write side open if the client half-closed after a request; a body
        cut short by it fails, so its handler does not wait for the rest for ever."""
        state = self._state
        answering = state in _READING and (self._answering or bool(self._queue))
        if self._parsing is not None and (
            state is _BODY or (state is _SWITCHING and self._skipped)
        ):
            self._fail(HTTPBadRequest(text="400: the request body ended early"))
        if self._state is not _CLOSING:
            # Returning False lets asyncio close the transport.
            self._to(_PEER_EOF if answering else _CLOSING)
        return answering

    def _kick(self) -> None:
        """Start answering the queue unless a task already does."""
        if not self._answering and self._queue:
            self._answering = True
            task = _spawn(self._loop, self._answer())
            if not task.done():
                self.task = task

    # -- parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        """llhttp: the first byte of a request; its head deadline starts."""
        # The three moves of every request are checked inline, by identity: each has one
        # state it may come from in _TRANSITIONS (a test holds the two in step).
        if self._state is not _IDLE:
            self._refuse(_HEAD)
        self._state = _HEAD
        self._url = b""
        self._raw_headers = []
        self._head_size = 0
        self._head_since = self._loop.time()
        self._ensure_timer()

    def on_url(self, url: bytes) -> None:
        """llhttp: a piece of the request target (414 past ``max_target_size``)."""
        self._url += url
        if len(self._url) > self._limits.max_target_size:
            raise HTTPRequestURITooLong()

    def _too_many_header_fields(self) -> NoReturn:
        raise HTTPRequestHeaderFieldsTooLarge(text="431: too many header fields")

    def on_headers_complete(self) -> None:
        """llhttp: the head is complete; checks it and queues its ``Request``."""
        parser = self._parser
        assert parser is not None
        limits = self._limits
        size = len(self._url) + sum(len(n) + len(v) + 4 for n, v in self._raw_headers)
        if size > limits.max_head_size:
            raise HTTPRequestHeaderFieldsTooLarge()
        headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        self._raw_headers = []  # the request keeps its own copy, for as long as it lives
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
        if self._state is not _HEAD:
            self._refuse(_BODY)
        self._state = _BODY
        self._queue.append(request)
        if len(self._queue) > limits.max_pipelined:
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        """llhttp: a piece of the body, fed to ``request.content`` (whose reader applies
        ``client_max_size``, or not when it streams)."""
        request = self._parsing
        assert request is not None
        request.content.feed_data(body)

    def on_message_complete(self) -> None:
        """llhttp: the request is complete; its body stream ends (unless llhttp skipped
        the body of an upgrade request: then it ends once that arrived)."""
        request = self._parsing
        if request is not None and not self._skipped:
            request.content.feed_eof()
            self._parsing = None
            if self._state is not _BODY:
                self._refuse(_IDLE)
            self._state = _IDLE

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
                access = self._server.access_log
                if access is not None and access.enabled:
                    reuse = await self._handle_logged(item, access)
                else:
                    reuse = await self._handle(item)
                if not reuse:
                    if self._parsing is item:  # its body still coming: linger, discarding it
                        self._stop_parsing()
                    self.close()
                    return
        finally:
            self._answering = False
            self.task = None
            state = self._state
            if state is _CLOSED or state is _UPGRADED:
                self._server.connections.discard(self)
            else:
                self._idle_since = self._loop.time()
                if self._server.closing and not queue and state is not _HEAD:
                    self.close()
                else:
                    self._ensure_timer()

    async def _handle_logged(self, request: Request, access: AccessLogger) -> bool:
        """``_handle``, then the request's access log line (when something was sent)."""
        started = self._loop.time()
        reuse = await self._handle(request)
        response = request._response
        if response is not None:
            access.log(request, response, self._loop.time() - started)
        return reuse

    async def _handle(self, request: Request) -> bool:
        """Run the handler and send its response; whether the connection may be reused."""
        app = self._app
        try:
            handler = app._resolve(request)
            response = await handler(request)
        except HTTPException as exc:
            response = exc
        except Exception as exc:
            app.logger.exception("error handling %s %s", request.method, request.path)
            response = _debug_page(request, exc) if app.debug else HTTPInternalServerError()
        if self._state is _UPGRADED:
            upgraded = cast(UpgradedConnection, self._upgraded)
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
        if self._state is _CLOSED:
            return False
        if not request.content.is_eof():
            # Answered before its body came: the rest is discarded, then we close.
            request._keep_alive = False
        try:
            if response.prepared:
                await response.write_eof()
            elif type(response).prepare is StreamResponse.prepare:
                # One write for head and body even with on_response_prepare receivers
                # (sessions, CORS, metrics): run them here, then render.
                for signal in request.app._prepare_signals:
                    await signal.send(request, response)
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
            # more requests may come, or came before the client's EOF or an error
            and (self._state in _READING or bool(self._queue))
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
        """Read no more requests (STOPPED): after an error, or an answer sent early."""
        if self._state in _READING or self._state is _SWITCHING:
            self._to(_STOPPED)
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

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        """Enforce the head deadline and the idle timeout with one lazily re-armed timer,
        so a request costs two clock reads rather than timer churn."""
        self._timer = None
        state = self._state
        if state not in _READING:
            return
        now = self._loop.time()
        if state is _HEAD:
            deadline = self._head_since + self._limits.head_timeout
            if now >= deadline:
                self._fail(HTTPRequestTimeout())
                self._kick()
                return
        elif self._answering or self._queue:
            return  # re-armed when the answering ends
        else:
            deadline = self._idle_since + self._limits.keepalive_timeout
            if now >= deadline:
                self.close()
                return
        tick = min(self._limits.head_timeout, self._limits.keepalive_timeout)
        self._timer = self._loop.call_at(min(deadline, now + tick), self._on_timer)

    # -- writing and flow control ----------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` to the socket now (a response's head or body).

        Raises ``ConnectionResetError`` if the connection is closed or closing. It never
        waits: a writer checks ``writing_paused`` afterwards and awaits ``drain()``.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)

    @property
    def server_closing(self) -> bool:
        """Whether the server is shutting down: answers then close their connection."""
        return self._server.closing

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark.

        Raises ``ConnectionResetError`` if the connection is lost, before or during the
        wait: what was written may never reach the client.
        """
        if self.transport is None:
            raise ConnectionResetError("the connection is closed")
        if self.writing_paused:
            await self._wait_writable()
            if self.transport is None:
                raise ConnectionResetError("the connection is closed")

    def pause_reading(self) -> None:
        """Stop reading the socket (a body stream holds too much, the queue is full)."""
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again, unless something still holds it back: a full queue of
        pipelined requests, a body stream over its high-water mark, or parsing stopped."""
        if (
            self._reading_paused
            and self.transport is not None
            and (self._state in _READING or (self._state is _SWITCHING and self._skipped))
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

        Raises ``ConnectionResetError`` if the connection is already lost, and
        ``RuntimeError`` if it was upgraded already or is closing.
        """
        transport = self.transport
        if transport is None:
            raise ConnectionResetError("the connection is closed")
        self._to(_UPGRADED)
        self._upgraded = protocol
        self._cancel_timer()
        leftover = bytes(self._upgrade_buffer or b"")
        self._upgrade_buffer = None
        self._server.upgraded.add(protocol)
        transport.set_protocol(cast(asyncio.BaseProtocol, protocol))
        if self.writing_paused:
            protocol.pause_writing()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        return leftover

    def close_if_idle(self) -> None:
        """Close now if no request is being answered or received (for shutdown)."""
        if not self._answering and not self._queue and self._state is not _HEAD:
            self.close()

    def close(self) -> None:
        """Close the connection (nothing happens if it is closing or upgraded already).

        If parsing stopped early (an error, an unread body, a refused upgrade) the client
        may still be sending: the connection half-closes and discards its bytes for a
        moment first (``LINGERING``), since closing with unread data would reset the
        connection and could destroy our answer in flight.
        """
        transport = self.transport
        state = self._state
        if transport is None or state in _SETTLED:
            return
        if state in _READING or state is _PEER_EOF or not transport.can_write_eof():
            self._to(_CLOSING)
            transport.close()
            return
        self._to(_LINGERING)
        self._upgrade_buffer = None
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self._cancel_timer()
        self._timer = self._loop.call_later(_LINGER, transport.close)

    def abort(self) -> None:
        """Drop the connection at once, unsent data included (the end of a shutdown)."""
        if self.transport is not None and self._state is not _UPGRADED:
            self.transport.abort()


_SETTLED = frozenset({_UPGRADED, _LINGERING, _CLOSING, _CLOSED})
"""States in which ``close()`` has nothing left to do."""


def _debug_page(request: Request, exc: BaseException) -> StreamResponse:
    """The 500 of an application in debug mode: the traceback, as an HTML page."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    body = (
        "<!doctype html><meta charset='utf-8'><title>500 Internal Server Error</title>"
        f"<h1>500 Internal Server Error</h1><p>{html.escape(request.method)} "
        f"{html.escape(request.path_qs)}: {html.escape(type(exc).__name__)}: "
        f"{html.escape(str(exc))}</p><pre>{html.escape(trace)}</pre>"
        "<p>This page is shown because the application runs in debug mode.</p>"
    )
    return HTTPInternalServerError(text=body, content_type="text/html")
