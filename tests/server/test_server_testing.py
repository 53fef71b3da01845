"""The test utilities: the ``tw_client`` fixture, TestServer and TestClient."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from tidewire.client import ClientSession
from tidewire.server import (
    Application,
    AppRunner,
    Handler,
    HTTPUnauthorized,
    Request,
    Response,
    StreamResponse,
    TCPSite,
    json_response,
)
from tidewire.server.testing import RawTestServer, TestClient, TestServer, make_mocked_request

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


async def test_a_handler_called_with_a_mocked_request() -> None:
    async def user(request: Request) -> Response:
        body = await request.json()
        return json_response(
            {
                "id": request.match_info["id"],
                "q": request.query["q"],
                "token": request.headers["X-Token"],
                "body": body,
                "remote": request.remote,
                "url": str(request.url),
            }
        )

    request = make_mocked_request(
        "post",
        "/users/7?q=tea",
        {"X-Token": "t", "Host": "api.example"},
        match_info={"id": "7"},
        payload=b'{"name": "x"}',
        remote="198.51.100.4",
        secure=True,
    )
    response = await user(request)
    assert response.status == 200
    assert response.body is not None
    assert json.loads(response.body) == {
        "id": "7",
        "q": "tea",
        "token": "t",
        "body": {"name": "x"},
        "remote": "198.51.100.4",
        "url": "https://api.example/users/7?q=tea",
    }


async def test_a_middleware_called_with_a_mocked_request() -> None:
    async def deny_anonymous(request: Request, handler: Handler) -> StreamResponse:
        if "Authorization" not in request.headers:
            raise HTTPUnauthorized()
        return await handler(request)

    async def ok(request: Request) -> Response:
        return Response(text="ok")

    with pytest.raises(HTTPUnauthorized):
        await deny_anonymous(make_mocked_request("GET", "/"), ok)
    allowed = await deny_anonymous(make_mocked_request("GET", "/", {"Authorization": "x"}), ok)
    assert allowed.text == "ok"


async def test_a_raw_server_answers_every_path_and_method(
    tw_raw_server: Callable[..., Awaitable[RawTestServer]], tw_unused_port: Callable[[], int]
) -> None:
    async def stand_in(request: Request) -> Response:
        return Response(text=f"{request.method} {request.match_info['path']}")

    raw = await tw_raw_server(stand_in)
    async with ClientSession() as session:
        for method, path in (("GET", "/a/b"), ("DELETE", "/"), ("PATCH", "/x?y=1")):
            async with session.request(method, raw.make_url(path)) as resp:
                assert await resp.text() == f"{method} {path[1:].partition('?')[0]}"
        port = tw_unused_port()
        own = AppRunner(Application())
        await own.setup()
        await TCPSite(own, "127.0.0.1", port).start()  # nothing was listening there
        async with session.get(f"http://127.0.0.1:{port}/") as resp:
            assert resp.status == 404
        await own.cleanup()
