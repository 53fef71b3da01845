"""permessage-deflate (RFC 7692): negotiation of every parameter, and the codec."""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import pytest
from protocol_wire import assert_failed, deflate_raw, read_frames, wire_to

from tidewire.protocol import deflate as deflate_module
from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.deflate import ClientDeflate, Compressor, DeflateParams, ServerDeflate
from tidewire.protocol.errors import ProtocolError
from tidewire.protocol.frames import RSV1, Opcode
from tidewire.protocol.handshake import parse_extensions
from tidewire.protocol.messages import WSMessageBinary, WSMessageText, WSMsgType

PMD = "permessage-deflate"


def _params(header: str) -> list[tuple[str, str | None]]:
    ((name, params),) = parse_extensions([header])
    assert name == PMD
    return params


# -- negotiation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "server", "agreed"),
    [
        (PMD, ServerDeflate(), DeflateParams()),
        (f"{PMD}; server_no_context_takeover", ServerDeflate(), DeflateParams(True)),
        (f"{PMD}; client_no_context_takeover", ServerDeflate(), DeflateParams(False, True)),
        (PMD, ServerDeflate(server_no_context_takeover=True), DeflateParams(True)),
        (PMD, ServerDeflate(client_no_context_takeover=True), DeflateParams(False, True)),
        (
            f"{PMD}; server_max_window_bits=10",
            ServerDeflate(),
            DeflateParams(server_max_window_bits=10),
        ),
        (
            f"{PMD}; server_max_window_bits=8",
            ServerDeflate(),
            DeflateParams(server_max_window_bits=8),
        ),
        (
            f"{PMD}; server_max_window_bits=12",
            ServerDeflate(server_max_window_bits=9),
            DeflateParams(server_max_window_bits=9),
        ),
        (PMD, ServerDeflate(server_max_window_bits=11), DeflateParams(server_max_window_bits=11)),
        (f"{PMD}; client_max_window_bits", ServerDeflate(), DeflateParams()),
        (
            f"{PMD}; client_max_window_bits=8",
            ServerDeflate(),
            DeflateParams(client_max_window_bits=8),
        ),
        (
            f'{PMD}; client_max_window_bits="10"',
            ServerDeflate(),
            DeflateParams(client_max_window_bits=10),
        ),
    ],
)
def test_server_accepts_offers(offer: str, server: ServerDeflate, agreed: DeflateParams) -> None:
    assert server.accept([_params(offer)]) == agreed


@pytest.mark.parametrize(
    "bad",
    [
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=08",
        "server_max_window_bits=ten",
        'server_max_window_bits="\u0661\u0660"',  # Arabic-Indic digits: isdigit() but not ASCII
        "client_max_window_bits=7",
        "client_max_window_bits=16",
        "client_max_window_bits=08",
        "server_no_context_takeover=1",
        "client_no_context_takeover=yes",
        "server_no_context_takeover; server_no_context_takeover",
        "unknown_parameter",
    ],
)
def test_server_declines_bad_offers_and_takes_a_later_good_one(bad: str) -> None:
    assert ServerDeflate().accept([_params(f"{PMD}; {bad}")]) is None
    later = ServerDeflate().accept(
        [_params(f"{PMD}; {bad}"), _params(f"{PMD}; client_no_context_takeover")]
    )
    assert later == DeflateParams(client_no_context_takeover=True)


def test_server_declines_no_offer() -> None:
    assert ServerDeflate().accept([]) is None


@pytest.mark.parametrize(
    ("params", "header"),
    [
        (DeflateParams(), PMD),
        (
            DeflateParams(True, True, 9, 8),
            f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=8",
        ),
    ],
)
def test_answer_header(params: DeflateParams, header: str) -> None:
    assert params.as_header() == header


@pytest.mark.parametrize(
    ("client", "header"),
    [
        (ClientDeflate(), f"{PMD}; client_max_window_bits"),
        (
            ClientDeflate(9, 10, True, True),
            f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9",
        ),
    ],
)
def test_offer_header(client: ClientDeflate, header: str) -> None:
    assert client.offer() == header


@pytest.mark.parametrize(
    ("client", "answer", "agreed"),
    [
        (ClientDeflate(), PMD, DeflateParams()),
        (
            ClientDeflate(),
            f"{PMD}; server_max_window_bits=10",
            DeflateParams(server_max_window_bits=10),
        ),
        (
            ClientDeflate(),
            f"{PMD}; client_max_window_bits=9",
            DeflateParams(client_max_window_bits=9),
        ),
        (
            ClientDeflate(10),
            f"{PMD}; client_max_window_bits=12",
            DeflateParams(client_max_window_bits=10),
        ),
        (ClientDeflate(8), PMD, DeflateParams(client_max_window_bits=8)),
        (ClientDeflate(), f"{PMD}; client_no_context_takeover", DeflateParams(False, True)),
        (ClientDeflate(client_no_context_takeover=True), PMD, DeflateParams(False, True)),
        (
            ClientDeflate(server_no_context_takeover=True),
            f"{PMD}; server_no_context_takeover",
            DeflateParams(True),
        ),
        (
            ClientDeflate(server_max_window_bits=12),
            f"{PMD}; server_max_window_bits=12",
            DeflateParams(server_max_window_bits=12),
        ),
        (
            ClientDeflate(server_max_window_bits=12),
            f"{PMD}; server_max_window_bits=8",
            DeflateParams(server_max_window_bits=8),
        ),
    ],
)
def test_client_accepts_answers(client: ClientDeflate, answer: str, agreed: DeflateParams) -> None:
    assert client.accept(_params(answer)) == agreed


@pytest.mark.parametrize(
    ("client", "answer"),
    [
        (ClientDeflate(server_max_window_bits=12), PMD),
        (ClientDeflate(server_max_window_bits=12), f"{PMD}; server_max_window_bits=13"),
        (ClientDeflate(server_no_context_takeover=True), PMD),
        (ClientDeflate(), f"{PMD}; client_max_window_bits"),
        (ClientDeflate(), f"{PMD}; server_max_window_bits"),
        (ClientDeflate(), f"{PMD}; server_max_window_bits=7"),
        (ClientDeflate(), f"{PMD}; server_max_window_bits=16"),
        (ClientDeflate(), f"{PMD}; client_max_window_bits=08"),
        (ClientDeflate(), f"{PMD}; something_else"),
    ],
)
def test_client_refuses_answers(client: ClientDeflate, answer: str) -> None:
    with pytest.raises(ProtocolError):
        client.accept(_params(answer))


# -- the codec -----------------------------------------------------------------


def _pair(params: DeflateParams, **kw: Any) -> tuple[Connection, Connection]:
    return Connection(Role.SERVER, deflate=params, **kw), Connection(
        Role.CLIENT, deflate=params, **kw
    )


def _peer_of(conn: Connection, pair: tuple[Connection, Connection]) -> Connection:
    return pair[1] if conn is pair[0] else pair[0]


@pytest.mark.parametrize("sender_index", [0, 1], ids=["server-sends", "client-sends"])
def test_rsv1_per_message_and_the_size_threshold(sender_index: int) -> None:
    pair = _pair(DeflateParams(), compress_threshold=64)
    sender = pair[sender_index]
    receiver = _peer_of(sender, pair)
    long_text = "compress me " * 20
    for data, compressed in [
        ("short", False),
        (long_text, True),
        ("x" * 63, False),
        ("y" * 64, True),
    ]:
        wire_bytes = sender.send_text(data)
        (frame,) = read_frames(wire_bytes)
        assert (frame.rsv == RSV1) is compressed
        if compressed:
            assert len(frame.payload) < len(data)
        else:
            assert frame.payload == data.encode()
        assert receiver.receive_data(wire_bytes) == [WSMessageText(WSMsgType.TEXT, data, None)]
    binary = bytes(1000)
    assert receiver.receive_data(sender.send_binary(binary)) == [
        WSMessageBinary(WSMsgType.BINARY, binary, None)
    ]


def test_threshold_zero_compresses_even_empty_messages() -> None:
    server, client = _pair(DeflateParams(), compress_threshold=0)
    (frame,) = read_frames(server.send_binary(b""))
    assert frame.rsv == RSV1
    assert client.receive_data(server.send_binary(b"")) == [
        WSMessageBinary(WSMsgType.BINARY, b"", None)
    ]


@pytest.mark.parametrize(
    ("params", "takeover"),
    [
        (DeflateParams(), True),
        (DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True), False),
    ],
)
@pytest.mark.parametrize("sender_index", [0, 1], ids=["server-sends", "client-sends"])
def test_context_takeover_shrinks_a_repeated_message(
    params: DeflateParams, takeover: bool, sender_index: int
) -> None:
    pair = _pair(params)
    sender = pair[sender_index]
    receiver = _peer_of(sender, pair)
    message = bytes(range(256)) * 8 + b"the same message, again and again"
    sizes = []
    for _ in range(3):
        wire_bytes = sender.send_binary(message)
        sizes.append(len(read_frames(wire_bytes)[0].payload))
        assert receiver.receive_data(wire_bytes) == [
            WSMessageBinary(WSMsgType.BINARY, message, None)
        ]
    if takeover:
        assert sizes[1] < sizes[0] / 4
        assert sizes[2] == sizes[1]
    else:
        assert sizes[0] == sizes[1] == sizes[2]


@pytest.mark.parametrize("bits", [8, 9, 10, 15])
def test_compressed_output_fits_the_agreed_window(bits: int) -> None:
    message = (b"0123456789abcdef" * 64 + bytes(range(256))) * 8
    payload = Compressor(bits, no_context_takeover=True).compress(message)
    inflater = zlib.decompressobj(-max(bits, 9))
    assert inflater.decompress(payload + b"\x00\x00\xff\xff") == message


def test_a_peer_with_context_takeover_is_followed(deflate_conn: Connection) -> None:
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    for text in ["first message " * 10, "first message " * 10 + "and more"]:
        out = obj.compress(text.encode()) + obj.flush(zlib.Z_SYNC_FLUSH)
        frame = wire_to(deflate_conn, Opcode.TEXT, out[:-4], rsv=RSV1)
        assert deflate_conn.receive_data(frame) == [WSMessageText(WSMsgType.TEXT, text, None)]


def test_fragmented_compressed_message_with_rsv1_on_the_first_frame_only(
    deflate_conn: Connection,
) -> None:
    text = "ünïcödé " * 50
    payload = deflate_raw(text.encode())
    cuts = [0, 3, 4, len(payload) // 2, len(payload)]
    frames = b"".join(
        wire_to(
            deflate_conn,
            Opcode.TEXT if i == 0 else Opcode.CONTINUATION,
            payload[a:b],
            fin=b == len(payload),
            rsv=RSV1 if i == 0 else 0,
        )
        for i, (a, b) in enumerate(itertools.pairwise(cuts))
    )
    events = [m for i in range(len(frames)) for m in deflate_conn.receive_data(frames[i : i + 1])]
    assert events == [WSMessageText(WSMsgType.TEXT, text, None)]


def test_uncompressed_messages_are_still_accepted(deflate_conn: Connection) -> None:
    assert deflate_conn.receive_data(wire_to(deflate_conn, Opcode.TEXT, b"plain")) == [
        WSMessageText(WSMsgType.TEXT, "plain", None)
    ]


@pytest.mark.parametrize(
    ("opcode", "fin"),
    [(Opcode.CONTINUATION, True), (Opcode.PING, True)],
    ids=["continuation", "ping"],
)
def test_rsv1_outside_a_first_data_frame_is_refused(
    deflate_conn: Connection, opcode: int, fin: bool
) -> None:
    start = wire_to(deflate_conn, Opcode.BINARY, b"", fin=False) if opcode == 0 else b""
    data = start + wire_to(deflate_conn, opcode, deflate_raw(b"x"), fin=fin, rsv=RSV1)
    assert_failed(deflate_conn, deflate_conn.receive_data(data), 1002)


def test_invalid_compressed_data_is_1002(deflate_conn: Connection) -> None:
    events = deflate_conn.receive_data(wire_to(deflate_conn, Opcode.BINARY, b"\xff\xff", rsv=RSV1))
    assert_failed(deflate_conn, events, 1002)


def test_invalid_utf8_inside_compressed_text_is_1007(deflate_conn: Connection) -> None:
    data = wire_to(deflate_conn, Opcode.TEXT, deflate_raw(b"ok \xff"), rsv=RSV1)
    assert_failed(deflate_conn, deflate_conn.receive_data(data), 1007)


class _CountingInflater:
    """Wraps zlib's inflater and counts every byte it produces."""

    produced = 0

    def __init__(self, wbits: int) -> None:
        self._obj = _real_decompressobj(wbits)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._obj.decompress(data, max_length)
        _CountingInflater.produced += len(out)
        return out


_real_decompressobj = zlib.decompressobj


@pytest.fixture
def counting_inflater(monkeypatch: pytest.MonkeyPatch) -> type[_CountingInflater]:
    _CountingInflater.produced = 0
    monkeypatch.setattr(deflate_module.zlib, "decompressobj", _CountingInflater)
    return _CountingInflater


def test_inflation_bomb_stops_at_the_limit(
    role: Role, counting_inflater: type[_CountingInflater]
) -> None:
    limit = 1024 * 1024
    conn = Connection(role, deflate=DeflateParams(), max_message_size=limit)
    payload = deflate_raw(bytes(10 * 1024 * 1024))
    assert len(payload) < 16 * 1024  # ~10 KB on the wire for 10 MB
    assert_failed(conn, conn.receive_data(wire_to(conn, Opcode.BINARY, payload, rsv=RSV1)), 1009)
    assert counting_inflater.produced <= limit + 1


def test_compressed_message_of_exactly_the_limit_passes(role: Role) -> None:
    conn = Connection(role, deflate=DeflateParams(), max_message_size=1000)
    frame = wire_to(conn, Opcode.BINARY, deflate_raw(bytes(1000)), rsv=RSV1)
    assert conn.receive_data(frame) == [WSMessageBinary(WSMsgType.BINARY, bytes(1000), None)]
    frame = wire_to(conn, Opcode.BINARY, deflate_raw(bytes(1001)), rsv=RSV1)
    assert_failed(conn, conn.receive_data(frame), 1009)


def test_fragment_inflating_past_a_limit_already_reached_is_refused(
    role: Role, counting_inflater: type[_CountingInflater]
) -> None:
    """The first fragment fills the limit exactly; the next must not inflate freely."""
    limit = 1000
    conn = Connection(role, deflate=DeflateParams(), max_message_size=limit)
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = obj.compress(bytes(limit)) + obj.flush(zlib.Z_SYNC_FLUSH)
    rest = obj.compress(bytes(1024 * 1024)) + obj.flush(zlib.Z_SYNC_FLUSH)
    data = wire_to(conn, Opcode.BINARY, first, fin=False, rsv=RSV1)
    assert conn.receive_data(data) == []
    events = conn.receive_data(wire_to(conn, Opcode.CONTINUATION, rest[:-4]))
    assert_failed(conn, events, 1009)
    assert counting_inflater.produced <= limit + 1


def test_no_limit_inflates_everything(role: Role) -> None:
    conn = Connection(role, deflate=DeflateParams(), max_message_size=0)
    big = bytes(8 * 1024 * 1024)
    frame = wire_to(conn, Opcode.BINARY, deflate_raw(big), rsv=RSV1)
    assert conn.receive_data(frame) == [WSMessageBinary(WSMsgType.BINARY, big, None)]
