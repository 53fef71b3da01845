"""The chat's two history stores keep one contract: SQLite (one process) and Redis
Streams (several), so the chat and its pages have one path whichever is used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from demo_support import chat_store
from redis_support import RedisServer


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        opened = chat_store.SQLiteStore(":memory:")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        opened = chat_store.RedisStreamStore(server.url, prefix="test:")
    await opened.open()
    yield opened
    await opened.close()


async def test_history_in_order_the_last_ones_and_after_an_id(store: Any) -> None:
    added = [await store.add("lobby", "ann", f"m{n}") for n in range(6)]
    await store.add("other", "bob", "elsewhere")
    keys = [chat_store.id_key(message["id"]) for message in added]
    assert keys == sorted(keys) and len(set(keys)) == 6  # ids grow
    assert await store.history("lobby") == added  # as added, with their ids
    assert [m["text"] for m in await store.history("lobby", 3)] == ["m3", "m4", "m5"]
    after = added[2]["id"]
    assert [m["text"] for m in await store.history("lobby", after=after)] == ["m3", "m4", "m5"]
    assert [m["text"] for m in await store.history("lobby", 2, after=after)] == ["m4", "m5"]
    assert await store.history("lobby", after=added[-1]["id"]) == []
    assert await store.history("lobby", after=0) == added  # 0: before every message
    assert await store.history("lobby", after="0") == added
    assert [m["text"] for m in await store.history("other")] == ["elsewhere"]
    assert await store.history("empty") == []


async def test_a_removed_message_leaves_the_history(store: Any) -> None:
    first = await store.add("lobby", "ann", "kept")
    second = await store.add("lobby", "ann", "never sent")
    await store.remove("lobby", second["id"])
    assert await store.history("lobby") == [first]
    third = await store.add("lobby", "ann", "after")
    assert chat_store.id_key(third["id"]) > chat_store.id_key(second["id"])  # not reused


async def test_an_id_of_another_kind_is_refused(store: Any) -> None:
    for bad in ("x", "1-2-3; DROP", "-1", "(5"):
        with pytest.raises(ValueError, match="not a message id"):
            await store.history("lobby", after=bad)
