"""Frame layout (RFC 6455 section 5.2): headers, lengths, masking, byte for byte."""

from __future__ import annotations

import pytest
from protocol_wire import MASK, read_frames, wire

from tidewire.protocol.errors import ProtocolError
from tidewire.protocol.frames import (
    FIN,
    Opcode,
    apply_mask,
    build_frame,
    build_header,
    read_header,
)


# RFC 6455 section 5.7 examples.
@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (wire(Opcode.TEXT, b"Hello", masked=False), bytes.fromhex("810548656c6c6f")),
        (wire(Opcode.TEXT, b"Hello"), bytes.fromhex("818537fa213d7f9f4d5158")),
        (wire(Opcode.TEXT, b"Hel", fin=False, masked=False), bytes.fromhex("010348656c")),
        (wire(Opcode.CONTINUATION, b"lo", masked=False), bytes.fromhex("80026c6f")),
        (wire(Opcode.PING, b"Hello", masked=False), bytes.fromhex("890548656c6c6f")),
        (wire(Opcode.PONG, b"Hello"), bytes.fromhex("8a8537fa213d7f9f4d5158")),
    ],
)
def test_rfc_examples(frame: bytes, expected: bytes) -> None:
    assert frame == expected


@pytest.mark.parametrize(
    ("length", "prefix"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (256, b"\x82\x7e\x01\x00"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (2**40, b"\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00"),
    ],
)
def test_length_encodings_round_trip(length: int, prefix: bytes) -> None:
    head = build_header(Opcode.BINARY, length)
    assert head == prefix
    parsed = read_header(head + b"xyz")
    assert parsed is not None
    first, mask, parsed_length, size = parsed
    assert (parsed_length, size, bool(first & FIN), first & 0x0F, mask) == (
        length,
        len(prefix),
        True,
        Opcode.BINARY,
        None,
    )
    # every proper prefix of the header is "not yet"
    for cut in range(len(head)):
        assert read_header(head[:cut]) is None


def test_masked_header_carries_the_key_and_waits_for_it() -> None:
    head = build_header(Opcode.TEXT, 300, mask=MASK)
    assert head[1] & 0x80
    for cut in range(len(head)):
        assert read_header(head[:cut]) is None
    parsed = read_header(b"junk" + head, 4)
    assert parsed is not None
    _, mask, length, size = parsed
    assert (mask, length, size) == (MASK, 300, 8)


@pytest.mark.parametrize(("fin", "rsv"), [(False, 0x40), (True, 0x20), (False, 0x10), (True, 0x70)])
def test_fin_and_rsv_bits(fin: bool, rsv: int) -> None:
    parsed = read_header(build_header(Opcode.TEXT, 3, fin=fin, rsv=rsv))
    assert parsed is not None
    first = parsed[0]
    assert (bool(first & FIN), first & 0x70, first & 0x0F) == (fin, rsv, Opcode.TEXT)


def test_64_bit_length_with_the_high_bit_set_is_refused() -> None:
    with pytest.raises(ProtocolError) as info:
        read_header(b"\x82\x7f\x80" + b"\x00" * 7)
    assert info.value.code == 1002


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 17, 1000])
def test_apply_mask_matches_bytewise_xor_at_any_offset(offset: int, size: int) -> None:
    data = bytes(range(256)) * 4
    data = data[:size]
    expected = bytes(b ^ MASK[(i + offset) % 4] for i, b in enumerate(data))
    assert apply_mask(data, MASK, offset) == expected
    assert apply_mask(memoryview(bytearray(data)), MASK, offset) == expected
    assert apply_mask(expected, MASK, offset) == data


def test_apply_mask_of_a_split_payload_equals_the_whole() -> None:
    data = bytes(range(97))
    whole = apply_mask(data, MASK)
    assert apply_mask(data[:13], MASK) + apply_mask(data[13:], MASK, 13) == whole


@pytest.mark.parametrize("masked", [True, False])
def test_build_frame(masked: bool) -> None:
    frame = build_frame(Opcode.BINARY, b"payload" * 30, masked=masked, fin=False, rsv=0x40)
    (decoded,) = read_frames(frame)
    assert (decoded.fin, decoded.rsv, decoded.opcode, decoded.masked, decoded.payload) == (
        False,
        0x40,
        Opcode.BINARY,
        masked,
        b"payload" * 30,
    )
