"""Cookies: the jar's RFC 6265 rules, and cookies stored and sent by a session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from client_servers import aiohttp_server, raw_server, read_request
from yarl import URL

from tidewire.client import ClientSession, CookieJar


def jar_with(header: str, url: str, *, unsafe: bool = False) -> CookieJar:
    jar = CookieJar(unsafe=unsafe)
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    jar.update_cookies(cookie, URL(url))
    return jar


def names(jar: CookieJar, url: str) -> set[str]:
    return set(jar.filter_cookies(URL(url)))


def test_host_only_cookie() -> None:
    jar = jar_with("a=1", "http://example.com/")
    assert names(jar, "http://example.com/x") == {"a"}
    assert names(jar, "http://sub.example.com/") == set()


def test_domain_cookie_reaches_subdomains() -> None:
    jar = jar_with("a=1; Domain=.example.com", "http://www.example.com/")
    assert names(jar, "http://example.com/") == {"a"}
    assert names(jar, "http://deep.sub.example.com/") == {"a"}
    assert names(jar, "http://badexample.com/") == set()


def test_foreign_domain_is_rejected() -> None:
    assert len(jar_with("a=1; Domain=other.com", "http://example.com/")) == 0


def test_path_rules() -> None:
    jar = jar_with("a=1; Path=/docs", "http://example.com/")
    assert names(jar, "http://example.com/docs") == {"a"}
    assert names(jar, "http://example.com/docs/page") == {"a"}
    assert names(jar, "http://example.com/docsearch") == set()
    assert names(jar, "http://example.com/") == set()
    default = jar_with("b=2", "http://example.com/dir/page")
    assert names(default, "http://example.com/dir/other") == {"b"}
    assert names(default, "http://example.com/") == set()


def test_secure_only_over_tls() -> None:
    jar = jar_with("a=1; Secure", "https://example.com/")
    assert names(jar, "https://example.com/") == {"a"}
    assert names(jar, "wss://example.com/") == {"a"}
    assert names(jar, "http://example.com/") == set()


def test_expiry_and_deletion() -> None:
    jar = jar_with("a=1; Max-Age=0", "http://example.com/")
    assert len(jar) == 0
    jar = jar_with("a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http://example.com/")
    assert len(jar) == 0
    jar = jar_with("a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT", "http://example.com/")
    assert len(jar) == 1
    gone: SimpleCookie = SimpleCookie()
    gone.load("a=; Max-Age=-1")
    jar.update_cookies(gone, URL("http://example.com/"))
    assert len(jar) == 0


def test_ip_hosts_need_unsafe() -> None:
    assert len(jar_with("a=1", "http://127.0.0.1/")) == 0
    assert names(jar_with("a=1", "http://127.0.0.1/", unsafe=True), "http://127.0.0.1/") == {"a"}


def test_longest_path_first_and_clear() -> None:
    jar = CookieJar()
    for header in ("a=short; Path=/", "a=long; Path=/x/y"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        jar.update_cookies(cookie, URL("http://example.com/"))
    assert jar.cookie_header(URL("http://example.com/x/y/z")) == "a=long"
    assert len(jar) == 2
    jar.clear_domain("example.com")
    assert len(jar) == 0


async def test_session_stores_and_sends_cookies(server: URL) -> None:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        response = await session.get(server / "set-cookie")
        assert response.cookies["session"].value == "abc123"
        assert await (await session.get(server / "cookies")).json() == {"session": "abc123"}
        sub = await (await session.get(server / "cookies" / "sub")).json()
        assert sub == {"session": "abc123", "scoped": "only-here"}
        await (await session.get(server / "del-cookie")).read()
        assert await (await session.get(server / "cookies")).json() == {}


async def test_session_and_request_cookies(server: URL) -> None:
    async with ClientSession(cookies={"shared": "1"}) as session:
        response = await session.get(server / "cookies", cookies={"extra": "2"})
        assert await response.json() == {"shared": "1", "extra": "2"}


async def test_request_cookies_go_with_every_redirect(server: URL) -> None:
    async with ClientSession() as session:
        url = (server / "redirect" / "302").with_query(to="/cookies")
        response = await session.get(url, cookies={"extra": "2"})
        assert len(response.history) == 1
        assert await response.json() == {"extra": "2"}


async def test_default_jar_ignores_ip_hosts(server: URL, session: ClientSession) -> None:
    await (await session.get(server / "set-cookie")).read()
    assert len(session.cookie_jar) == 0


def _chunked_with(cookie: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            + f"Set-Cookie: {cookie}\r\n\r\n5\r\nhello\r\n".encode()
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    return handler


@pytest.mark.parametrize(
    "cookie", ["a=b; Expires=Fri, 1 Jan 99999 00:00:00 GMT", "a=b; Max-Age=" + "9" * 400]
)
async def test_a_cookie_expiring_out_of_range_is_a_session_cookie(cookie: str) -> None:
    async with raw_server(_chunked_with(cookie)) as url, ClientSession() as session:
        async with session.get(url.with_host("localhost") / "x") as response:
            assert await response.read() == b"hello"
        assert session.connector.in_use == 0
        assert session.cookie_jar.filter_cookies(url.with_host("localhost"))["a"].value == "b"


async def test_an_explicit_cookie_header_goes_out_with_the_jars_cookies() -> None:
    async with aiohttp_server() as url, ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        async with session.get(url / "set-cookie") as r:
            await r.read()  # the jar now holds session=abc123 for this host
        async with session.get(url / "echo", headers={"Cookie": "explicit=1"}) as r:
            sent = (await r.json())["headers"]["Cookie"]
    assert sent == "explicit=1; session=abc123"


async def test_two_explicit_cookie_headers_both_go_out() -> None:
    async with aiohttp_server() as url, ClientSession() as session:
        headers = [("Cookie", "a=1"), ("Cookie", "b=2")]
        async with session.get(url / "echo", headers=headers) as r:
            assert (await r.json())["headers"]["Cookie"] == "a=1; b=2"


def test_a_max_age_far_below_zero_deletes_the_cookie() -> None:
    jar = CookieJar()
    url = URL("http://example.com/")
    jar.update_cookies(SimpleCookie("sid=old"), url)
    deleting = SimpleCookie()
    deleting["sid"] = ""
    deleting["sid"]["max-age"] = "-" + "9" * 400
    jar.update_cookies(deleting, url)
    assert jar.cookie_header(url) == ""
