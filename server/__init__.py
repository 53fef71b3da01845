"""tidewire's HTTP/1.1 and WebSocket server, with aiohttp.web's names.

``from tidewire.server import Application, Response, json_response, run_app``

A handler is ``async def handler(request) -> Response``; the application's router maps
paths to handlers (``app.router.add_get`` or a ``RouteTableDef``), and middlewares wrap
them. ``run_app(app)`` serves it from a script, ``AppRunner`` and ``TCPSite`` inside a
running event loop. ``WebSocketResponse`` turns a request into a WebSocket, and ``Hub``
publishes messages to many of them, in one process or (``RedisBackend``) across several.
The ``HTTPException`` family (``HTTPNotFound``, ...) are responses a handler raises.
``tidewire.server.testing`` and the pytest fixtures ``tw_client`` and ``tw_server`` test
an application over a real socket. ``GunicornWorker`` and ``GunicornUVLoopWorker`` run
it under gunicorn, and ``python -m tidewire.server MODULE:FACTORY`` from the command line.
"""

from tidewire.protocol import WSCloseCode, WSMessage, WSMsgType
from tidewire.server.app import AppKey, Application, CleanupError, Signal
from tidewire.server.exceptions import *  # noqa: F403
from tidewire.server.exceptions import __all__ as _exceptions_all
from tidewire.server.hub import Backend, BackendUnavailable, Hub, MemoryBackend, PresenceChange
from tidewire.server.hub_redis import RedisBackend
from tidewire.server.middleware import Handler, Middleware, middleware
from tidewire.server.multipart import FileField
from tidewire.server.protocol import HTTPProtocol, Limits, Server, UpgradedConnection
from tidewire.server.request import Request
from tidewire.server.response import FileResponse, Response, StreamResponse, json_response
from tidewire.server.router import (
    MatchInfo,
    RouteDef,
    RouteTableDef,
    StaticDef,
    UrlDispatcher,
    View,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    route,
    static,
    view,
)
from tidewire.server.runner import AppRunner, SockSite, TCPSite, UnixSite, run_app
from tidewire.server.streams import StreamReader
from tidewire.server.websocket import OriginCheck, WebSocketReady, WebSocketResponse

__all__ = [  # noqa: PLE0604
    "AppKey",
    "AppRunner",
    "Backend",
    "BackendUnavailable",
    "Hub",
    "MemoryBackend",
    "PresenceChange",
    "RedisBackend",
    "Application",
    "CleanupError",
    "FileField",
    "FileResponse",
    "HTTPProtocol",
    "Handler",
    "Limits",
    "MatchInfo",
    "Middleware",
    "Request",
    "Response",
    "RouteTableDef",
    "Server",
    "Signal",
    "SockSite",
    "StreamReader",
    "StreamResponse",
    "TCPSite",
    "UnixSite",
    "UpgradedConnection",
    "UrlDispatcher",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocketReady",
    "WebSocketResponse",
    "OriginCheck",
    "RouteDef",
    "StaticDef",
    "View",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "static",
    "view",
    "json_response",
    "middleware",
    "run_app",
    *_exceptions_all,
]


# The gunicorn worker classes, for ``--worker-class tidewire.server.GunicornWorker``: not in
# __all__ and imported on first use, since gunicorn is an optional dependency.
_WORKERS = ("GunicornWorker", "GunicornUVLoopWorker")


def __getattr__(name: str) -> object:
    """Import ``server/worker.py`` when a worker class is first asked for, so that
    ``import tidewire.server`` works without gunicorn installed; without it, the
    ``ImportError`` says which extra to install."""
    if name not in _WORKERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from tidewire.server import worker  # noqa: PLC0415
    except ImportError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "gunicorn":
            raise
        raise ImportError(
            f"tidewire.server.{name} needs gunicorn: pip install 'tidewire[gunicorn]'",
            name="gunicorn",
        ) from exc
    return getattr(worker, name)
