"""Redirects: each status's method and body rule, history, limits, credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from client_servers import aiohttp_server, raw_server, serve
from yarl import URL

from tidewire.client import (
    BasicAuth,
    ClientSession,
    ClientTimeout,
    InvalidURL,
    TooManyRedirects,
)


@pytest.mark.parametrize(
    ("status", "method", "expected_method", "keeps_body"),
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
        (301, "GET", "GET", False),
    ],
)
async def test_method_and_body_rules(
    server: URL,
    session: ClientSession,
    status: int,
    method: str,
    expected_method: str,
    keeps_body: bool,
) -> None:
    data = b"payload" if method != "GET" else None
    response = await session.request(method, server / "redirect" / str(status), data=data)
    echoed = await response.json()
    assert echoed["method"] == expected_method
    assert echoed["body"] == ("payload" if keeps_body else "")
    assert response.url == server / "echo"
    assert [r.status for r in response.history] == [status]
    assert response.history[0].url == server / "redirect" / str(status)


async def test_head_stays_head(server: URL, session: ClientSession) -> None:
    response = await session.head(server / "redirect" / "302", allow_redirects=True)
    assert response.status == 200
    assert response.method == "HEAD"
    assert len(response.history) == 1


async def test_allow_redirects_false(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "redirect" / "302", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/echo"
    assert await response.text() == "moved"


async def test_too_many_redirects(server: URL, session: ClientSession) -> None:
    with pytest.raises(TooManyRedirects) as info:
        await session.get(server / "loop" / "0", max_redirects=3)
    assert len(info.value.history) == 4
    assert session.connector.in_use == 0


async def test_session_max_redirects(server: URL) -> None:
    async with ClientSession(max_redirects=1) as session:
        with pytest.raises(TooManyRedirects):
            await session.get(server / "loop" / "0")


async def test_auth_kept_on_same_origin(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "redirect" / "302", auth=BasicAuth("u", "p"))
    assert (await response.json())["headers"]["Authorization"] == BasicAuth("u", "p").encode()


async def test_auth_dropped_when_origin_changes(server: URL) -> None:
    async with aiohttp_server() as other, ClientSession(auth=BasicAuth("s", "s")) as session:
        target = str(other / "echo")
        response = await session.get(
            server / "redirect" / "302" % {"to": target},
            headers={"Authorization": "Bearer secret"},
        )
        echoed = await response.json()
        assert response.url == other / "echo"
        assert "Authorization" not in echoed["headers"]


async def test_streamed_body_is_not_replayed(server: URL, session: ClientSession) -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield b"once"

    response = await session.post(server / "redirect" / "307", data=body())
    assert response.status == 307
    assert response.history == ()
    await response.read()


async def test_redirect_to_another_scheme_is_refused() -> None:
    handler = serve(b"HTTP/1.1 302 Found\r\nLocation: ftp://x/\r\nContent-Length: 0\r\n\r\n")
    async with raw_server(handler) as url, ClientSession() as session:
        with pytest.raises(InvalidURL):
            await session.get(url)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("status", [301, 302])
async def test_a_301_or_302_keeps_any_method_but_post(method: str, status: int) -> None:
    async with (
        aiohttp_server() as url,
        ClientSession() as session,
        session.request(method, url / f"redirect/{status}", data=b"payload") as r,
    ):
        echoed = await r.json()
    assert (echoed["method"], echoed["body"]) == (method, "payload")


async def test_a_301_with_a_spent_stream_body_comes_back_unfollowed() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 1000

    async with (
        aiohttp_server() as url,
        ClientSession() as session,
        session.put(url / "redirect/301", data=body(), timeout=ClientTimeout(total=5)) as r,
    ):
        assert r.status == 301  # not an empty PUT to the target, shown as a success
