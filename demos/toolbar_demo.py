"""The debug toolbar on a page that talks over a WebSocket: try it, and what its browser
test drives.

    python demos/toolbar_demo.py [--port 8080]

Open http://127.0.0.1:8080/ and send a few messages: the badge at the bottom right
leads to the request list; http://127.0.0.1:8080/_debugtoolbar/websockets shows the
socket, its counts moving as you type, and where it goes once you close it.
"""

from __future__ import annotations

import argparse
import logging

from tidewire.protocol import WSMsgType
from tidewire.server import Application, Request, Response, WebSocketResponse, debugtoolbar, run_app

log = logging.getLogger("toolbar_demo")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>echo</title>
<style>body{font:15px system-ui,sans-serif;margin:24px}#log{font:13px monospace}</style>
</head><body>
<h1>Echo</h1>
<form id="form"><input id="text" value="hello" autofocus> <button>send</button>
<button type="button" id="close">close</button></form>
<div id="log"></div>
<script>
"use strict";
const logged = document.getElementById("log");
function show(line) {
  const div = document.createElement("div");
  div.textContent = line;
  logged.appendChild(div);
}
window.echoes = 0;
window.sock = new WebSocket(location.origin.replace(/^http/, "ws") + "/echo", ["echo.v1"]);
sock.onopen = () => show("open");
sock.onmessage = (event) => { window.echoes += 1; show("< " + event.data); };
sock.onclose = (event) => show("closed " + event.code + " " + event.reason);
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("text").value;
  sock.send(text);
  show("> " + text);
};
document.getElementById("close").onclick = () => sock.close(4000, "closed by the page");
</script>
</body></html>
"""


async def index(request: Request) -> Response:
    log.warning("the page was asked for by %s", request.remote)
    return Response(text=PAGE, content_type="text/html")


async def echo(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse(protocols=("echo.v1",))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(f"echo: {msg.data}")
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def make_app() -> Application:
    app = Application()
    app.router.add_get("/", index, name="index")
    app.router.add_get("/echo", echo, name="echo")
    debugtoolbar.setup(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="the debug toolbar on a WebSocket page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    run_app(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
