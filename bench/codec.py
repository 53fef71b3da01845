"""Receive-side codec micro-benchmark: parse and unmask masked client frames.

tidewire's ``Connection(Role.SERVER).receive_data`` next to the two peers' sans-I/O
parsers, in the same run, on the same bytes:

- websockets: ``ServerProtocol.receive_data`` + ``events_received`` (C unmasking);
- aiohttp: ``WebSocketReader.feed_data`` into a ``WebSocketDataQueue`` (Cython reader
  and C unmasking), its buffer emptied after every read as a reader task would (the
  queue's limit is set high, so its flow control never stalls the parser).

Each operation parses one stream of N binary messages, handed over in 256 KiB reads
as asyncio's selector transport does. Reported: the median of several repetitions,
messages/s, and tidewire's throughput as a ratio of each peer's (>1: tidewire faster).

    .venv/bin/python bench/codec.py [--json PATH] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import timeit
from collections.abc import Callable

from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from websockets.protocol import State as WsState
from websockets.server import ServerProtocol

from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.frames import Opcode, apply_mask, build_header

READ_SIZE = 256 * 1024
# (label, payload size, messages per stream): streams of about 1-4 MiB.
SIZES = [("64 B", 64, 20_000), ("64 KiB", 64 * 1024, 64), ("1 MiB", 1024 * 1024, 4)]
REPEAT = 7

Parser = Callable[[list[bytes]], int]


def client_stream(size: int, count: int) -> tuple[list[bytes], bytes]:
    """``count`` masked binary frames of ``size`` bytes, cut into socket-sized reads."""
    payload = os.urandom(size)
    frames = []
    for _ in range(count):
        mask = os.urandom(4)
        frames.append(build_header(Opcode.BINARY, size, mask=mask) + apply_mask(payload, mask))
    stream = b"".join(frames)
    return [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)], payload


def tidewire_parser(reads: list[bytes]) -> int:
    conn = Connection(Role.SERVER, max_message_size=0)
    received = 0
    for data in reads:
        received += len(conn.receive_data(data))
    return received


def websockets_parser(reads: list[bytes]) -> int:
    proto = ServerProtocol(state=WsState.OPEN, max_size=None)
    received = 0
    for data in reads:
        proto.receive_data(data)
        received += len(proto.events_received())
    return received


class _Transportless:
    """What aiohttp's queue asks of its protocol: the reading-paused flag."""

    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


_LOOP = asyncio.new_event_loop()  # the queue wants one; it is never run


def aiohttp_parser(reads: list[bytes]) -> int:
    queue = WebSocketDataQueue(_Transportless(), 2**30, loop=_LOOP)  # type: ignore[arg-type]
    reader = WebSocketReader(queue, 0, compress=False, decode_text=True)
    buffer = queue._buffer  # the reader task's side, without a running loop
    received = 0
    for data in reads:
        reader.feed_data(data)
        received += len(buffer)
        buffer.clear()
    return received


PARSERS: dict[str, Parser] = {
    "tidewire": tidewire_parser,
    "websockets": websockets_parser,
    "aiohttp": aiohttp_parser,
}


def _check(payload: bytes, reads: list[bytes], count: int) -> None:
    """Every parser sees every message, and tidewire unmasks them right."""
    for name, parser in PARSERS.items():
        got = parser(reads)
        assert got == count, f"{name} parsed {got} of {count} messages"
    conn = Connection(Role.SERVER, max_message_size=0)
    events = [e for data in reads for e in conn.receive_data(data)]
    assert all(e.data == payload for e in events)


def _median_time(parser: Parser, reads: list[bytes]) -> float:
    """Median seconds of one parse of ``reads``, repeated ``REPEAT`` times; each
    repetition loops enough to last about 50 ms."""
    once = timeit.timeit(lambda: parser(reads), number=1)
    number = max(1, int(0.05 / max(once, 1e-9)))
    times = timeit.repeat(lambda: parser(reads), number=number, repeat=REPEAT)
    return statistics.median(times) / number


def run() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for label, size, count in SIZES:
        reads, payload = client_stream(size, count)
        _check(payload, reads, count)
        row: dict[str, object] = {"size": label, "bytes": size, "messages": count}
        rates = {}
        for name, parser in PARSERS.items():
            median = _median_time(parser, reads)
            rates[name] = count / median
            row[f"{name}_msgs_per_s"] = round(rates[name])
            row[f"{name}_median_s"] = median
        row["ratio_vs_websockets"] = rates["tidewire"] / rates["websockets"]
        row["ratio_vs_aiohttp"] = rates["tidewire"] / rates["aiohttp"]
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    columns = ("tidewire", "websockets", "aiohttp")
    head = f"{'size':>7} | " + " | ".join(f"{c:>12}" for c in columns) + " |  tw/ws | tw/aio"
    print("messages/s (median of", REPEAT, "runs), parse + unmask of masked client frames")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['size']:>7} | {r['tidewire_msgs_per_s']:>12,} | {r['websockets_msgs_per_s']:>12,}"
            f" | {r['aiohttp_msgs_per_s']:>12,} | {r['ratio_vs_websockets']:>6.2f}"
            f" | {r['ratio_vs_aiohttp']:>6.2f}"
        )


def profile(top: int = 12) -> None:
    """Where tidewire's receive path spends its time, per message size."""
    for label, size, count in SIZES[:2]:
        reads, _ = client_stream(size, count)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            tidewire_parser(reads)
        profiler.disable()
        print(f"\n--- cProfile, tidewire, {label} messages ({20 * count} parsed) ---")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(
            top
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--profile", action="store_true", help="cProfile tidewire's path")
    args = parser.parse_args()
    rows = run()
    print_table(rows)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    if args.profile:
        profile()


if __name__ == "__main__":
    main()
