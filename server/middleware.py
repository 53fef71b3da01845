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
Middleware: TypeAlias = "Callable[[Request, Handler], Awaitable[StreamResponse]]"


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
