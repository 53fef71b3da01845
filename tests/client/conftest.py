"""Fixtures of the client tests: an aiohttp server and a session that must not leak."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from client_servers import aiohttp_server
from yarl import URL

from tidewire.client import ClientSession


@pytest.fixture
async def server() -> AsyncIterator[URL]:
    async with aiohttp_server() as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as client:
        yield client
        # every test ends with its connections either pooled or closed, none leaked
        assert client.connector.in_use == 0
