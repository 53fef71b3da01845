"""A terminal chat client built on tidewire.client.

    python demos/chat/cli.py --room lobby [--nick NAME] [--url http://127.0.0.1:8080]

Lines typed on standard input are sent; room events are printed as they arrive. It
reconnects by itself when the connection drops (lines typed meanwhile are sent once it
is back, and the messages missed meanwhile are asked for with ``since``), and ends at
the end of its input or on Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # find store.py, imported or run

from store import MessageId, id_key

from tidewire.client import (
    ClientConnectionError,
    ClientSession,
    ClientWebSocketResponse,
    WSMsgType,
)

Lines = asyncio.Queue["str | None"]


class Screen:
    """Turns room events into lines; a message already shown (one that a reconnection
    sends again) is not shown twice."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.last_id: MessageId | None = None  # the newest message shown
        self.shown: set[str] = set()
        self.welcomed = False

    def join(self, room: str) -> dict[str, Any]:
        """The join message; once in the room, one that catches up on what was missed."""
        join: dict[str, Any] = {"type": "join", "room": room, "nick": self.nick}
        if self.welcomed:
            join["since"] = 0 if self.last_id is None else self.last_id
        return join

    def message(self, message: dict[str, Any]) -> list[str]:
        if str(message["id"]) in self.shown:
            return []
        self.shown.add(str(message["id"]))
        if self.last_id is None or id_key(self.last_id) < id_key(message["id"]):
            self.last_id = message["id"]
        return [f"[{message['room']}] {message['nick']}: {message['text']}"]

    def render(self, event: dict[str, Any]) -> list[str]:
        kind = event.get("type")
        if kind == "message":
            return self.message(event)
        if kind == "presence" and event["nick"] != self.nick:  # our own: see welcome
            verb = "joined" if event["event"] == "join" else "left"
            return [f"* {event['nick']} {verb} (online: {', '.join(event['online'])})"]
        if kind == "welcome":
            self.welcomed = True
            lines = [f"* joined #{event['room']} as {event['nick']}"]
            for message in event["history"]:
                lines += self.message(message)
            return [*lines, f"* online: {', '.join(event['online'])}"]
        if kind == "error":
            return [f"! {event['error']}"]
        return []


def read_stdin(loop: asyncio.AbstractEventLoop, lines: Lines) -> None:
    """Standard input, line by line, into ``lines`` (None at its end). A daemon thread:
    a blocked read must not keep Ctrl+C from ending the program."""

    def put(line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def read() -> None:
        for line in sys.stdin:
            put(line.rstrip("\r\n"))
        put(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()


async def chat(url: str, room: str, nick: str) -> None:
    lines: Lines = asyncio.Queue()
    read_stdin(asyncio.get_running_loop(), lines)
    screen = Screen(nick)
    delay = 0.5
    async with ClientSession() as session:
        while True:
            try:
                async with session.ws_connect(f"{url}/ws", heartbeat=20) as ws:
                    delay = 0.5
                    await ws.send_json(screen.join(room))
                    if await pump(ws, lines, screen):
                        return
                problem = "disconnected"
            except (ClientConnectionError, OSError) as exc:
                problem = f"cannot connect to {url} ({exc})"
            print(f"! {problem}, retrying in {delay:g} s", flush=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)


async def pump(ws: ClientWebSocketResponse, lines: Lines, screen: Screen) -> bool:
    """Relay both ways until the input ends (True) or the connection drops (False)."""
    incoming = asyncio.ensure_future(ws.receive())
    outgoing = asyncio.ensure_future(lines.get())
    try:
        while True:
            done, _ = await asyncio.wait({incoming, outgoing}, return_when=asyncio.FIRST_COMPLETED)
            if incoming in done:
                msg = incoming.result()
                if msg.type is not WSMsgType.TEXT:
                    return False
                for line in screen.render(json.loads(msg.data)):
                    print(line, flush=True)
                incoming = asyncio.ensure_future(ws.receive())
            if outgoing in done:
                text = outgoing.result()
                if text is None:
                    return True
                if text.strip():
                    await ws.send_json({"type": "say", "text": text})
                outgoing = asyncio.ensure_future(lines.get())
    finally:
        incoming.cancel()
        if outgoing.done():  # taken but not handled: keep it for the next connection
            lines.put_nowait(outgoing.result())
        else:
            outgoing.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="tidewire chat in the terminal")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the chat server")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--nick", default=getpass.getuser())
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(chat(args.url.rstrip("/"), args.room, args.nick))


if __name__ == "__main__":
    main()
