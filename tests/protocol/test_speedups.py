"""The compiled masking XOR (and its join) agrees with the pure-Python one byte for byte.

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
    joined = frames.join_masked_python if forced_pure else speedups.join_masked
    assert frames.join_masked is joined


@pytest.mark.parametrize("size", [0, 1, 3, 4, 7, 8, 9, 31, 32, 33, 125, 4096, 65536 + 3])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5, 1 << 40])
def test_compiled_equals_pure(size: int, offset: int) -> None:
    data = os.urandom(size)
    expected = frames.apply_mask_python(data, MASK, offset)
    assert speedups.apply_mask(data, MASK, offset) == expected
    assert speedups.apply_mask(bytearray(data), MASK, offset) == expected
    assert speedups.apply_mask(memoryview(data), MASK, offset) == expected


@pytest.mark.parametrize("cuts", [[], [0], [1], [3, 3, 9], [5, 70000], [65536, 65539]])
def test_compiled_join_equals_pure(cuts: list[int]) -> None:
    data = os.urandom(65536 + 20)
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    expected = frames.join_masked_python(chunks, MASK)
    assert expected == frames.apply_mask_python(data, MASK)
    assert speedups.join_masked(chunks, MASK) == expected
    mixed = [memoryview(c) if i % 2 else bytearray(c) for i, c in enumerate(chunks)]
    assert speedups.join_masked(mixed, MASK) == expected


def test_join_of_nothing_is_empty() -> None:
    assert speedups.join_masked([], MASK) == b""
    assert speedups.join_masked((), MASK) == b""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (([b"ab"], b"abc"), ValueError),
        (([b"ab"],), TypeError),
        ((b"ab", MASK), TypeError),  # bytes are a sequence of ints, not of buffers
        ((["text"], MASK), TypeError),
        ((5, MASK), TypeError),
        (([b"ok", memoryview(b"abcdef")[::2]], MASK), BufferError),
    ],
)
def test_join_refuses_bad_arguments(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        speedups.join_masked(*args)


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
