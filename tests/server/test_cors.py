"""CORS as a browser asks for it: preflights answered or refused, responses marked for
allowed origins only, and the same origins guarding the WebSocket upgrade."""

from __future__ import annotations

import aiohttp
import pytest
from server_support import Serve

from tidewire.server import (
    Application,
    HTTPNotFound,
    Request,
    Response,
    StreamResponse,
    WebSocketResponse,
    cors,
)

APP = "https://app.example"


async def make(serve: Serve, **options: object) -> str:
    app = Application()
    sub = Application()
    config = cors.setup(app, **options)  # type: ignore[arg-type]

    async def items(request: Request) -> Response:
        return Response(text="items", headers={"X-Total": "3"})

    async def missing(request: Request) -> Response:
        raise HTTPNotFound(text="gone")

    async def streamed(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        await response.write(b"streamed")
        return response

    async def socket(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(origin_check=config.allows_origin)
        await ws.prepare(request)
        await ws.close()
        return ws

    app.router.add_get("/items", items)
    app.router.add_put("/items", items)
    app.router.add_get("/missing", missing)
    app.router.add_get("/stream", streamed)
    app.router.add_get("/ws", socket)
    sub.router.add_delete("/thing", items)
    app.add_subapp("/sub", sub)
    return (await serve(app)).url


def preflight(origin: str, method: str, headers: str = "") -> dict[str, str]:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return asked


async def test_a_preflight_from_an_allowed_origin_is_answered(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = await make(serve, origins=[APP], headers=["content-type", "x-token"], max_age=600)
    async with http.options(
        url + "/items", headers=preflight(APP, "PUT", "Content-Type, X-Token")
    ) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == APP
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"].split(", ")
        assert resp.headers["Access-Control-Allow-Headers"] == "content-type, x-token"
        assert resp.headers["Access-Control-Max-Age"] == "600"
        assert "Access-Control-Allow-Credentials" not in resp.headers
    async with http.options(url + "/sub/thing", headers=preflight(APP, "DELETE")) as resp:
        assert resp.status == 204  # sub-application routes too


@pytest.mark.parametrize(
    ("asked", "why"),
    [
        (preflight("https://evil.example", "PUT"), "origin 'https://evil.example'"),
        (preflight(APP, "TRACE"), "method TRACE"),
        (preflight(APP, "DELETE"), "/items has no DELETE route"),
        (preflight(APP, "PUT", "x-secret"), "headers x-secret"),
    ],
)
async def test_a_preflight_refused_says_why(
    serve: Serve, http: aiohttp.ClientSession, asked: dict[str, str], why: str
) -> None:
    url = await make(serve, origins=[APP], headers=["content-type"])
    async with http.options(url + "/items", headers=asked) as resp:
        assert resp.status == 403
        assert why in await resp.text()
        if "evil" in why:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_responses_to_allowed_origins_are_marked_errors_and_streams_too(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = await make(serve, origins=[APP], credentials=True, expose_headers=["X-Total"])
    for path, status in (("/items", 200), ("/missing", 404), ("/stream", 200)):
        async with http.get(url + path, headers={"Origin": APP}) as resp:
            assert resp.status == status
            assert resp.headers["Access-Control-Allow-Origin"] == APP
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert resp.headers["Access-Control-Expose-Headers"] == "X-Total"
            assert resp.headers["Vary"] == "Origin"
    async with http.get(url + "/items", headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 200  # served, but the browser will not let the page read it
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert resp.headers["Vary"] == "Origin"


async def test_any_origin_is_named_when_credentials_are_allowed(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    for credentials, expected in ((False, "*"), (True, "https://x.example")):
        url = await make(serve, origins="*", credentials=credentials)
        async with http.get(url + "/items", headers={"Origin": "https://x.example"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == expected


async def test_the_websocket_upgrade_uses_the_same_origins(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = await make(serve, origins=[APP])
    async with http.ws_connect(url + "/ws", origin=APP) as ws:
        await ws.receive()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url + "/ws", origin="https://evil.example")
    assert refused.value.status == 403


def test_setup_refuses_a_running_application_and_a_bare_string() -> None:
    app = Application()
    with pytest.raises(TypeError, match="list of names"):
        cors.setup(app, origins="https://app.example")
    app.freeze()
    with pytest.raises(RuntimeError, match="before the application starts"):
        cors.setup(app, origins="*")
