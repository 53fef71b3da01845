"""Response compression as clients see it: aiohttp's client and curl decode it, raw
bytes show the framing, a stream arrives write by write, and precompressed static
files are served to the clients that accept them."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import zlib
from pathlib import Path

import aiohttp
import pytest
from debian import debian_program
from server_support import Serve, exchange, get, parse_responses

from tidewire.server import (
    Application,
    Request,
    Response,
    StreamResponse,
)

TEXT = "tidewire compresses what it is asked to. " * 200


async def whole(request: Request) -> Response:
    response = Response(text=TEXT)
    response.enable_compression(request.query.get("force"))
    return response


async def empty(request: Request) -> Response:
    response = Response(status=204)
    response.enable_compression()
    return response


@pytest.fixture
async def url(serve: Serve, tmp_path: Path) -> str:
    (tmp_path / "site.css").write_text("body { color: teal }\n" * 50)
    (tmp_path / "site.css.gz").write_bytes(gzip.compress((tmp_path / "site.css").read_bytes()))
    (tmp_path / "plain.txt").write_text("no compressed copy")
    app = Application()
    app.router.add_get("/whole", whole)
    app.router.add_get("/empty", empty)
    app.router.add_static("/static", tmp_path)
    return (await serve(app)).url


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("accept", "coding", "decode"),
    [
        ("gzip, deflate", "gzip", gzip.decompress),
        ("gzip;q=0.5, deflate", "deflate", zlib.decompress),
        ("*", "gzip", gzip.decompress),
        ("identity", None, bytes),
        ("gzip;q=0, br", None, bytes),
        ("", None, bytes),
    ],
)
async def test_the_coding_follows_accept_encoding(
    url: str, accept: str, coding: str | None, decode: object
) -> None:
    header = f"Accept-Encoding: {accept}" if accept else "X-None: 1"
    raw = await exchange(port_of(url), get("/whole", header, "Connection: close"))
    (response,) = parse_responses(raw)
    assert response.headers.get("Content-Encoding") == coding
    assert response.headers["Vary"] == "Accept-Encoding"
    assert int(response.headers["Content-Length"]) == len(response.body)  # compressed whole
    assert decode(response.body) == TEXT.encode()  # type: ignore[operator]
    if coding:
        assert len(response.body) < len(TEXT) // 10


async def test_force_and_bodiless_statuses(url: str, http: aiohttp.ClientSession) -> None:
    async with http.get(url + "/whole?force=deflate", headers={"Accept-Encoding": "br"}) as resp:
        assert resp.headers["Content-Encoding"] == "deflate"
        assert await resp.text() == TEXT  # aiohttp decodes it
    async with http.get(url + "/empty", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 204
        assert "Content-Encoding" not in resp.headers


async def test_a_stream_is_compressed_and_arrives_write_by_write(serve: Serve) -> None:
    next_event = asyncio.Event()

    async def events(request: Request) -> StreamResponse:
        response = StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_compression()
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        await next_event.wait()  # the client must have read "one" by now
        await response.write(b"data: two\n\n")
        return response

    app = Application()
    app.router.add_get("/events", events)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get("/events", "Accept-Encoding: gzip"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"Content-Encoding: gzip" in head and b"Transfer-Encoding: chunked" in head
    inflate = zlib.decompressobj(31)
    size = int(await reader.readline(), 16)  # the first write's chunk, flushed
    assert inflate.decompress(await reader.readexactly(size)) == b"data: one\n\n"
    await reader.readline()
    next_event.set()
    rest = b""
    while (size := int(await asyncio.wait_for(reader.readline(), 5), 16)) > 0:
        rest += await reader.readexactly(size)
        await reader.readline()
    assert inflate.decompress(rest) + inflate.flush() == b"data: two\n\n"
    assert inflate.eof  # the gzip stream was properly ended
    writer.close()


async def test_precompressed_static_files(url: str, tmp_path: Path) -> None:
    packed = (tmp_path / "site.css.gz").read_bytes()
    raw = await exchange(
        port_of(url), get("/static/site.css", "Accept-Encoding: gzip, br", "Connection: close")
    )
    (response,) = parse_responses(raw)
    assert response.body == packed  # the file made ahead of time, byte for byte
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["Vary"] == "Accept-Encoding"
    raw = await exchange(
        port_of(url), get("/static/site.css", "Accept-Encoding: br", "Connection: close")
    )
    (response,) = parse_responses(raw)
    assert response.body == (tmp_path / "site.css").read_bytes()
    assert "Content-Encoding" not in response.headers
    raw = await exchange(
        port_of(url), get("/static/plain.txt", "Accept-Encoding: gzip", "Connection: close")
    )
    (response,) = parse_responses(raw)
    assert response.body == b"no compressed copy"
    assert "Content-Encoding" not in response.headers


async def test_curl_decodes_what_it_asked_for(url: str) -> None:
    curl, why = debian_program("curl", "curl")
    if curl is None:
        pytest.skip(why)
    for path, expected in (("/whole", TEXT.encode()), ("/static/site.css", None)):
        done = await asyncio.to_thread(
            subprocess.run,
            [curl, "-sS", "--compressed", "-D", "-", url + path],
            capture_output=True,
            timeout=30,
            check=True,
        )
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        assert b"content-encoding: gzip" in head.lower()
        if expected is not None:
            assert body == expected
        else:
            assert body == b"body { color: teal }\n" * 50
