"""Uploads streamed through a handler: ``request.multipart()`` part by part and chunk by
chunk, ``request.content`` unbounded by ``client_max_size``, which still bounds
``read()``/``post()``; against aiohttp's client, curl, and a body cut at every byte."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from debian import debian_program
from server_support import Serve, exchange, parse_responses

from tidewire.server import Application, Request, Response, StreamResponse, json_response
from tidewire.server.multipart import MultipartReader
from tidewire.server.streams import StreamReader

MiB = 1024 * 1024


async def stream_upload(request: Request) -> StreamResponse:
    """Each part's name, filename, size, sha256 and largest chunk, read in chunks."""
    parts = []
    async for part in await request.multipart():
        digest, size, largest = hashlib.sha256(), 0, 0
        async for chunk in part:
            digest.update(chunk)
            size += len(chunk)
            largest = max(largest, len(chunk))
        parts.append([part.name, part.filename, size, digest.hexdigest(), largest])
    return json_response(parts)


async def count_content(request: Request) -> Response:
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
    return Response(text=str(size))


async def read_whole(request: Request) -> Response:
    return Response(text=str(len(await request.read())))


@pytest.fixture
async def upload_url(serve: Serve) -> str:
    app = Application(client_max_size=MiB)  # what read() and post() take at most
    app.router.add_post("/upload", stream_upload)
    app.router.add_post("/count", count_content)
    app.router.add_post("/read", read_whole)
    return (await serve(app)).url


async def generated(size: int, seed: bytes) -> AsyncIterator[bytes]:
    """``size`` pseudo-random bytes in 256 KiB pieces, never held whole."""
    block = hashlib.sha256(seed).digest() * 8192
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def expected_digest(size: int, seed: bytes) -> str:
    block = hashlib.sha256(seed).digest() * 8192
    digest = hashlib.sha256()
    for start in range(0, size, len(block)):
        digest.update(block[: min(len(block), size - start)])
    return digest.hexdigest()


async def test_a_large_upload_streams_through_in_chunks(
    upload_url: str, http: aiohttp.ClientSession
) -> None:
    size = 24 * MiB  # 24 times client_max_size
    form = aiohttp.FormData()
    form.add_field("note", "hello ☃")
    form.add_field("file", generated(size, b"a"), filename="big.bin")
    async with http.post(upload_url + "/upload", data=form) as resp:
        assert resp.status == 200, await resp.text()
        note, upload = await resp.json()
    assert note[:3] == ["note", None, len("hello ☃".encode())]
    assert upload[:4] == ["file", "big.bin", size, expected_digest(size, b"a")]
    assert upload[4] <= 64 * 1024  # handed over in chunks, not whole


async def test_curl_uploads_files_and_fields(upload_url: str, tmp_path: Path) -> None:
    curl, why = debian_program("curl", "curl")
    if curl is None:
        pytest.skip(why)
    first, second = tmp_path / "one.txt", tmp_path / "two words.bin"
    first.write_bytes(b"first file\r\n--not a boundary\r\n")
    second.write_bytes(os.urandom(3 * MiB))
    done = await asyncio.to_thread(
        subprocess.run,
        [
            curl,
            "-sS",
            "-F",
            f"a=@{first}",
            "-F",
            "field=value",
            "-F",
            f"b=@{second}",
            upload_url + "/upload",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    parts = json.loads(done.stdout)
    assert [p[:3] for p in parts] == [
        ["a", "one.txt", first.stat().st_size],
        ["field", None, 5],
        ["b", "two words.bin", 3 * MiB],
    ]
    assert parts[2][3] == hashlib.sha256(second.read_bytes()).hexdigest()


async def test_content_is_not_bounded_but_read_is(
    upload_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.post(upload_url + "/count", data=generated(5 * MiB, b"c")) as resp:
        assert await resp.text() == str(5 * MiB)
    async with http.post(upload_url + "/read", data=b"x" * MiB) as resp:
        assert await resp.text() == str(MiB)  # the limit itself is fine
    async with http.post(upload_url + "/read", data=generated(2 * MiB, b"d")) as resp:
        assert resp.status == 413  # chunked: found while reading
    async with http.post(upload_url + "/read", data=b"x" * (MiB + 1)) as resp:
        assert resp.status == 413  # Content-Length: refused before reading
        assert resp.headers["Connection"] == "close"


async def test_100_continue_streams_while_read_refuses_early(upload_url: str) -> None:
    port = int(upload_url.rsplit(":", 1)[1])
    head = "POST {} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n"
    raw = await exchange(port, head.format("/read", 2 * MiB).encode())
    assert b"100 Continue" not in raw  # told 413 before sending a byte of the body
    assert parse_responses(raw)[0].status == 413
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.format("/count", 2 * MiB).encode())
    assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
    await reader.readline()
    writer.write(b"y" * 2 * MiB)  # a streaming handler takes more than client_max_size
    answer = parse_responses(await asyncio.wait_for(reader.read(65536), 5))
    assert (answer[0].status, answer[0].body) == (200, str(2 * MiB).encode())
    writer.close()


BODY = (
    b"preamble\r\n--b0und\r\n"
    b'Content-Disposition: form-data; name="text"\r\n\r\n'
    b"caf\xc3\xa9\r\n--b0und\r\n"
    b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve.txt\r\n"
    b"Content-Type: text/plain\r\n\r\n"
    b"line\r\n--b0un not yet\r\n\r\n--b0und  \r\n"
    b"\r\n"
    b"no headers at all\r\n--b0und--\r\nepilogue"
)


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 16, len(BODY)])
async def test_parts_are_the_same_however_the_body_is_cut(piece: int) -> None:
    stream = StreamReader()
    for start in range(0, len(BODY), piece):
        stream.feed_data(BODY[start : start + piece])
    stream.feed_eof()
    got = []
    async for part in MultipartReader(stream, "b0und"):
        got.append((part.name, part.filename, part.content_type, await part.read()))
    assert got == [
        ("text", None, "text/plain", "café".encode()),
        ("f", "naïve.txt", "text/plain", b"line\r\n--b0un not yet\r\n"),
        (None, None, "text/plain", b"no headers at all"),
    ]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (BODY[:60], "the body ended inside a part"),
        (b"--b0und\r\nno colon here\r\n\r\nx\r\n--b0und--", "a part header"),
        (b"--b0und junk\r\n\r\nx\r\n--b0und--", "text after a delimiter"),
        (b"--b0und\r\n" + b"X-Long: " + b"h" * 20000, "headers exceed"),
    ],
)
async def test_a_malformed_upload_is_400_saying_why(
    upload_url: str, http: aiohttp.ClientSession, body: bytes, why: str
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=b0und"}
    async with http.post(upload_url + "/upload", data=body, headers=headers) as resp:
        assert resp.status == 400
        assert why in await resp.text()
    async with http.post(upload_url + "/upload", data=b"x") as resp:
        assert resp.status == 400
        assert "expected a multipart body" in await resp.text()
