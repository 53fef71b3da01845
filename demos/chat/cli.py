"""A terminal chat client built on tidewire.client.

    python demos/chat/cli.py --room lobby [--nick NAME] [--url http://127.0.0.1:8080]

Lines typed on standard input are sent; room events are printed as they arrive.
It reconnects by itself when the connection drops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import sys
from typing import Any

from tidewire.client import ClientConnectionError, ClientSession, WSMsgType


def render(event: dict[str, Any]) -> str | None:
    kind = event.get("type")
    if kind == "message":
        return f"[{event['room']}] {event['nick']}: {event['text']}"
    if kind == "presence":
        verb = "joined" if event["event"] == "join" else "left"
        return f"* {event['nick']} {verb} (online: {', '.join(event['online'])})"
    if kind == "welcome":
        lines = [f"* joined #{event['room']} as {event['nick']}"]
        lines += [f"[{m['room']}] {m['nick']}: {m['text']}" for m in event["history"]]
        lines.append(f"* online: {', '.join(event['online'])}")
        return "\n".join(lines)
    if kind == "error":
        return f"! {event['error']}"
    return None


async def read_lines(queue: asyncio.Queue[str | None]) -> None:
    """Standard input, line by line, without blocking the loop."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        await queue.put(line.rstrip("\n") if line else None)
        if not line:
            return


async def chat(url: str, room: str, nick: str) -> None:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    reader = asyncio.ensure_future(read_lines(lines))
    delay = 0.5
    async with ClientSession() as session:
        while True:
            try:
                async with session.ws_connect(f"{url}/ws") as ws:
                    delay = 0.5
                    await ws.send_json({"type": "join", "room": room, "nick": nick})
                    if await pump(ws, lines):
                        break
            except (ClientConnectionError, OSError) as exc:
                print(f"! connection failed: {exc}", flush=True)
            print(f"! disconnected, retrying in {delay:g} s", flush=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
    reader.cancel()


async def pump(ws: Any, lines: asyncio.Queue[str | None]) -> bool:
    """Relay both ways until stdin ends (True) or the connection drops (False)."""
    incoming = asyncio.ensure_future(ws.receive())
    outgoing = asyncio.ensure_future(lines.get())
    try:
        while True:
            done, _ = await asyncio.wait({incoming, outgoing}, return_when=asyncio.FIRST_COMPLETED)
            if outgoing in done:
                text = outgoing.result()
                if text is None:
                    return True
                if text.strip():
                    await ws.send_json({"type": "say", "text": text})
                outgoing = asyncio.ensure_future(lines.get())
            if incoming in done:
                msg = incoming.result()
                if msg.type is not WSMsgType.TEXT:
                    return False
                shown = render(json.loads(msg.data))
                if shown:
                    print(shown, flush=True)
                incoming = asyncio.ensure_future(ws.receive())
    finally:
        incoming.cancel()
        outgoing.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="tidewire chat in the terminal")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--nick", default=getpass.getuser())
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(chat(args.url.rstrip("/"), args.room, args.nick))


if __name__ == "__main__":
    main()
