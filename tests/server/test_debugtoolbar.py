"""The debug toolbar over real HTTP: the badge injected into HTML pages only, the request
list and its detail pages, the WebSockets it watches, and whom it refuses."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import aiohttp
import pytest
from server_support import Serve

from tidewire.server import (
    Application,
    AppRunner,
    FileResponse,
    Handler,
    Request,
    Response,
    StreamResponse,
    TCPSite,
    WebSocketResponse,
    debugtoolbar,
    json_response,
    sessions,
)

log = logging.getLogger("tests.toolbar")
PAGE = "<!doctype html><html><body><h1>hi</h1></body></html>"
BADGE = re.compile(
    r"<a id='tidewire-debugtoolbar' href='/_debugtoolbar/(\d+)'[^>]*>"
    r"tidewire (\d+) &middot; [\d.]+ ms</a>"
)


async def page(request: Request) -> Response:
    return Response(text=PAGE, content_type="text/html")


async def fragment(request: Request) -> Response:
    return Response(text="<p>no body tag</p>", content_type="text/html")


async def data(request: Request) -> Response:
    return json_response({"html": "</body>"})


async def compressed(request: Request) -> Response:
    response = Response(text=PAGE, content_type="text/html")
    response.enable_compression()
    return response


async def streamed(request: Request) -> StreamResponse:
    response = StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    await response.write(PAGE.encode())
    return response


async def hello(request: Request) -> Response:
    session = await sessions.get_session(request)
    session["user"] = "alice <admin>"
    log.warning("hello from the handler <%s>", request.query.get("x"))
    return Response(text=PAGE, content_type="text/html")


async def broken(request: Request) -> Response:
    raise ValueError("<boom>")


async def echo(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse(protocols=("chat",))
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str("echo " + str(msg.data))
    return ws


async def tagging(request: Request, handler: Handler) -> StreamResponse:
    return await handler(request)


def make_app(tmp_path: Path | None = None, **toolbar: object) -> Application:
    app = Application(middlewares=[tagging])
    sessions.setup(app, sessions.SimpleCookieStorage())
    debugtoolbar.setup(app, **toolbar)  # type: ignore[arg-type]
    app.router.add_get("/", page)
    app.router.add_get("/fragment", fragment)
    app.router.add_get("/data", data)
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/hello", hello, name="hello")
    app.router.add_get("/broken", broken)
    app.router.add_get("/echo", echo)
    if tmp_path is not None:
        (tmp_path / "file.html").write_text(PAGE)
        app.router.add_get("/file", lambda request: _file(tmp_path / "file.html"))
    return app


async def _file(path: Path) -> FileResponse:
    return FileResponse(path)


async def fetch(http: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, str]:
    async with http.get(url, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.text()


async def test_the_badge_goes_before_body_with_the_length_fixed(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app())).url
    async with http.get(url + "/") as resp:
        raw = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(raw) > len(PAGE)
    text = raw.decode()
    badge = BADGE.search(text)
    assert badge is not None and badge.group(2) == "200"
    assert text.startswith("<!doctype html><html><body><h1>hi</h1><a id=")
    assert text.endswith("</a></body></html>")
    async with http.get(url + "/fragment") as resp:  # no </body>: appended
        raw = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(raw)
    assert raw.startswith(b"<p>no body tag</p><a id='tidewire-debugtoolbar'")
    # the badge links to the request's own page, which exists
    status, detail = await fetch(http, url + f"/_debugtoolbar/{badge.group(1)}")
    assert status == 200 and "GET / HTTP/1.1" in detail


async def test_json_compressed_streamed_and_file_bodies_are_left_alone(
    serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = (await serve(make_app(tmp_path))).url
    async with http.get(url + "/data") as resp:
        assert await resp.json() == {"html": "</body>"}
    async with http.get(url + "/compressed", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.text() == PAGE  # aiohttp inflated it: whole, and no badge
    for path in ("/streamed", "/file"):
        status, text = await fetch(http, url + path)
        assert (status, text) == (200, PAGE), path
    status, index = await fetch(http, url + "/_debugtoolbar/")
    assert "GET /streamed HTTP/1.1" in index and "GET /file HTTP/1.1" in index  # recorded


async def test_the_detail_page_shows_the_whole_request(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app())).url
    headers = {"X-Probe": "<script>alert(1)</script>", "Cookie": "flavour=oat"}
    status, text = await fetch(http, url + "/hello?x=1%3C", headers=headers)
    number = BADGE.search(text).group(1)  # type: ignore[union-attr]
    status, index = await fetch(http, url + "/_debugtoolbar/")
    assert status == 200 and f"href='/_debugtoolbar/{number}'" in index
    assert "GET /hello?x=1%3C HTTP/1.1" in index
    status, detail = await fetch(http, url + f"/_debugtoolbar/{number}")
    assert status == 200
    assert "<h2 id='request-line'>GET /hello?x=1%3C HTTP/1.1</h2>" in detail
    # request headers and cookies, escaped
    assert "<th>X-Probe</th><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in detail
    assert "<script>alert" not in detail
    assert "<th>flavour</th><td>oat</td>" in detail
    # the session as the handler left it
    assert "<th>user</th><td>&quot;alice &lt;admin&gt;&quot;</td>" in detail
    # route, handler, middlewares of the chain
    assert "<th>name</th><td>hello</td>" in detail
    assert f"<td>{hello.__module__}.hello</td>" in detail
    middlewares = re.search(r"<ol id='middlewares'>(.*?)</ol>", detail).group(1)  # type: ignore[union-attr]
    assert "_Toolbar.middleware" in middlewares and "setup.&lt;locals&gt;.save_late" in middlewares
    assert f"{tagging.__module__}.tagging" in middlewares
    # the response as sent, with the cookie the session set and the injected length
    assert "<b id='status'>200 OK</b>" in detail and re.search(
        r"<b id='time'>[\d.]+ ms</b>", detail
    )
    response_headers = re.search(r"<table id='response-headers'>(.*?)</table>", detail).group(1)  # type: ignore[union-attr]
    assert "<th>Set-Cookie</th><td>TIDEWIRE_SESSION=" in response_headers
    assert f"<th>Content-Length</th><td>{len(text.encode())}</td>" in response_headers
    # the log record emitted while it ran
    assert "WARNING" in detail and "hello from the handler &lt;1&lt;&gt;" in detail


async def test_an_exception_is_recorded_with_its_traceback(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app())).url
    status, _ = await fetch(http, url + "/broken")
    assert status == 500
    status, index = await fetch(http, url + "/_debugtoolbar/")
    number = re.search(r"/_debugtoolbar/(\d+)'>#\d+</a></td><td>[^<]*</td><td>GET /broken", index)
    assert number is not None
    status, detail = await fetch(http, url + f"/_debugtoolbar/{number.group(1)}")
    exception = re.search(r"<pre id='exception'>(.*?)</pre>", detail, re.S).group(1)  # type: ignore[union-attr]
    assert exception.startswith("Traceback (most recent call last):")
    assert "in broken" in exception and "ValueError: &lt;boom&gt;" in exception
    assert "<b id='status'>500 Internal Server Error</b>" in detail


async def test_only_the_last_requests_are_kept_and_its_own_pages_are_not(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app(max_requests=100))).url
    for _ in range(105):
        async with http.get(url + "/data") as resp:
            assert resp.status == 200
    index = (await fetch(http, url + "/_debugtoolbar/"))[1]
    numbers = [int(n) for n in re.findall(r"href='/_debugtoolbar/(\d+)'>", index)]
    assert numbers == list(range(105, 5, -1))  # the last 100, newest first
    assert (await fetch(http, url + "/_debugtoolbar/5"))[0] == 404
    assert (await fetch(http, url + "/_debugtoolbar/6"))[0] == 200


def snapshot(panel: str) -> dict[str, list[dict[str, object]]]:
    found = re.search(r'<script id="snapshot" type="application/json">(.*?)</script>', panel)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def test_websockets_are_watched_until_they_close(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app())).url
    feed = await http.ws_connect(url + "/_debugtoolbar/ws")
    first = json.loads((await feed.receive()).data)
    assert first == {"open": [], "closed": []}  # its own socket is not listed
    ws = await http.ws_connect(url + "/echo", protocols=("chat",), compress=15)
    for word in ("one", "two", "<three>"):
        await ws.send_str(word)
        assert (await ws.receive()).data == f"echo {word}"
    (watched,) = snapshot((await fetch(http, url + "/_debugtoolbar/websockets"))[1])["open"]
    assert watched["path"] == "/echo" and watched["protocol"] == "chat"
    assert watched["extensions"] == "permessage-deflate"
    assert (watched["messages_in"], watched["messages_out"]) == (3, 3)
    assert watched["bytes_in"] and watched["bytes_out"]
    assert watched["recent"][-2:] == [["in", "<three>"], ["out", "echo <three>"]]  # type: ignore[index]
    while True:  # the feed pushes the same, as it changes
        pushed = json.loads((await feed.receive(timeout=5)).data)
        if pushed["open"] and pushed["open"][0]["messages_in"] == 3:
            break
    await ws.close(code=4000, message=b"done here")
    while True:
        pushed = json.loads((await feed.receive(timeout=5)).data)
        if pushed["closed"]:
            break
    assert pushed["open"] == []
    (closed,) = pushed["closed"]
    assert (closed["path"], closed["code"], closed["reason"]) == ("/echo", 4000, "done here")
    await feed.close()


async def test_the_live_feed_refuses_the_pages_of_other_sites(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = (await serve(make_app())).url
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url + "/_debugtoolbar/ws", origin="http://evil.example")
    assert refused.value.status == 403
    own = await http.ws_connect(url + "/_debugtoolbar/ws", origin=url)
    assert json.loads((await own.receive()).data) == {"open": [], "closed": []}
    await own.close()


@pytest.mark.parametrize(
    "headers", [{"Forwarded": "for=127.0.0.1"}, {"X-Forwarded-For": "127.0.0.1"}]
)
async def test_a_forwarded_request_is_refused_and_gets_no_badge(
    serve: Serve, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    url = (await serve(make_app())).url
    for path in ("/_debugtoolbar/", "/_debugtoolbar/websockets", "/_debugtoolbar/1"):
        assert (await fetch(http, url + path, headers=headers))[0] == 403
    assert await fetch(http, url + "/", headers=headers) == (200, PAGE)
    assert "GET / HTTP" not in (await fetch(http, url + "/_debugtoolbar/"))[1]  # not recorded


async def test_a_host_not_listed_is_refused(serve: Serve, http: aiohttp.ClientSession) -> None:
    url = (await serve(make_app(hosts=["10.0.0.0/8", "192.168.1.7"]))).url
    assert (await fetch(http, url + "/_debugtoolbar/"))[0] == 403
    assert await fetch(http, url + "/") == (200, PAGE)
    listed = (await serve(make_app(hosts=["127.0.0.0/8"]))).url
    assert (await fetch(http, listed + "/_debugtoolbar/"))[0] == 200
    one = (await serve(make_app(hosts="127.0.0.1"))).url  # a string is one host
    assert (await fetch(http, one + "/_debugtoolbar/"))[0] == 200
    with pytest.raises(ValueError):
        make_app(hosts=["localhost"])  # addresses and networks, not names


async def test_ipv6_loopback_is_local_too(http: aiohttp.ClientSession) -> None:
    runner = AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = TCPSite(runner, "::1", 0)
        try:
            await site.start()
        except OSError:
            pytest.skip("no IPv6 loopback here")
        url = f"http://[::1]:{site.port}"
        status, text = await fetch(http, url + "/")
        assert status == 200 and BADGE.search(text) is not None
        assert "from ::1 at" in (await fetch(http, url + "/_debugtoolbar/1"))[1]
    finally:
        await runner.cleanup()


async def test_setup_warns_and_must_come_before_the_start(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "tidewire.server.debugtoolbar"):
        app = make_app()
    assert "debug toolbar enabled: never in production" in caplog.text
    await serve(app)
    with pytest.raises(RuntimeError, match="before the application starts"):
        debugtoolbar.setup(app)


async def test_a_rebound_host_name_is_refused(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = Application()
    debugtoolbar.setup(app)
    url = (await serve(app)).url
    async with http.get(url + "/_debugtoolbar/", headers={"Host": "evil.example:80"}) as resp:
        assert resp.status == 403  # a page of evil.example resolved to 127.0.0.1
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080"):
        async with http.get(url + "/_debugtoolbar/", headers={"Host": host}) as resp:
            assert resp.status == 200, host
