"""The asyncio WebSocket both sides share: receive queue, sends with backpressure,
ping/heartbeat and the closing handshake, over a sans-I/O ``Connection``.

After the opening handshake, the server's ``WebSocketResponse`` and the client's
``ws_connect`` make this object the transport's protocol and call ``start``. From
then on the transport reads into ``get_buffer`` (the thread's shared read buffer, or
the rest of a large frame's own payload) and every read goes ``buffer_updated`` ->
``Connection.receive_data`` (or ``payload_received``) -> the queue -> ``receive()``.
Every send goes ``Connection.message_parts`` -> one transport write, or one per loop
turn for the frames a burst of received messages (or a hub's publishing) produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final

from .close import CloseCode
from .connection import Connection, Role, Teardown
from .deflate import DeflateParams
from .errors import ConnectionClosed, WebSocketTimeoutError
from .flow import WriteFlowControl
from .messages import CLOSED_MESSAGE, WSMessage, WSMessageError, WSMsgType
from .options import WebSocketOptions
from .stats import MessageStats

__all__ = ["WebSocket", "WebSocketTimeoutError"]  # the error is defined in errors.py

_END_OF_ITERATION = frozenset((WSMsgType.CLOSE, WSMsgType.CLOSED))
# Enum members under module names for the per-message paths: on Python 3.11 an
# attribute lookup on an Enum class costs more than the comparison it serves. Final,
# so that mypy narrows a message by them as by the members themselves.
_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_PING: Final = WSMsgType.PING
_PONG: Final = WSMsgType.PONG
_CLOSE: Final = WSMsgType.CLOSE
_ERROR: Final = WSMsgType.ERROR
# From this payload size a frame's header and payload are written as two buffers
# (one writev) instead of being joined: the join would copy the whole payload.
_GATHER_FROM = 16 * 1024
# A burst's answers (the cork) holding a large payload leave in one writev of up to this
# many buffers; past it the kernel's walk costs more than the join (IOV_MAX is 1024).
_WRITEV_MAX = 64


_READ_SIZE = 256 * 1024
# The base class's writelines() joins its buffers into one copy; asyncio's selector
# transport used it before Python 3.12, where a large payload and its header would
# cost that copy or two send calls; uvloop's and newer transports gather (writev).
_JOINING_WRITELINES = asyncio.WriteTransport.writelines
# For that transport (plain TCP on the standard loop) we writev on its socket when it
# has nothing queued, which is what its own write() would do, gathered; any other
# transport with a joining writelines() gets one write() per part. (Never an SSL
# transport: its socket carries records.)
_SELECTOR_TCP = (
    getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
    if hasattr(os, "writev")  # not on Windows
    else None
)
# From Python 3.12 the selector transport gathers in writelines(), but until 3.12.9 and
# 3.13.2 its writelines() never paused the protocol at the high-water mark (CPython
# gh-127655): a peer that stops reading made every sender buffer without bound. There
# that transport is taken as a joining one: our writev, then write(), which pauses.
_WRITELINES_PAUSES = not (
    (3, 12) <= sys.version_info[:3] < (3, 12, 9) or (3, 13) <= sys.version_info[:3] < (3, 13, 2)
)
# Reads shorter than this are copied to bytes before parsing: slicing small frames
# out of bytes is ~15% cheaper than out of a memoryview, and such a copy costs less.
_COPY_BELOW = 64 * 1024
_local = threading.local()
DEFAULT_OPTIONS = WebSocketOptions()


def _read_buffer() -> memoryview:
    """The read buffer of this thread's connections (one event loop per thread): each
    read is parsed before the next one may overwrite it."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(_READ_SIZE))
    return view


class WebSocket(WriteFlowControl, asyncio.BufferedProtocol):
    """The message API: ``async for msg in ws``, ``receive*``, ``send_*``, ``close``.

    The server's ``WebSocketResponse`` and the client's ``ws_connect`` make one and
    start it; ``role`` says which side it is, ``options`` its settings (message size
    limit, heartbeat, timeouts, queue length: see ``WebSocketOptions``). Messages
    the application has not taken yet wait in a queue of ``max_queue`` messages; a
    full queue stops reading from the socket until it drains. The closing decisions
    are the sans-I/O ``Connection``'s (``connection``); this class carries them out.

    A buffered protocol: the transport reads straight into a buffer shared by the
    thread's connections (``get_buffer``), so no bytes object is made per read; the
    connection copies out what it keeps before the next read reuses the buffer.
    """

    # Slots, not a __dict__: there is one of these per open connection.
    __slots__ = (
        "_abort_handle",
        "_answer_handle",
        "_close_called",
        "_closed_waiter",
        "_conn",
        "_cork",
        "_direct",
        "_exception",
        "_gathers",
        "_heartbeat",
        "_heartbeat_handle",
        "_last_seen",
        "_loop",
        "_lost",
        "_lost_waiter",
        "_max_queue",
        "_options",
        "_ping_sent_at",
        "_queue",
        "_read_view",
        "_reading_paused",
        "_transport",
        "_waiter",
        "_writev_fd",
        "protocol",
        "stats",
    )

    def __init__(self, role: Role, options: WebSocketOptions = DEFAULT_OPTIONS) -> None:
        """A WebSocket of ``role`` with ``options``; it starts receiving at ``start``."""
        self._conn = Connection(
            role,
            max_message_size=options.max_msg_size,
            compress_threshold=options.compress_threshold,
        )
        self._options = options
        self.protocol: str | None = None
        # Set by instrumentation (metrics, the debug toolbar) before start(); see
        # protocol/stats.py. None costs one check per read and per send.
        self.stats: MessageStats | None = None
        # The two settings read on every received burst, kept at hand; the others
        # are read from the shared options.
        self._heartbeat = options.heartbeat
        self._max_queue = options.max_queue
        self._transport: asyncio.Transport | None = None
        # Frames written while the reader handles a burst of messages: one
        # transport.write (one syscall) for all of them at the end of the loop turn.
        self._cork: list[bytes] | None = None
        # A list, not a deque: max_queue keeps it short, and an idle connection
        # (its reader waiting) then holds an empty list instead of a 600-byte deque.
        self._queue: list[WSMessage] = []
        self._waiter: asyncio.Future[WSMessage] | None = None
        self._reading_paused = False
        WriteFlowControl.__init__(self)
        self._closed_waiter: asyncio.Future[None] | None = None
        self._lost_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._close_called = False
        self._exception: BaseException | None = None
        self._heartbeat_handle: asyncio.TimerHandle | None = None
        self._answer_handle: asyncio.TimerHandle | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        self._ping_sent_at = 0.0
        self._last_seen = 0.0

    # -- wiring ------------------------------------------------------------------

    def start(
        self,
        transport: asyncio.Transport,
        tail: bytes = b"",
        *,
        deflate: DeflateParams | None = None,
        subprotocol: str | None = None,
    ) -> None:
        """Take over ``transport`` once the handshake agreed on ``deflate`` and
        ``subprotocol``; ``tail`` holds bytes received right after the handshake."""
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._read_view = _read_buffer()
        self._gathers = type(transport).writelines is not _JOINING_WRITELINES and (
            _WRITELINES_PAUSES or type(transport) is not _SELECTOR_TCP
        )
        self._writev_fd = -1
        if not self._gathers and type(transport) is _SELECTOR_TCP:
            self._writev_fd = transport.get_extra_info("socket").fileno()
        self._direct: memoryview | None = None
        self.protocol = subprotocol
        if deflate is not None:
            self._conn.use_deflate(deflate)
        self._last_seen = self._loop.time()
        if self._heartbeat:
            self._heartbeat_handle = self._loop.call_later(self._heartbeat, self._on_heartbeat)
        if tail:
            self.data_received(tail)

    def get_buffer(self, sizehint: int) -> memoryview:
        # The rest of a large frame goes straight into its message; the rest into
        # the shared buffer.
        direct = self._direct = self._conn.payload_buffer()
        return self._read_view if direct is None else direct

    def buffer_updated(self, nbytes: int) -> None:
        if self.stats is not None:
            self.stats.bytes_in += nbytes
        if self._direct is not None:
            self._direct = None
            self._handle(self._conn.payload_received(nbytes))
            return
        view = self._read_view[:nbytes]
        self._handle(self._conn.receive_data(bytes(view) if nbytes < _COPY_BELOW else view))

    def data_received(self, data: bytes | memoryview) -> None:
        """Take bytes read some other way than ``get_buffer`` (the bytes that came
        with the handshake, a test's transport) as if the transport had read them."""
        self._handle(self._conn.receive_data(data))

    def _handle(self, events: list[WSMessage]) -> None:
        """Carry out what the connection made of a read: deliver its messages, answer
        pings, and end the TCP connection when the closing handshake is over."""
        conn = self._conn
        corking = len(events) > 1 and self._cork is None
        if corking:
            self._cork = []
        if self._heartbeat:
            self._last_seen = self._loop.time()
        # Once the application called close(), what the peer still sends is dropped:
        # nobody will read it, and reading resumed to see the answer (see close()).
        dropping = self._close_called
        stats = self.stats
        for msg in events:
            kind = msg.type
            if kind is _TEXT or kind is _BINARY:
                if stats is not None:  # inline: this runs per message when watched
                    stats.messages_in += 1
                    if stats.recent is not None:
                        stats.keep(False, msg.data)  # type: ignore[arg-type]  # TEXT or BINARY
                if not dropping:
                    self._deliver(msg)
                continue
            if msg.type is _PING and self._options.autoping:
                # ConnectionClosed: the handshake ended in the same read, so no pong
                with contextlib.suppress(ConnectionClosed):
                    self.write_frame(conn.send_pong(msg.data))
                continue
            if kind is _PONG and self._options.autoping:
                continue
            if msg.type is _ERROR:
                self._exception = msg.data
            self._deliver(msg)
        if corking:  # after the reader's wake-up, so its answers are in the cork
            self._loop.call_soon(self._uncork)
        if conn.teardown:
            self._on_closed()

    def eof_received(self) -> bool | None:
        return None  # let the transport close itself: a half-open WebSocket is useless

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cork = None
        self._direct = None
        self._conn.receive_eof()
        if exc is not None and self._exception is None:
            self._exception = exc
        self._cancel_heartbeat()
        for handle in (self._answer_handle, self._abort_handle):
            if handle is not None:
                handle.cancel()
        self._resolve(self._closed_waiter)
        self._resolve(self._lost_waiter)
        self._wake_writers()  # a send waiting for the peer to read then raises
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(CLOSED_MESSAGE)

    # -- receiving ---------------------------------------------------------------

    def _deliver(self, msg: WSMessage) -> None:
        """Hand ``msg`` to the waiting reader or queue it.

        The peer's close (or its violation) is answered only when the application takes
        it, so answers to the messages before it go out first; an application that
        stops reading gets it answered after ``close_timeout``.
        """
        ending = msg.type is _CLOSE or msg.type is _ERROR
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(msg)
            if ending:
                self._answer_close()
            return
        queue = self._queue
        queue.append(msg)
        if ending:
            self._cancel_heartbeat()  # the closing handshake has its own timeout
            if self._conn.close_due:
                self._answer_handle = self._loop.call_later(
                    self._options.close_timeout, self._answer_close
                )
        elif (
            len(queue) >= self._max_queue
            and not self._reading_paused
            and self._transport is not None
            and not self._close_called  # closing: only the answer and TCP close are left
        ):
            self._reading_paused = True
            self._transport.pause_reading()

    def _answer_close(self) -> None:
        """The application took the peer's close or violation (or ``close_timeout``
        passed): our answer, if one is due, then the end of the TCP connection."""
        self._write_close(self._conn.answer_close())

    def _write_close(self, frame: bytes) -> None:
        """Write the close ``frame`` (if any) behind everything written before it, and
        carry out the teardown the connection decided."""
        if self._answer_handle is not None:
            self._answer_handle.cancel()
            self._answer_handle = None
        self._uncork()
        transport = self._transport
        if frame and transport is not None and not transport.is_closing():
            if self.stats is not None:
                self.stats.bytes_out += len(frame)
            transport.write(frame)
        self._on_closed()

    def receive(self, timeout: float | None = None) -> Coroutine[Any, Any, WSMessage]:
        """The next message: TEXT or BINARY, PING/PONG with ``autoping=False``, the
        peer's CLOSE (taking it sends our answer), ERROR when the connection failed,
        then CLOSED for good. Check ``msg.type``, and ``msg.data`` has its type.

        Waits at most ``timeout`` seconds (default: the ``receive_timeout`` option,
        None: no limit) and raises asyncio.TimeoutError then; the WebSocket stays
        usable. Raises RuntimeError before the WebSocket is started, or while another
        task waits in ``receive``. Cancelling it loses no message."""
        return self._receive(timeout, False)

    async def _receive(self, timeout: float | None, iterating: bool) -> WSMessage:
        # One coroutine for both receive() and the async iterator: a message reaches
        # the application through one frame less, on every message.
        if self._queue:
            msg = self._queue.pop(0)
            if msg.type is _CLOSE or msg.type is _ERROR:
                self._answer_close()
            if self._reading_paused and len(self._queue) <= self._max_queue // 2:
                self._reading_paused = False
                if self._transport is not None:
                    self._transport.resume_reading()
        elif not self._conn.receiving:  # nothing more can come: over
            msg = CLOSED_MESSAGE
        else:
            if self._transport is None:
                raise RuntimeError("the WebSocket is not connected yet (prepare or connect first)")
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting in receive()")
            waiter: asyncio.Future[WSMessage] = self._loop.create_future()
            self._waiter = waiter
            timeout = timeout if timeout is not None else self._options.receive_timeout
            handle = (
                self._loop.call_later(timeout, self._receive_timed_out, waiter)
                if timeout is not None
                else None
            )
            try:
                msg = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # Delivered in the turn the reader was cancelled: the next receive
                    # gets it (one already waiting, or the queue's first), as if it had
                    # come a moment later.
                    self._requeue(waiter.result())
                raise
            finally:
                if self._waiter is waiter:  # not a newer receive's
                    self._waiter = None
                if handle is not None:
                    handle.cancel()
        if iterating and msg.type in _END_OF_ITERATION:
            raise StopAsyncIteration
        return msg

    def _requeue(self, msg: WSMessage) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(msg)
        else:
            self._queue.insert(0, msg)

    @staticmethod
    def _receive_timed_out(waiter: asyncio.Future[WSMessage]) -> None:
        """The timer fails the waiter itself, so a cancel from outside stays a cancel."""
        if not waiter.done():
            waiter.set_exception(asyncio.TimeoutError("no message within the receive timeout"))

    async def receive_str(self, *, timeout: float | None = None) -> str:
        """The next message's text; raises TypeError when it is not TEXT (a CLOSE, a
        BINARY...: it is consumed), asyncio.TimeoutError as ``receive`` does."""
        return str(await self._receive_typed(WSMsgType.TEXT, timeout))

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next message's bytes; raises TypeError when it is not BINARY (it is
        consumed), asyncio.TimeoutError as ``receive`` does."""
        return bytes(await self._receive_typed(WSMsgType.BINARY, timeout))

    async def receive_json(
        self, *, loads: Callable[[Any], Any] = json.loads, timeout: float | None = None
    ) -> Any:
        """The next TEXT or BINARY message decoded by ``loads``; raises TypeError for
        any other kind (it is consumed), what ``loads`` raises for bad JSON, and
        asyncio.TimeoutError as ``receive`` does."""
        msg = await self.receive(timeout)
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            raise TypeError(f"received {msg.type.name} instead of a JSON message")
        return loads(msg.data)

    async def _receive_typed(self, kind: WSMsgType, timeout: float | None) -> Any:
        msg = await self.receive(timeout)
        if msg.type is not kind:
            raise TypeError(f"received {msg.type.name} instead of {kind.name}")
        return msg.data

    def __aiter__(self) -> WebSocket:
        return self

    def __anext__(self) -> Coroutine[Any, Any, WSMessage]:
        return self._receive(None, True)

    # -- sending -----------------------------------------------------------------

    async def send_str(self, data: str) -> None:
        """Send a text message. Returns at once unless the peer is not reading (the
        transport paused writing), then waits until it reads. Raises TypeError for
        anything but ``str``, ConnectionClosed once closing began on our side or the
        connection is lost."""
        if type(data) is not str:
            raise TypeError(f"send_str takes str, not {type(data).__name__}")
        self._write_message(data)
        if self.writing_paused:
            await self._drain()

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message; waits as ``send_str`` does. Raises TypeError for
        ``str``, ConnectionClosed once closing began on our side or the connection
        is lost."""
        if isinstance(data, str):
            raise TypeError("send_bytes takes bytes-like data, not str")
        self._write_message(data)
        if self.writing_paused:
            await self._drain()

    async def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``data`` encoded by ``dumps`` as a text message; raises what ``dumps``
        and ``send_str`` raise."""
        await self.send_str(dumps(data))

    def _write_message(self, data: str | bytes | bytearray | memoryview) -> None:
        head, payload = self._conn.message_parts(data)
        stats = self.stats
        if stats is not None:
            stats.messages_out += 1
            if stats.recent is not None:
                stats.keep(True, data)
        if len(payload) < _GATHER_FROM:
            self.write_frame(head + payload)
        else:
            self.write_frame(head, payload)

    async def ping(self, message: bytes = b"") -> None:
        """Send a ping carrying ``message`` (up to 125 bytes: ValueError past it).
        The peer's pong is a PONG message with ``autoping=False``; with autoping on
        it only counts as a sign of life. Raises ConnectionClosed once the
        connection is over."""
        await self.send_prepared(self._conn.send_ping(message))

    async def pong(self, message: bytes = b"") -> None:
        """Send a pong carrying ``message`` (up to 125 bytes: ValueError past it):
        the answer to a PING message with ``autoping=False``. Raises ConnectionClosed
        once the connection is over."""
        await self.send_prepared(self._conn.send_pong(message))

    async def send_prepared(self, frame: bytes, *more: bytes) -> None:
        """Write already framed bytes (``more`` as in ``write_frame``); waits only
        while the transport is paused.

        A publisher frames a message once and hands the same bytes to many sockets.
        """
        self.write_frame(frame, *more)
        if self.writing_paused:
            await self._drain()

    def abort(self, code: int | None = None, reason: str = "") -> None:
        """Drop the connection at once, without the closing handshake; does not wait.

        For a peer that stopped reading or answering, which would never finish a
        handshake: ``close()`` would wait ``close_timeout`` for nothing. With ``code``
        (``Hub`` sends 1008, POLICY_VIOLATION, to a subscriber too slow to keep up), a
        close frame with ``code`` and ``reason`` is written first, if ours was not sent
        yet: the peer learns why if it reads again. Without, nothing is sent. Then the
        TCP connection is dropped, unsent bytes included.

        Afterwards ``close_code`` is 1006 (ABNORMAL_CLOSURE) unless the peer's close had
        arrived, ``close_reason`` is ``reason``, ``receive()`` returns CLOSED once the
        queue is empty, sends raise ConnectionClosed and ``close()`` returns False.
        Raises ValueError for a code or reason a close frame cannot carry (nothing is
        done then).
        """
        frame = self._conn.fail(code, reason)
        self._close_called = True  # closed on our side: close() has nothing left to do
        self._write_close(frame)

    def write_frame(self, data: bytes, *more: bytes, batch: bool = False) -> None:
        """Write framed bytes without waiting, for a publisher that one slow reader
        must not hold up: it watches ``write_buffer_size`` itself instead. ``more``
        goes out right after ``data`` (a large payload after its header), gathered by
        the transport rather than copied into one piece.

        ``batch`` holds the bytes to the end of this loop turn, so a burst of published
        messages leaves in one write (one syscall) instead of one write each; anything
        else written meanwhile joins the batch, so the order stays the order of calls.
        """
        transport = self._transport
        if transport is None:
            raise RuntimeError("the WebSocket is not connected yet (prepare or connect first)")
        if transport.is_closing():
            raise ConnectionClosed(self._conn.close_code, self._conn.close_reason)
        if self.stats is not None:
            self.stats.bytes_out += len(data) + sum(map(len, more)) if more else len(data)
        cork = self._cork
        if cork is not None:
            cork.append(data)
            if more:
                cork.extend(more)
        elif batch:
            self._cork = [data, *more]
            self._loop.call_soon(self._uncork)
        elif not more:
            transport.write(data)
        elif self._gathers:
            transport.writelines((data, *more))
        else:
            self._writev(transport, (data, *more))

    def _writev(self, transport: asyncio.Transport, parts: Sequence[bytes]) -> None:
        """One writev for a transport whose writelines() would join the parts: when
        nothing is queued, the socket takes what it can and the transport the rest."""
        sent = 0
        if self._writev_fd >= 0 and not transport.get_write_buffer_size():
            try:
                sent = os.writev(self._writev_fd, parts)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                if self._exception is None:  # the cause is ours to report
                    self._exception = exc
                transport.writelines(parts)  # one write, which meets the failure and closes
                return
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
            elif transport.is_closing():  # a write failed and closed it: no more to try
                return
            else:
                transport.write(memoryview(part)[sent:] if sent else part)
                sent = 0

    def _uncork(self) -> None:
        """Write what the burst being handled produced, in one go."""
        cork, self._cork = self._cork, None
        transport = self._transport
        if cork and transport is not None and not transport.is_closing():
            if len(cork) == 1:
                transport.write(cork[0])
            elif (
                self._writev_fd >= 0
                and len(cork) <= _WRITEV_MAX
                and max(map(len, cork)) >= _GATHER_FROM  # small ones join cheaper
            ):
                self._writev(transport, cork)  # a join would copy the large payloads
            elif self._gathers:
                transport.writelines(cork)
            else:  # what a joining writelines() does, and write() pauses where it must
                transport.write(b"".join(cork))

    async def _drain(self) -> None:
        """Wait while the transport is paused. A connection lost meanwhile fails the
        send: what it wrote may still have been in the buffer the transport dropped."""
        await self._wait_writable()
        if self._lost:
            raise ConnectionClosed(self._conn.close_code, self._conn.close_reason)

    @property
    def write_buffer_size(self) -> int:
        """Bytes written but not yet sent: what a slow reader makes us hold."""
        pending = sum(map(len, self._cork)) if self._cork else 0
        return pending + (self._transport.get_write_buffer_size() if self._transport else 0)

    # -- closing -----------------------------------------------------------------

    async def close(self, *, code: int = CloseCode.OK, message: bytes | str = b"") -> bool:
        """Close with the closing handshake; False when it was already closed (or
        aborted, or lost), True otherwise.

        Sends a close frame with ``code`` and ``message`` (the reason, UTF-8, up to
        123 bytes) and waits up to ``close_timeout`` for the peer's answer, then for
        the end of the TCP connection (a server ends it at once, a client waits for
        the server to). When the peer closed first, its close is answered instead,
        its code echoed. What the peer sends meanwhile is dropped. However it ends
        (the handshake done, ``close_timeout``, a cancel), the TCP connection does
        not outlive it. Raises ValueError for a code or reason a close frame cannot
        carry, before anything is closed.
        """
        if self._close_called or self._lost:
            return False
        reason = message.decode("utf-8") if isinstance(message, bytes) else message
        conn = self._conn
        # The answer to the peer's close when one is due (its code echoed), else the
        # start of the handshake: framed first, so that a bad code or reason raises
        # before anything is marked closed.
        answering = conn.close_due
        frame = conn.answer_close() if answering else conn.send_close(code, reason)
        self._close_called = True
        if frame and not answering:
            try:
                self.write_frame(frame)
            except ConnectionClosed:
                return False
            self._cancel_heartbeat()  # the closing handshake has its own timeout
        try:
            if answering:
                self._write_close(frame)
            elif frame:
                if self._reading_paused and self._transport is not None:
                    # A full queue must not hide the peer's answer; what it still sends
                    # before that is dropped (see _handle), so nothing piles up.
                    self._reading_paused = False
                    self._transport.resume_reading()
                if self._closed_waiter is None:
                    self._closed_waiter = self._loop.create_future()
                await self._wait(self._closed_waiter, self._options.close_timeout)
            if not self._lost and conn.teardown:  # the handshake is over: TCP's end
                self._on_closed()
                if self._lost_waiter is None:
                    self._lost_waiter = self._loop.create_future()
                await self._wait(self._lost_waiter, self._options.close_timeout)
        finally:
            self._cancel_heartbeat()
            if self._transport is not None and not self._lost:
                self._transport.abort()  # the peer was too slow, or we were cancelled
        return True

    def _on_closed(self) -> None:
        """The closing handshake is over (or failed): carry out the connection's
        ``teardown`` of the TCP connection. A server closes it at once; a client gives
        the server ``close_timeout`` to do it first (RFC 6455 section 7.1.1); a
        failure drops it."""
        teardown = self._conn.teardown
        if not teardown:
            return
        self._resolve(self._closed_waiter)
        self._cancel_heartbeat()
        self._uncork()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if teardown is Teardown.CLOSE:
            transport.close()
        elif teardown is Teardown.ABORT:
            # Not close(): that would wait to flush what a dead peer will never read.
            transport.abort()
        elif self._lost_waiter is None:
            self._lost_waiter = self._loop.create_future()
            self._abort_handle = self._loop.call_later(
                self._options.close_timeout, self._abort_if_open
            )

    def _abort_if_open(self) -> None:
        if not self._lost and self._transport is not None:
            self._transport.abort()

    async def _wait(self, future: asyncio.Future[None], timeout: float | None = None) -> None:
        if future.done():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)

    @staticmethod
    def _resolve(future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)

    # -- heartbeat ---------------------------------------------------------------

    def _on_heartbeat(self) -> None:
        """Ping when the peer has been silent for ``heartbeat`` seconds; no pong
        within half of it fails the connection."""
        assert self._heartbeat is not None
        now = self._loop.time()
        if self._ping_sent_at:
            if self._last_seen < self._ping_sent_at:
                self._heartbeat_timeout()
                return
            self._ping_sent_at = 0.0
        idle = now - self._last_seen
        if idle < self._heartbeat:
            self._heartbeat_handle = self._loop.call_at(
                self._last_seen + self._heartbeat, self._on_heartbeat
            )
            return
        try:
            self.write_frame(self._conn.send_ping())
        except ConnectionClosed:
            return
        self._ping_sent_at = now
        self._heartbeat_handle = self._loop.call_later(self._heartbeat / 2, self._on_heartbeat)

    def _heartbeat_timeout(self) -> None:
        """The peer stopped answering: fail the connection (close 1011 sent, if it
        still reads; 1006 here) and tell the reader with an ERROR message."""
        exc = self._exception = WebSocketTimeoutError("no pong within the heartbeat deadline")
        self.abort(CloseCode.INTERNAL_ERROR, "heartbeat timeout")
        self._deliver(WSMessageError(WSMsgType.ERROR, exc, None))

    def _cancel_heartbeat(self) -> None:
        if self._heartbeat_handle is not None:
            self._heartbeat_handle.cancel()
            self._heartbeat_handle = None

    # -- state -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once closing began: ``close()`` was called, the peer's close or a
        failure arrived, or the connection was lost. Sends may then raise."""
        return self._close_called or not self._conn.receiving

    @property
    def close_code(self) -> int | None:
        """Why the connection ended: the code of whoever closed first, 1006
        (ABNORMAL_CLOSURE) when it ended without the peer's close frame (lost,
        aborted, heartbeat timeout); None while it is open."""
        return self._conn.close_code

    @property
    def close_reason(self) -> str:
        """The reason that came with ``close_code``; empty when none did."""
        return self._conn.close_reason

    @property
    def connection(self) -> Connection:
        """The sans-I/O ``Connection`` underneath, to read: its state and the deflate
        parameters, and the framing of a message without sending it (``send_text``,
        ``send_binary``), which a publisher writes to many sockets with
        ``write_frame``. Close through ``close`` or ``abort``, not through it."""
        return self._conn

    def exception(self) -> BaseException | None:
        """What made the connection fail: the peer's violation (a ProtocolError), a
        WebSocketTimeoutError from the heartbeat, or the socket's error; None when
        it did not fail."""
        return self._exception
