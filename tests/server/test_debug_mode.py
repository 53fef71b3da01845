"""Debug mode: asyncio's debug mode in the serving loop, and an HTML traceback for an
unhandled exception, only when asked for (Application, run_app, TIDEWIRE_DEBUG)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import aiohttp
import pytest
from server_support import Serve

from tidewire.server import Application, Request, Response


async def broken(request: Request) -> Response:
    raise ValueError("<script>alert('x')</script> went wrong")


async def loop_debug(request: Request) -> Response:
    return Response(text=f"loop debug={asyncio.get_running_loop().get_debug()}")


def make_app(**kwargs: object) -> Application:
    app = Application(**kwargs)  # type: ignore[arg-type]
    app.router.add_get("/broken", broken)
    app.router.add_get("/loop", loop_debug)
    return app


async def test_debug_mode_shows_the_traceback_escaped(
    serve: Serve, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = (await serve(make_app(debug=True))).url
    async with http.get(url + "/broken?q=1") as resp:
        assert resp.status == 500
        assert resp.content_type == "text/html"
        page = await resp.text()
    assert "GET /broken?q=1: ValueError" in page
    assert "in broken" in page and "Traceback (most recent call last)" in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # escaped, not run
    assert "went wrong" in caplog.text  # logged as well
    async with http.get(url + "/loop") as resp:
        assert await resp.text() == "loop debug=True"


async def test_without_debug_a_plain_500_and_the_traceback_only_in_the_log(
    serve: Serve,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIDEWIRE_DEBUG", raising=False)
    url = (await serve(make_app())).url
    async with http.get(url + "/broken") as resp:
        assert resp.status == 500
        assert await resp.text() == "500: Internal Server Error"
    assert "Traceback" in caplog.text and "went wrong" in caplog.text


SCRIPT = """
import asyncio, sys, time
from tidewire.server import Application, Response, run_app
app = Application()
async def slow(request):
    time.sleep(0.3)  # blocks the loop: debug mode names it
    return Response(text=f"{asyncio.get_running_loop().get_debug()} {request.app.debug}")
app.router.add_get('/slow', slow)
run_app(app, host='127.0.0.1', port=0, print=lambda s: print(s, flush=True){debug})
"""


@pytest.mark.parametrize(("argument", "env"), [(", debug=True", {}), ("", {"TIDEWIRE_DEBUG": "1"})])
async def test_run_app_debug_logs_slow_callbacks(argument: str, env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "TIDEWIRE_DEBUG"} | env
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.replace("{debug}", argument)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        port = re.search(r":(\d+) ", banner)
        assert port is not None, banner
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port[1]}/slow") as resp,
        ):
            assert await resp.text() == "True True"
        process.terminate()
        _, errors = await asyncio.to_thread(process.communicate, timeout=30)
        # a Task, or on 3.12+ (handlers start eagerly) the read callback that ran it
        assert re.search(r"Executing <(Task|Handle) .* took 0\.[0-9]+ seconds", errors), errors
        assert "created at" in errors  # where it was made
    finally:
        process.kill()
