"""Fixtures every test folder shares: a real redis-server on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_support import RedisServer, find_redis_server


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """redis-server's path; the tests that need it are skipped, saying why, only when
    Debian's redis-server is missing and cannot be installed here."""
    path, why = find_redis_server()
    if path is None:
        pytest.skip(f"these tests need Debian's redis-server: {why}")
    return path


@pytest.fixture
def redis_server(redis_binary: str) -> Iterator[RedisServer]:
    """A fresh, empty redis-server for one test; ``kill()`` and ``start()`` it to
    take Redis away and give it back."""
    server = RedisServer(redis_binary)
    server.start()
    yield server
    server.close()
