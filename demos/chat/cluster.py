"""``make demo-cluster``: a local redis-server, and the chat under gunicorn with two
workers sharing it, on http://127.0.0.1:8080. Ctrl+C stops both.

    python demos/chat/cluster.py [--host 127.0.0.1] [--port 8080] [--workers 2]
                                 [--redis-port 6390]

Redis is Debian's ``redis-server`` (installed with apt-get when it is missing and we
are root), on a port of its own, in a temporary directory, persisting nothing: the
history lasts as long as the cluster. The workers are
``tidewire.server.GunicornWorker`` running ``app:make_app``, which reads the Redis
URL from ``TIDEWIRE_CHAT_REDIS``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).parent
WORKER = "tidewire.server.GunicornWorker"


def fail(message: str) -> NoReturn:
    print(f"demo-cluster: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def redis_server() -> str:
    """redis-server's path; Debian's package is installed when missing and we may."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        fail(
            "needs redis-server: install Debian's package with"
            " 'sudo apt-get install redis-server' (or put a redis-server on PATH)"
        )
    print("demo-cluster: installing Debian's redis-server", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
    ):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            fail(f"'{' '.join(command)}' failed")
    path = shutil.which("redis-server")
    if path is None:
        fail("apt-get installed redis-server, but it is not on PATH")
    return path


def check_worker() -> None:
    """Fail now, saying why, when gunicorn or the worker class is missing."""
    try:
        import tidewire.server  # noqa: PLC0415

        getattr(tidewire.server, WORKER.rpartition(".")[2])
    except (ImportError, AttributeError) as exc:
        fail(f"needs {WORKER} and gunicorn (pip install 'tidewire[gunicorn]'): {exc}")


def start_redis(binary: str, port: int, directory: str) -> subprocess.Popen[bytes]:
    """redis-server on 127.0.0.1:``port``, once it answers PING."""
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory]
    argv += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
    argv += ["--logfile", str(Path(directory) / "redis.log")]
    process = subprocess.Popen(argv, start_new_session=True)  # Ctrl+C is ours to pass on
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (Path(directory) / "redis.log").read_text(errors="replace")[-300:]
            fail(f"redis-server exited (is port {port} taken? try --redis-port): {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return process
        except OSError:
            pass
        time.sleep(0.05)
    stop(process)
    fail(f"redis-server did not answer on port {port} within 10 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="the chat on two workers and Redis")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-port", type=int, default=6390)
    args = parser.parse_args()
    check_worker()
    binary = redis_server()
    # SIGTERM (kill, a CI runner) stops the cluster as Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix="tidewire-chat-redis-") as directory:
        redis = start_redis(binary, args.redis_port, directory)
        url = f"redis://127.0.0.1:{args.redis_port}/0"
        try:
            argv = ["app:make_app", "--chdir", str(HERE), "--worker-class", WORKER]
            argv += ["--workers", str(args.workers), "--bind", f"{args.host}:{args.port}"]
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *argv],
                env={**os.environ, "TIDEWIRE_CHAT_REDIS": url},
                start_new_session=True,
            )
            print(
                f"Chat on http://{args.host}:{args.port}: {args.workers} gunicorn workers,"
                f" Redis at {url} (Ctrl+C stops both)",
                flush=True,
            )
            try:
                code = gunicorn.wait()
            except KeyboardInterrupt:
                code = 0
            finally:
                stop(gunicorn)
        finally:
            stop(redis)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
