"""A real HTTP proxy for the client's proxy tests: Debian's tinyproxy, started on a free
port with a generated configuration, in a temporary directory of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from yarl import URL

from tidewire.client import BasicAuth
from tidewire.server.testing import unused_port

USER, PASSWORD = "tide", "s3cret"


@dataclass
class Proxy:
    """A running tinyproxy: its URL, the credentials it wants (if any) and its log."""

    url: URL
    auth: BasicAuth | None
    log: Path

    def log_lines(self, needle: str) -> list[str]:
        """The lines of the proxy's log that contain ``needle``."""
        return [line for line in self.log.read_text().splitlines() if needle in line]


@contextlib.asynccontextmanager
async def tinyproxy(
    program: str, directory: Path, *, auth: bool = False, connect_ports: Sequence[int] = ()
) -> AsyncIterator[Proxy]:
    """Run tinyproxy in the foreground on 127.0.0.1; ``auth`` makes it want Basic
    credentials, ``connect_ports`` limits the ports it tunnels to (none: any)."""
    port = unused_port()
    log = directory / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        f'LogFile "{log}"',
        "LogLevel Connect",
        "MaxClients 20",
    ]
    if auth:
        lines.append(f"BasicAuth {USER} {PASSWORD}")
    lines += [f"ConnectPort {allowed}" for allowed in connect_ports]
    config = directory / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    process = await asyncio.create_subprocess_exec(
        program,
        "-d",
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # up to 5 s for it to listen
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if process.returncode is not None:
                    raise RuntimeError(f"tinyproxy exited with {process.returncode}") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            break
        else:
            raise RuntimeError("tinyproxy did not start listening")
        yield Proxy(
            URL(f"http://127.0.0.1:{port}"), BasicAuth(USER, PASSWORD) if auth else None, log
        )
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
