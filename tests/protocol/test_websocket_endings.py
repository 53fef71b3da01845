"""How a WebSocket ends when something goes wrong on the way: a cancelled receive or
close, a close that raises, a peer that resets, stops reading or stops answering.

Each ends with the socket released, nothing left scheduled, and no message lost; the
peer here is a plain socket the test drives, so nothing answers unless told to.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from test_websocket import Started

from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.errors import ConnectionClosed
from tidewire.protocol.messages import WSMsgType
from tidewire.protocol.options import WebSocketOptions
from tidewire.protocol.websocket import WebSocketTimeoutError


@dataclass
class RawPeer:
    ws: Started
    sock: socket.socket  # the other end: reads and writes only when the test does
    lost: asyncio.Future[None]  # resolved when the WebSocket's transport is gone


def _watch_lost(ws: Started) -> asyncio.Future[None]:
    lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    connection_lost = ws.connection_lost

    def lost_and_told(exc: Exception | None) -> None:
        connection_lost(exc)
        if not lost.done():
            lost.set_result(None)

    ws.connection_lost = lost_and_told  # type: ignore[method-assign]
    return lost


async def _raw_peer(role: Role, **kw: Any) -> AsyncIterator[RawPeer]:
    """A tidewire WebSocket of ``role`` whose peer is a raw socket with a small buffer."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    if role is Role.CLIENT:
        accepting = asyncio.ensure_future(loop.sock_accept(listener))
        _, ws = await loop.create_connection(
            lambda: Started(role, WebSocketOptions(**kw)), "127.0.0.1", port
        )
        sock, _ = await accepting
    else:
        listener.close()
        made: list[Started] = []
        server = await loop.create_server(
            lambda: made.append(Started(role, WebSocketOptions(**kw))) or made[-1], "127.0.0.1", 0
        )
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, server.sockets[0].getsockname())
        while not made or not hasattr(made[0], "transport"):
            await asyncio.sleep(0.001)
        ws = made[0]
        server.close()
    listener.close()
    try:
        yield RawPeer(ws, sock, _watch_lost(ws))
    finally:
        sock.close()
        ws.transport.abort()


@pytest.fixture
async def server_side() -> AsyncIterator[RawPeer]:
    async for peer in _raw_peer(Role.SERVER, heartbeat=0.2, close_timeout=0.3):
        yield peer


@pytest.fixture
async def client_side() -> AsyncIterator[RawPeer]:
    async for peer in _raw_peer(Role.CLIENT, close_timeout=0.3):
        yield peer


def _fill(ws: Started) -> None:
    """Write until the transport pauses us: the peer reads nothing."""
    while not ws.writing_paused:
        ws.write_frame(b"\x82\x7f" + (65536).to_bytes(8, "big"), b"x" * 65536)


@pytest.mark.parametrize("reader_ran", [True, False])
async def test_a_receive_cancelled_as_its_message_arrives_keeps_the_message(
    server_side: RawPeer, reader_ran: bool
) -> None:
    # What asyncio.timeout() or a TaskGroup does when the deadline and the data land
    # in the same loop turn: the message waits for the next receive, which may start
    # before or after the cancelled reader has run.
    ws = server_side.ws
    reading = asyncio.create_task(ws.receive())
    await asyncio.sleep(0.01)
    ws.data_received(Connection(Role.CLIENT).send_text("kept"))
    reading.cancel()
    if reader_ran:
        with pytest.raises(asyncio.CancelledError):
            await reading
    msg = await ws.receive(timeout=1)
    assert (msg.type, msg.data) == (WSMsgType.TEXT, "kept")


async def test_a_send_waiting_on_a_reset_connection_raises(server_side: RawPeer) -> None:
    ws = server_side.ws
    _fill(ws)
    sending = asyncio.create_task(ws.send_str("never leaves"))
    await asyncio.sleep(0.05)
    assert not sending.done()
    server_side.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server_side.sock.close()  # a reset
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(sending, 2)


async def test_a_heartbeat_timeout_frees_a_sender_stuck_on_a_peer_that_stopped_reading(
    server_side: RawPeer,
) -> None:
    ws = server_side.ws
    _fill(ws)
    # Heartbeat 0.2 s and no pong within 0.1 s: the connection fails, its socket goes,
    # and the send waiting for the peer to read raises instead of waiting for ever.
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.send_bytes(b"x" * 65536), 2)
    await asyncio.wait_for(server_side.lost, 1)
    assert isinstance(ws.exception(), WebSocketTimeoutError)
    assert ws.close_code == 1006


async def test_a_cancelled_close_still_closes_the_socket(client_side: RawPeer) -> None:
    with pytest.raises(asyncio.TimeoutError):  # the peer never answers our close
        await asyncio.wait_for(client_side.ws.close(), 0.05)
    await asyncio.wait_for(client_side.lost, 1)


async def test_a_close_with_a_bad_reason_raises_and_leaves_the_websocket_open(
    client_side: RawPeer,
) -> None:
    ws = client_side.ws
    with pytest.raises(ValueError, match="123"):
        await ws.close(code=4000, message="x" * 200)
    assert not ws.closed
    assert await ws.close() is True  # nothing answers: close_timeout, then the abort
    await asyncio.wait_for(client_side.lost, 1)


async def test_a_clean_client_close_leaves_no_timer_behind() -> None:
    loop = asyncio.get_running_loop()
    made: list[Started] = []
    server = await loop.create_server(
        lambda: made.append(Started(Role.SERVER)) or made[-1], "127.0.0.1", 0
    )
    _, client = await loop.create_connection(
        lambda: Started(Role.CLIENT, WebSocketOptions(close_timeout=30)),
        *server.sockets[0].getsockname(),
    )
    while not made:
        await asyncio.sleep(0.001)
    closing = asyncio.create_task(client.close())
    assert (await made[0].receive(timeout=1)).type is WSMsgType.CLOSE
    assert await asyncio.wait_for(closing, 2) is True
    server.close()
    await server.wait_closed()
    timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert not [h for h in timers if "_abort_if_open" in repr(h)]
