"""Where a server listens beyond TCP (a Unix socket, curl's --unix-socket as the peer)
and what its access log writes, in aiohttp's format language."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from debian import debian_program

from tidewire.server import (
    Application,
    AppRunner,
    Request,
    Response,
    StreamResponse,
    TCPSite,
    UnixSite,
    WebSocketResponse,
)
from tidewire.server.accesslog import AccessLogger


async def hello(request: Request) -> Response:
    return Response(text=f"hello {request.remote}", headers={"X-Id": "7"})


async def stream(request: Request) -> StreamResponse:
    response = StreamResponse()
    await response.prepare(request)
    for _ in range(3):
        await response.write(b"12345")
    return response


async def socket(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse()
    await ws.prepare(request)
    async for _ in ws:
        pass
    return ws


def make_app() -> Application:
    app = Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/stream", stream)
    app.router.add_get("/ws", socket)
    return app


async def test_a_unix_site_serves_curl_and_removes_its_file(tmp_path: Path) -> None:
    curl, why = debian_program("curl", "curl")
    if curl is None:
        pytest.skip(why)
    path = tmp_path / "app.sock"
    path.touch()  # not a socket: a file we must not delete
    runner = AppRunner(make_app())
    await runner.setup()
    with pytest.raises(OSError):
        await UnixSite(runner, path).start()
    path.unlink()
    site = UnixSite(runner, path)
    await site.start()
    assert site.name == f"http://unix:{path}:"
    done = await asyncio.to_thread(
        subprocess.run,
        [curl, "-sS", "--unix-socket", str(path), "http://localhost/hello"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == b"hello None"  # a Unix peer has no address
    await runner.cleanup()
    assert not path.exists()


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    crashed = await asyncio.start_unix_server(lambda r, w: None, path)
    crashed.close()  # the file stays, as after a crash
    await crashed.wait_closed()
    if not path.exists():
        path.touch()
        pytest.skip("this Python removes the socket file itself")
    runner = AppRunner(make_app())
    await runner.setup()
    await UnixSite(runner, path).start()
    connector = aiohttp.UnixConnector(path=str(path))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get("http://localhost/hello") as resp,
    ):
        assert resp.status == 200
    await runner.cleanup()


async def test_run_app_on_a_unix_path(tmp_path: Path) -> None:
    path = tmp_path / "run.sock"
    code = (
        "from tidewire.server import Application, Response, run_app\n"
        "app = Application()\n"
        "async def ok(request): return Response(text='ok')\n"
        "app.router.add_get('/', ok)\n"
        f"run_app(app, path={str(path)!r})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        assert f"unix:{path}:".encode() in banner
        connector = aiohttp.UnixConnector(path=str(path))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get("http://localhost/") as resp,
        ):
            assert await resp.text() == "ok"
        process.terminate()
        assert await asyncio.to_thread(process.wait, 30) == 0
        assert not path.exists()
    finally:
        process.kill()


async def test_the_access_log_in_aiohttp_format(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tidewire.access")
    runner = AppRunner(
        make_app(),
        access_log_format='%a "%r" %s %b %{X-Id}o %{User-Agent}i %{TW_TEST}e %Tf %D %% %P',
    )
    os.environ["TW_TEST"] = "env"
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site.port}"
    async with aiohttp.ClientSession(headers={"User-Agent": "ua"}) as http:
        for path in ("/hello?x=1", "/stream", "/missing"):
            async with http.get(url + path) as resp:
                await resp.read()
        async with http.ws_connect(url + "/ws") as ws:
            await ws.send_str("x")
    await asyncio.sleep(0.1)
    await runner.cleanup()
    del os.environ["TW_TEST"]
    lines = [r.getMessage() for r in caplog.records if r.name == "tidewire.access"]
    assert len(lines) == 4, lines
    hello_line, stream_line, missing_line, ws_line = (line.split(" ") for line in lines)
    assert hello_line[:7] == ["127.0.0.1", '"GET', "/hello?x=1", 'HTTP/1.1"', "200", "15", "7"]
    assert hello_line[7:9] == ["ua", "env"]
    assert float(hello_line[9]) < 5 and int(hello_line[10]) >= 0
    assert hello_line[11:] == ["%", str(os.getpid())]
    assert stream_line[4:7] == ["200", "15", "-"]  # chunked: the body's bytes counted
    assert missing_line[4] == "404"
    assert ws_line[2:5] == ["/ws", 'HTTP/1.1"', "101"]  # written when the handler ended


async def test_no_access_log_and_bad_formats() -> None:
    runner = AppRunner(make_app(), access_log=None)
    await runner.setup()
    assert runner.server.access_log is None
    await runner.cleanup()
    with pytest.raises(ValueError, match="unknown directive"):
        AccessLogger(logging.getLogger("x"), "%a %Q")
    with pytest.raises(ValueError, match="unknown directive"):
        AppRunner(make_app(), access_log_format="%{X-Id}q")
