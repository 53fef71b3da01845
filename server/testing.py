"""Testing utilities: ``TestServer`` runs an app on a free local port, ``TestClient`` talks
to it through ``tidewire.client.ClientSession`` with paths instead of URLs,
``RawTestServer`` serves one handler for every request (to stand in for another
service), ``make_mocked_request`` builds a request for calling a handler or a
middleware directly, and ``unused_port`` finds a port for a server of your own.

The pytest plugin (``tidewire.server.pytest_plugin``) wraps them in fixtures:
``client = await tw_client(app)``, ``server = await tw_server(app)``,
``raw = await tw_raw_server(handler)`` and ``port = tw_unused_port()``.
"""

from __future__ import annotations

import socket
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tidewire.client import ClientResponse, ClientSession
from tidewire.server.app import Application
from tidewire.server.middleware import Handler
from tidewire.server.request import Request
from tidewire.server.router import MatchInfo
from tidewire.server.runner import AppRunner, TCPSite
from tidewire.server.streams import StreamReader

if TYPE_CHECKING:
    from tidewire.server.protocol import HTTPProtocol

__all__ = ["RawTestServer", "TestClient", "TestServer", "make_mocked_request", "unused_port"]


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on at the time of asking (the OS
    picks it), for a server a test starts itself."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _NoConnection:
    """What a mocked request has instead of a connection: addresses, no socket."""

    __slots__ = ("peername", "server_closing", "sockname", "transport")

    def __init__(self, remote: str) -> None:
        self.transport = None
        self.peername = (remote, 40000)
        self.sockname = ("127.0.0.1", 8080)
        self.server_closing = False

    def pause_reading(self) -> None:
        """Nothing to pause: the body is all there."""

    def resume_reading(self) -> None:
        """Nothing to resume."""

    def send_continue(self) -> None:
        """Nothing to tell: the body is all there."""


def make_mocked_request(
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    *,
    match_info: Mapping[str, str] | None = None,
    app: Application | None = None,
    payload: bytes = b"",
    remote: str = "127.0.0.1",
    secure: bool = False,
    version: tuple[int, int] = (1, 1),
) -> Request:
    """A ``Request`` with no connection behind it, to call a handler or a middleware
    directly: ``await handler(make_mocked_request("GET", "/users/7", match_info={"id":
    "7"}))``. ``path`` may carry a query; ``payload`` is the whole body (read it with
    ``read()``, ``json()``, ``post()``, ``content``). ``app`` defaults to a new
    ``Application``. A response can be built but not sent, and a WebSocket cannot be
    prepared: for those, serve the application with ``TestClient``."""
    app = app if app is not None else Application()
    body = StreamReader(_NoConnection(remote))
    if payload:
        body.feed_data(payload)
    body.feed_eof()
    fields: CIMultiDict[str] = CIMultiDict(headers or {})
    if payload and "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(payload))
    request = Request(
        cast("HTTPProtocol", _NoConnection(remote)),
        method.upper(),
        path,
        CIMultiDictProxy(fields),
        version_minor=version[1],
        keep_alive=True,
        content=body,
        app=app,
    )
    if secure:
        request = request.clone(scheme="https")

    async def unrouted(request: Request) -> Any:
        raise RuntimeError("a mocked request is not routed to a handler")

    request._match_info = MatchInfo(dict(match_info or {}), None, unrouted, unrouted, (app,))
    return request


class ResponseContext(Protocol):
    """What the session's request methods return: awaitable, or an async context manager."""

    def __await__(self) -> Generator[Any, None, ClientResponse]: ...

    async def __aenter__(self) -> ClientResponse: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class TestServer:
    """``app`` served on ``host`` and an OS-picked port; ``**runner_kwargs`` go to
    ``AppRunner`` (limits, ``shutdown_timeout``).

    ``async with TestServer(app) as server:`` starts and closes it; ``server.port`` is
    ``None`` until started. It runs the application's startup and cleanup hooks as
    ``run_app`` would.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: Application, *, host: str = "127.0.0.1", **runner_kwargs: Any) -> None:
        self.app = app
        self.host = host
        self.runner = AppRunner(app, **runner_kwargs)
        self.port: int | None = None

    async def start_server(self) -> None:
        """Set the application up and listen; does nothing when already started."""
        if self.port is not None:
            return
        await self.runner.setup()
        site = TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = site.port

    def make_url(self, path: str = "/") -> URL:
        """The absolute ``http://`` URL of ``path`` on this server; ``RuntimeError`` before
        it started."""
        if self.port is None:
            raise RuntimeError("the test server is not started")
        return URL.build(scheme="http", host=self.host, port=self.port).join(URL(path))

    async def close(self) -> None:
        """Shut the server down as ``AppRunner.cleanup`` does; a second call does
        nothing."""
        if self.port is not None:
            self.port = None
            await self.runner.cleanup()

    async def __aenter__(self) -> TestServer:
        await self.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class RawTestServer(TestServer):
    """A server answering every request, whatever its method and path, with
    ``handler``: a stand-in for another service a client under test talks to.

    ``async with RawTestServer(handler) as server:``, then ``server.make_url("/x")``;
    ``**runner_kwargs`` as ``TestServer``. The handler's ``request.match_info["path"]``
    is the path without its leading slash.
    """

    __test__ = False

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", **runner_kwargs: Any) -> None:
        app = Application()
        app.router.add_route("*", "/{path:.*}", handler)
        super().__init__(app, host=host, **runner_kwargs)


class TestClient:
    """A ``ClientSession`` bound to a ``TestServer``: ``await client.get("/path")``.

    The request methods take a path instead of a URL and the session's keyword
    arguments, and return what the session returns: await it, or use it with
    ``async with``. ``**session_kwargs`` go to ``ClientSession``. Use it as an async
    context manager, or ``start_server()`` then ``close()``; the ``tw_client`` pytest
    fixture does both.
    """

    __test__ = False

    def __init__(self, server: TestServer, **session_kwargs: Any) -> None:
        self.server = server
        self._session_kwargs = session_kwargs
        self._session: ClientSession | None = None

    @property
    def app(self) -> Application:
        """The application under test."""
        return self.server.app

    @property
    def session(self) -> ClientSession:
        """The client session; ``RuntimeError`` before ``start_server()``."""
        if self._session is None:
            raise RuntimeError("the test client is not started")
        return self._session

    def make_url(self, path: str = "/") -> URL:
        """The server's ``make_url``."""
        return self.server.make_url(path)

    async def start_server(self) -> None:
        """Start the server (unless started) and open the session."""
        await self.server.start_server()
        if self._session is None:
            self._session = ClientSession(**self._session_kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> ResponseContext:
        """``session.request(method, url_of_path, **kwargs)``."""
        return self.session.request(method, self.make_url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("GET", path, **kwargs)``."""
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("HEAD", path, **kwargs)``."""
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("OPTIONS", path, **kwargs)``."""
        return self.request("OPTIONS", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("POST", path, **kwargs)``."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("PUT", path, **kwargs)``."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("PATCH", path, **kwargs)``."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ResponseContext:
        """``request("DELETE", path, **kwargs)``."""
        return self.request("DELETE", path, **kwargs)

    def ws_connect(self, path: str, **kwargs: Any) -> Any:
        """A WebSocket to ``path`` (the session's ``ws_connect``)."""
        return self.session.ws_connect(self.make_url(path), **kwargs)

    async def close(self) -> None:
        """Close the session, then the server."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.server.close()

    async def __aenter__(self) -> TestClient:
        await self.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
