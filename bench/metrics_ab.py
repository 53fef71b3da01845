"""What metrics cost: demos/echo.py with and without ``--metrics``, interleaved A/B.

    python bench/metrics_ab.py [--runs 7] [--duration 3] [--loop uvloop] [--hello]

Both servers run side by side (the idle one costs nothing); each round measures them
one after the other, in alternating order, so drifts of the machine's load fall on
both alike. The echo row is the one issue 14 names: 64 B messages, 100 connections,
one message in flight on each (bench/loadgen.py's echo with window=1). ``--hello``
adds the HTTP row (wrk, as bench/run.py runs it). Prints each run, the medians and
the ratio on/off; a ratio of 0.95 or more meets "metrics on within 5% of off".
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import urllib.request
from pathlib import Path

from run import SERVER_SCRIPTS, LoadGen, Servers, hello_rate

MODES = {"off": (), "on": ("--metrics",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per mode (median)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--hello", action="store_true", help="also the HTTP hello row (wrk)")
    a = parser.parse_args()
    rows = ["echo 64 B x100 window=1"] + (["hello (wrk)"] if a.hello else [])
    rates: dict[str, dict[str, list[float]]] = {row: {m: [] for m in MODES} for row in rows}
    servers = Servers(Path(tempfile.mkdtemp(prefix="metrics-ab-")))
    gen = LoadGen()
    try:
        ports = {
            mode: servers.start(SERVER_SCRIPTS["tidewire"], a.loop, f"echo-{mode}", extra=extra)[0]
            for mode, extra in MODES.items()
        }
        for i in range(a.runs):
            order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
            for row in rows:
                for mode in order:
                    if row.startswith("echo"):
                        rate = gen(
                            "echo",
                            port=ports[mode],
                            size=64,
                            conns=100,
                            window=1,
                            duration=a.duration,
                            warmup=a.warmup,
                        )["rate"]
                    else:
                        rate = hello_rate(ports[mode], a.duration)
                    rates[row][mode].append(rate)
                    print(f"run {i + 1} {row} metrics {mode}: {rate:,.0f}/s", flush=True)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['on']}/metrics") as response:
            counted = [
                line
                for line in response.read().decode().splitlines()
                if line.startswith("tidewire_websocket_messages_total")
            ]
        print("metrics on counted:", "; ".join(counted))
    finally:
        servers.stop()
        gen.close()
    for row in rows:
        off = statistics.median(rates[row]["off"])
        on = statistics.median(rates[row]["on"])
        print(
            f"{row} ({a.loop}, median of {a.runs}): off {off:,.0f}/s, on {on:,.0f}/s, "
            f"on/off {on / off:.3f}"
        )


if __name__ == "__main__":
    main()
