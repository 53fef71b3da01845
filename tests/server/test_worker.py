"""The gunicorn workers and ``python -m tidewire.server``, in real processes, no mocks.

gunicorn runs as a subprocess in its own session on a free port, serving
``worker_app.py`` (``/pid`` says which worker answered); the tests talk to it with
aiohttp's client, one fresh connection per request so that the kernel hands each one
to whichever worker accepts it. Every wait is bounded, and the finally of each helper
kills the whole process group, workers included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tidewire.server import AppRunner, SockSite
from tidewire.server.testing import unused_port

pytest.importorskip("gunicorn")
from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
WORKER = "tidewire.server.GunicornWorker"
UVLOOP_WORKER = "tidewire.server.GunicornUVLoopWorker"
# gunicorn >= 25 opens a control socket in ~/.gunicorn: parallel runs would share it.
NO_CONTROL_SOCKET = [
    flag
    for setting in KNOWN_SETTINGS
    for flag in setting.cli or ()
    if flag == "--no-control-socket"
]


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def running(log: Path, *argv: str, port: int) -> AsyncIterator[Process]:
    """Start ``argv`` in ``tests/server`` in a session of its own; kill the session at
    the end (an arbiter and its workers, or the server and nothing else)."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=HERE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "TIDEWIRE_UVLOOP": "", "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield Process(proc, port, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)


def gunicorn(
    tmp_path: Path, *args: str, app: str = "worker_app:make_app", workers: int = 2
) -> contextlib.AbstractAsyncContextManager[Process]:
    port = unused_port()
    argv = [sys.executable, "-m", "gunicorn", app, "-w", str(workers), "-k", WORKER]
    argv += ["--bind", f"127.0.0.1:{port}", *NO_CONTROL_SOCKET, *args]
    return running(tmp_path / "gunicorn.log", *argv, port=port)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection for every request."""
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200
        return await response.text()


async def served(http: aiohttp.ClientSession, server: Process, path: str = "/pid") -> str:
    """The first answer to ``path``, waiting (20 s at most) for the server to boot."""
    deadline = time.monotonic() + 20
    while True:
        if server.proc.returncode is not None:
            pytest.fail(f"the server exited with {server.proc.returncode}:\n{server.output()}")
        try:
            return await get(http, server.url + path)
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"the server does not answer:\n{server.output()}")
            await asyncio.sleep(0.1)


async def pids(
    http: aiohttp.ClientSession, server: Process, want: int, tries: int = 100
) -> set[int]:
    """Ask ``/pid`` until ``want`` different workers answered (or ``tries`` ran out,
    a pause apart: on a busy machine the second worker may still be booting)."""
    seen: set[int] = set()
    for _ in range(tries):
        answers = await asyncio.gather(*(get(http, server.url + "/pid") for _ in range(4)))
        seen.update(int(pid) for pid in answers)
        if len(seen) >= want:
            break
        await asyncio.sleep(0.05)
    return seen


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def until(condition: Callable[[], bool], timeout: float, what: str, server: Process) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s:\n{server.output()}")
        await asyncio.sleep(0.05)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


# -- gunicorn ----------------------------------------------------------------------------


async def test_two_workers_serve(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with gunicorn(tmp_path) as server:
        await served(http, server)
        workers = await pids(http, server, 2)
        assert len(workers) == 2, server.output()
        assert {parent_of(pid) for pid in workers} == {server.proc.pid}


async def open_ws(
    http: aiohttp.ClientSession, server: Process
) -> tuple[aiohttp.ClientWebSocketResponse[bool], int]:
    """A WebSocket to ``/ws`` and the pid of the worker that holds it."""
    ws = await http.ws_connect(server.url + "/ws", autoclose=False)
    await ws.send_str("pid")
    return ws, int(await asyncio.wait_for(ws.receive_str(), 5))


async def test_sigterm_closes_websockets_with_1001_and_lets_handlers_finish(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with gunicorn(tmp_path, "--graceful-timeout", "10") as server:
        await served(http, server)
        assert len(await pids(http, server, 2)) == 2, server.output()  # both booted
        sockets: list[aiohttp.ClientWebSocketResponse[bool]] = []
        by_worker: Counter[int] = Counter()
        try:
            for _ in range(30):  # until each worker holds WebSockets, six at least
                batch = await asyncio.gather(*(open_ws(http, server) for _ in range(3)))
                sockets += [ws for ws, _ in batch]
                by_worker.update(pid for _, pid in batch)
                if len(by_worker) == 2 and len(sockets) >= 6:
                    break
            assert len(by_worker) == 2, by_worker
            async with http.get(server.url + "/slow") as slow:
                assert await asyncio.wait_for(slow.content.readline(), 5) == b"started\n"
                server.proc.send_signal(signal.SIGTERM)  # the handler sleeps for a second
                for ws in sockets:
                    msg = await asyncio.wait_for(ws.receive(), 10)
                    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
                    await ws.close()
                assert slow.status == 200
                assert await asyncio.wait_for(slow.read(), 10) == b"done\n"
        finally:
            for ws in sockets:
                await ws.close()
        assert await asyncio.wait_for(server.proc.wait(), 15) == 0, server.output()
        for pid in by_worker:
            assert gone(pid)


async def test_sigint_stops_quickly_cancelling_handlers(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with gunicorn(tmp_path, "--graceful-timeout", "10", workers=1) as server:
        await served(http, server)
        ws = await http.ws_connect(server.url + "/ws", autoclose=False)
        async with http.get(server.url + "/slow") as slow:
            assert await asyncio.wait_for(slow.content.readline(), 5) == b"started\n"
            started = time.monotonic()
            server.proc.send_signal(signal.SIGINT)  # the arbiter sends SIGQUIT on
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
            await ws.close()
            with pytest.raises(aiohttp.ClientPayloadError):  # cut short, not waited for
                await asyncio.wait_for(slow.read(), 10)
        assert await asyncio.wait_for(server.proc.wait(), 10) == 0, server.output()
        assert time.monotonic() - started < 0.9  # before the handler's second was over


async def test_max_requests_restarts_the_worker(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with gunicorn(tmp_path, "--max-requests", "5", workers=1) as server:
        answers = [await served(http, server)]
        for _ in range(11):
            answers.append(await get(http, server.url + "/pid"))
        # one worker at a time, each exiting after its fifth response
        assert list(Counter(answers).values()) == [5, 5, 2], server.output()
        first = int(answers[0])
        await until(lambda: gone(first), 10, "the first worker did not exit", server)
        assert server.proc.returncode is None


async def test_hup_replaces_the_workers(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with gunicorn(tmp_path) as server:
        await served(http, server)
        old = await pids(http, server, 2)
        assert len(old) == 2, server.output()
        server.proc.send_signal(signal.SIGHUP)
        new: set[int] = set()
        deadline = time.monotonic() + 20
        while len(new) < 2 or not all(gone(pid) for pid in old):
            assert time.monotonic() < deadline, f"old {old}, new {new}\n{server.output()}"
            new.add(int(await get(http, server.url + "/pid")))  # every request answered
            new -= old
        assert {parent_of(pid) for pid in new} == {server.proc.pid}


async def test_the_heartbeat_keeps_an_idle_worker_alive_past_the_timeout(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with gunicorn(tmp_path, "--timeout", "1", workers=1) as server:
        first = await served(http, server)
        await asyncio.sleep(2.5)  # the arbiter kills a worker silent for a second
        assert await get(http, server.url + "/pid") == first, server.output()
        # ... as it does when the worker's loop stops (so the heartbeat above was real)
        with pytest.raises(aiohttp.ClientError):
            await get(http, server.url + "/block")
        assert await served(http, server) != first
        assert "WORKER TIMEOUT" in server.output()


async def test_workers_stop_when_the_arbiter_is_gone(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with gunicorn(tmp_path) as server:
        await served(http, server)
        workers = await pids(http, server, 2)
        server.proc.kill()  # the arbiter only: the workers see their parent change
        await until(lambda: all(gone(pid) for pid in workers), 10, "workers left", server)


async def test_sigusr1_reopens_the_error_log_tidewire_logs_to(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    log = tmp_path / "error.log"
    async with gunicorn(tmp_path, "--error-logfile", str(log), workers=1) as server:
        await served(http, server)
        log.rename(tmp_path / "error.log.1")  # as logrotate does
        server.proc.send_signal(signal.SIGUSR1)  # the arbiter passes it to the worker

        def logged_in_new_file() -> bool:
            return log.exists() and "error handling GET /boom" in log.read_text()

        deadline = time.monotonic() + 10
        while not logged_in_new_file():
            assert time.monotonic() < deadline, server.output()
            async with http.get(server.url + "/boom") as response:
                assert response.status == 500
            await asyncio.sleep(0.1)
        assert "RuntimeError: boom" in log.read_text()


@pytest.mark.parametrize(
    ("app", "worker", "loop"),
    [
        ("worker_app:app", WORKER, "asyncio"),
        ("worker_app:make_app", WORKER, "asyncio"),
        ("worker_app:make_app()", WORKER, "asyncio"),  # gunicorn calls it
        ("worker_app:make_app_async", WORKER, "asyncio"),
        ("worker_app:make_app_async", UVLOOP_WORKER, "uvloop"),
    ],
    ids=["application", "sync-factory", "called-factory", "async-factory", "uvloop"],
)
async def test_the_worker_loads_each_shape_of_application(
    tmp_path: Path, http: aiohttp.ClientSession, app: str, worker: str, loop: str
) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    async with gunicorn(tmp_path, "-k", worker, app=app, workers=1) as server:
        assert await served(http, server, "/loop") == loop


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("worker_app:returns_none", "worker_app:returns_none() returned NoneType"),
        ("worker_app:needs_arguments", "worker_app:needs_arguments needs arguments (config)"),
    ],
)
async def test_the_worker_refuses_what_is_no_application(
    tmp_path: Path, app: str, message: str
) -> None:
    async with gunicorn(tmp_path, app=app, workers=1) as server:
        # the arbiter stops (gunicorn's "App failed to load") instead of respawning
        assert await asyncio.wait_for(server.proc.wait(), 20) == 4
        assert message in server.output()


# -- python -m tidewire.server ------------------------------------------------------------


def command(tmp_path: Path, *args: str) -> contextlib.AbstractAsyncContextManager[Process]:
    port = unused_port()
    argv = [sys.executable, "-m", "tidewire.server", *args, "--port", str(port)]
    return running(tmp_path / "server.log", *argv, port=port)


@pytest.mark.parametrize(
    ("entry", "flags", "loop"),
    [("worker_app:make_app", [], "asyncio"), ("worker_app:make_app_async", ["--uvloop"], "uvloop")],
)
async def test_the_command_line_serves_until_sigint(
    tmp_path: Path, http: aiohttp.ClientSession, entry: str, flags: list[str], loop: str
) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    async with command(tmp_path, entry, *flags) as server:
        assert await served(http, server, "/loop") == loop
        assert int(await get(http, server.url + "/pid")) == server.proc.pid
        server.proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(server.proc.wait(), 10) == 0, server.output()
    assert f"Running on http://127.0.0.1:{server.port}" in server.output()


async def test_the_command_line_serves_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    async with command(tmp_path, "worker_app:app", "--path", str(path)) as server:
        connector = aiohttp.UnixConnector(path=str(path))
        async with aiohttp.ClientSession(connector=connector) as unix:
            await until(lambda: "Running on" in server.output(), 20, "not listening", server)
            async with unix.get("http://localhost/pid") as response:
                assert int(await response.text()) == server.proc.pid
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.proc.wait(), 10) == 0, server.output()
    assert f"Running on http://unix:{path}:" in server.output()
    assert not path.exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("worker_app", "expected MODULE:FACTORY (e.g. myapp:make_app), got 'worker_app'"),
        ("no_such_module:app", "no module named 'no_such_module'"),
        ("worker_app:missing", "module 'worker_app' has no attribute 'missing'"),
        ("worker_app:NOT_AN_APP", "worker_app:NOT_AN_APP is int, not an Application"),
        ("worker_app:returns_none", "worker_app:returns_none() returned NoneType"),
        ("worker_app:needs_arguments", "worker_app:needs_arguments needs arguments (config)"),
    ],
)
async def test_the_command_line_refuses_bad_arguments_in_one_line(
    tmp_path: Path, entry: str, message: str
) -> None:
    async with command(tmp_path, entry) as server:
        assert await asyncio.wait_for(server.proc.wait(), 10) == 2
    (line,) = server.output().splitlines()
    assert line.startswith(f"python -m tidewire.server: error: {message}"), line


async def test_the_command_line_help_teaches(tmp_path: Path) -> None:
    async with command(tmp_path, "--help") as server:
        assert await asyncio.wait_for(server.proc.wait(), 10) == 0
    text = server.output()
    for taught in ("MODULE:FACTORY", "async def", "--uvloop", "--path", "GunicornWorker"):
        assert taught in text


# -- without gunicorn, and SockSite in-process -------------------------------------------

WITHOUT_GUNICORN = """
import sys
sys.modules["gunicorn"] = None  # as if it were not installed
import tidewire.server
assert tidewire.server.Application is not None
for name in ("GunicornWorker", "GunicornUVLoopWorker"):
    try:
        getattr(tidewire.server, name)
    except ImportError as exc:
        print(exc)
try:
    tidewire.server.NoSuchName
except AttributeError:
    print("AttributeError")
"""


async def test_import_works_without_gunicorn_and_the_workers_say_what_to_install() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WITHOUT_GUNICORN,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert out.decode().splitlines() == [
        "tidewire.server.GunicornWorker needs gunicorn: pip install 'tidewire[gunicorn]'",
        "tidewire.server.GunicornUVLoopWorker needs gunicorn: pip install 'tidewire[gunicorn]'",
        "AttributeError",
    ]


async def test_sock_site_serves_a_socket_bound_elsewhere(http: aiohttp.ClientSession) -> None:
    from worker_app import make_app  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = SockSite(runner, sock)
        assert site.name == f"http://127.0.0.1:{port}"
        await site.start()
        assert runner.sites == (site,)
        assert int(await get(http, f"http://127.0.0.1:{port}/pid")) == os.getpid()
    finally:
        await runner.cleanup()
    assert not runner.sites
    assert sock.fileno() == -1  # this process's handle is closed: it listens no more
