"""Helpers of the server tests: start an app on a free port, talk raw HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httptools
from multidict import CIMultiDict

from tidewire.server import Application, AppRunner, TCPSite


@dataclass
class Served:
    runner: AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


Serve = Callable[..., Awaitable[Served]]  # the ``serve`` fixture


async def start(app: Application, **kwargs: object) -> Served:
    runner = AppRunner(app, **kwargs)  # type: ignore[arg-type]
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return Served(runner, site.port)


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes = b""


@dataclass
class _Collector:
    responses: list[RawResponse] = field(default_factory=list)
    _headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    _body: bytearray = field(default_factory=bytearray)
    parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self) -> None:
        self._headers = CIMultiDict()
        self._body = bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        assert self.parser is not None
        status = self.parser.get_status_code()
        self.responses.append(RawResponse(status, self._headers, bytes(self._body)))


def parse_responses(data: bytes) -> list[RawResponse]:
    """Every complete response in ``data`` (HEAD responses must be parsed by hand)."""
    collector = _Collector()
    collector.parser = httptools.HttpResponseParser(collector)
    collector.parser.feed_data(data)
    return collector.responses


async def exchange(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One response with a Content-Length body from a kept-alive connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    body = b""
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    if length:
        body = await asyncio.wait_for(reader.readexactly(length), 5)
    (response,) = parse_responses(head + body)
    return response


def get(path: str = "/", *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", *extra, "", ""]
    return "\r\n".join(lines).encode()
