"""The compiled masking XOR and payload buffer agree with the pure-Python ones.

``make test`` runs tests/protocol a second time with TIDEWIRE_NO_EXTENSIONS=1, so the
pure path is what every other protocol test exercises in that run.
"""

from __future__ import annotations

import itertools
import os
import struct
import sys
import sysconfig

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_wire import wire

from tidewire.protocol import connection, frames
from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.deflate import DeflateParams
from tidewire.protocol.messages import WSMessage, WSMessageBinary, WSMessageText, WSMsgType

speedups = pytest.importorskip("tidewire.protocol._speedups")

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def test_the_switch_follows_the_environment() -> None:
    forced_pure = bool(os.environ.get("TIDEWIRE_NO_EXTENSIONS"))
    assert frames.HAS_SPEEDUPS is not forced_pure
    expected = frames.apply_mask_python if forced_pure else speedups.apply_mask
    assert frames.apply_mask is expected
    payload = frames.PayloadPieces if forced_pure else speedups.PayloadBuffer
    assert frames.new_payload is payload


@pytest.mark.parametrize("size", [0, 1, 3, 4, 7, 8, 9, 31, 32, 33, 125, 4096, 65536 + 3])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5, 1 << 40])
def test_compiled_equals_pure(size: int, offset: int) -> None:
    data = os.urandom(size)
    expected = frames.apply_mask_python(data, MASK, offset)
    assert speedups.apply_mask(data, MASK, offset) == expected
    assert speedups.apply_mask(bytearray(data), MASK, offset) == expected
    assert speedups.apply_mask(memoryview(data), MASK, offset) == expected


@pytest.mark.parametrize("mask", [MASK, None])
@pytest.mark.parametrize("cuts", [[], [0], [1], [3, 3, 9], [5, 65000], [65536, 65539]])
def test_compiled_payload_equals_pure(cuts: list[int], mask: bytes | None) -> None:
    data = os.urandom(65536 + 20)
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    pure, compiled = frames.PayloadPieces(len(data)), speedups.PayloadBuffer(len(data))
    for i, chunk in enumerate(chunks):
        piece = [chunk, bytearray(chunk), memoryview(chunk)][i % 3]
        pure.write(piece)
        compiled.write(piece)
    assert pure.filled == compiled.filled == len(data)
    expected = pure.take(mask)
    assert expected == (data if mask is None else frames.apply_mask_python(data, mask))
    assert compiled.take(mask) == expected


def test_a_payload_is_read_into_place() -> None:
    payload = speedups.PayloadBuffer(10)
    payload.write(b"abc")
    view = payload.view()
    assert view is not None and len(view) == 7
    view[:4] = b"defg"  # as a socket's recv_into would
    payload.advance(4)
    view[4:] = b"hij"
    payload.advance(3)
    assert payload.take(None) == b"abcdefghij"
    with pytest.raises(ValueError, match="taken already"):
        payload.view()
    assert frames.PayloadPieces(10).view() is None  # the pure path has nothing to read into
    with pytest.raises(ValueError, match="no view"):
        frames.PayloadPieces(10).advance(1)


@pytest.mark.parametrize(
    ("steps", "error", "match"),
    [
        ([("write", b"toolong")], ValueError, "more bytes than"),
        ([("advance", 7)], ValueError, "past the end"),
        ([("advance", -1)], ValueError, "past the end"),
        ([("take", None)], ValueError, "not complete"),
        ([("write", b"four"), ("take", b"abc")], ValueError, "4 bytes"),
        ([("write", b"four"), ("take", None), ("take", None)], ValueError, "taken already"),
        ([("write", "text")], TypeError, None),
        ([("advance", "1")], TypeError, None),
    ],
)
def test_payload_misuse_is_refused(
    steps: list[tuple[str, object]], error: type[Exception], match: str | None
) -> None:
    payload = speedups.PayloadBuffer(4)
    *ok, (name, arg) = steps
    for step, value in ok:
        getattr(payload, step)(value)
    with pytest.raises(error, match=match):
        getattr(payload, name)(arg)


def test_payload_size_is_checked() -> None:
    with pytest.raises(ValueError, match="negative"):
        speedups.PayloadBuffer(-1)
    assert speedups.PayloadBuffer(0).take(MASK) == b""


def test_a_payload_is_not_reinitialised_under_its_views() -> None:
    payload = speedups.PayloadBuffer(4)
    view = payload.view()
    with pytest.raises(TypeError, match="initialised once"):
        payload.__init__(8)
    assert view is not None and len(view) == 4


# Free-threaded builds keep no spare payloads (refcounts there prove no ownership).
spare_pool = pytest.mark.skipif(
    bool(sysconfig.get_config_var("Py_GIL_DISABLED")), reason="no spare pool here"
)


def read_payload(data: bytes, mask: bytes | None = MASK) -> bytes:
    payload = speedups.PayloadBuffer(len(data))
    payload.write(data if mask is None else frames.apply_mask_python(data, mask))
    taken: bytes = payload.take(mask)
    return taken


def test_payloads_kept_by_the_user_never_change() -> None:
    # Large payloads are built in the memory of dropped earlier ones; never in one
    # that is still referenced, however many are kept.
    sent = [os.urandom(65536 + i) for i in range(12)]
    kept = [read_payload(data) for data in sent]
    hashes = [hash(b) for b in kept]
    more = [read_payload(os.urandom(65536 + i)) for i in range(12)]
    assert kept == sent
    assert [hash(b) for b in kept] == hashes
    assert len(set(map(id, kept + more))) == 24


@spare_pool
def test_a_dropped_payload_is_reused_and_a_viewed_one_is_not() -> None:
    # Sizes no other test uses, so the spares left by earlier tests do not fit.
    first = read_payload(os.urandom(3_000_001))
    address = id(first)
    del first
    again = read_payload(data := os.urandom(3_000_000))
    assert id(again) == address and again == data  # built in the dropped one's memory
    del again
    viewed = speedups.PayloadBuffer(3_000_000)
    view = viewed.view()  # a reader still holding the memory it read into
    view[:] = bytes(3_000_000)
    viewed.advance(3_000_000)
    taken = viewed.take(None)
    address = id(taken)
    del taken
    fresh = read_payload(os.urandom(3_000_000))
    assert id(fresh) != address
    assert bytes(view) == bytes(3_000_000)


@spare_pool
@pytest.mark.parametrize(("size", "pooled"), [(1_048_577, 8), (3_000_003, 5)])
def test_the_spare_pool_keeps_the_newest_payloads_within_its_budget(size: int, pooled: int) -> None:
    # An echo with eight 1 MiB messages in flight finds all eight spares again; larger
    # ones are kept only up to 16 MiB in all. A pooled payload has one more reference.
    held = [read_payload(os.urandom(size)) for _ in range(8)]
    plain = [os.urandom(8) for _ in range(8)]
    pairs = zip(held, plain, strict=True)
    extra = [sys.getrefcount(data) - sys.getrefcount(p) for data, p in pairs]
    assert extra == [0] * (8 - pooled) + [1] * pooled


@pytest.mark.parametrize("second_size", [100_000, 65536, 99_999])
def test_a_payload_in_recycled_memory_is_a_plain_bytes(second_size: int) -> None:
    first = read_payload(os.urandom(100_000))
    hash(first)  # a recycled bytes must not keep this hash
    del first
    data = os.urandom(second_size)
    second = read_payload(data)
    assert len(second) == second_size
    assert second == data
    assert hash(second) == hash(bytes(bytearray(data)))
    assert second + b"!" == data + b"!"


def test_offset_defaults_to_zero() -> None:
    assert speedups.apply_mask(b"abcdef", MASK) == frames.apply_mask_python(b"abcdef", MASK)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"ab", b"abc"), ValueError),
        ((b"ab", MASK, -1), ValueError),
        ((b"ab",), TypeError),
        ((b"ab", MASK, 0, 0), TypeError),
        (("text", MASK), TypeError),
        ((memoryview(b"abcdef")[::2], MASK), BufferError),
    ],
)
def test_bad_arguments_are_refused(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        speedups.apply_mask(*args)


# Frames the compiled reader turns into messages, and every kind it must leave to the
# Python loop: the first byte, the payload, and whether the frame is masked "right"
# (as the peer of the receiving role must send it).
PLAIN = [
    (0x81, "héllo".encode(), True),
    (0x82, b"\x00\xff" * 70, True),
    (0x82, b"", True),
    (0x81, "€uro".encode() * 50, True),  # masked text longer than the reader's stack copy
    (0x82, b"\x5a" * 70_000, True),  # a 64-bit length
]
OTHER = [
    (0x81, b"\xff\xfe", True),  # invalid UTF-8: close 1007
    (0x81, "€".encode()[:2], True),  # cut in the middle of a character
    (0x82, b"unmasked", False),  # masked towards a client, or plain towards a server
    (0x02, b"start", True),  # a fragmented message, continued below
    (0x80, b"end", True),
    (0x89, b"ping", True),
    (0xC2, b"compressed?", True),  # RSV1 without deflate
    (0x83, b"reserved", True),
    (0x82, b"x" * 300, True),  # over a max_message_size of 200
]
LIMIT = 200


def frame_for(role: Role, first: int, payload: bytes, right: bool) -> bytes:
    masked = (role is Role.SERVER) is right
    return wire(first & 0x0F, payload, fin=bool(first & 0x80), rsv=first & 0x70, masked=masked)


def outcome(conn: Connection, chunks: list[bytes]) -> list[tuple[object, ...]]:
    events: list[tuple[object, ...]] = []
    for chunk in chunks:
        for msg in conn.receive_data(chunk):
            data = msg.data
            if isinstance(data, Exception):
                data = (type(data), getattr(data, "code", None), str(data))
            events.append((type(msg), msg.type, data, msg.extra))
    return [*events, (conn.state, conn.close_code)]


@settings(max_examples=150, deadline=None)
@given(
    role=st.sampled_from([Role.SERVER, Role.CLIENT]),
    kinds=st.lists(st.sampled_from(PLAIN * 3 + OTHER), max_size=12),
    cuts=st.lists(st.integers(0, 80_000), max_size=6),
    limit=st.sampled_from([0, LIMIT, 100_000]),
    deflate=st.booleans(),
)
def test_the_compiled_reader_changes_nothing_but_speed(
    role: Role,
    kinds: list[tuple[int, bytes, bool]],
    cuts: list[int],
    limit: int,
    deflate: bool,
) -> None:
    stream = b"".join(frame_for(role, *kind) for kind in kinds)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    params = DeflateParams() if deflate else None
    compiled = outcome(Connection(role, max_message_size=limit, deflate=params), chunks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connection, "_read_plain", None)
        pure = outcome(Connection(role, max_message_size=limit, deflate=params), chunks)
    assert compiled == pure


def make_reader() -> speedups.MessageReader:
    return speedups.MessageReader(WSMessageText, WSMsgType.TEXT, WSMessageBinary, WSMsgType.BINARY)


def test_the_reader_stops_where_python_must_decide() -> None:
    read = make_reader().read
    plain = wire(0x2, b"abc") + wire(0x1, b"d\xc3\xa9")
    events: list[WSMessage] = []
    assert read(plain * 2, 0, True, LIMIT, events) == 2 * len(plain)
    assert len(events) == 4
    for stop in [wire(0x9, b"ping"), wire(0x2, b"x" * 300), wire(0x1, b"\xc3")]:
        events.clear()
        src = b"??" + plain + stop + plain
        assert read(src, 2, True, LIMIT, events) == 2 + len(plain)
        assert events == [(WSMsgType.BINARY, b"abc", None), (WSMsgType.TEXT, "dé", None)]
        assert [type(e) for e in events] == [WSMessageBinary, WSMessageText]
    head = struct.pack("!BBQ", 0x82, 0xFF, 1 << 63)  # the 64-bit length's high bit
    assert read(head + b"\0" * 40, 0, True, 0, events) == 0
    assert read(bytearray(plain), 0, False, 0, []) == 0  # masked, but a server's expected
    assert read(memoryview(plain)[: len(plain) - 1], 0, True, 0, []) == len(wire(0x2, b"abc"))
    big = wire(0x2, b"\x5a" * 70_000)
    events.clear()
    assert read(big, 0, True, 0, events) == len(big)  # no limit
    assert events == [(WSMsgType.BINARY, b"\x5a" * 70_000, None)]
    assert read(big, 0, True, 70_000 - 1, events) == 0  # over the limit: Python raises


def test_messages_from_the_reader_are_plain_tuples_to_hash_and_compare() -> None:
    events: list[WSMessage] = []
    make_reader().read(wire(0x1, b"hi"), 0, True, 0, events)
    (msg,) = events
    assert msg == WSMessageText(WSMsgType.TEXT, "hi", None)
    assert hash(msg) == hash(WSMessageText(WSMsgType.TEXT, "hi", None)) == hash(tuple(msg))
    assert type(msg) is WSMessageText
    assert msg.type is WSMsgType.TEXT and msg.data == "hi" and msg.extra is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"", 0, True, 0), TypeError),
        ((b"", 0, True, 0, ()), TypeError),
        ((b"", 1, True, 0, []), ValueError),
        ((b"", -1, True, 0, []), ValueError),
        (("text", 0, True, 0, []), TypeError),
    ],
)
def test_reader_misuse_is_refused(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_reader().read(*args)


def test_a_reader_is_initialised_once_and_before_use() -> None:
    with pytest.raises(TypeError, match="tuple subclasses"):
        speedups.MessageReader(dict, 1, WSMessageBinary, 2)
    with pytest.raises(TypeError, match="tuple subclasses"):
        speedups.MessageReader(WSMessageText, 1, dict, 2)
    with pytest.raises(TypeError, match="not initialised"):
        speedups.MessageReader.__new__(speedups.MessageReader).read(b"", 0, True, 0, [])
    with pytest.raises(TypeError, match="initialised once"):
        make_reader().__init__(WSMessageText, 1, WSMessageBinary, 2)


def test_limits_beyond_any_buffer_or_none_mean_no_limit() -> None:
    for limit in (None, 1 << 70, 0):
        conn = Connection(Role.SERVER, max_message_size=limit)  # type: ignore[arg-type]
        (msg,) = conn.receive_data(wire(0x2, b"z" * 70_000))
        assert msg.data == b"z" * 70_000
