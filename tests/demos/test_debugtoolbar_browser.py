"""The debug toolbar's WebSockets panel in headless Chromium: a page of the app talks to
an echo route; the panel, in another page, shows that socket with its counts, follows
them live as the page sends more, and moves it to "recently closed" with its close code.

With ``TIDEWIRE_SCREENSHOT=docs/debugtoolbar.png`` the test also saves the panel as
that picture (the README's): ``make`` nothing else, it is this test's last step.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from demo_support import DEMOS, load_script

from tidewire.server import AppRunner, TCPSite

toolbar_demo = load_script(DEMOS / "toolbar_demo.py", "demo_toolbar_app")

ROW = '#{table} tr[data-path="/echo"]'
COUNTS = """([table, messagesIn, messagesOut]) => {
    const row = document.querySelector(`#${table} tr[data-path="/echo"]`);
    return row !== null
        && row.querySelector(".messages-in").textContent === String(messagesIn)
        && row.querySelector(".messages-out").textContent === String(messagesOut);
}"""
SEND = """async (words) => {
    const before = window.echoes;
    for (const word of words) window.sock.send(word);
    while (window.echoes < before + words.length) await new Promise(r => setTimeout(r, 10));
}"""


@pytest.fixture
async def url() -> AsyncIterator[str]:
    runner = AppRunner(toolbar_demo.make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site.port}"
    await runner.cleanup()


async def test_the_websockets_panel_follows_a_page_socket_live(browser: Any, url: str) -> None:
    chat = await browser.new_page()
    await chat.goto(url + "/")
    await chat.wait_for_function("window.sock.readyState === WebSocket.OPEN")
    await chat.evaluate(SEND, ["one", "two", "three"])
    badge = await chat.text_content("#tidewire-debugtoolbar")
    assert badge is not None and badge.startswith("tidewire 200")

    panel = await browser.new_page(viewport={"width": 1000, "height": 600})
    await panel.goto(url + "/_debugtoolbar/websockets")
    await panel.wait_for_function(COUNTS, arg=["open", 3, 3], timeout=5000)
    row = ROW.format(table="open")
    assert await panel.text_content(f"{row} .protocol") == "echo.v1"
    extensions = await panel.text_content(f"{row} .extensions")
    assert extensions is not None and extensions.startswith("permessage-deflate")
    assert "echo: three" in (await panel.text_content(f"{row} .recent") or "")
    await panel.wait_for_function("document.getElementById('feed-state').textContent === 'live'")

    await chat.evaluate(SEND, ["four", "five"])  # the panel is not reloaded: it follows
    await panel.wait_for_function(COUNTS, arg=["open", 5, 5], timeout=5000)

    await chat.evaluate("window.sock.close(4000, 'closed by the page')")
    await panel.wait_for_function(COUNTS, arg=["closed", 5, 5], timeout=5000)
    closed = ROW.format(table="closed")
    assert await panel.text_content(f"{closed} .code") == "4000"
    assert await panel.text_content(f"{closed} .reason") == "closed by the page"
    assert await panel.query_selector(row) is None  # no longer open

    # a socket open and one closed, for the picture (and: a reload opens a new one)
    await chat.reload()
    await chat.wait_for_function("window.sock.readyState === WebSocket.OPEN")
    await chat.evaluate(SEND, ["hello again", "<b>escaped</b>"])
    await panel.wait_for_function(COUNTS, arg=["open", 2, 2], timeout=5000)
    assert "<b>escaped</b>" in (await panel.text_content(f"{row} .recent") or "")
    target = os.environ.get("TIDEWIRE_SCREENSHOT")
    if target:
        await panel.screenshot(path=target)
    await chat.close()
    await panel.close()
