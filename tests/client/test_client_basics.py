"""Requests and responses as a user sees them: verbs, params, headers, reading bodies."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
from yarl import URL

from tidewire.client import (
    ClientResponseError,
    ClientSession,
    ContentTypeError,
    InvalidURL,
)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_verb_reaches_the_server(
    server: URL, session: ClientSession, method: str
) -> None:
    call = getattr(session, method.lower())
    async with call(server / "echo") as response:
        assert response.status == 200
        assert response.method == method
        data = await response.json()
    assert data["method"] == method
    if method in ("POST", "PUT", "PATCH"):
        assert data["headers"]["Content-Length"] == "0"


async def test_request_with_explicit_method(server: URL, session: ClientSession) -> None:
    response = await session.request("get", server / "echo")
    assert (await response.json())["method"] == "GET"


async def test_head_has_no_body_and_keeps_the_connection(
    server: URL, session: ClientSession
) -> None:
    response = await session.head(server / "big")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(1024 * 1024)
    assert await response.read() == b""
    # the next request on the same connection is parsed correctly
    assert await (await session.get(server / "hello")).text() == "hello"
    assert session.connector.idle == 1


async def test_204_has_no_body(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "no-content")
    assert response.status == 204
    assert await response.read() == b""


async def test_params_and_headers(server: URL) -> None:
    async with ClientSession(headers={"X-Session": "s", "X-Both": "session"}) as session:
        response = await session.get(
            server / "echo" % {"keep": "1"},
            params=[("a", "1"), ("a", "2"), ("b", "x y")],
            headers={"X-Both": "request"},
        )
        data = await response.json()
    assert data["query"] == [["keep", "1"], ["a", "1"], ["a", "2"], ["b", "x y"]]
    assert data["headers"]["X-Session"] == "s"
    assert data["headers"]["X-Both"] == "request"
    assert data["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert "gzip" in data["headers"]["Accept-Encoding"]
    assert data["headers"]["User-Agent"].startswith("tidewire/")


async def test_base_url(server: URL) -> None:
    async with ClientSession(base_url=server) as session:
        response = await session.get("/echo/relative")
        assert (await response.json())["path"] == "/echo/relative"


async def test_response_attributes(server: URL, session: ClientSession) -> None:
    async with session.get(server / "json") as response:
        assert response.ok
        assert response.reason == "OK"
        assert response.version == "1.1"
        assert response.url == server / "json"
        assert response.content_type == "application/json"
        assert response.charset == "utf-8"
        assert response.history == ()
        assert response.request_info.method == "GET"
        assert await response.json() == {"answer": 42, "text": "héllo"}
        assert json.loads(await response.text()) == {"answer": 42, "text": "héllo"}


async def test_text_uses_the_declared_charset(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "latin")
    assert response.get_encoding() == "iso8859-1"
    assert await response.text() == "café"


async def test_json_refuses_other_content_types(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "hello")
    with pytest.raises(ContentTypeError):
        await response.json()
    assert await response.json(content_type=None, loads=lambda s: s) == "hello"


@pytest.mark.parametrize(
    "ctype", ["application/problem+json", "application/vnd.api+json", "application/json"]
)
async def test_json_takes_every_json_media_type(
    server: URL, session: ClientSession, ctype: str
) -> None:
    async with session.get((server / "json").with_query(type=ctype)) as response:
        assert response.content_type == ctype
        assert await response.json() == {"answer": 42, "text": "héllo"}


@pytest.mark.parametrize("ctype", ["application/jsonp", "text/json+x", "application/+jsonx"])
async def test_json_still_refuses_lookalikes(
    server: URL, session: ClientSession, ctype: str
) -> None:
    async with session.get((server / "json").with_query(type=ctype)) as response:
        with pytest.raises(ContentTypeError):
            await response.json()


async def test_a_request_is_a_coroutine_for_create_task_and_gather(
    server: URL, session: ClientSession
) -> None:
    task = asyncio.create_task(session.get(server / "hello"))  # a TypeError before
    first, second = await asyncio.gather(task, session.get(server / "json"))
    assert await first.text() == "hello"
    assert (await second.json())["answer"] == 42
    pending = session.get(server / "hello")
    assert asyncio.iscoroutine(pending)
    pending.close()  # closed unsent, as a coroutine can be: no "never awaited" warning


async def test_raise_for_status(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "status" / "404")
    with pytest.raises(ClientResponseError) as info:
        response.raise_for_status()
    assert info.value.status == 404
    assert info.value.message == "Not Found"
    assert info.value.request_info is not None
    assert info.value.request_info.url == server / "status" / "404"
    assert "404" in str(info.value)
    (await session.get(server / "status" / "200")).raise_for_status()


async def test_session_raise_for_status(server: URL) -> None:
    async with ClientSession(raise_for_status=True) as session:
        with pytest.raises(ClientResponseError) as info:
            await session.get(server / "status" / "500")
        assert info.value.status == 500
        assert session.connector.in_use == 0
        response = await session.get(server / "status" / "500", raise_for_status=False)
        assert response.status == 500
        response.release()


async def test_streaming_reads(server: URL, session: ClientSession) -> None:
    async with session.get(server / "big") as response:
        first = await response.content.readexactly(10)
        assert first == b"x" * 10
        sizes = [len(chunk) async for chunk in response.content.iter_chunked(1000)]
        assert max(sizes) <= 1000
        assert sum(sizes) == 1024 * 1024 - 10
        assert response.content.at_eof()


async def test_iter_any_and_lines(server: URL, session: ClientSession) -> None:
    async with session.post(server / "echo", data=b"line1\nline2\nlast") as response:
        body = json.loads(b"".join([c async for c in response.content.iter_any()]))
    assert body["body"] == "line1\nline2\nlast"
    async with session.get(server / "chunked") as response:
        lines = [line async for line in response.content]
        assert lines == [b"part0;part1;part2;part3;part4;"]
        assert await response.content.readline() == b""


async def test_invalid_urls(session: ClientSession) -> None:
    with pytest.raises(InvalidURL):
        await session.get("/relative-without-base")
    with pytest.raises(InvalidURL):
        await session.get("ftp://example.com/")


async def test_closed_session_refuses_requests(server: URL) -> None:
    session = ClientSession()
    await session.close()
    assert session.closed
    with pytest.raises(RuntimeError):
        await session.get(server / "hello")


async def test_unclosed_session_warns() -> None:
    session = ClientSession()
    with pytest.warns(ResourceWarning, match="Unclosed client session"):
        del session
        gc.collect()


async def test_closing_the_session_closes_pooled_connections(server: URL) -> None:
    session = ClientSession()
    await (await session.get(server / "hello")).read()
    assert session.connector.idle == 1
    await session.close()
    assert session.connector.idle == 0 and session.connector.closed
