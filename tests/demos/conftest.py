"""Fixtures of the demo tests: chat servers on free ports, and a headless Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_support import CHROMIUM_ARGS, ChatProcess, ChatServers, find_chromium
from redis_support import RedisServer


@pytest.fixture
async def chat_servers() -> AsyncIterator[ChatServers]:
    servers = ChatServers()
    yield servers
    await servers.stop_all()


@pytest.fixture
def chat_processes(
    redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[[int], list[ChatProcess]]]:
    """Start chat server processes on the test's Redis: ``chat_processes(2)``."""
    started: list[ChatProcess] = []

    def start(count: int) -> list[ChatProcess]:
        for _ in range(count):
            log = tmp_path / f"chat-{len(started)}.log"
            started.append(ChatProcess(redis_server.url, log))
        return started[-count:]

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path; the tests that need it are skipped, saying why, only when
    Debian's chromium is missing and cannot be installed here."""
    path, why = find_chromium()
    if path is None:
        pytest.skip(f"browser tests need Debian's chromium: {why}")
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright  # noqa: PLC0415
    except ImportError:
        pytest.skip("browser tests need the playwright package (the 'test' extra)")
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
