"""The connection's state machine (``HTTPState``), driven through a fake transport: the
states each event leads to, and the moves it refuses loudly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidewire.server import Application, Request, Response
from tidewire.server.protocol import _TRANSITIONS, HTTPProtocol, HTTPState, Server


class FakeTransport(asyncio.Transport):
    """Records what the server writes and how it closes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.eof_written = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name in ("peername", "sockname") else default


class Upgraded(asyncio.Protocol):
    async def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool:
        return True


async def echo(request: Request) -> Response:
    return Response(body=await request.read())


def connect(gate: asyncio.Event | None = None) -> tuple[HTTPProtocol, FakeTransport]:
    """A connection to an application whose ``GET /held`` answers once ``gate`` is set.

    A test that looks at the state while a request is being answered uses ``/held``: on
    Python 3.12+ the server runs a handler eagerly, so one that never waits is done
    before ``data_received`` returns."""
    app = Application()
    app.router.add_get("/", echo)
    app.router.add_post("/", echo)
    if gate is not None:

        async def held(request: Request) -> Response:
            await gate.wait()
            return Response(text="held")

        app.router.add_get("/held", held)
    protocol = Server(app)()
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle(protocol: HTTPProtocol) -> None:
    """Let the answering task finish."""
    for _ in range(10):
        await asyncio.sleep(0)
    assert protocol.task is None


async def test_a_request_goes_through_head_and_body_back_to_idle() -> None:
    protocol, transport = connect()
    assert protocol.state is HTTPState.IDLE
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: a\r\n")
    assert protocol.state is HTTPState.HEAD
    protocol.data_received(b"Content-Length: 4\r\n\r\nab")
    assert protocol.state is HTTPState.BODY
    protocol.data_received(b"cd")
    assert protocol.state is HTTPState.IDLE
    await settle(protocol)
    assert transport.written.endswith(b"\r\n\r\nabcd")
    assert protocol.state is HTTPState.IDLE


async def test_an_error_stops_parsing_and_the_answer_lingers() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    await settle(protocol)
    assert transport.written.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert protocol.state is HTTPState.LINGERING
    assert transport.eof_written and not transport.closed
    protocol.data_received(b"more")  # dropped, not parsed
    assert protocol.state is HTTPState.LINGERING
    protocol.eof_received()
    assert protocol.state is HTTPState.CLOSING
    protocol.connection_lost(None)
    assert protocol.state is HTTPState.CLOSED


async def test_a_half_close_after_a_request_is_answered_then_closed() -> None:
    gate = asyncio.Event()
    protocol, transport = connect(gate)
    protocol.data_received(b"GET /held HTTP/1.1\r\nHost: a\r\n\r\n")
    assert protocol.eof_received()  # answering: keep the write side open
    assert protocol.state is HTTPState.PEER_EOF
    gate.set()
    await settle(protocol)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert protocol.state is HTTPState.CLOSING and transport.closed


async def test_an_upgrade_request_switches_then_hands_over() -> None:
    protocol, transport = connect(asyncio.Event())  # the handler upgrades: it is held
    protocol.data_received(b"GET /held HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nTAIL")
    assert protocol.state is HTTPState.SWITCHING
    upgraded = Upgraded()
    assert protocol.upgrade(upgraded) == b"TAIL"
    assert protocol.state is HTTPState.UPGRADED
    assert transport.protocol is upgraded


async def test_upgrading_twice_is_refused_naming_the_state() -> None:
    protocol, _ = connect(asyncio.Event())
    protocol.data_received(b"GET /held HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
    protocol.upgrade(Upgraded())
    with pytest.raises(RuntimeError, match="from UPGRADED to UPGRADED"):
        protocol.upgrade(Upgraded())


async def test_upgrading_a_closing_connection_is_refused() -> None:
    protocol, transport = connect()
    protocol.close()
    assert protocol.state is HTTPState.CLOSING
    with pytest.raises(RuntimeError, match="from CLOSING to UPGRADED"):
        protocol.upgrade(Upgraded())
    assert transport.protocol is None  # the socket was not handed over


async def test_upgrading_a_lost_connection_raises_connection_reset() -> None:
    protocol, _ = connect()
    protocol.connection_lost(None)
    with pytest.raises(ConnectionResetError):
        protocol.upgrade(Upgraded())


async def test_a_parser_event_out_of_turn_is_refused() -> None:
    protocol, _ = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
    assert protocol.state is HTTPState.BODY
    with pytest.raises(RuntimeError, match="from BODY to HEAD"):
        protocol.on_message_begin()


def test_the_moves_checked_inline_each_have_one_source() -> None:
    # on_message_begin, on_headers_complete and on_message_complete compare the state by
    # identity instead of looking _TRANSITIONS up: the table must agree with them.
    sources = {
        target: [state for state, allowed in _TRANSITIONS.items() if target in allowed]
        for target in (HTTPState.HEAD, HTTPState.BODY, HTTPState.IDLE)
    }
    assert sources == {
        HTTPState.HEAD: [HTTPState.IDLE],
        HTTPState.BODY: [HTTPState.HEAD],
        HTTPState.IDLE: [HTTPState.BODY],
    }


def test_every_state_has_its_moves_and_only_the_final_ones_none() -> None:
    assert set(_TRANSITIONS) == set(HTTPState)
    finals = {state for state, allowed in _TRANSITIONS.items() if not allowed}
    assert finals == {HTTPState.UPGRADED, HTTPState.CLOSED}
    for state, allowed in _TRANSITIONS.items():
        assert state not in allowed
        if state not in finals:
            assert HTTPState.CLOSED in allowed  # the client may always go away
