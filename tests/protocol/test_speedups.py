"""The compiled masking XOR and payload buffer agree with the pure-Python ones.

``make test`` runs tests/protocol a second time with TIDEWIRE_NO_EXTENSIONS=1, so the
pure path is what every other protocol test exercises in that run.
"""

from __future__ import annotations

import itertools
import os

import pytest

from tidewire.protocol import frames

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
