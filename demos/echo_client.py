"""Round-trip times against a WebSocket echo server, with tidewire's client.

    python demos/echo_client.py [--url ws://127.0.0.1:9001/ws] [--count 1000] [--size 64]

Sends one message at a time, waits for its echo, and prints the median, 90th and 99th
percentile round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from tidewire.client import ClientSession


async def measure(url: str, count: int, size: int) -> list[float]:
    """Round trips in microseconds, one per message."""
    payload = os.urandom(size)
    times: list[float] = []
    async with ClientSession() as session, session.ws_connect(url) as ws:
        for _ in range(count):
            started = time.perf_counter()
            await ws.send_bytes(payload)
            if await ws.receive_bytes() != payload:
                raise RuntimeError("the server did not echo the message")
            times.append((time.perf_counter() - started) * 1e6)
    return times


def report(times: list[float], size: int) -> str:
    cuts = statistics.quantiles(times, n=100)
    return (
        f"{len(times)} round trips of {size} B: median {statistics.median(times):.0f} us, "
        f"p90 {cuts[89]:.0f} us, p99 {cuts[98]:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket echo round-trip times")
    parser.add_argument("--url", default="ws://127.0.0.1:9001/ws")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    print(report(asyncio.run(measure(args.url, args.count, args.size)), args.size))


if __name__ == "__main__":
    main()
