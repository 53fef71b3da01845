"""Handler and middleware types, and the ``@middleware`` marker.

A middleware is ``async def m(request, handler) -> StreamResponse``; the first one in
``Application(middlewares=[...])`` is the outermost. Sub-application middlewares run
inside their parents'.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from tidewire.server.request import Request
    from tidewire.server.response import StreamResponse

__all__ = ["Handler", "Middleware", "middleware"]

Handler: TypeAlias = "Callable[[Request], Awaitable[StreamResponse]]"
"""A request handler: ``async def handler(request) -> StreamResponse``.

It returns a response (or raises an ``HTTPException``, which is one). Returning anything
else is answered with 500, as is any other exception it raises.
"""
Middleware: TypeAlias = "Callable[[Request, Handler], Awaitable[StreamResponse]]"
"""A middleware: ``async def mw(request, handler) -> StreamResponse``.

It calls ``await handler(request)`` to run the rest of the chain (or answers without
calling it) and returns a response. The chain is built once, when the application
starts, so a middleware costs one call per request.
"""


def middleware(func: Middleware) -> Middleware:
    """Mark ``func`` as a middleware; kept for aiohttp habits, every callable with the
    ``(request, handler)`` signature works without it."""
    return func


def wrap(handler: Handler, middlewares: tuple[Middleware, ...]) -> Handler:
    """``handler`` inside ``middlewares`` (the first one outermost)."""
    for mw in reversed(middlewares):
        handler = _bind(mw, handler)
    return handler


def _bind(mw: Middleware, inner: Handler) -> Handler:
    def call(request: Request) -> Awaitable[StreamResponse]:
        return mw(request, inner)

    return call
