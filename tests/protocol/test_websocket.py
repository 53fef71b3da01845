"""The asyncio WebSocket over real loopback sockets and over in-memory transports.

Loopback pairs show the message API, backpressure and lost connections as a user sees
them; the in-memory pair logs every close and abort, so who closes TCP first, a peer
that never answers and the heartbeat are checked without racing the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from protocol_wire import read_frames

from tidewire.protocol.close import CloseCode
from tidewire.protocol.connection import Role, State
from tidewire.protocol.deflate import DeflateParams
from tidewire.protocol.errors import ConnectionClosed
from tidewire.protocol.frames import Opcode, build_frame
from tidewire.protocol.messages import (
    WSMessageBinary,
    WSMessageClose,
    WSMessageClosed,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)
from tidewire.protocol.options import WebSocketOptions
from tidewire.protocol.websocket import WebSocket, WebSocketTimeoutError


class Started(WebSocket):
    """Starts as soon as the loop hands over the transport, as server/client do."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.start(transport)


@dataclass
class Pair:
    server: Started
    client: Started


async def _loopback(server_kw: dict[str, Any], client_kw: dict[str, Any]) -> AsyncIterator[Pair]:
    loop = asyncio.get_running_loop()
    server_ws = Started(Role.SERVER, WebSocketOptions(**server_kw))
    srv = await loop.create_server(lambda: server_ws, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    _, client_ws = await loop.create_connection(
        lambda: Started(Role.CLIENT, WebSocketOptions(**client_kw)), "127.0.0.1", port
    )
    while not hasattr(server_ws, "transport"):
        await asyncio.sleep(0)
    try:
        yield Pair(server_ws, client_ws)
    finally:
        for ws in (server_ws, client_ws):
            ws.transport.abort()
        srv.close()
        await srv.wait_closed()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async for p in _loopback({}, {}):
        yield p


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory connection; ``log`` records closes, aborts and EOFs."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name, self.log = name, log
        self.peer: MemoryTransport | None = None
        self.protocol: WebSocket | None = None
        self.closing = False
        self.deliver = True  # False: the peer never hears from us (a black hole)
        self.written: list[bytes] = []
        self.reading = True
        self.held: list[bytes] = []  # what arrived while reading was paused

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "write after close"
        self.written.append(bytes(data))
        if self.deliver:
            asyncio.get_running_loop().call_soon(self._arrive, bytes(data))

    def _arrive(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and not peer.closing and peer.protocol is not None:
            if peer.reading:
                peer.protocol.data_received(data)
            else:
                peer.held.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def _end(self, how: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.log.append((self.name, how))
        loop = asyncio.get_running_loop()
        assert self.protocol is not None
        loop.call_soon(self.protocol.connection_lost, None)
        if how != "eof" and self.peer is not None:
            loop.call_soon(self.peer._end, "eof")

    def close(self) -> None:
        self._end("close")

    def abort(self) -> None:
        self._end("abort")

    def pause_reading(self) -> None:
        self.reading = False
        self.log.append((self.name, "pause_reading"))

    def resume_reading(self) -> None:
        self.reading = True
        self.log.append((self.name, "resume_reading"))
        held, self.held = self.held, []
        assert self.protocol is not None
        for data in held:
            self.protocol.data_received(data)

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class MemoryPair:
    server: WebSocket
    client: WebSocket
    server_end: MemoryTransport
    client_end: MemoryTransport
    log: list[tuple[str, str]] = field(default_factory=list)


def memory_pair(
    server_kw: dict[str, Any] | None = None, client_kw: dict[str, Any] | None = None
) -> MemoryPair:
    log: list[tuple[str, str]] = []
    server_end, client_end = MemoryTransport("server", log), MemoryTransport("client", log)
    server_end.peer, client_end.peer = client_end, server_end
    server = WebSocket(Role.SERVER, WebSocketOptions(**(server_kw or {})))
    client = WebSocket(Role.CLIENT, WebSocketOptions(**(client_kw or {})))
    server_end.protocol, client_end.protocol = server, client
    server.start(server_end)
    client.start(client_end)
    return MemoryPair(server, client, server_end, client_end, log)


def _closes(log: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [entry for entry in log if entry[1] in ("close", "abort", "eof")]


# -- messages ------------------------------------------------------------------


async def test_messages_both_ways_and_async_for(pair: Pair) -> None:
    await pair.client.send_str("héllo")
    await pair.client.send_bytes(bytearray(b"\x00\x01"))
    await pair.client.send_json({"a": [1, 2]})
    assert await pair.server.receive_str() == "héllo"
    assert await pair.server.receive_bytes() == b"\x00\x01"
    assert await pair.server.receive_json() == {"a": [1, 2]}
    big = bytes(range(256)) * 4096  # large: header and payload go out as two buffers
    await pair.client.send_bytes(memoryview(big))
    await pair.client.send_str("é" * 100_000)
    assert await pair.server.receive_bytes() == big
    assert await pair.server.receive_str() == "é" * 100_000
    await pair.server.send_bytes(big)
    await pair.server.send_str("")
    await pair.server.send_json([None])
    closing = asyncio.ensure_future(pair.server.close(code=4001, message="over"))
    got = [msg async for msg in pair.client]
    assert await closing is True
    assert got == [
        WSMessageBinary(WSMsgType.BINARY, big, None),
        WSMessageText(WSMsgType.TEXT, "", None),
        WSMessageText(WSMsgType.TEXT, "[null]", None),
    ]
    assert (pair.client.close_code, pair.client.close_reason) == (4001, "over")
    assert (pair.server.close_code, pair.server.closed) == (4001, True)


async def test_receive_type_errors(pair: Pair) -> None:
    await pair.client.send_bytes(b"bin")
    await pair.client.send_str("text")
    await pair.client.ping(b"p")  # autoping answers it: never seen by the reader
    closing = asyncio.ensure_future(pair.client.close(code=1000))
    with pytest.raises(TypeError, match="BINARY instead of TEXT"):
        await pair.server.receive_str()
    with pytest.raises(TypeError, match="TEXT instead of BINARY"):
        await pair.server.receive_bytes()
    with pytest.raises(TypeError, match="CLOSE instead of a JSON"):
        await pair.server.receive_json()
    assert (await pair.server.receive()).type is WSMsgType.CLOSED
    assert await closing is True


async def test_connections_sharing_the_read_buffer_keep_their_own_bytes() -> None:
    """Reads land in one buffer per thread: a message spanning reads on one connection
    survives the other connections' reads in between, in both directions."""
    loopbacks = [_loopback({"max_msg_size": 0}, {"max_msg_size": 0}) for _ in range(3)]
    pairs = [await anext(lb) for lb in loopbacks]
    payloads = [bytes([i]) * (3 << 20) + os.urandom(1000) for i in range(3)]  # > 12 reads
    texts = [f"{i}é" * 40_000 for i in range(3)]

    async def exchange(p: Pair, payload: bytes, text: str) -> None:
        await asyncio.gather(p.client.send_bytes(payload), p.client.send_str(text))
        assert await p.server.receive_bytes() == payload
        assert await p.server.receive_str() == text
        await p.server.send_bytes(payload[::-1])
        await p.server.send_str(text[::-1])
        assert await p.client.receive_bytes() == payload[::-1]
        assert await p.client.receive_str() == text[::-1]

    await asyncio.gather(*map(exchange, pairs, payloads, texts))
    for lb in loopbacks:
        await lb.aclose()


async def test_send_type_errors(pair: Pair) -> None:
    with pytest.raises(TypeError, match="send_str takes str, not bytes"):
        await pair.client.send_str(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send_bytes takes bytes-like data, not str"):
        await pair.client.send_bytes("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be str, not bytes"):
        pair.client.connection.send_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be bytes-like, not str"):
        pair.client.connection.send_binary("x")  # type: ignore[arg-type]
    await pair.client.send_str("still open")
    assert await pair.server.receive_str() == "still open"


async def test_receive_json_of_binary(pair: Pair) -> None:
    await pair.client.send_bytes(b'{"x": 1}')
    assert (await pair.server.receive()).json() == {"x": 1}


async def test_receive_timeout() -> None:
    async for p in _loopback({"receive_timeout": 0.05}, {}):
        with pytest.raises(asyncio.TimeoutError):
            await p.server.receive()
        with pytest.raises(asyncio.TimeoutError):
            await p.client.receive(timeout=0.05)
        # still usable afterwards
        await p.client.send_str("late")
        assert await p.server.receive_str(timeout=5) == "late"


async def test_cancelling_a_receive_with_a_timeout_is_a_cancel(pair: Pair) -> None:
    task = asyncio.ensure_future(pair.server.receive(timeout=30))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_only_one_reader(pair: Pair) -> None:
    task = asyncio.ensure_future(pair.server.receive())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already waiting"):
        await pair.server.receive()
    await pair.client.send_str("for the first")
    assert (await task).data == "for the first"


async def test_receive_runs_as_a_task(pair: Pair) -> None:
    # create_task() takes coroutines only: receive() must go on returning one.
    task = asyncio.create_task(pair.server.receive())
    await pair.client.send_str("to the task")
    assert (await asyncio.wait_for(task, 5)).data == "to the task"


async def test_not_started() -> None:
    ws = WebSocket(Role.SERVER)
    with pytest.raises(RuntimeError, match="not connected"):
        await ws.receive()
    assert ws.write_buffer_size == 0


# -- ping / pong ---------------------------------------------------------------


@pytest.mark.parametrize("autoping", [True, False])
async def test_ping_pong(autoping: bool) -> None:
    async for p in _loopback({"autoping": autoping}, {"autoping": False}):
        await p.client.ping(b"are you there")
        if autoping:
            assert await p.client.receive() == WSMessagePong(WSMsgType.PONG, b"are you there", None)
        else:
            assert await p.server.receive() == WSMessagePing(WSMsgType.PING, b"are you there", None)
            with pytest.raises(asyncio.TimeoutError):
                await p.client.receive(timeout=0.05)
            await p.server.pong(b"by hand")
            assert await p.client.receive() == WSMessagePong(WSMsgType.PONG, b"by hand", None)


# -- closing -------------------------------------------------------------------


@pytest.mark.parametrize("closer", ["server", "client"])
async def test_close_handshake_and_the_server_closes_tcp_first(closer: str) -> None:
    m = memory_pair()
    ours, theirs = (m.server, m.client) if closer == "server" else (m.client, m.server)
    reader = asyncio.ensure_future(theirs.receive())
    assert await ours.close(code=4002, message=b"bye") is True
    assert await reader == WSMessageClose(WSMsgType.CLOSE, 4002, "bye")
    await asyncio.sleep(0.01)
    assert _closes(m.log) == [("server", "close"), ("client", "eof")]
    assert (theirs.close_code, theirs.close_reason) == (4002, "bye")
    assert (ours.close_code, ours.close_reason) == (4002, "bye")  # we started it: ours
    for ws in (ours, theirs):
        assert ws.closed
        assert ws.connection.state is State.CLOSED
    # the closer's queue still holds the echo it did not read; then CLOSED for good
    assert await ours.receive() == WSMessageClose(WSMsgType.CLOSE, 4002, "")
    for ws in (ours, theirs):
        assert await ws.receive() == WSMessageClosed(WSMsgType.CLOSED, None, None)
    assert await ours.close() is False
    with pytest.raises(ConnectionClosed):
        await ours.send_str("after")


async def test_close_without_a_reader_answers_after_close_timeout() -> None:
    m = memory_pair(server_kw={"close_timeout": 0.05})
    assert await m.client.close(code=1001) is True  # the server app never reads
    assert _closes(m.log) == [("server", "close"), ("client", "eof")]
    assert m.client.close_code == 1001


@pytest.mark.parametrize("role", ["server", "client"])
async def test_close_timeout_when_the_peer_never_answers(role: str) -> None:
    m = memory_pair(server_kw={"close_timeout": 0.05}, client_kw={"close_timeout": 0.05})
    ours, end = (m.server, m.server_end) if role == "server" else (m.client, m.client_end)
    end.deliver = False  # our close frame is lost: no echo ever comes
    assert await ours.close() is True
    await asyncio.sleep(0)
    assert _closes(m.log)[0][0] == role
    assert ours.close_code == 1006
    assert ours.closed


async def test_abort_sends_its_code_and_drops_the_connection_without_waiting() -> None:
    m = memory_pair()
    m.server.abort(1008, "too slow")  # not a coroutine: it does not wait
    assert ("server", "abort") in m.log
    (frame,) = read_frames(m.server_end.written[-1])
    assert (frame.opcode, frame.payload) == (0x8, b"\x03\xf0too slow")
    assert m.server.closed
    assert (m.server.close_code, m.server.close_reason) == (1006, "too slow")
    assert await m.server.receive() == WSMessageClosed(WSMsgType.CLOSED, None, None)
    with pytest.raises(ConnectionClosed):
        await m.server.send_str("after")
    assert await m.server.close() is False
    assert await m.client.receive() == WSMessageClose(WSMsgType.CLOSE, 1008, "too slow")
    await asyncio.sleep(0.01)
    assert _closes(m.log) == [("server", "abort"), ("client", "eof")]


async def test_abort_without_a_code_sends_nothing() -> None:
    m = memory_pair()
    m.client.abort()
    assert m.client_end.written == []
    assert ("client", "abort") in m.log
    assert m.client.close_code == 1006
    with pytest.raises(ValueError):
        m.server.abort(1006)  # not a code for the wire: nothing is done
    assert not m.server.closed


# -- flow control ----------------------------------------------------------------


async def test_send_waits_while_the_peer_does_not_read(pair: Pair) -> None:
    pair.client.transport.pause_reading()  # the peer stops reading
    chunk = bytes(256 * 1024)
    sent = 0
    pending = None
    for _ in range(400):  # the kernel buffers fill, then the transport pauses us
        task = asyncio.ensure_future(pair.server.send_bytes(chunk))
        await asyncio.sleep(0.001)
        if not task.done():
            pending = task
            break
        sent += 1
    assert pending is not None, "send never waited"
    await asyncio.sleep(0.05)
    assert not pending.done()
    # what we hold stays bounded: the high-water mark plus the one message written
    assert pair.server.write_buffer_size <= 64 * 1024 + len(chunk) + 1024
    pair.client.transport.resume_reading()
    received = 0
    while received < sent + 1:
        assert (await pair.client.receive()).data == chunk
        received += 1
    await asyncio.wait_for(pending, 5)


def _stop_reading_with_small_buffers(pair: Pair) -> None:
    """The client stops reading and both kernel buffers are small: the server's
    socket soon takes only part of a write."""
    pair.client.transport.pause_reading()
    for end, option in ((pair.server, socket.SO_SNDBUF), (pair.client, socket.SO_RCVBUF)):
        end.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, option, 32768)


async def test_large_and_small_messages_keep_their_order_through_a_full_socket(
    pair: Pair,
) -> None:
    # Large payloads leave gathered with their header (writelines, or our own writev
    # where asyncio's would join them), partly taken by a full socket, the rest queued.
    _stop_reading_with_small_buffers(pair)
    sizes = [70_000, 10, 300_000, 5, 20_000, 1_000_000, 3, 16 * 1024, 200] * 3
    payloads = [os.urandom(n) for n in sizes]

    async def send_all() -> None:
        for payload in payloads:
            await pair.server.send_bytes(payload)

    sending = asyncio.ensure_future(send_all())
    await asyncio.sleep(0.05)
    assert not sending.done()  # the socket and the transport's buffer filled up
    pair.client.transport.resume_reading()
    for payload in payloads:
        assert (await asyncio.wait_for(pair.client.receive(), 5)).data == payload
    await asyncio.wait_for(sending, 5)


async def _echo_a_burst(ws: WebSocket, payloads: list[bytes]) -> asyncio.Task[None]:
    """``ws`` reads ``payloads`` from one read and echoes each: answers into the cork."""

    async def echo_each() -> None:
        for _ in payloads:
            await ws.send_bytes(await ws.receive_bytes())

    echoing = asyncio.ensure_future(echo_each())
    await asyncio.sleep(0)  # the reader waits in receive()
    ws.data_received(b"".join(build_frame(Opcode.BINARY, p, masked=True) for p in payloads))
    return echoing


async def test_answers_to_a_burst_of_large_messages_leave_whole_and_in_order(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A burst's answers holding large payloads leave in one writev where asyncio's
    # writelines would join (copy) them; a full socket takes part, the transport the rest.
    real_writev = os.writev
    calls: list[int] = []

    def writev(fd: int, parts: list[bytes]) -> int:
        calls.append(len(parts))
        return real_writev(fd, parts)

    monkeypatch.setattr(os, "writev", writev)
    _stop_reading_with_small_buffers(pair)
    payloads = [os.urandom(n) for n in (70_000, 10, 300_000, 5, 20_000)]
    echoing = await _echo_a_burst(pair.server, payloads)
    await asyncio.sleep(0.05)
    # large payloads go as their own buffer, small ones joined with their header
    assert calls == ([] if pair.server._writev_fd < 0 else [8])
    pair.client.transport.resume_reading()
    for payload in payloads:
        assert (await asyncio.wait_for(pair.client.receive(), 5)).data == payload
    await asyncio.wait_for(echoing, 5)
    assert pair.server.exception() is None


HEAD_LEN = 10  # a server's header for a 64-bit payload length


@pytest.mark.parametrize(
    "outcome",
    [
        0,
        1,
        HEAD_LEN - 1,
        HEAD_LEN,
        HEAD_LEN + 1,
        50_000,
        HEAD_LEN + 70_000,
        BlockingIOError,
        InterruptedError,
    ],
)
async def test_whatever_one_writev_takes_the_transport_sends_the_rest(
    pair: Pair, outcome: int | type[OSError], monkeypatch: pytest.MonkeyPatch
) -> None:
    if pair.server._writev_fd < 0:
        pytest.skip("this loop's transport gathers by itself")
    real_writev = os.writev
    calls: list[int] = []

    def writev(fd: int, parts: list[bytes]) -> int:
        calls.append(sum(map(len, parts)))
        if not isinstance(outcome, int):
            raise outcome()
        return os.write(fd, b"".join(parts)[:outcome]) if outcome else 0

    payload = os.urandom(70_000)
    monkeypatch.setattr(os, "writev", writev)
    await pair.server.send_bytes(payload)
    monkeypatch.setattr(os, "writev", real_writev)
    await pair.server.send_bytes(b"after")
    assert calls == [HEAD_LEN + len(payload)]
    assert (await asyncio.wait_for(pair.client.receive(), 5)).data == payload
    assert (await asyncio.wait_for(pair.client.receive(), 5)).data == b"after"
    assert pair.server.exception() is None


async def test_a_failed_writev_is_the_reported_cause(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pair.server._writev_fd < 0:
        pytest.skip("this loop's transport gathers by itself")

    def writev(fd: int, parts: list[bytes]) -> int:
        pair.client.transport.abort()
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(os, "writev", writev)
    with contextlib.suppress(ConnectionClosed):
        await pair.server.send_bytes(bytes(70_000))
    assert isinstance(pair.server.exception(), ConnectionResetError)


async def test_a_burst_answered_into_a_broken_socket_fails_once(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # The writev fails: the transport gets the answers as one write, which fails and
    # closes it, not one failing (and, past five, logged) write per buffer.
    pair.server.transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
    echoing = await _echo_a_burst(pair.server, [os.urandom(20_000) for _ in range(30)])
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(echoing, 5)
    assert isinstance(pair.server.exception(), BrokenPipeError)
    assert not [r for r in caplog.records if "raised exception" in r.getMessage()]


async def test_a_full_receive_queue_pauses_reading() -> None:
    m = memory_pair(server_kw={"max_queue": 4})
    for i in range(6):
        await m.client.send_str(str(i))
    await asyncio.sleep(0.01)
    assert [how for _, how in m.log] == ["pause_reading"]
    assert len(m.server_end.held) == 2  # not read while the queue is full
    assert [await m.server.receive_str() for _ in range(2)] == ["0", "1"]
    # half of the queue taken: reading resumes, the held two arrive and fill it again
    assert [how for _, how in m.log] == ["pause_reading", "resume_reading", "pause_reading"]
    assert [await m.server.receive_str() for _ in range(4)] == ["2", "3", "4", "5"]
    assert m.server_end.reading


async def test_close_with_a_full_queue_still_sees_the_answer() -> None:
    async for p in _loopback({}, {"max_queue": 1, "close_timeout": 30}):
        await p.server.send_str("unread")  # fills the client's queue: reading pauses
        await asyncio.sleep(0.05)
        reading = asyncio.ensure_future(p.server.receive())
        assert await asyncio.wait_for(p.client.close(code=4006), 5)  # not the 30 s timeout
        assert (await reading).data == 4006


async def test_taking_a_queued_close_resumes_reading() -> None:
    """Reading resumes after the close too, or the TCP close would never be seen."""
    m = memory_pair(client_kw={"max_queue": 1})
    await m.server.send_str("a")
    await asyncio.sleep(0.01)
    assert not m.client_end.reading
    closing = asyncio.ensure_future(m.server.close(code=4005))
    await asyncio.sleep(0.01)
    assert await m.client.receive_str() == "a"
    assert (await m.client.receive()).data == 4005
    assert m.client_end.reading
    assert await closing


# -- heartbeat and lost connections ------------------------------------------------


async def test_heartbeat_without_pong_fails_with_1006() -> None:
    m = memory_pair(client_kw={"heartbeat": 0.05})
    m.server_end.deliver = False  # the server hears our pings but its pongs never arrive
    msg = await m.client.receive(timeout=5)
    assert msg.type is WSMsgType.ERROR
    assert isinstance(msg.data, WebSocketTimeoutError)
    assert isinstance(m.client.exception(), WebSocketTimeoutError)
    assert m.client.close_code == 1006
    sent = [f.opcode for data in m.client_end.written for f in read_frames(data)]
    assert sent[0] == 0x9 and sent[-1] == 0x8
    await asyncio.sleep(0.01)
    # Aborted, not closed: a close would wait to flush what a dead peer never reads.
    assert ("client", "abort") in m.log


async def test_heartbeat_with_an_answering_peer_stays_open() -> None:
    m = memory_pair(client_kw={"heartbeat": 0.03})
    await asyncio.sleep(0.25)
    pings = [f for data in m.client_end.written for f in read_frames(data) if f.opcode == 0x9]
    assert len(pings) >= 2
    assert not m.client.closed
    assert m.client.exception() is None
    await m.client.send_str("still here")
    assert await m.server.receive_str() == "still here"


async def test_heartbeat_stays_quiet_while_data_flows() -> None:
    m = memory_pair(server_kw={"heartbeat": 0.1})
    for _ in range(10):
        await m.client.send_str("busy")
        await asyncio.sleep(0.02)
    pings = [f for data in m.server_end.written for f in read_frames(data) if f.opcode == 0x9]
    assert len(pings) <= 1
    assert not m.server.closed


async def test_connection_lost_mid_message_is_1006(pair: Pair) -> None:
    frame = pair.client.connection.send_binary(bytes(10000))
    await pair.client.send_prepared(frame[:5000])
    reader = asyncio.ensure_future(pair.server.receive())
    await asyncio.sleep(0.02)
    pair.client.transport.abort()
    assert await asyncio.wait_for(reader, 5) == WSMessageClosed(WSMsgType.CLOSED, None, None)
    assert pair.server.close_code == 1006
    assert pair.server.connection.state is State.CLOSED
    assert pair.server.closed
    assert await pair.server.close() is False


async def test_protocol_error_from_the_peer(pair: Pair) -> None:
    await pair.client.send_prepared(b"\x83\x80abcd")  # reserved opcode, masked
    msg = await pair.server.receive()
    assert msg.type is WSMsgType.ERROR
    assert pair.server.exception() is msg.data
    closing = await pair.client.receive()
    assert closing == WSMessageClose(WSMsgType.CLOSE, 1002, "")


async def test_tail_bytes_after_the_handshake_are_parsed() -> None:
    log: list[tuple[str, str]] = []
    end = MemoryTransport("server", log)
    ws = WebSocket(Role.SERVER)
    end.protocol = ws
    ws.start(end, tail=b"\x81\x82abcd" + bytes(a ^ b for a, b in zip(b"hi", b"ab", strict=True)))
    assert await ws.receive_str() == "hi"


async def test_answers_to_a_burst_share_one_write() -> None:
    """Messages parsed from one read are answered with one transport write."""
    p = memory_pair()
    server, end = p.server, p.server_end
    texts = [f"m{i}" for i in range(3)]

    async def echo_each() -> None:
        for _ in texts:
            await server.send_str(await server.receive_str())

    task = asyncio.ensure_future(echo_each())
    await asyncio.sleep(0)  # the reader waits in receive()
    server.data_received(b"".join(build_frame(Opcode.TEXT, t.encode(), masked=True) for t in texts))
    await task
    await asyncio.sleep(0)
    assert end.written == [b"".join(build_frame(Opcode.TEXT, t.encode()) for t in texts)]
    await server.send_str("alone")  # outside a burst: written at once
    assert end.written[-1] == build_frame(Opcode.TEXT, b"alone")


async def test_deflate_agreed_at_start() -> None:
    log: list[tuple[str, str]] = []
    ends = MemoryTransport("server", log), MemoryTransport("client", log)
    ends[0].peer, ends[1].peer = ends[1], ends[0]
    server, client = WebSocket(Role.SERVER), WebSocket(Role.CLIENT)
    ends[0].protocol, ends[1].protocol = server, client
    server.start(ends[0], deflate=DeflateParams(), subprotocol="chat")
    client.start(ends[1], deflate=DeflateParams(), subprotocol="chat")
    text = "squeeze " * 100
    await client.send_str(text)
    assert await server.receive_str() == text
    (frame,) = read_frames(ends[1].written[-1])
    assert frame.rsv == 0x40
    assert len(frame.payload) < 100
    assert server.protocol == client.protocol == "chat"


async def test_what_the_peer_sends_while_we_close_is_dropped() -> None:
    m = memory_pair()
    closing = asyncio.ensure_future(m.server.close(code=1000))
    await asyncio.sleep(0)
    await m.client.send_str("crossing the close")
    assert await m.client.receive() == WSMessageClose(WSMsgType.CLOSE, 1000, "")
    assert await closing is True
    assert await m.server.receive() == WSMessageClose(WSMsgType.CLOSE, 1000, "")


async def test_close_after_the_peers_close_arrived_unread() -> None:
    m = memory_pair()
    closing = asyncio.ensure_future(m.client.close(code=3001))
    await asyncio.sleep(0.01)
    assert m.server.connection.state is State.REMOTE_CLOSED
    assert await m.server.close() is True  # answers the peer's close instead of a new one
    assert await closing is True
    assert m.client.close_code == 3001
    assert _closes(m.log) == [("server", "close"), ("client", "eof")]


async def test_the_server_reports_1009_after_a_message_too_big() -> None:
    # The application asks why the connection ended once TCP is gone too.
    async for pair in _loopback({"max_msg_size": 10}, {}):
        await pair.client.send_str("x" * 100)
        assert [msg.type async for msg in pair.server] == [WSMsgType.ERROR]
        assert [msg.type async for msg in pair.client] == []  # its close: 1009
        assert pair.client.close_code == CloseCode.MESSAGE_TOO_BIG
        for _ in range(100):  # the server's TCP close reaches its connection_lost
            if pair.server._lost:
                break
            await asyncio.sleep(0.01)
        assert pair.server._lost
        assert pair.server.close_code == CloseCode.MESSAGE_TOO_BIG
