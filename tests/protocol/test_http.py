"""The HTTP/1.1 pieces both sides share."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from tidewire.protocol.http import (
    LAST_CHUNK,
    build_head,
    encode_chunk,
    header_tokens,
    parse_content_type,
    reason_phrase,
)


def test_header_tokens_across_repeated_headers() -> None:
    headers = CIMultiDict([("Connection", "keep-alive, Upgrade"), ("connection", " ,X ")])
    assert header_tokens(headers, "CONNECTION") == ["keep-alive", "upgrade", "x"]
    assert header_tokens(headers, "Upgrade") == []


@pytest.mark.parametrize(
    ("status", "phrase"), [(101, "Switching Protocols"), (426, "Upgrade Required"), (599, "")]
)
def test_reason_phrase(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase


def test_build_head() -> None:
    head = build_head("HTTP/1.1 101 Switching Protocols", [("Upgrade", "websocket")])
    assert head == b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


@pytest.mark.parametrize(
    ("name", "value"), [("X", "a\r\nInjected: 1"), ("X\n", "a"), ("X", "\x00")]
)
def test_build_head_refuses_header_splitting(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        build_head("GET / HTTP/1.1", [(name, value)])


def test_chunks() -> None:
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_parse_content_type() -> None:
    assert parse_content_type('Text/HTML; Charset="utf-8"; flag') == (
        "text/html",
        {"charset": "utf-8"},
    )
