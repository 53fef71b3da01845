"""Fixtures of the server tests: ``serve(app)`` runs an app for the test's duration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from server_support import Serve, Served, start

from tidewire.server import Application


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    served: list[Served] = []

    async def run(app: Application, **kwargs: object) -> Served:
        kwargs.setdefault("shutdown_timeout", 2.0)
        server = await start(app, **kwargs)
        served.append(server)
        return server

    yield run
    for server in reversed(served):
        await server.runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An independent HTTP client (aiohttp's) for the behaviour tests."""
    async with aiohttp.ClientSession() as session:
        yield session
