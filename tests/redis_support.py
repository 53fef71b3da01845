"""A real ``redis-server`` for tests and benchmarks: on a free port, in a temporary
directory, persisting nothing, and killable and restartable on the same port, so
tests can take Redis away from a running application and give it back."""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from debian import debian_program

from tidewire.server.testing import unused_port


def find_redis_server() -> tuple[str | None, str]:
    """Debian's redis-server (installed when missing and we may), or None and why."""
    return debian_program("redis-server", "redis-server")


class RedisServer:
    """``start()``, then ``url``; ``kill()`` is a crash (SIGKILL), ``start()`` again
    comes back on the same port with an empty dataset, ``stop()`` ends it for good."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = port if port is not None else unused_port()
        self._dir = tempfile.TemporaryDirectory(prefix="tidewire-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis-py URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Run it and wait until it answers PING (``RuntimeError`` if it does not)."""
        log = open(Path(self._dir.name) / "redis.log", "ab")  # noqa: SIM115
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": self._dir.name,
            "loglevel": "warning",
        }
        argv = [self.binary]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout} s")

    def kill(self) -> None:
        """Crash it: SIGKILL, every client connection cut at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """End it (a crash is as good as a shutdown for tests) and clean up."""
        self.kill()

    def close(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def log(self) -> str:
        """What redis-server wrote, for a failing test's message."""
        path = Path(self._dir.name) / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""
