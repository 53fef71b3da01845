"""The chat page in a real headless Chromium: pages talk to each other and to the
terminal client, content stays text, history and reconnection survive a restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from demo_support import CHAT, ROOT, ChatServers

TIMEOUT = 15_000  # ms, for each wait on the page


async def open_chat(browser: Any, url: str, nick: str, room: str = "lobby") -> Any:
    page = await browser.new_page(viewport={"width": 900, "height": 620})
    await page.goto(url)
    await page.wait_for_selector("#status.online", timeout=TIMEOUT)
    await page.fill("#nick", nick)
    await page.fill("#room", room)
    await page.click("#join button")
    await page.wait_for_selector("#chat:not([hidden])", timeout=TIMEOUT)
    return page


async def say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#say button")


async def wait_for_text(page: Any, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([selector, text]) => [...document.querySelectorAll(selector)]"
        ".some((node) => node.textContent.includes(text))",
        arg=[selector, text],
        timeout=TIMEOUT,
    )


async def test_two_pages_talk_in_a_room(
    browser: Any, chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    ann = await open_chat(browser, url, "ann")
    bob = await open_chat(browser, url, "bob")
    await wait_for_text(ann, "#online li", "bob")
    # Compressed, without context takeover: one frame serves every member of the room.
    extensions = await ann.evaluate("() => socket.extensions")
    assert "permessage-deflate" in extensions and "server_no_context_takeover" in extensions
    await say(ann, "hello bob")
    await wait_for_text(bob, "#messages .text", "hello bob")
    await say(bob, "hi ann")
    await wait_for_text(ann, "#messages .text", "hi ann")
    # user content is text, never markup
    await say(bob, "<img src=x onerror=\"document.title='pwned'\"><b>bold?</b>")
    await wait_for_text(ann, "#messages .text", "<b>bold?</b>")
    assert await ann.locator("#messages img, #messages b").count() == 0
    assert await ann.title() == "tidewire chat"
    await take_screenshot(ann)
    await bob.close()
    await wait_for_text(ann, "#messages .event", "bob left")
    await wait_for_online(ann, "ann")


async def wait_for_online(page: Any, *names: str) -> None:
    """Until the page lists exactly ``names`` as online."""
    await page.wait_for_function(
        "(names) => [...document.querySelectorAll('#online li')].map((li) => li.textContent)"
        ".join() === names",
        arg=",".join(names),
        timeout=TIMEOUT,
    )


async def take_screenshot(page: Any) -> None:
    """reports/chat.png (not in git) each run; the README's copy only when missing or
    asked for with TIDEWIRE_UPDATE_SCREENSHOT=1, so a test run leaves git clean."""
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    await page.screenshot(path=str(reports / "chat.png"))
    readme_copy = CHAT / "screenshot.png"
    if not readme_copy.exists() or os.environ.get("TIDEWIRE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(reports / "chat.png", readme_copy)


async def test_limits_show_an_error_and_keep_the_text(
    browser: Any, chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    page = await open_chat(browser, url, "ann")
    # The box stops typing at the limit; a longer text (pasted by a script) is refused
    # by the server, and the page says so and gives the text back.
    too_long = "x" * 1001
    await page.eval_on_selector("#text", "(box, text) => { box.value = text; }", too_long)
    await page.click("#say button")
    await wait_for_text(page, "#error", "message too long")
    assert await page.input_value("#text") == too_long
    # A flood: twenty sends at once pass the burst allowance.
    await page.evaluate(
        """() => {
            for (let i = 0; i < 20; i++) {
                document.getElementById("text").value = `flood ${i}`;
                document.getElementById("say").requestSubmit();
            }
        }"""
    )
    await wait_for_text(page, "#error", "slow down")
    await wait_for_text(page, "#messages .text", "flood 0")
    assert await page.locator("#messages .text", has_text="flood 19").count() == 0


async def test_the_terminal_client_and_a_page_talk(
    browser: Any, chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHAT / "cli.py"),
        "--url",
        url,
        "--room",
        "lobby",
        "--nick",
        "term",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert cli.stdin is not None and cli.stdout is not None
    try:
        assert b"joined #lobby as term" in await asyncio.wait_for(cli.stdout.readline(), 30)
        page = await open_chat(browser, url, "web")
        await wait_for_text(page, "#online li", "term")
        cli.stdin.write(b"hello from the terminal\n")
        await wait_for_text(page, "#messages .text", "hello from the terminal")
        await say(page, "hello from the browser")
        while True:
            line = await asyncio.wait_for(cli.stdout.readline(), 30)
            assert line, "the terminal client ended"
            if b"web: hello from the browser" in line:
                break
    finally:
        cli.stdin.close()
        await asyncio.wait_for(cli.wait(), 30)


async def test_history_and_reconnection_survive_a_restart(
    browser: Any, chat_servers: ChatServers, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    url = await chat_servers.start(db)
    page = await open_chat(browser, url, "ann")
    await say(page, "remember me")
    await wait_for_text(page, "#messages .text", "remember me")
    await chat_servers.stop(url)
    await page.wait_for_selector("#status.offline, #status.connecting", timeout=TIMEOUT)
    port = urlsplit(url).port
    assert port is not None
    url = await chat_servers.start(db, port)  # same address: the page reconnects by itself
    await page.wait_for_selector("#status.online", timeout=TIMEOUT)
    await say(page, "back again")
    await wait_for_text(page, "#messages .text", "back again")
    newcomer = await open_chat(browser, url, "bob")
    await wait_for_text(newcomer, "#messages .text", "remember me")  # history from SQLite
    await wait_for_text(newcomer, "#messages .text", "back again")


async def test_a_reload_rejoins_without_typing(
    browser: Any, chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    page = await open_chat(browser, url, "cleo", room="garden")
    await page.wait_for_function(
        "async () => (await (await fetch('/session')).json()).room === 'garden'",
        timeout=TIMEOUT,
    )
    cookie = [c for c in await page.context.cookies() if c["name"] == "CHAT"]
    assert cookie and cookie[0]["httpOnly"] and cookie[0]["sameSite"] == "Lax"
    assert "cleo" not in cookie[0]["value"]  # encrypted
    await page.reload()
    await page.wait_for_selector("#chat:not([hidden])", timeout=TIMEOUT)
    assert await page.text_content("#room-title") == "#garden as cleo"
