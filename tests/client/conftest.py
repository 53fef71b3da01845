"""Fixtures of the client tests: an aiohttp server and a session that must not leak."""

from __future__ import annotations

import gc
import importlib
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme
from aiohttp import web as aiohttp_web
from client_servers import aiohttp_server
from yarl import URL

from tidewire.client import ClientSession


@pytest.fixture(params=["aiohttp", "tidewire"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[URL]:
    """The test routes served by aiohttp.web and by tidewire.server in turn."""
    web = aiohttp_web if request.param == "aiohttp" else importlib.import_module("tidewire.server")
    async with aiohttp_server(web=web) as url:
        yield url


@pytest.fixture
async def aio_server() -> AsyncIterator[URL]:
    """aiohttp.web only: for routes the other server does not offer (WebSocket)."""
    async with aiohttp_server() as url:
        yield url


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority for the https and wss tests."""
    return trustme.CA()


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client TLS context that trusts ``ca``."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(autouse=True)
def no_unretrieved_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A future failed and left unawaited means an error path forgot someone."""
    yield
    gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as client:
        yield client
        # every test ends with its connections either pooled or closed, none leaked
        assert client.connector.in_use == 0
