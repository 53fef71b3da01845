"""The HTTP/1.1 pieces both sides share."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.http import (
    LAST_CHUNK,
    ContentHeaders,
    HeaderCollector,
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
    with pytest.raises(ValueError, match="invalid character in header 'X"):
        build_head("GET / HTTP/1.1", [("Host", "a"), (name, value)])


def test_build_head_names_the_header_but_not_its_value() -> None:
    with pytest.raises(ValueError) as info:
        build_head("GET / HTTP/1.1", [("Cookie", "secret\r\nX: 1")])
    assert "Cookie" in str(info.value)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "start_line", ["GET / HTTP/1.1\r\nX-Injected: 1", "HTTP/1.1 200 O\nK", "GET /\x00 HTTP/1.1"]
)
def test_build_head_refuses_a_start_line_that_splits(start_line: str) -> None:
    # a method or a reason phrase from user input must not end the line early
    with pytest.raises(ValueError, match="invalid character in the start line"):
        build_head(start_line, [("Host", "a")])


def test_build_head_without_headers() -> None:
    assert build_head("HTTP/1.1 204 No Content", []) == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_chunks() -> None:
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_parse_content_type() -> None:
    assert parse_content_type('Text/HTML; Charset="utf-8"; flag') == (
        "text/html",
        {"charset": "utf-8"},
    )


class Received(ContentHeaders):
    """A received message: read-only headers."""

    __slots__ = ("headers",)

    def __init__(self, headers: CIMultiDict[str]) -> None:
        self.headers = CIMultiDictProxy(headers)


class Built(ContentHeaders):
    """A message being built: mutable headers."""

    def __init__(self) -> None:
        self.headers: CIMultiDict[str] = CIMultiDict()


def test_content_headers_read_the_headers() -> None:
    message = Received(
        CIMultiDict({"content-type": 'Text/HTML; Charset="latin-1"', "Content-Length": "12"})
    )
    assert (message.content_type, message.charset, message.content_length) == (
        "text/html",
        "latin-1",
        12,
    )


@pytest.mark.parametrize("length", ["", "-1", "1e3", " 12", "0x10"])
def test_content_length_that_is_not_a_number_reads_as_none(length: str) -> None:
    assert Received(CIMultiDict({"Content-Length": length})).content_length is None


def test_content_headers_defaults() -> None:
    message = Received(CIMultiDict())
    assert (message.content_type, message.charset, message.content_length) == (
        "application/octet-stream",
        None,
        None,
    )


def test_content_headers_setters_keep_each_other() -> None:
    message = Built()
    message.content_type = "text/plain"
    message.charset = "utf-8"
    assert message.headers["Content-Type"] == "text/plain; charset=utf-8"
    message.content_type = "text/html"
    assert message.headers["Content-Type"] == "text/html; charset=utf-8"
    message.charset = None
    assert message.headers["Content-Type"] == "text/html"
    message.content_length = 5
    assert message.headers["Content-Length"] == "5"
    message.content_length = None
    assert "Content-Length" not in message.headers


class Collector(HeaderCollector):
    __slots__ = ("_raw_headers",)

    def __init__(self) -> None:
        self._raw_headers = []


class LimitedCollector(Collector):
    __slots__ = ("_max_header_fields",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._max_header_fields = limit


def test_header_collector_decodes_latin1_in_order() -> None:
    collector = Collector()
    collector.on_header(b"Host", b"a")
    collector.on_header(b"X-Name", "caf\u00e9".encode("latin-1"))
    assert collector._raw_headers == [("Host", "a"), ("X-Name", "caf\u00e9")]


def test_header_collector_refuses_a_field_past_its_limit() -> None:
    collector = LimitedCollector(2)
    collector.on_header(b"A", b"1")
    collector.on_header(b"B", b"2")
    with pytest.raises(ValueError, match="more than 2 header fields"):
        collector.on_header(b"C", b"3")
