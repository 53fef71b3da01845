"""The load generator every server is measured with, in its own process on uvloop.

It speaks just enough WebSocket to cost the server its full work and itself almost
nothing: its frames are built (and masked) once before the run, and since every
message of a run has the same size, it counts echoes and deliveries by received bytes
instead of parsing frames. ``bench/run.py`` drives it with one JSON command per line on
stdin and reads one JSON answer per line on stdout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import struct
import sys
import time
import zlib
from typing import Any

HOST = "127.0.0.1"
MASK = b"\x5a\xc3\x0f\x96"
CONNECT_BATCH = 100  # handshakes in flight while opening many connections


def frame(opcode: int, payload: bytes, *, masked: bool = True) -> bytes:
    """One final frame; the client's are masked with a fixed key (servers cannot tell)."""
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, bit | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, bit | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, bit | 127, size)
    if not masked:
        return head + payload
    key = (MASK * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )
    return head + MASK + body


CLOSE_FRAME = frame(0x8, struct.pack("!H", 1000))


def upgrade_request(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class Totals:
    """Messages counted across all connections of a run; ``target`` wakes a waiter."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached: asyncio.Event | None = None

    def add(self, n: int) -> None:
        self.count += n
        if self.reached is not None and self.count >= self.target:
            self.reached.set()


class Client(asyncio.Protocol):
    """A raw WebSocket client: upgrade, then count fixed-size incoming frames by bytes.

    With ``reply`` set, every completed frame is answered by writing ``reply`` again
    (the echo loop keeps a constant number of messages in flight).
    """

    def __init__(self, totals: Totals, frame_len: int, reply: bytes = b"") -> None:
        self.totals = totals
        self.frame_len = frame_len
        self.reply = reply
        self.sending = bool(reply)
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.received = 0
        self.counted = 0
        self.outstanding = 0
        self.crc: int | None = None  # a CRC of what arrives, once set to 0
        self.delays: list[float] | None = None  # how long messages took, once set to []
        self.pending = b""  # the start of a frame whose delay is not known yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status, rest = self.head[:end], self.head[end + 4 :]
            if not status.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(status.split(b"\r\n")[0].decode()))
                return
            self.upgraded.set_result(None)
            data = rest
            if not data:
                return
        if self.crc is not None:
            self.crc = zlib.crc32(data, self.crc)
            if self.delays is not None:
                self.time(data)
        self.received += len(data)
        done = self.received // self.frame_len - self.counted
        if done:
            self.counted += done
            self.totals.add(done)
            if self.sending:
                self.send(done)
            else:
                self.outstanding -= done

    def time(self, data: bytes) -> None:
        """Note how long each message took: its payload carries its send time
        (``perf_counter``, this process's clock) after its number and a space."""
        arrived = time.perf_counter()
        self.pending += data
        n = len(self.pending) // self.frame_len
        for i in range(n):
            payload = self.pending[i * self.frame_len + 2 : (i + 1) * self.frame_len]
            self.delays.append(arrived - float(payload[11:].rstrip(b"p")))  # type: ignore[union-attr]
        self.pending = self.pending[n * self.frame_len :]

    def send(self, n: int) -> None:
        assert self.transport is not None
        if n == 1:
            self.transport.write(self.reply)
        elif len(self.reply) < 4096:
            self.transport.write(self.reply * n)
        else:
            self.transport.writelines([self.reply] * n)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def close(self, timeout: float = 3.0) -> None:
        """The closing handshake; the server closes TCP (or we abort after ``timeout``)."""
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(CLOSE_FRAME)
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()


async def connect(
    port: int, path: str, totals: Totals, frame_len: int, reply: bytes = b""
) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(totals, frame_len, reply), HOST, port)
    assert client.transport is not None
    client.transport.write(upgrade_request(port, path))
    await asyncio.wait_for(client.upgraded, 10)
    return client


async def connect_many(
    n: int, port: int, path: str, totals: Totals, frame_len: int, reply: bytes = b""
) -> list[Client]:
    clients: list[Client] = []
    for start in range(0, n, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, n - start)
        clients += await asyncio.gather(
            *(connect(port, path, totals, frame_len, reply) for _ in range(batch))
        )
    return clients


def server_frame_len(size: int) -> int:
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


async def measure(totals: Totals, warmup: float, duration: float) -> float:
    await asyncio.sleep(warmup)
    start_count, start = totals.count, time.perf_counter()
    await asyncio.sleep(duration)
    return (totals.count - start_count) / (time.perf_counter() - start)


async def echo(
    port: int, size: int, conns: int, window: int, duration: float, warmup: float
) -> dict[str, Any]:
    """Messages per second echoed with ``window`` messages in flight per connection."""
    totals = Totals()
    message = frame(0x2, os.urandom(size))
    clients = await connect_many(conns, port, "/ws", totals, server_frame_len(size), message)
    for client in clients:
        client.send(window)
    rate = await measure(totals, warmup, duration)
    # Let the messages in flight come back, then close every connection properly.
    totals.reached = asyncio.Event()
    totals.target = totals.count + conns * window
    for client in clients:
        client.sending = False
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(totals.reached.wait(), 10)
    await asyncio.gather(*(client.close() for client in clients))
    return {"rate": rate}


async def handshakes(port: int, concurrency: int, duration: float) -> dict[str, Any]:
    """Opening handshakes per second: connect, upgrade, closing handshake, TCP close."""
    totals = Totals()
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            client = await connect(port, "/ws", totals, 1)
            await client.close()
            totals.add(1)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"rate": totals.count / (time.perf_counter() - start)}


class Room:
    """Members of ``/room`` split evenly over ``ports`` (one server process each) and a
    sender on the first, which publishes numbered messages of ``size`` bytes.

    Every member keeps a CRC of all that reaches it after joining, and ``check``
    compares it with the CRC of every published message framed once, in order: a
    message lost, duplicated, reordered or altered at any member fails the run.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.frame_len = server_frame_len(size)
        self.totals = Totals()
        self.members: list[Client] = []
        self.far: list[Client] = []  # the members on other processes than the sender's
        self.sender: Client | None = None
        self.published = 0
        self.crc = 0

    async def join(self, ports: list[int], receivers: int) -> None:
        """``receivers`` members, then the sender."""
        for i, port in enumerate(ports):
            count = receivers // len(ports) + (i < receivers % len(ports))
            # each first receives b"\x81\x06joined"
            joined = await connect_many(count, port, "/room", Totals(), 8)
            self.members += joined
            if i:
                self.far += joined
        join = frame(0x1, b"join")
        for member in self.members:
            assert member.transport is not None
            member.transport.write(join)
        while any(m.counted < 1 for m in self.members):
            await asyncio.sleep(0.01)
        for member in self.members:  # from here on they count published messages
            member.totals, member.frame_len = self.totals, self.frame_len
            member.received, member.counted, member.crc = 0, 0, 0
        self.sender = await connect(ports[0], "/room", Totals(), 1)

    def message(self, payload: bytes = b"") -> bytes:
        """The sender's frame of the next message: its number, ``payload``, padding."""
        text = (b"%010d " % self.published + payload).ljust(self.size, b"p")
        assert len(text) == self.size
        self.published += 1
        self.crc = zlib.crc32(frame(0x1, text, masked=False), self.crc)
        return frame(0x1, text)

    async def check(self) -> None:
        """Every member has every message once, in order (or the run fails)."""
        self.totals.reached = asyncio.Event()
        self.totals.target = self.published * len(self.members)
        if self.totals.count < self.totals.target:
            await asyncio.wait_for(self.totals.reached.wait(), 30)
        await asyncio.sleep(0.05)  # anything more would arrive meanwhile
        wrong = sum(
            m.received != self.published * self.frame_len or m.crc != self.crc for m in self.members
        )
        if wrong:
            raise RuntimeError(f"{wrong} members did not get the {self.published} messages")

    async def leave(self) -> None:
        assert self.sender is not None
        await asyncio.gather(self.sender.close(), *(m.close() for m in self.members))


async def fanout(
    ports: list[int], receivers: int, size: int, batch: int, duration: float, warmup: float = 0
) -> dict[str, Any]:
    """Deliveries per second: one sender publishes, ``receivers`` room members split
    evenly over ``ports`` receive (see ``Room``).

    The sender publishes ``batch`` messages and waits until every member has them all;
    the first ``warmup`` seconds are not counted.
    """
    room = Room(size)
    await room.join(ports, receivers)
    assert room.sender is not None
    totals = room.totals
    totals.reached = asyncio.Event()
    started = time.perf_counter()
    start, start_count = started, 0
    while time.perf_counter() - start < duration:
        if start == started and time.perf_counter() - started >= warmup:
            start, start_count = time.perf_counter(), totals.count
        totals.reached.clear()
        totals.target = totals.count + batch * receivers
        room.sender.transport.write(b"".join(room.message() for _ in range(batch)))
        await asyncio.wait_for(totals.reached.wait(), 30)
    rate = (totals.count - start_count) / (time.perf_counter() - start)
    await room.check()
    await room.leave()
    return {"rate": rate}


async def latency(
    ports: list[int], receivers: int, size: int, rate: float, duration: float, warmup: float
) -> dict[str, Any]:
    """Publish-to-delivery latency, in ms: a sender on the first port publishes ``rate``
    messages a second, each carrying its send time, and the members on the other ports
    (the other server processes) note when each arrives. Returns the median and the
    99th percentile of the messages sent after ``warmup`` seconds."""
    room = Room(size)
    await room.join(ports, receivers)
    assert room.sender is not None and room.sender.transport is not None
    probes = room.far
    for probe in probes:
        probe.delays = []
    start = time.perf_counter()
    skipped = 0
    for i in range(round((warmup + duration) * rate)):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        if i / rate < warmup:
            skipped = i + 1
        room.sender.transport.write(room.message(b"%.7f" % time.perf_counter()))
    await room.check()
    await room.leave()
    delays = sorted(d for probe in probes for d in probe.delays[skipped:])  # type: ignore[index]
    if not delays:
        raise RuntimeError("no member on another process than the sender's")
    return {
        "p50": delays[len(delays) // 2] * 1e3,
        "p99": delays[min(len(delays) - 1, len(delays) * 99 // 100)] * 1e3,
        "samples": len(delays),
    }


class Holder:
    """Idle connections kept open for the memory row, released on command."""

    clients: list[Client] = []  # noqa: RUF012


async def hold(port: int, count: int) -> dict[str, Any]:
    Holder.clients = await connect_many(count, port, "/ws", Totals(), 1)
    return {"open": len(Holder.clients)}


async def release() -> dict[str, Any]:
    for client in Holder.clients:
        assert client.transport is not None
        client.transport.abort()
    n = len(Holder.clients)
    Holder.clients = []
    await asyncio.sleep(0.2)
    return {"closed": n}


COMMANDS = {
    "echo": echo,
    "handshakes": handshakes,
    "fanout": fanout,
    "latency": latency,
    "hold": hold,
    "release": release,
}


async def main() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        command = json.loads(line)
        op = command.pop("op")
        try:
            answer = await COMMANDS[op](**command)
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
