"""The echo demo: its server, its round-trip client, and a real browser talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from demo_support import DEMOS, load_script

from tidewire.server import AppRunner, TCPSite

echo = load_script(DEMOS / "echo.py", "demo_echo")
echo_client = load_script(DEMOS / "echo_client.py", "demo_echo_client")


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    runner = AppRunner(echo.make_app())
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"127.0.0.1:{site.port}"
    await runner.cleanup()


async def test_round_trip_client_reports_percentiles(echo_url: str) -> None:
    times = await echo_client.measure(f"ws://{echo_url}/ws", 50, 300)
    assert len(times) == 50 and all(t > 0 for t in times)
    line = echo_client.report(times, 300)
    assert line.startswith("50 round trips of 300 B: median ") and "p99" in line


async def test_a_browser_gets_its_echo(browser: Any, echo_url: str) -> None:
    page = await browser.new_page()
    await page.goto(f"http://{echo_url}/")
    assert await page.text_content("body") == "Hello, world"
    echoed = await page.evaluate(
        """(url) => new Promise((resolve, reject) => {
            const ws = new WebSocket(url);
            ws.binaryType = "arraybuffer";
            const got = [];
            ws.onopen = () => {
                ws.send("héllo ✓".repeat(100));
                ws.send(new Uint8Array([0, 1, 255]));
            };
            ws.onmessage = (event) => {
                got.push(typeof event.data === "string"
                    ? event.data.length : Array.from(new Uint8Array(event.data)));
                if (got.length === 2) { ws.close(4000, "done"); }
            };
            ws.onclose = (event) => resolve({got, code: event.code,
                                            extensions: ws.extensions});
            ws.onerror = () => reject(new Error("WebSocket error"));
        })""",
        f"ws://{echo_url}/ws",
    )
    assert echoed["got"] == [700, [0, 1, 255]]
    assert echoed["code"] == 4000
    assert "permessage-deflate" in echoed["extensions"]  # Chromium and we agreed to compress
