"""Fixtures of the demo tests: the chat app on a free port, and a headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tidewire.server import AppRunner, TCPSite

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "demos" / "chat"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def load_chat() -> ModuleType:
    """demos/chat/app.py as a module (it is a script, not a package)."""
    sys.path.insert(0, str(CHAT))
    spec = importlib.util.spec_from_file_location("chat_demo_app", CHAT / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chat = load_chat()


class ChatServers:
    """Chat servers started by a test; stopping one and starting it again on the same
    database file is a restart."""

    def __init__(self) -> None:
        self.runners: dict[str, AppRunner] = {}

    async def start(self, db_path: Path, port: int = 0) -> str:
        runner = AppRunner(chat.make_app(db_path), shutdown_timeout=2.0)
        await runner.setup()
        site = TCPSite(runner, "127.0.0.1", port)
        await site.start()
        url = f"http://127.0.0.1:{site.port}"
        self.runners[url] = runner
        return url

    async def stop(self, url: str) -> None:
        await self.runners.pop(url).cleanup()


@pytest.fixture
async def chat_servers() -> AsyncIterator[ChatServers]:
    servers = ChatServers()
    yield servers
    for url in list(servers.runners):
        await servers.stop(url)


def find_chromium() -> str | None:
    """Debian's chromium, installed with apt when we may (root, apt-get present)."""
    path = shutil.which("chromium")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)
        path = shutil.which("chromium")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no chromium: install Debian's 'chromium' package to run browser tests")
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright  # noqa: PLC0415
    except ImportError:
        pytest.skip("playwright (Python package) is not installed: pip install playwright")
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
