"""pytest fixtures for tidewire apps (registered through the ``pytest11`` entry point).

``tw_client(app, **session_kwargs)`` starts ``app`` on a free port and returns a
``TestClient``; ``tw_server(app, **runner_kwargs)`` returns a ``TestServer``, and
``tw_raw_server(handler)`` a ``RawTestServer``. All are closed at teardown, after the
test. ``tw_unused_port()`` gives a free port for a server the test starts itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest

from tidewire.server.app import Application
from tidewire.server.testing import RawTestServer, TestClient, TestServer, unused_port

F = TypeVar("F", bound=Callable[..., Any])


def async_fixture(func: F) -> F:
    """pytest-asyncio's fixture decorator, so the fixtures work in its strict mode too."""
    try:
        import pytest_asyncio  # noqa: PLC0415
    except ImportError:  # without pytest-asyncio async fixtures cannot run at all
        return cast(F, pytest.fixture(func))
    return cast(F, pytest_asyncio.fixture(func))


__all__ = ["tw_client", "tw_raw_server", "tw_server", "tw_unused_port"]


async def _started(
    make: Callable[..., TestServer],
) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """A fixture's starter: ``await start(...)`` makes a server with ``make(...)`` and
    starts it; each one started is closed at teardown, the last first."""
    servers: list[TestServer] = []

    async def start(*args: Any, **kwargs: Any) -> TestServer:
        server = make(*args, **kwargs)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@async_fixture
async def tw_server() -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """``server = await tw_server(app, **runner_kwargs)``: a started ``TestServer``."""
    async for start in _started(TestServer):
        yield start


@async_fixture
async def tw_raw_server() -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """``server = await tw_raw_server(handler, **runner_kwargs)``: a started
    ``RawTestServer``, answering every request with ``handler``."""
    async for start in _started(RawTestServer):
        yield start


@pytest.fixture
def tw_unused_port() -> Callable[[], int]:
    """``port = tw_unused_port()``: a TCP port on 127.0.0.1 nothing listens on."""
    return unused_port


@async_fixture
async def tw_client() -> AsyncIterator[Callable[..., Awaitable[TestClient]]]:
    """``client = await tw_client(app, **session_kwargs)``: a started ``TestClient``."""
    clients: list[TestClient] = []

    async def start(app: Application, **session_kwargs: Any) -> TestClient:
        client = TestClient(TestServer(app), **session_kwargs)
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()
