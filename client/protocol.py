"""The asyncio Protocol of one client connection: response parsing, flow control, reuse.

One ``ResponseHandler`` lives as long as its socket and serves one request at a time. It
parses with httptools, hands the head to the waiting request, feeds the body into the
response's ``ResponseStream`` and, the moment the body is complete, gives itself back to
its ``Pool``, so a connection is reusable even before the user has consumed the buffered
bytes. After a 101 it keeps what arrives in a buffer until ``detach`` hands the socket
to the protocol that speaks the upgraded one.

The handler knows its pool only through ``Pool`` (what ``TCPConnector`` offers it), so
the pool may import this module and not the other way round.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import zlib
from typing import NamedTuple, Protocol

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.flow import WriteFlowControl
from tidewire.protocol.http import HeaderCollector, header_tokens

from .exceptions import (
    ClientError,
    ClientOSError,
    ClientPayloadError,
    ClientResponseError,
    ServerDisconnectedError,
    ServerTimeoutError,
)
from .proxy import ProxyRoute
from .streams import EMPTY_BODY, ResponseStream
from .timeouts import Deadline, arm

SSLOption = ssl_module.SSLContext | bool | None
"""``None``/``True``: verify with the default context; ``False``: no verification."""


class ConnectionKey(NamedTuple):
    """Where a connection goes and how: connections are reused only between requests
    with the same key. ``ssl`` is the request's TLS option, and ``None`` without TLS.

    ``proxy`` is the route through a proxy, if any. A tunnel's key names its target,
    since the tunnel reaches only that one; a connection for absolute-form requests
    names the proxy itself (``host``, ``port``), since it carries requests for any
    target through that proxy.
    """

    host: str
    port: int
    is_ssl: bool
    ssl: SSLOption
    proxy: ProxyRoute | None = None


class Pool(Protocol):
    """What a connection needs of the pool that lent it out (``TCPConnector``)."""

    def release(self, handler: ResponseHandler, *, reusable: bool) -> None: ...

    def forget(self, handler: ResponseHandler) -> None: ...


class ResponseHead(NamedTuple):
    """The status line and headers of a response, and the stream its body arrives in."""

    status: int
    reason: str
    version: str
    headers: CIMultiDictProxy[str]
    content: ResponseStream


class Decoder:
    """Undoes a gzip or deflate Content-Encoding; deflate accepts both zlib and raw streams."""

    __slots__ = ("_fresh", "_raw_ok", "_z")

    def __init__(self, encoding: str) -> None:
        self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
        self._raw_ok = encoding == "deflate"
        self._fresh = True

    def decode(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data)
        except zlib.error:
            if not (self._fresh and self._raw_ok):
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # headerless deflate, seen in the wild
            out = self._z.decompress(data)
        self._fresh = False
        return out

    def flush(self) -> bytes:
        return self._z.flush()


DECODED = frozenset(("gzip", "x-gzip", "deflate"))


class ResponseHandler(WriteFlowControl, HeaderCollector, asyncio.Protocol):
    """Reads the responses of one connection; see the module docstring for its life."""

    __slots__ = (
        "_acquired",
        "_body_till_eof",
        "_deadline",
        "_decoder",
        "_decompress",
        "_got_bytes",
        "_head_waiter",
        "_is_head",
        "_keep_alive",
        "_local_close",
        "_loop",
        "_message_done",
        "_parser",
        "_payload",
        "_raw_headers",
        "_reason",
        "_upgrade_lost",
        "_upgrade_tail",
        "closed",
        "idle_since",
        "key",
        "pool",
        "reused",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, key: ConnectionKey) -> None:
        WriteFlowControl.__init__(self)
        self._loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.pool: Pool | None = None
        self._acquired = False
        self.reused = False
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._head_waiter: asyncio.Future[ResponseHead] | None = None
        self._payload: ResponseStream | None = None
        self._decoder: Decoder | None = None
        self._deadline: Deadline | None = None
        self._decompress = True
        self._is_head = False
        self._keep_alive = False
        self._body_till_eof = False
        self._message_done = True
        self._got_bytes = False
        self._local_close = False
        self._raw_headers: list[tuple[str, str]] = []
        self._reason = b""
        self._upgrade_tail: bytearray | None = None
        # The end of an upgraded socket that came before detach(): (its exception,).
        self._upgrade_lost: tuple[Exception | None] | None = None

    # -- the pool's view ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self.transport = transport  # type: ignore[assignment]

    @property
    def usable(self) -> bool:
        """Whether an idle connection may carry another request."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def acquire(self, pool: Pool | None, *, reused: bool) -> None:
        self.pool = pool
        self._acquired = pool is not None
        self.reused = reused

    def release(self, *, reusable: bool) -> None:
        """Hand the connection back to its pool once; an unreusable one is closed."""
        if not self._acquired:
            if not reusable:
                self.close()
            return
        self._acquired = False
        reusable = reusable and self._keep_alive and self._message_done and self.usable
        assert self.pool is not None
        self.pool.release(self, reusable=reusable)

    def close(self) -> None:
        self.closed = self._local_close = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = self._local_close = True
        if self.transport is not None:
            self.transport.abort()

    # -- one exchange ----------------------------------------------------------------

    def start(
        self, *, deadline: Deadline, is_head: bool, decompress: bool
    ) -> asyncio.Future[ResponseHead]:
        """Prepare for the response to a request about to be written.

        The returned future identifies this exchange for ``abandon``.
        """
        if self._parser is None or self._is_head:
            # after a HEAD the parser may still wait for the body the headers announced
            self._parser = httptools.HttpResponseParser(self)
        self._deadline = deadline
        self._is_head = is_head
        self._decompress = decompress
        self._message_done = False
        self._got_bytes = False
        self._keep_alive = False
        self._payload = None
        self._decoder = None
        waiter = self._head_waiter = self._loop.create_future()
        return waiter

    def abandon(self, exchange: asyncio.Future[ResponseHead]) -> None:
        """Close the socket if ``exchange`` is still in flight (its request gave up)."""
        if self._head_waiter is exchange and not self._message_done:
            self.fail(None)
        if exchange.done() and not exchange.cancelled():
            exchange.exception()  # retrieved: the request that would await it gave up

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise ServerDisconnectedError("Server disconnected before the request was sent")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark.

        The wait counts against the request's deadline; a lost connection or the deadline
        ends it with ``ServerDisconnectedError`` or ``ServerTimeoutError`` (``fail``).
        """
        if not self.writing_paused:
            return
        if self.closed:
            raise ServerDisconnectedError("Server disconnected while sending the request")
        assert self._deadline is not None
        handle = arm(self._loop, self._deadline.limit(None), self.fail)
        try:
            await self._wait_writable()
        finally:
            if handle is not None:
                handle.cancel()

    async def read_head(self) -> ResponseHead:
        """The head of the response; the body keeps arriving in its ``content``."""
        waiter = self._head_waiter
        assert waiter is not None and self._deadline is not None
        if not waiter.done():
            handle = arm(self._loop, self._deadline.read_limit(), self.fail)
            try:
                await waiter
            finally:
                if handle is not None:
                    handle.cancel()
        return waiter.result()

    @property
    def received_any(self) -> bool:
        """Whether any byte of the current response arrived (a retry is unsafe after)."""
        return self._got_bytes

    def detach(self, protocol: asyncio.BaseProtocol) -> tuple[asyncio.Transport, bytes]:
        """Hand an upgraded socket to ``protocol``, with the bytes that followed the 101.

        Until this call the handler buffers whatever arrives, and the end of the
        connection if it came; from it on the transport reports to ``protocol``. Both
        happen here, with no await between them, so no byte can reach the wrong
        protocol. An end that came before is passed on (``protocol.connection_lost``,
        in the next loop turn, once the caller has started ``protocol`` with the tail).
        """
        transport, tail = self.transport, self._upgrade_tail
        assert transport is not None and tail is not None
        transport.set_protocol(protocol)
        self._upgrade_tail = None
        lost, self._upgrade_lost = self._upgrade_lost, None
        if lost is not None:
            self._loop.call_soon(protocol.connection_lost, lost[0])
        return transport, bytes(tail)

    # -- flow control for the ResponseStream -------------------------------------------

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._upgrade_tail is not None:
            self._upgrade_tail += data
            return
        self._got_bytes = True
        parser = self._parser
        if parser is None or self._message_done:
            # bytes nobody asked for: the connection's framing cannot be trusted any more
            self.abort()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade_tail = bytearray(data[upgrade.args[0] :])
            self._message_done = True
            self._publish_head(None)
        except httptools.HttpParserError as error:
            self.fail(error)

    def eof_received(self) -> bool | None:
        self.closed = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._upgrade_tail is not None:  # upgraded: the end is for detach() to pass on
            self._upgrade_lost = (exc,)
            return
        if not self._message_done:
            if self._payload is not None and self._body_till_eof and not self._local_close:
                self.on_message_complete()  # the close is how this body ends
            else:
                self.fail(exc)
        self._fail_drain(exc)
        if self._acquired:
            self.release(reusable=False)
        elif self.pool is not None:
            self.pool.forget(self)

    def fail(self, error: BaseException | None) -> None:
        """End the current exchange with ``error`` and make sure the socket is not reused.

        ``None`` means the server went away; timeouts are passed on as they are, anything
        else is wrapped in the error a user expects at that stage of the exchange.
        """
        self._message_done = True
        self._keep_alive = False
        head_waiter = self._head_waiter
        if head_waiter is not None and not head_waiter.done():
            head_waiter.set_exception(_head_error(error))
        elif self._payload is not None and not self._payload.is_eof():
            self._payload.set_exception(_payload_error(error))
        self._fail_drain(error)
        self.abort()
        if self._acquired:
            self.release(reusable=False)

    def _fail_drain(self, error: BaseException | None) -> None:
        """A request body waiting in ``drain`` fails: a timeout as it is, else a disconnect."""
        if self._drain_waiter is None:
            return
        if not isinstance(error, ServerTimeoutError):
            error = ServerDisconnectedError("Server disconnected while sending the request")
        self._wake_writers(error)

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._raw_headers = []
        self._reason = b""

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # informational (100 Continue, 103 Early Hints): the real head follows
        headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        connection = header_tokens(headers, "connection")
        if self._is_head:
            version = parser.get_http_version()
            self._keep_alive = "close" not in connection and (
                version == "1.1" or "keep-alive" in connection
            )
        else:
            self._keep_alive = parser.should_keep_alive()
        self._body_till_eof = (
            "content-length" not in headers
            and "transfer-encoding" not in headers
            and status not in (204, 304)
        )
        if status == 101:
            return  # the upgrade exception from feed_data publishes the head
        payload = self._payload = ResponseStream(self, self._deadline)
        encoding = headers.get("content-encoding", "").lower()
        if self._decompress and encoding in DECODED:
            self._decoder = Decoder(encoding)
        self._publish_head(headers)
        if self._is_head:
            self._message_done = True
            payload.feed_eof()
            self.release(reusable=True)

    def _publish_head(self, headers: CIMultiDictProxy[str] | None) -> None:
        parser, waiter = self._parser, self._head_waiter
        assert parser is not None and waiter is not None
        if headers is None:
            headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        if not waiter.done():
            waiter.set_result(
                ResponseHead(
                    parser.get_status_code(),
                    self._reason.decode("latin-1"),
                    parser.get_http_version(),
                    headers,
                    self._payload or EMPTY_BODY,
                )
            )

    def on_body(self, body: bytes) -> None:
        payload = self._payload
        if payload is None or self._message_done:
            return
        decoder = self._decoder
        if decoder is not None:
            try:
                body = decoder.decode(body)
            except zlib.error as error:
                self.fail(error)
                return
        payload.feed_data(body)

    def on_message_complete(self) -> None:
        payload = self._payload
        if payload is None or self._message_done:
            return  # informational response, or a HEAD already finished
        self._message_done = True
        if self._decoder is not None:
            try:
                payload.feed_data(self._decoder.flush())
            except zlib.error as error:
                self.fail(error)
                return
        payload.feed_eof()
        self.release(reusable=True)


def _head_error(error: BaseException | None) -> BaseException:
    if error is None:
        return ServerDisconnectedError()
    if isinstance(error, httptools.HttpParserError):
        return ClientResponseError(None, status=400, message=f"Invalid HTTP response: {error}")
    if isinstance(error, OSError) and not isinstance(error, ClientError):
        return ClientOSError(error.errno, f"Connection lost: {error}")
    return error


def _payload_error(error: BaseException | None) -> BaseException:
    if isinstance(error, ClientError):
        return error
    if isinstance(error, zlib.error):
        return ClientPayloadError(f"Cannot decode the response's content encoding: {error}")
    return ClientPayloadError(f"Response payload is not completed: {error or 'connection closed'}")
