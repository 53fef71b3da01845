"""Request bodies: bytes, text, JSON, forms, multipart files, streams and files."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from tidewire.client import ClientSession, FormData


async def test_bytes_and_text(server: URL, session: ClientSession) -> None:
    data = await (await session.post(server / "echo", data=b"\x00\x01raw")).json()
    assert data["body"] == "\x00\x01raw"
    assert data["headers"]["Content-Type"] == "application/octet-stream"
    assert data["headers"]["Content-Length"] == "5"
    data = await (await session.put(server / "echo", data="tëxt")).json()
    assert data["body"].encode("latin-1").decode() == "tëxt"
    assert data["headers"]["Content-Type"] == "text/plain; charset=utf-8"


async def test_json(server: URL, session: ClientSession) -> None:
    data = await (await session.post(server / "echo", json={"a": [1, 2]})).json()
    assert data["body"] == '{"a": [1, 2]}'
    assert data["headers"]["Content-Type"] == "application/json"


async def test_json_and_data_together_is_an_error(server: URL, session: ClientSession) -> None:
    with pytest.raises(ValueError, match="data and json"):
        await session.post(server / "echo", json={}, data=b"x")


async def test_user_content_type_wins(server: URL, session: ClientSession) -> None:
    response = await session.post(
        server / "echo", data=b"<a/>", headers={"Content-Type": "application/xml"}
    )
    assert (await response.json())["headers"]["Content-Type"] == "application/xml"


async def test_dict_is_urlencoded(server: URL, session: ClientSession) -> None:
    response = await session.post(server / "form", data={"name": "a b", "n": "1&2"})
    assert await response.json() == {"name": "a b", "n": "1&2"}
    echoed = await (await session.post(server / "echo", data={"k": "v w"})).json()
    assert echoed["body"] == "k=v+w"
    assert echoed["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


async def test_multipart_with_files(server: URL, session: ClientSession, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("file contents")
    form = FormData()
    form.add_field("title", "hello")
    form.add_field("blob", b"raw bytes", filename="blob.bin", content_type="application/x-blob")
    with path.open("rb") as file:
        form.add_field("doc", file)
        response = await session.post(server / "form", data=form)
    assert await response.json() == {
        "title": "hello",
        "blob": {"filename": "blob.bin", "content_type": "application/x-blob", "data": "raw bytes"},
        "doc": {
            "filename": "notes.txt",
            "content_type": "application/octet-stream",
            "data": "file contents",
        },
    }


async def test_form_quotes_awkward_names(server: URL, session: ClientSession) -> None:
    form = FormData()
    form.add_field('we"ird', b"x", filename='a"b.txt')
    response = await session.post(server / "form", data=form)
    [(name, value)] = (await response.json()).items()
    assert value["data"] == "x"
    assert "ird" in name


async def test_async_generator_streams_chunked(server: URL, session: ClientSession) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"y" * 10_000

    response = await session.post(server / "upload", data=pieces())
    assert await response.json() == {"size": 1_000_000, "chunked": True}


async def test_file_object_is_streamed_with_a_length(
    server: URL, session: ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"z" * 300_000)
    with path.open("rb") as file:
        response = await session.post(server / "upload", data=file)
        assert await response.json() == {"size": 300_000, "chunked": False}


async def test_unsized_file_is_chunked(server: URL, session: ClientSession) -> None:
    response = await session.post(server / "upload", data=io.StringIO("text " * 1000))
    assert await response.json() == {"size": 5000, "chunked": True}


async def test_chunked_flag_for_bytes(server: URL, session: ClientSession) -> None:
    response = await session.post(server / "upload", data=b"abc" * 1000, chunked=True)
    assert await response.json() == {"size": 3000, "chunked": True}


async def test_large_bytes_body(server: URL, session: ClientSession) -> None:
    response = await session.post(server / "upload", data=b"q" * 900_000)
    assert await response.json() == {"size": 900_000, "chunked": False}


async def test_unsupported_body_type(server: URL, session: ClientSession) -> None:
    with pytest.raises(TypeError, match="async iterable"):
        await session.post(server / "echo", data=iter([b"x"]))
    with pytest.raises(TypeError, match="int"):
        await session.post(server / "echo", data=5)
