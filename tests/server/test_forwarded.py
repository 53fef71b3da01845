"""Behind a reverse proxy: ``request.forwarded``, ``request.clone`` and the middleware
that believes forwarding headers from listed proxies only."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from server_support import Serve

from tidewire.server import (
    Application,
    AppRunner,
    Request,
    Response,
    SockSite,
    StreamResponse,
    json_response,
)
from tidewire.server.forwarded import ip_address_of, trusted_proxies
from tidewire.server.request import parse_forwarded


def test_forwarded_elements_parse_as_rfc_7239_says() -> None:
    parsed = parse_forwarded(
        [
            'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"',
            'for=unknown;host="a,b";x="q\\"d", nonsense, for=_hidden;;, ,for=198.51.100.9',
        ]
    )
    assert [dict(element) for element in parsed] == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
        {"for": "[2001:db8:cafe::17]:4711"},
        {"for": "unknown", "host": "a,b", "x": 'q"d'},
        {"for": "198.51.100.9"},
    ]
    assert parse_forwarded([""]) == ()


async def who(request: Request) -> Response:
    return json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "secure": request.secure,
            "host": request.host,
            "url": str(request.url),
            "forwarded": [dict(element) for element in request.forwarded],
        }
    )


async def ask(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url + "/who?x=1", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
async def behind(serve: Serve) -> Any:
    async def start(proxies: list[str]) -> str:
        app = Application(middlewares=[trusted_proxies(proxies)])
        app.router.add_get("/who", who)
        return (await serve(app)).url

    return start


async def test_an_untrusted_peer_gets_no_say(behind: Any, http: aiohttp.ClientSession) -> None:
    url = await behind(["10.0.0.0/8"])  # the test connects from 127.0.0.1
    seen = await ask(
        http,
        url,
        {
            "Forwarded": "for=203.0.113.7;proto=https;host=evil.example",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
        },
    )
    assert (seen["remote"], seen["scheme"], seen["secure"]) == ("127.0.0.1", "http", False)
    assert seen["host"] == url.removeprefix("http://")
    assert seen["forwarded"] == [{"for": "203.0.113.7", "proto": "https", "host": "evil.example"}]


async def test_a_trusted_proxy_gives_the_client_scheme_and_host(
    behind: Any, http: aiohttp.ClientSession
) -> None:
    url = await behind(["127.0.0.1"])
    seen = await ask(
        http, url, {"Forwarded": 'for="[2001:db8::7]:4711";proto=https;host=example.com'}
    )
    assert (seen["remote"], seen["scheme"], seen["secure"]) == ("2001:db8::7", "https", True)
    assert seen["url"] == "https://example.com/who?x=1"


@pytest.mark.parametrize(
    ("proxies", "remote", "host"),
    [
        (["127.0.0.1", "10.0.0.0/8"], "198.51.100.1", "a.example"),  # both hops ours
        (["127.0.0.1"], "10.0.0.5", "inner.example"),  # only the nearest one is
    ],
)
async def test_the_chain_is_believed_up_to_the_first_untrusted_hop(
    behind: Any, http: aiohttp.ClientSession, proxies: list[str], remote: str, host: str
) -> None:
    url = await behind(proxies)
    chain = "for=198.51.100.1;proto=https;host=a.example, for=10.0.0.5;host=inner.example"
    seen = await ask(http, url, {"Forwarded": chain})
    assert (seen["remote"], seen["host"]) == (remote, host)


async def test_a_client_cannot_prepend_a_fake_hop(behind: Any, http: aiohttp.ClientSession) -> None:
    url = await behind(["127.0.0.1"])
    # the client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended the address it saw
    seen = await ask(http, url, {"X-Forwarded-For": "1.2.3.4, 198.51.100.2"})
    assert seen["remote"] == "198.51.100.2"


async def test_x_forwarded_headers_from_a_proxy_that_sends_no_forwarded(
    behind: Any, http: aiohttp.ClientSession
) -> None:
    url = await behind(["127.0.0.0/8"])
    seen = await ask(
        http,
        url,
        {
            "X-Forwarded-For": "198.51.100.3",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "shop.example:8443",
        },
    )
    assert (seen["remote"], seen["scheme"]) == ("198.51.100.3", "https")
    assert seen["url"] == "https://shop.example:8443/who?x=1"


@pytest.mark.parametrize(
    "header",
    ["for=198.51.100.1;proto=gopher", 'for=198.51.100.1;host="a b/c"'],
)
async def test_a_trusted_proxy_sending_nonsense_gets_400(
    behind: Any, http: aiohttp.ClientSession, header: str
) -> None:
    url = await behind(["127.0.0.1"])
    async with http.get(url + "/who", headers={"Forwarded": header}) as resp:
        assert resp.status == 400
        assert "a trusted proxy sent" in await resp.text()


async def test_a_clone_shares_the_body_and_its_response_answers_the_request(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def read_first(request: Request, handler: Any) -> StreamResponse:
        await request.read()  # a middleware that read the body before cloning
        request["seen"] = True
        return await handler(request.clone(host="moved.example", method="put"))

    async def streamed(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)  # prepared for the clone
        await response.write(f"{request.method} {request.host} ".encode())
        await response.write(await request.read() + str(request["seen"]).encode())
        return response

    app = Application(middlewares=[read_first])
    app.router.add_post("/s", streamed)
    server = await serve(app)
    for _ in range(2):  # the connection is still usable afterwards
        async with http.post(server.url + "/s", data=b"body") as resp:
            assert await resp.text() == "PUT moved.example bodyTrue"


def test_addresses_are_read_as_the_peer_means_them() -> None:
    assert str(ip_address_of("::ffff:10.0.0.1")) == "10.0.0.1"  # a dual-stack IPv4 peer
    assert str(ip_address_of("fe80::1%eth0")) == "fe80::1"
    assert ip_address_of("unknown") is None
    assert ip_address_of(None) is None


async def test_a_trusted_proxy_on_a_dual_stack_socket(http: aiohttp.ClientSession) -> None:
    app = Application(middlewares=[trusted_proxies(["127.0.0.1"])])
    app.router.add_get("/who", who)
    try:  # one socket for both families: IPv4 peers arrive as ::ffff:127.0.0.1
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
    except OSError:
        pytest.skip("no dual-stack IPv6 socket on this machine")
    runner = AppRunner(app)
    await runner.setup()
    await SockSite(runner, sock).start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        seen = await ask(http, url, {"X-Forwarded-For": "198.51.100.9"})
        assert seen["remote"] == "198.51.100.9"
    finally:
        await runner.cleanup()
