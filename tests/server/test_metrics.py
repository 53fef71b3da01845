"""``tidewire.server.metrics``: a real server with metrics, known traffic, then ``/metrics``
read with prometheus_client's own text parser and the counts checked exactly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tidewire.client import WSServerHandshakeError
from tidewire.protocol import WSMsgType
from tidewire.server import (
    Application,
    Hub,
    Request,
    Response,
    WebSocketResponse,
)
from tidewire.server import metrics as metrics_module
from tidewire.server.testing import TestClient

Client = Callable[..., Awaitable[TestClient]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: TestClient) -> Samples:
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def settled(client: TestClient) -> Samples:
    """Scrape until no WebSocket handler runs any more: a client's close returns when
    the TCP connection ends, a moment before the server's handler does."""
    for _ in range(200):
        samples = await scrape(client)
        if value(samples, "tidewire_websockets_open") == 0:
            return samples
        await asyncio.sleep(0.01)
    raise AssertionError("WebSockets still open")


def echo_app(**setup_kwargs: object) -> Application:
    async def hello(request: Request) -> Response:
        return Response(text="hello")

    async def item(request: Request) -> Response:
        return Response(text=request.match_info["id"])

    async def boom(request: Request) -> Response:
        raise ValueError("a bug")

    async def echo(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(origin_check=lambda origin: origin != "http://evil.example")
        await ws.prepare(request)
        async for msg in ws:  # text back as text, binary as binary
            if msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = Application()
    app.router.add_get("/", hello)
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/ws", echo)
    metrics_module.setup(app, registry=CollectorRegistry(), path="/metrics", **setup_kwargs)  # type: ignore[arg-type]
    return app


async def test_requests_and_websockets_are_counted_exactly(tw_client: Client) -> None:
    client = await tw_client(echo_app())
    for path, status in [
        ("/", 200),
        ("/", 200),
        ("/", 200),
        ("/items/1", 200),
        ("/items/2", 200),
        ("/nope", 404),
        ("/also/nope", 404),
        ("/boom", 500),
    ]:
        async with client.get(path) as response:
            assert response.status == status
    async with client.post("/") as response:  # only GET there: 405, unmatched too
        assert response.status == 405
    async with client.get("/ws") as response:  # no Upgrade: a plain request, not a handshake
        plain_ws_status = response.status
    assert plain_ws_status in (400, 426)
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", origin="http://evil.example")
    assert refused.value.status == 403

    first = await client.ws_connect("/ws", compress=0)
    await first.send_str("hello")
    assert await first.receive_str() == "hello"
    await first.send_bytes(b"0123456789")
    assert await first.receive_bytes() == b"0123456789"
    second = await client.ws_connect("/ws", compress=0)
    await second.send_str("abc")
    assert await second.receive_str() == "abc"

    samples = await scrape(client)
    assert value(samples, "tidewire_websockets_open") == 2
    assert value(samples, "tidewire_websocket_messages_total", direction="in") == 3
    assert value(samples, "tidewire_websocket_messages_total", direction="out") == 3

    await first.close()  # 1000
    await second.close(code=4001)
    samples = await settled(client)

    requests = {
        (dict(labels)["method"], dict(labels)["route"], dict(labels)["status"]): count
        for (name, labels), count in samples.items()
        if name == "tidewire_http_requests_total" and dict(labels)["route"] != "/metrics"
    }
    assert requests == {
        ("GET", "/", "200"): 3,
        ("GET", "/items/{id}", "200"): 2,
        ("GET", "<unmatched>", "404"): 2,
        ("POST", "<unmatched>", "405"): 1,
        ("GET", "/boom", "500"): 1,
        ("GET", "/ws", str(plain_ws_status)): 1,
        ("GET", "/ws", "403"): 1,
        ("GET", "/ws", "101"): 2,
    }
    # the histogram: every request but the upgrades, each in some bucket
    hist = "tidewire_http_request_duration_seconds"
    assert value(samples, f"{hist}_count", method="GET", route="/") == 3
    assert value(samples, f"{hist}_bucket", method="GET", route="/", le="+Inf") == 3
    assert value(samples, f"{hist}_bucket", method="GET", route="/", le="10.0") == 3
    assert 0 < value(samples, f"{hist}_sum", method="GET", route="/") < 10
    assert value(samples, f"{hist}_count", method="GET", route="/ws") == 2  # plain + 403
    assert value(samples, f"{hist}_count", method="GET", route="<unmatched>") == 2

    assert value(samples, "tidewire_websocket_handshakes_refused_total", status="403") == 1
    assert sum(v for (n, _), v in samples.items() if n.endswith("handshakes_refused_total")) == 1
    assert value(samples, "tidewire_websockets_open") == 0
    assert value(samples, "tidewire_websocket_messages_total", direction="in") == 3
    assert value(samples, "tidewire_websocket_messages_total", direction="out") == 3
    # client frames: 2 + 4 (mask) + payload; ours: 2 + payload. Close frames carry the code.
    assert value(samples, "tidewire_websocket_bytes_total", direction="in") == (
        (6 + 5) + (6 + 10) + (6 + 3) + 2 * (6 + 2)
    )
    assert value(samples, "tidewire_websocket_bytes_total", direction="out") == (
        (2 + 5) + (2 + 10) + (2 + 3) + 2 * (2 + 2)
    )
    assert value(samples, "tidewire_websocket_closes_total", code="1000") == 1
    assert value(samples, "tidewire_websocket_closes_total", code="4001") == 1


def hub_app(hub: Hub) -> tuple[Application, list[WebSocketResponse]]:
    members: list[WebSocketResponse] = []

    async def join(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await hub.subscribe("room", ws)
        members.append(ws)
        async for _ in ws:
            pass
        return ws

    async def publish(request: Request) -> Response:
        # The first member has a frame waiting to be written (batched to the end of
        # this loop turn): past max_buffer=0, it is dropped as a slow reader.
        victim = members[0]
        victim.write_frame(victim.connection.send_text("pending"), batch=True)
        hub.deliver("room", "news")
        return Response(text="ok")

    app = Application()
    app.router.add_get("/hub", join)
    app.router.add_post("/publish", publish)
    metrics_module.setup(app, registry=CollectorRegistry(), path="/metrics", hubs={"chat": hub})
    return app, members


async def test_hub_deliveries_and_drops(tw_client: Client) -> None:
    hub = Hub(max_buffer=0)
    app, members = hub_app(hub)
    client = await tw_client(app)
    sockets = []
    for _ in range(4):
        sockets.append(await client.ws_connect("/hub", compress=0))
        while len(members) < len(sockets):
            await asyncio.sleep(0.01)
    async with client.post("/publish") as response:
        assert response.status == 200
    for ws in sockets[1:]:
        assert await ws.receive_str() == "news"
    samples = await scrape(client)
    assert value(samples, "tidewire_hub_delivered_total", hub="chat") == 3
    assert value(samples, "tidewire_hub_dropped_total", hub="chat") == 1
    # hub deliveries are WebSocket messages out too
    assert value(samples, "tidewire_websocket_messages_total", direction="out") == 3
    for ws in sockets[1:]:
        await ws.close()
    samples = await settled(client)
    assert value(samples, "tidewire_websocket_closes_total", code="1000") == 3
    assert value(samples, "tidewire_websocket_closes_total", code="1006") == 1  # the dropped
    assert value(samples, "tidewire_websocket_messages_total", direction="out") == 3
    for ws in sockets:
        await ws.close()


async def test_the_global_registry_and_a_handler_route(tw_client: Client) -> None:
    app = Application()
    app.router.add_get("/custom/metrics", metrics_module.handler)
    found = metrics_module.setup(app)
    try:
        client = await tw_client(app)
        async with client.get("/custom/metrics") as response:
            text = await response.text()
        assert "tidewire_websockets_open 0.0" in text
        assert "python_info" in text  # the global registry's own collectors
    finally:
        REGISTRY.unregister(found)


async def test_setup_after_start_and_handler_without_setup(tw_client: Client) -> None:
    app = Application()
    app.router.add_get("/metrics", metrics_module.handler)
    client = await tw_client(app)
    with pytest.raises(RuntimeError):
        metrics_module.setup(app, registry=CollectorRegistry())
    async with client.get("/metrics") as response:
        assert response.status == 500


def test_route_label_of_no_route() -> None:
    assert metrics_module.route_label(None) == metrics_module.UNMATCHED == "<unmatched>"


def test_import_without_prometheus_client() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None
        import tidewire.server
        from tidewire.server import metrics
        try:
            metrics.setup(tidewire.server.Application())
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no ImportError")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "pip install 'tidewire[metrics]'" in out


WORKER = """
import asyncio, sys
from tidewire.server import Application, Response, metrics
from tidewire.server.testing import TestClient, TestServer

async def hello(request):
    return Response(text="hi")

async def main(n):
    app = Application()
    app.router.add_get("/", hello)
    app.router.add_get("/metrics", metrics.handler)
    metrics.setup(app, interval=0.05)
    async with TestClient(TestServer(app)) as client:
        for _ in range(n):
            async with client.get("/") as response:
                assert response.status == 200
        if sys.argv[2] == "scrape":
            async with client.get("/metrics") as response:
                print(await response.text())
        else:
            await asyncio.sleep(0.2)  # the interval copies the totals meanwhile

asyncio.run(main(int(sys.argv[1])))
"""


def test_multiprocess_mode_sums_the_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", WORKER, "2", "quiet"], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, "3", "scrape"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    labels = frozenset({"method": "GET", "route": "/", "status": "200"}.items())
    assert samples[("tidewire_http_requests_total", labels)] == 5
    hist = frozenset({"method": "GET", "route": "/"}.items())
    assert samples[("tidewire_http_request_duration_seconds_count", hist)] == 5
