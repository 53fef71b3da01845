"""Sessions as a browser keeps them: the seed's snippet, cookies that are tampered with,
expired or from another key, WebSocket handshakes, and Redis shared by two apps."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from redis_support import RedisServer
from server_support import Serve
from yarl import URL

from tidewire.server import Application, Request, Response, WebSocketResponse
from tidewire.server.forwarded import trusted_proxies
from tidewire.server.sessions import (
    AbstractStorage,
    EncryptedCookieStorage,
    RedisStorage,
    SimpleCookieStorage,
    get_session,
    new_session,
    setup,
)

KEY = os.urandom(32)


async def hander(request: Request) -> Response:  # the seed's snippet, name and all
    session = await get_session(request)
    session["key"] = "value"
    return Response()


async def show(request: Request) -> Response:
    session = await get_session(request)
    return Response(text=f"{dict(session)} new={session.new}")


async def login(request: Request) -> Response:
    session = await new_session(request)
    session["user"] = request.query["user"]
    return Response(text=session.identity or "")


async def logout(request: Request) -> Response:
    (await get_session(request)).invalidate()
    return Response(text="bye")


async def socket(request: Request) -> WebSocketResponse:
    session = await get_session(request)
    seen = session.get("key", "-")
    session["visits"] = session.get("visits", 0) + 1  # before prepare: goes with the 101
    ws = WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(f"key={seen}")
    async for msg in ws:
        session["said"] = msg.data  # after prepare: only a server-side store keeps it
        await ws.close()
    return ws


def make_app(storage: AbstractStorage, **kwargs: Any) -> Application:
    app = Application(**kwargs)
    setup(app, storage)
    for path, handler in (("/set", hander), ("/show", show), ("/login", login)):
        app.router.add_get(path, handler)
    app.router.add_get("/logout", logout)
    app.router.add_get("/ws", socket)
    return app


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies as a browser does (for 127.0.0.1 too)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def cookie_header(value: str) -> dict[str, str]:
    return {"Cookie": f"TIDEWIRE_SESSION={value}"}


async def text(client: aiohttp.ClientSession, url: str, **kwargs: Any) -> str:
    async with client.get(url, **kwargs) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


async def test_the_seed_snippet_with_an_encrypted_cookie(
    serve: Serve, browser: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app(EncryptedCookieStorage(KEY)))).url
    assert await text(browser, url + "/show") == "{} new=True"
    async with browser.get(url + "/show") as resp:
        assert "Set-Cookie" not in resp.headers  # nothing changed: nothing saved
    async with browser.get(url + "/set") as resp:
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http
    assert "value" not in cookie  # encrypted
    assert await text(browser, url + "/show") == "{'key': 'value'} new=False"
    another_worker = (
        await serve(make_app(EncryptedCookieStorage(base64.urlsafe_b64encode(KEY))))
    ).url
    cookie_value = browser.cookie_jar.filter_cookies(URL(url))["TIDEWIRE_SESSION"].value
    assert (
        await text(
            browser,
            another_worker + "/show",
            headers={"Cookie": f"TIDEWIRE_SESSION={cookie_value}"},
        )
        == "{'key': 'value'} new=False"
    )


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "", "gAAAAA" + "A" * 100, "%%%%", "x" * 5000],
)
async def test_a_bad_cookie_is_a_new_session_not_an_error(
    serve: Serve, http: aiohttp.ClientSession, cookie: str
) -> None:
    url = (await serve(make_app(EncryptedCookieStorage(KEY)))).url
    async with http.get(url + "/show", headers={"Cookie": f"TIDEWIRE_SESSION={cookie}"}) as resp:
        assert resp.status == 200
        assert await resp.text() == "{} new=True"


async def test_tampered_foreign_expired_and_rotated_keys(
    serve: Serve, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    url = (await serve(make_app(EncryptedCookieStorage(old, max_age=2)))).url
    await text(browser, url + "/set")
    token = browser.cookie_jar.filter_cookies(URL(url))["TIDEWIRE_SESSION"].value
    tampered = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    rotated = (await serve(make_app(EncryptedCookieStorage([new, old])))).url
    foreign = (await serve(make_app(EncryptedCookieStorage(new)))).url
    for target, cookie, expected in (
        (url, tampered, "{} new=True"),
        (foreign, token, "{} new=True"),
        (rotated, token, "{'key': 'value'} new=False"),  # the old key still decrypts
    ):
        answer = await text(
            http,
            target + "/show",
            headers={"Cookie": f"TIDEWIRE_SESSION={token if cookie is token else cookie}"},
        )
        assert answer == expected
    await asyncio.sleep(3)  # past max_age
    assert await text(http, url + "/show", headers=cookie_header(token)) == "{} new=True"


async def test_secure_on_https_behind_a_trusted_proxy(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    app = make_app(EncryptedCookieStorage(KEY), middlewares=[trusted_proxies(["127.0.0.1"])])
    url = (await serve(app)).url
    proxied = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
    async with http.get(url + "/set", headers=proxied) as resp:
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_websocket_handshake_reads_and_sets_the_session(
    serve: Serve, browser: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = (await serve(make_app(EncryptedCookieStorage(KEY)))).url
    await text(browser, url + "/set")
    async with browser.ws_connect(url + "/ws") as ws:
        assert await ws.receive_str() == "key=value"  # read from the upgrade request
        await ws.send_str("hello")
        await ws.receive()
    # the 101 carried the changed session: visits counted
    await asyncio.sleep(0.1)
    assert "'visits': 1" in await text(browser, url + "/show")
    assert "said" not in await text(browser, url + "/show")  # a cookie cannot follow
    assert "changed after the response's head" in caplog.text


async def test_simple_cookie_storage_is_plain_json(
    serve: Serve, browser: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app(SimpleCookieStorage()))).url
    async with browser.get(url + "/set") as resp:
        assert (
            '"key":' in resp.cookies["TIDEWIRE_SESSION"].value
            or "key" in resp.headers["Set-Cookie"]
        )
    assert await text(browser, url + "/show") == "{'key': 'value'} new=False"


async def test_redis_storage_shared_fixation_proof_and_invalidated(
    serve: Serve,
    browser: aiohttp.ClientSession,
    http: aiohttp.ClientSession,
    redis_server: RedisServer,
) -> None:
    urls = [
        (await serve(make_app(RedisStorage(redis_server.url, max_age=600)))).url for _ in range(2)
    ]
    store = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        await text(browser, urls[0] + "/set")
        identity = browser.cookie_jar.filter_cookies(URL(urls[0]))["TIDEWIRE_SESSION"].value
        assert len(identity) == 32 and int(identity, 16) >= 0  # only an id in the cookie
        assert 590 < await store.ttl(f"tidewire:session:{identity}") <= 600
        assert await text(browser, urls[1] + "/show") == "{'key': 'value'} new=False"
        # a WebSocket changing an existing session after the 101: kept in Redis
        async with browser.ws_connect(urls[1] + "/ws") as ws:
            await ws.receive_str()
            await ws.send_str("hi")
            await ws.receive()
        await asyncio.sleep(0.1)
        assert "'said': 'hi'" in await text(browser, urls[0] + "/show")
        fresh = await text(browser, urls[0] + "/login?user=ann")
        assert fresh != identity  # a new id after login: a planted one is worthless
        assert await store.exists(f"tidewire:session:{identity}") == 0
        assert await text(browser, urls[1] + "/show") == "{'user': 'ann'} new=False"
        await text(browser, urls[1] + "/logout")
        assert await store.exists(f"tidewire:session:{fresh}") == 0
        assert await text(browser, urls[0] + "/show") == "{} new=True"
        forged = "0" * 32  # an id we never issued
        answer = await text(
            browser, urls[0] + "/show", headers={"Cookie": f"TIDEWIRE_SESSION={forged}"}
        )
        assert answer == "{} new=True"
    finally:
        await store.aclose()


def test_keys_and_setup_are_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptedCookieStorage(b"short")
    app = Application()
    app.freeze()
    with pytest.raises(RuntimeError, match="before the application starts"):
        setup(app, SimpleCookieStorage())


async def test_get_session_without_setup_says_so(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = Application()
    app.router.add_get("/show", show)
    url = (await serve(app)).url
    async with http.get(url + "/show") as resp:
        assert resp.status == 500  # and the log says: call setup() first
