"""Fixtures of the protocol tests: a connection per role, with and without deflate."""

from __future__ import annotations

import pytest

from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.deflate import DeflateParams


@pytest.fixture(params=[Role.SERVER, Role.CLIENT], ids=["server", "client"])
def role(request: pytest.FixtureRequest) -> Role:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def conn(role: Role) -> Connection:
    return Connection(role)


@pytest.fixture
def deflate_conn(role: Role) -> Connection:
    return Connection(role, deflate=DeflateParams())


@pytest.fixture
def server() -> Connection:
    return Connection(Role.SERVER)


@pytest.fixture
def client() -> Connection:
    return Connection(Role.CLIENT)
