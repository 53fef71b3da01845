"""Routing, sub-applications, middlewares, application state and lifecycle order."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from server_support import Serve

from tidewire.server import (
    AppKey,
    Application,
    CleanupError,
    HTTPFound,
    HTTPNotFound,
    Request,
    Response,
    RouteTableDef,
    StreamResponse,
    View,
    delete,
    get,
    head,
    json_response,
    middleware,
    options,
    patch,
    post,
    put,
    route,
    static,
    view,
)
from tidewire.server.middleware import Handler


async def params(request: Request) -> Response:
    return json_response(dict(request.match_info))


async def test_path_parameters_and_regex(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = Application()
    app.router.add_get("/users/{user}/posts/{post:\\d+}", params)
    app.router.add_get("/files/{path:.+}", params)
    server = await serve(app)
    async with http.get(server.url + "/users/ann/posts/42") as resp:
        assert await resp.json() == {"user": "ann", "post": "42"}
    async with http.get(server.url + "/users/ann/posts/x") as resp:
        assert resp.status == 404
    async with http.get(server.url + "/files/a/b/c.txt") as resp:
        assert await resp.json() == {"path": "a/b/c.txt"}
    async with http.get(server.url + "/users/a%20b/posts/1") as resp:
        assert (await resp.json())["user"] == "a b"


async def test_plain_path_wins_over_a_pattern(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def me(request: Request) -> Response:
        return Response(text="me")

    app = Application()
    app.router.add_get("/users/{user}", params)
    app.router.add_get("/users/me", me)
    server = await serve(app)
    async with http.get(server.url + "/users/me") as resp:
        assert await resp.text() == "me"
    async with http.get(server.url + "/users/bob") as resp:
        assert await resp.json() == {"user": "bob"}


async def test_404_and_405_with_allow(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = Application()
    app.router.add_get("/thing", params)
    app.router.add_put("/thing", params)
    app.router.add_post("/items/{id}", params)
    server = await serve(app)
    async with http.get(server.url + "/missing") as resp:
        assert resp.status == 404
        assert await resp.text() == "404: Not Found"
    async with http.delete(server.url + "/thing") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, PUT"
    async with http.get(server.url + "/items/3") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


async def test_head_is_served_by_get_without_a_body(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    calls = []

    async def page(request: Request) -> Response:
        calls.append(request.method)
        return Response(text="body text")

    app = Application()
    app.router.add_get("/", page)
    server = await serve(app)
    async with http.head(server.url + "/") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "9"
        assert await resp.read() == b""
    assert calls == ["HEAD"]


async def test_any_method_route(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def method(request: Request) -> Response:
        return Response(text=request.method)

    app = Application()
    app.router.add_route("*", "/any", method)
    server = await serve(app)
    for verb in ("GET", "POST", "PATCH", "DELETE"):
        async with http.request(verb, server.url + "/any") as resp:
            assert await resp.text() == verb


async def test_route_table_def_and_url_for(serve: Serve, http: aiohttp.ClientSession) -> None:
    routes = RouteTableDef()

    @routes.get("/a/{name}", name="a")
    async def a(request: Request) -> Response:
        url = request.app.router["a"].url_for(name="x y/z")
        return Response(text=str(url))

    @routes.post("/b")
    async def b(request: Request) -> Response:
        return Response(text="b")

    app = Application()
    app.add_routes(routes)
    server = await serve(app)
    async with http.get(server.url + "/a/1") as resp:
        assert await resp.text() == "/a/x%20y%2Fz"
    async with http.post(server.url + "/b") as resp:
        assert await resp.text() == "b"


def test_router_refuses_bad_definitions() -> None:
    app = Application()
    app.router.add_get("/x", params)
    with pytest.raises(RuntimeError):
        app.router.add_get("/x", params)
    with pytest.raises(ValueError, match="start with"):
        app.router.add_get("x", params)
    with pytest.raises(ValueError, match="unknown HTTP method"):
        app.router.add_route("FETCH", "/y", params)
    app.freeze()
    with pytest.raises(RuntimeError):
        app.router.add_get("/z", params)
    # another method on a path already routed, once running: its route would miss the
    # middlewares the frozen application has already bound
    with pytest.raises(RuntimeError, match="running application"):
        app.router.add_post("/x", params)


async def test_subapp_routes_state_and_middlewares(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    trail: list[str] = []

    def tracer(name: str) -> object:
        @middleware
        async def trace(request: Request, handler: Handler) -> StreamResponse:
            trail.append(name)
            return await handler(request)

        return trace

    async def sub_handler(request: Request) -> Response:
        return json_response(
            {
                "path": request.path,
                "app": request.app["name"],
                "root_value": request.config_dict["root_only"],
                "id": request.match_info.get("id"),
            }
        )

    root = Application(middlewares=[tracer("root")])  # type: ignore[list-item]
    root["name"] = "root"
    root["root_only"] = 1
    admin = Application(middlewares=[tracer("admin")])  # type: ignore[list-item]
    admin["name"] = "admin"
    admin.router.add_get("/", sub_handler)
    admin.router.add_get("/users/{id}", sub_handler)
    root.add_subapp("/admin", admin)
    root.router.add_get("/", sub_handler)
    server = await serve(root)

    async with http.get(server.url + "/admin/users/7") as resp:
        assert await resp.json() == {
            "path": "/admin/users/7",
            "app": "admin",
            "root_value": 1,
            "id": "7",
        }
    assert trail == ["root", "admin"]
    trail.clear()
    async with http.get(server.url + "/admin/") as resp:
        assert (await resp.json())["app"] == "admin"
    async with http.get(server.url + "/admin/nothing") as resp:
        assert resp.status == 404
    async with http.get(server.url + "/") as resp:
        assert (await resp.json())["app"] == "root"
    assert trail == ["root", "admin", "root", "root"]  # a 404 passes the root's middlewares


async def test_middleware_order_and_short_circuit(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    order: list[str] = []

    @middleware
    async def outer(request: Request, handler: Handler) -> StreamResponse:
        order.append("outer-in")
        response = await handler(request)
        order.append("outer-out")
        response.headers["X-Outer"] = "1"
        return response

    @middleware
    async def inner(request: Request, handler: Handler) -> StreamResponse:
        order.append("inner-in")
        if request.path == "/blocked":
            raise HTTPFound("/elsewhere")
        response = await handler(request)
        order.append("inner-out")
        return response

    async def errors(request: Request, handler: Handler) -> StreamResponse:
        try:
            return await handler(request)
        except HTTPNotFound:
            return Response(status=404, text="custom not found")

    async def page(request: Request) -> Response:
        order.append("handler")
        return Response(text="ok")

    app = Application(middlewares=[errors, outer, inner])
    app.router.add_get("/", page)
    app.router.add_get("/blocked", page)
    server = await serve(app)
    async with http.get(server.url + "/") as resp:
        assert resp.headers["X-Outer"] == "1"
    assert order == ["outer-in", "inner-in", "handler", "inner-out", "outer-out"]
    async with http.get(server.url + "/blocked", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/elsewhere"
    async with http.get(server.url + "/nowhere") as resp:
        assert await resp.text() == "custom not found"


DB = AppKey("db", dict)


def test_app_state_is_a_mapping_with_typed_keys() -> None:
    app = Application()
    app[DB] = {"x": 1}
    app["plain"] = 2
    assert app[DB] == {"x": 1}
    assert set(app) == {DB, "plain"}
    assert len(app) == 2
    del app["plain"]
    assert "plain" not in app


async def test_state_is_writable_during_startup_and_warns_after() -> None:
    app = Application()

    async def open_db(app: Application) -> None:
        app[DB] = {"open": True}  # the documented place: no warning

    app.on_startup.append(open_db)
    app.freeze()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await app.startup()
    assert app[DB] == {"open": True}
    with pytest.warns(RuntimeWarning, match="running application"):
        app["late"] = 1


async def test_lifecycle_order_with_cleanup_ctx_and_subapps(serve: Serve) -> None:
    events: list[str] = []

    def recorder(name: str) -> object:
        async def record(app: Application) -> None:
            events.append(name)

        return record

    async def ctx(app: Application) -> AsyncIterator[None]:
        events.append("ctx-enter")
        yield
        events.append("ctx-exit")

    root = Application()
    root.cleanup_ctx.append(ctx)
    root.on_startup.append(recorder("startup"))  # type: ignore[arg-type]
    root.on_shutdown.append(recorder("shutdown"))  # type: ignore[arg-type]
    root.on_cleanup.append(recorder("cleanup"))  # type: ignore[arg-type]
    sub = Application()
    sub.on_startup.append(recorder("sub-startup"))  # type: ignore[arg-type]
    sub.on_shutdown.append(recorder("sub-shutdown"))  # type: ignore[arg-type]
    sub.on_cleanup.append(recorder("sub-cleanup"))  # type: ignore[arg-type]
    root.add_subapp("/sub", sub)

    server = await serve(root)
    assert events == ["ctx-enter", "startup", "sub-startup"]
    await server.runner.cleanup()
    assert events == [
        "ctx-enter",
        "startup",
        "sub-startup",
        "shutdown",
        "sub-shutdown",
        "sub-cleanup",
        "cleanup",
        "ctx-exit",
    ]
    with pytest.raises(RuntimeError):
        root.on_startup.append(recorder("late"))  # type: ignore[arg-type]


async def test_failing_cleanup_still_runs_the_rest() -> None:
    events: list[str] = []

    async def broken(app: Application) -> None:
        raise ValueError("broken cleanup")

    async def ctx(app: Application) -> AsyncIterator[None]:
        yield
        events.append("ctx-exit")

    app = Application()
    app.on_cleanup.append(broken)
    app.cleanup_ctx.append(ctx)
    await app.startup()
    with pytest.raises(CleanupError) as info:
        await app.cleanup()
    assert events == ["ctx-exit"]
    assert isinstance(info.value.args[1][0], ValueError)


async def test_response_prepare_signal_sees_every_response(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def add_header(request: Request, response: StreamResponse) -> None:
        response.headers["X-Signal"] = request.path

    app = Application()
    app.on_response_prepare.append(add_header)
    app.router.add_get("/", params)
    server = await serve(app)
    async with http.get(server.url + "/") as resp:
        assert resp.headers["X-Signal"] == "/"
    async with http.get(server.url + "/missing") as resp:
        assert resp.headers["X-Signal"] == "/missing"


async def test_url_for_in_a_sub_application_includes_the_mount_prefixes(
    serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("f")
    api, inner = Application(), Application()

    async def thing(request: Request) -> Response:
        router = request.app.router
        urls = [
            router["thing"].url_for(id="7"),
            router["about"].url_for(),
            router["files"].url_for(filename="f.txt"),
        ]
        return Response(text=" ".join(str(url) for url in urls))

    async def deep(request: Request) -> Response:
        return Response(text=str(request.app.router["deep"].url_for(x="1")))

    api.router.add_get("/thing/{id}", thing, name="thing")
    api.router.add_get("/about", thing, name="about")
    api.router.add_static("/files", tmp_path, name="files")
    inner.router.add_get("/deep/{x}", deep, name="deep")
    api.add_subapp("/v1", inner)  # mounted before its parent is
    root = Application()
    root.add_subapp("/api", api)
    server = await serve(root)
    async with http.get(server.url + "/api/thing/3") as resp:
        assert await resp.text() == "/api/thing/7 /api/about /api/files/f.txt"
    async with http.get(server.url + "/api/v1/deep/2") as resp:
        assert await resp.text() == "/api/v1/deep/1"
    for url in ("/api/thing/7", "/api/about", "/api/files/f.txt", "/api/v1/deep/1"):
        async with http.get(server.url + url) as resp:  # each URL built is served
            assert resp.status == 200, url


class Item(View):
    """Answers GET and DELETE; the rest is 405."""

    async def get(self) -> Response:
        return Response(text=f"item {self.request.match_info['id']}")

    async def delete(self) -> Response:
        return Response(status=204)


async def test_class_based_views_every_way_of_declaring_them(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    routes = RouteTableDef()

    @routes.view("/table/{id}")
    class Table(Item):
        async def post(self) -> Response:
            return Response(text="posted", status=201)

    app = Application()
    app.router.add_view("/router/{id}", Item, name="item")
    app.add_routes(routes)
    app.add_routes([view("/list/{id}", Item)])
    server = await serve(app)
    for prefix in ("/router", "/table", "/list"):
        async with http.get(f"{server.url}{prefix}/7") as resp:
            assert (resp.status, await resp.text()) == (200, "item 7")
        async with http.head(f"{server.url}{prefix}/7") as resp:
            assert resp.status == 200  # answered by get()
        async with http.delete(f"{server.url}{prefix}/7") as resp:
            assert resp.status == 204
        async with http.put(f"{server.url}{prefix}/7") as resp:
            assert resp.status == 405
            allowed = {"DELETE", "GET", "HEAD"} | ({"POST"} if prefix == "/table" else set())
            assert set(resp.headers["Allow"].split(", ")) == allowed
    async with http.post(f"{server.url}/table/1") as resp:
        assert (resp.status, await resp.text()) == (201, "posted")
    assert str(app.router["item"].url_for(id="3")) == "/router/3"


async def test_module_level_route_definitions(
    serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("static a")

    async def answer(request: Request) -> Response:
        return Response(text=request.method)

    app = Application()
    app.add_routes(
        [
            get("/g", answer, name="g"),
            post("/p", answer),
            put("/u", answer),
            patch("/a", answer),
            delete("/d", answer),
            head("/h", answer),
            options("/o", answer),
            route("*", "/any", answer),
            static("/files", tmp_path),
        ]
    )
    server = await serve(app)
    for method, path in [
        ("GET", "/g"), ("POST", "/p"), ("PUT", "/u"), ("PATCH", "/a"),
        ("DELETE", "/d"), ("OPTIONS", "/o"), ("PROPFIND", "/any"),
    ]:  # fmt: skip
        async with http.request(method, server.url + path) as resp:
            assert (resp.status, await resp.text()) == (200, method)
    async with http.head(server.url + "/h") as resp:
        assert resp.status == 200
    async with http.get(server.url + "/files/a.txt") as resp:
        assert await resp.text() == "static a"
    async with http.post(server.url + "/g") as resp:
        assert resp.status == 405
    assert str(app.router["g"].url_for()) == "/g"
