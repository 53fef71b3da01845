"""Graceful shutdown in-process, and run_app in a subprocess with and without uvloop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from server_support import Serve, get, parse_responses, read_response
from test_server_connection import UPGRADE, upgrading_app

from tidewire.server import Application, Request, Response


async def test_shutdown_lets_a_running_handler_finish(serve: Serve) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await release.wait()
        return Response(text="finished")

    app = Application()
    app.router.add_get("/", slow)
    app.router.add_get("/fast", slow)
    server = await serve(app)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", server.port)
    busy_writer.write(get("/"))
    await started.wait()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
    while len(server.runner.server.connections) < 2:
        await asyncio.sleep(0.01)

    cleanup = asyncio.create_task(server.runner.cleanup())
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # idle: closed at once
    assert not cleanup.done()
    release.set()
    response = await read_response(busy_reader)
    assert (response.status, response.body) == (200, b"finished")
    assert response.headers["Connection"] == "close"
    await asyncio.wait_for(cleanup, 5)
    assert await asyncio.wait_for(busy_reader.read(), 5) == b""
    busy_writer.close()
    idle_writer.close()


async def test_shutdown_cancels_handlers_after_the_timeout(serve: Serve) -> None:
    started = asyncio.Event()
    cancelled = []

    async def forever(request: Request) -> Response:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return Response()

    app = Application()
    app.router.add_get("/", forever)
    server = await serve(app, shutdown_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get("/"))
    await started.wait()
    await asyncio.wait_for(server.runner.cleanup(), 5)
    assert cancelled == [True]
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_shutdown_closes_upgraded_connections_with_1001(serve: Serve) -> None:
    app, fakes = upgrading_app()
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(UPGRADE)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    while not fakes:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(server.runner.cleanup(), 5)
    assert fakes[0].codes[0] == 1001
    writer.close()


async def test_a_request_arriving_just_as_shutdown_starts_is_answered(serve: Serve) -> None:
    # Accepted, its request not read yet: closing it as idle would reset it (what a
    # gunicorn HUP or max_requests restart met under load).
    async def hello(request: Request) -> Response:
        return Response(text="hello")

    app = Application()
    app.router.add_get("/", hello)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    while not server.runner.server.connections:
        await asyncio.sleep(0.01)
    cleanup = asyncio.create_task(server.runner.cleanup())
    await asyncio.sleep(0.05)
    writer.write(get("/"))
    raw = await asyncio.wait_for(reader.read(), 5)
    await asyncio.wait_for(cleanup, 5)
    responses = parse_responses(raw)
    assert [(r.status, r.body) for r in responses] == [(200, b"hello")]
    assert responses[0].headers["Connection"] == "close"
    writer.close()


async def test_requests_during_shutdown_are_answered_with_close(serve: Serve) -> None:
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return Response(text=request.path)

    app = Application()
    app.router.add_get("/{x}", slow)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get("/one") + get("/two"))
    while not any(c.task for c in server.runner.server.connections):
        await asyncio.sleep(0.01)
    cleanup = asyncio.create_task(server.runner.cleanup())
    await asyncio.sleep(0)
    release.set()
    raw = await asyncio.wait_for(reader.read(), 5)
    await asyncio.wait_for(cleanup, 5)
    responses = parse_responses(raw)
    assert [r.body for r in responses] == [b"/one"]
    assert responses[0].headers["Connection"] == "close"
    writer.close()


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from tidewire.server import Application, Response, run_app

    async def hello(request):
        return Response(text="hi from " + type(asyncio.get_running_loop()).__module__)

    async def on_cleanup(app):
        print("cleanup ran", flush=True)

    async def on_shutdown(app):
        print("shutdown ran", flush=True)

    app = Application()
    app.router.add_get("/", hello)
    app.on_cleanup.append(on_cleanup)
    app.on_shutdown.append(on_shutdown)
    use_uvloop = {"yes": True, "no": False, "env": None}[sys.argv[1]]
    run_app(app, host="127.0.0.1", port=0, use_uvloop=use_uvloop,
            print=lambda msg: print(msg, flush=True))
    print("exited", flush=True)
    """
)


@pytest.mark.parametrize(
    ("mode", "env", "signum", "loop_module"),
    [
        ("no", {}, signal.SIGINT, "asyncio"),
        ("no", {}, signal.SIGTERM, "asyncio"),
        ("yes", {}, signal.SIGTERM, "uvloop"),
        ("env", {"TIDEWIRE_UVLOOP": "1"}, signal.SIGINT, "uvloop"),
    ],
    ids=["asyncio-sigint", "asyncio-sigterm", "uvloop-arg-sigterm", "uvloop-env-sigint"],
)
async def test_run_app_serves_and_shuts_down_on_signals(
    tmp_path: Path, mode: str, env: dict[str, str], signum: int, loop_module: str
) -> None:
    if loop_module == "uvloop":
        pytest.importorskip("uvloop")
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TIDEWIRE_UVLOOP": "", **env},
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "Running on http://127.0.0.1:" in line, line
        port = int(line.split(":")[2].split()[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/", "Connection: close"))
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert parse_responses(raw)[0].body.decode().startswith(f"hi from {loop_module}")
        proc.send_signal(signum)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines()[1:] == ["shutdown ran", "cleanup ran", "exited"]
