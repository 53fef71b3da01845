"""The test utilities: the ``tw_client`` fixture, TestServer and TestClient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tidewire.server import Application, Request, Response, json_response
from tidewire.server.testing import TestClient, TestServer

MakeClient = Callable[..., Awaitable[TestClient]]


def make_app() -> Application:
    async def echo(request: Request) -> Response:
        return json_response(
            {"method": request.method, "query": dict(request.query), "body": await request.text()}
        )

    app = Application()
    app.router.add_route("*", "/echo", echo)
    return app


async def test_tw_client_fixture_requests(tw_client: MakeClient) -> None:
    client = await tw_client(make_app())
    response = await client.get("/echo", params={"a": "1"})
    assert response.status == 200
    assert await response.json() == {"method": "GET", "query": {"a": "1"}, "body": ""}
    async with client.post("/echo", data=b"payload") as resp:
        assert (await resp.json())["body"] == "payload"
    for verb in ("put", "patch", "delete"):
        async with getattr(client, verb)("/echo") as resp:
            assert (await resp.json())["method"] == verb.upper()
    async with client.get("/missing") as resp:
        assert resp.status == 404


async def test_tw_client_websocket(tw_client: MakeClient) -> None:
    server_mod = pytest.importorskip("tidewire.server")
    ws_response = getattr(server_mod, "WebSocketResponse", None)
    if ws_response is None:
        pytest.skip("WebSocketResponse is not available yet")

    async def ws_echo(request: Request) -> object:
        ws = ws_response()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str("echo:" + msg.data)
        return ws

    app = Application()
    app.router.add_get("/ws", ws_echo)  # type: ignore[arg-type]
    client = await tw_client(app)
    ws = await client.ws_connect("/ws")
    await ws.send_str("hi")
    assert (await ws.receive()).data == "echo:hi"
    await ws.close()


async def test_test_client_as_context_manager_cleans_up() -> None:
    events: list[str] = []

    async def on_cleanup(app: Application) -> None:
        events.append("cleanup")

    app = make_app()
    app.on_cleanup.append(on_cleanup)
    async with TestClient(TestServer(app)) as client:
        async with client.get("/echo") as resp:
            assert resp.status == 200
        assert str(client.make_url("/x")).startswith("http://127.0.0.1:")
    assert events == ["cleanup"]
    with pytest.raises(RuntimeError):
        client.session  # noqa: B018
