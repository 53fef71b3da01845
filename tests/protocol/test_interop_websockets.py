"""Interop with the ``websockets`` package's own sans-I/O protocol objects.

Handshakes go through both libraries for real: our ``request_headers``/``check_response``
against their ServerProtocol, their ClientProtocol against our ``accept_request``. Then
bytes flow both ways and both sides must agree on every message and every close.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from multidict import CIMultiDict
from protocol_wire import read_frames
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame
from websockets.frames import Opcode as TheirOpcode
from websockets.protocol import Protocol
from websockets.protocol import State as TheirState
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tidewire.protocol.connection import Connection, Role, State
from tidewire.protocol.deflate import ClientDeflate, DeflateParams, ServerDeflate
from tidewire.protocol.frames import RSV1
from tidewire.protocol.handshake import (
    accept_request,
    check_response,
    generate_key,
    request_headers,
)
from tidewire.protocol.http import build_head
from tidewire.protocol.messages import (
    WSMessage,
    WSMessageBinary,
    WSMessageClose,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)

# The keyword arguments of their extension factory; ours uses its defaults.
DEFLATE_CASES = [
    pytest.param(None, id="plain"),
    pytest.param({}, id="deflate"),
    pytest.param({"server_no_context_takeover": True}, id="server-nct"),
    pytest.param({"client_no_context_takeover": True}, id="client-nct"),
    pytest.param({"server_max_window_bits": 10}, id="server-bits-10"),
    pytest.param({"client_max_window_bits": 9}, id="client-bits-9"),
]


@dataclass
class Link:
    """Our Connection and their Protocol, already past a real handshake."""

    ours: Connection
    theirs: Protocol

    def to_ours(self) -> list[WSMessage]:
        return self.ours.receive_data(b"".join(self.theirs.data_to_send()))

    def ours_send(self, msg: WSMessage) -> bytes:
        if msg.type is WSMsgType.TEXT:
            return self.ours.send_text(msg.data)
        return self.ours.send_binary(msg.data)

    def to_theirs(self, data: bytes) -> list[Frame]:
        self.theirs.receive_data(data)
        return [e for e in self.theirs.events_received() if isinstance(e, Frame)]

    def their_messages(self, data: bytes) -> list[tuple[str, object]]:
        """Their frames assembled into messages; control frames as they come."""
        out: list[tuple[str, object]] = []
        parts: list[bytes] = []
        kind = ""
        for frame in self.to_theirs(data):
            if frame.opcode in (TheirOpcode.TEXT, TheirOpcode.BINARY):
                kind, parts = frame.opcode.name, []
            if frame.opcode in (TheirOpcode.TEXT, TheirOpcode.BINARY, TheirOpcode.CONT):
                parts.append(frame.data)
                if frame.fin:
                    joined = b"".join(parts)
                    out.append((kind, joined.decode() if kind == "TEXT" else joined))
            else:
                out.append((frame.opcode.name, frame.data))
        return out


def _their_client_our_server(deflate: dict[str, object] | None, **kw: object) -> Link:
    extensions = None if deflate is None else [ClientPerMessageDeflateFactory(**deflate)]  # type: ignore[arg-type]
    theirs = ClientProtocol(parse_uri("ws://localhost/"), extensions=extensions, max_size=None)
    request = theirs.connect()
    theirs.send_request(request)
    assert b"Sec-WebSocket-Key" in b"".join(theirs.data_to_send())
    server_deflate = None if deflate is None else ServerDeflate()
    result = accept_request("GET", CIMultiDict(request.headers.raw_items()), deflate=server_deflate)
    theirs.receive_data(build_head("HTTP/1.1 101 Switching Protocols", result.headers))
    assert len(theirs.events_received()) == 1  # the 101 response
    assert theirs.handshake_exc is None
    assert theirs.state is TheirState.OPEN
    assert (len(theirs.extensions) == 1) is (deflate is not None)
    return Link(Connection(Role.SERVER, deflate=result.agreement.deflate, **kw), theirs)  # type: ignore[arg-type]


def _their_server_our_client(deflate: dict[str, object] | None, **kw: object) -> Link:
    extensions = None if deflate is None else [ServerPerMessageDeflateFactory(**deflate)]  # type: ignore[arg-type]
    theirs = ServerProtocol(extensions=extensions, max_size=None)
    key = generate_key()
    client_deflate = None if deflate is None else ClientDeflate()
    headers = [("Host", "localhost"), *request_headers(key, deflate=client_deflate)]
    theirs.receive_data(build_head("GET / HTTP/1.1", headers))
    (request,) = theirs.events_received()
    response = theirs.accept(request)
    theirs.send_response(response)
    assert response.status_code == 101, response.body
    agreement = check_response(
        101, CIMultiDict(response.headers.raw_items()), key, deflate=client_deflate
    )
    assert (agreement.deflate is not None) is (deflate is not None)
    theirs.data_to_send()
    return Link(Connection(Role.CLIENT, deflate=agreement.deflate, **kw), theirs)


@pytest.fixture(params=["our-server", "our-client"])
def make_link(request: pytest.FixtureRequest) -> Iterator[object]:
    yield _their_client_our_server if request.param == "our-server" else _their_server_our_client


MESSAGES = [
    WSMessageText(WSMsgType.TEXT, "", None),
    WSMessageText(WSMsgType.TEXT, "hello", None),
    WSMessageText(WSMsgType.TEXT, "ünïcödé ☃ 𝄞 " * 2000, None),
    WSMessageBinary(WSMsgType.BINARY, b"", None),
    WSMessageBinary(WSMsgType.BINARY, bytes(125), None),
    WSMessageBinary(WSMsgType.BINARY, bytes(range(256)) * 256, None),
    WSMessageBinary(WSMsgType.BINARY, b"\xff" * 126, None),
]


@pytest.mark.parametrize("deflate", DEFLATE_CASES)
def test_messages_both_ways(make_link: object, deflate: dict[str, object] | None) -> None:
    link: Link = make_link(deflate)  # type: ignore[operator]
    for _ in range(2):  # twice: context takeover must stay in step
        for msg in MESSAGES:
            raw = msg.data.encode() if msg.type is WSMsgType.TEXT else msg.data
            if msg.type is WSMsgType.TEXT:
                link.theirs.send_text(raw)
            else:
                link.theirs.send_binary(raw)
            assert link.to_ours() == [msg]
        wire = b"".join(
            link.ours.send_text(m.data)
            if m.type is WSMsgType.TEXT
            else link.ours.send_binary(m.data)
            for m in MESSAGES
        )
        assert link.their_messages(wire) == [(m.type.name, m.data) for m in MESSAGES]
    if deflate is not None:  # both directions really compressed
        big = MESSAGES[2].data
        assert read_frames(link.ours.send_text(big))[0].rsv == RSV1
        link.theirs.send_text(big.encode())
        assert read_frames(b"".join(link.theirs.data_to_send()))[0].rsv == RSV1


@pytest.mark.parametrize("deflate", [None, {}], ids=["plain", "deflate"])
def test_their_fragments_with_a_ping_inside(
    make_link: object, deflate: dict[str, object] | None
) -> None:
    link: Link = make_link(deflate)  # type: ignore[operator]
    text = "fragmented ☃ message " * 20
    raw = text.encode()
    link.theirs.send_text(raw[:7], fin=False)  # cuts inside nothing multi-byte
    link.theirs.send_ping(b"in between")
    link.theirs.send_continuation(raw[7:30], fin=False)
    link.theirs.send_continuation(raw[30:], fin=True)
    assert link.to_ours() == [
        WSMessagePing(WSMsgType.PING, b"in between", None),
        WSMessageText(WSMsgType.TEXT, text, None),
    ]
    link.theirs.send_binary(b"\x00\x01", fin=False)
    link.theirs.send_continuation(b"", fin=False)
    link.theirs.send_continuation(b"\x02", fin=True)
    assert link.to_ours() == [WSMessageBinary(WSMsgType.BINARY, b"\x00\x01\x02", None)]


def test_pings_and_pongs(make_link: object) -> None:
    link: Link = make_link(None)  # type: ignore[operator]
    link.theirs.send_ping(b"theirs")
    (ping,) = link.to_ours()
    assert ping == WSMessagePing(WSMsgType.PING, b"theirs", None)
    assert link.their_messages(link.ours.send_pong(ping.data)) == [("PONG", b"theirs")]
    # they answer our ping by themselves
    assert link.their_messages(link.ours.send_ping(b"ours")) == [("PING", b"ours")]
    assert link.to_ours() == [WSMessagePong(WSMsgType.PONG, b"ours", None)]


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4999])
def test_they_close_and_we_echo(make_link: object, code: int) -> None:
    link: Link = make_link({})  # type: ignore[operator]
    link.theirs.send_close(code, "bye ☃")
    assert link.to_ours() == [WSMessageClose(WSMsgType.CLOSE, code, "bye ☃")]
    assert link.their_messages(link.ours.answer_close()) == [("CLOSE", _close(code))]
    assert link.ours.state is State.CLOSED
    assert link.theirs.close_rcvd is not None
    assert link.theirs.close_rcvd.code == code


def test_they_close_without_a_code(make_link: object) -> None:
    link: Link = make_link(None)  # type: ignore[operator]
    link.theirs.send_close()
    assert link.to_ours() == [WSMessageClose(WSMsgType.CLOSE, 1005, "")]
    assert link.their_messages(link.ours.answer_close()) == [("CLOSE", b"")]


@pytest.mark.parametrize("code", [1000, 1008, 4000])
def test_we_close_and_they_echo(make_link: object, code: int) -> None:
    link: Link = make_link(None)  # type: ignore[operator]
    assert link.their_messages(link.ours.send_close(code, "done")) == [
        ("CLOSE", _close(code) + b"done")
    ]
    assert link.to_ours() == [WSMessageClose(WSMsgType.CLOSE, code, "done")]
    assert link.ours.state is State.CLOSED
    assert link.theirs.close_sent is not None
    assert link.theirs.close_sent.code == code


def _close(code: int) -> bytes:
    return code.to_bytes(2, "big")


def test_invalid_utf8_from_them_is_1007_on_both_sides(make_link: object) -> None:
    link: Link = make_link(None)  # type: ignore[operator]
    link.theirs.send_text(b"ok \xff")  # websockets does not check what it sends
    events = link.to_ours()
    assert events[-1].type is WSMsgType.ERROR
    link.to_theirs(link.ours.answer_close())
    assert link.theirs.close_rcvd is not None
    assert link.theirs.close_rcvd.code == 1007


def test_too_big_from_them_is_1009_on_both_sides(make_link: object) -> None:
    link: Link = make_link({}, max_message_size=1000)  # type: ignore[operator]
    link.theirs.send_binary(bytes(5000))  # compresses to a few bytes
    assert link.to_ours()[-1].type is WSMsgType.ERROR
    link.to_theirs(link.ours.answer_close())
    assert link.theirs.close_rcvd is not None
    assert link.theirs.close_rcvd.code == 1009


def test_their_negotiated_params_match_ours() -> None:
    link = _their_client_our_server(
        {"server_no_context_takeover": True, "client_max_window_bits": 10}
    )
    assert link.ours.deflate == DeflateParams(
        server_no_context_takeover=True, client_max_window_bits=10
    )
    (ext,) = link.theirs.extensions
    assert (ext.remote_no_context_takeover, ext.local_max_window_bits) == (True, 10)  # type: ignore[attr-defined]
