"""Helpers of the demo tests: the demo scripts as modules, chat servers that can be
restarted on the same database, and Debian's chromium (installed when we may).

A module of its own, not conftest.py: every test folder has a conftest, and
``from conftest import`` would get whichever was imported first.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from debian import debian_program

from tidewire.server import AppRunner, TCPSite

ROOT = Path(__file__).resolve().parents[2]
DEMOS = ROOT / "demos"
CHAT = DEMOS / "chat"
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


def load_script(path: Path, name: str) -> ModuleType:
    """A demo script (not part of a package) as a module; its folder goes on sys.path
    so its own imports (the chat's ``store``) resolve as they do when it runs."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


chat = load_script(CHAT / "app.py", "demo_chat_app")
chat_store = sys.modules["store"]  # the chat's history stores, as app.py imported them


class ChatServers:
    """Chat servers started by a test; stopping one and starting it again on the same
    database file (and port) is a restart."""

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

    async def stop_all(self) -> None:
        for url in list(self.runners):
            await self.stop(url)


class ChatProcess:
    """``demos/chat/app.py --redis URL`` in a process of its own, on a port it picked
    (read from its banner); its log (stderr) goes to ``log_path``."""

    def __init__(self, redis_url: str, log_path: Path) -> None:
        self.log_path = log_path
        argv = [sys.executable, str(CHAT / "app.py"), "--redis", redis_url]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*argv, "--port", "0", "--db", ":memory:"],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()  # "Chat running on http://..."
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        if found is None:
            self.stop()
            raise RuntimeError(f"the chat did not start: {banner}{self.log()}")
        self.url = found[0]
        self.pid = str(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no goodbye to Redis, its presence has to expire."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Ctrl+C, as a user stops it (SIGKILL if that takes over 10 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


def find_chromium() -> tuple[str | None, str]:
    """Debian's chromium, installed with apt-get when missing and we are root; else
    None and why."""
    return debian_program("chromium", "chromium")
