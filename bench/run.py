"""``make bench``: tidewire against aiohttp, websockets and picows, side by side.

Every server runs in its own process (tidewire's ``demos/echo.py``; the peers' servers
in ``bench/servers/``), once on uvloop and once on the standard loop; one load
generator process (``bench/loadgen.py``, always on uvloop) drives them all alike. The
runs of a row alternate between the servers, so a busy moment of the machine hits
them all; each cell is the median of ``--runs`` runs and each ratio compares medians
measured in the same run of this script. The client rows run each client library in
its own process against one picows server. The fan-out stage also runs the room across
two server processes through Redis (a ``redis-server`` of its own, on a free port).
``--only fanout,memory`` (say) runs only those stages.

Output: a table on stdout, ``bench/results/latest.json`` and ``bench/ratios.png``;
``--save`` also writes ``bench/results.json`` (the copy the README quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clients import echo_duration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_support import RedisServer, find_redis_server

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
LOOPS = ("uvloop", "asyncio")
PEERS = ("aiohttp", "websockets", "picows")

SERVER_SCRIPTS = {
    "tidewire": ROOT / "demos" / "echo.py",
    "aiohttp": BENCH / "servers" / "aiohttp_server.py",
    "websockets": BENCH / "servers" / "websockets_server.py",
    "picows": BENCH / "servers" / "picows_server.py",
}
ROOM_SCRIPTS = {
    "tidewire": BENCH / "servers" / "tidewire_room.py",
    "aiohttp": BENCH / "servers" / "aiohttp_server.py",
    "websockets": BENCH / "servers" / "websockets_server.py",
}
HELLO_SERVERS = ("tidewire", "aiohttp")
REDIS_ROOMS = ("tidewire", "aiohttp")  # the room scripts that take --redis
STAGES = ("echo", "handshakes", "hello", "fanout", "memory", "clients")

# (label, message size, connections, messages in flight per connection)
ECHO_ROWS = [
    ("echo 64 B x1", 64, 1, 256),
    ("echo 1 KiB x1", 1024, 1, 64),
    ("echo 64 KiB x1", 65536, 1, 8),
    ("echo 1 MiB x1", 1 << 20, 1, 2),
    ("echo 64 B x100", 64, 100, 16),
    ("echo 1 KiB x100", 1024, 100, 4),
    ("echo 64 KiB x100", 65536, 100, 1),
    ("echo 1 MiB x100", 1 << 20, 100, 1),
]
IDLE_CONNECTIONS = 10_000
RECEIVERS = 1000
REDIS_PROCESSES = 2
# Latency across processes: a sender on one, a member on each (timed on the other),
# messages at a rate far below what either server can take.
LATENCY_RECEIVERS = 2
LATENCY_RATE = 500
LATENCY_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


class Servers:
    """Server processes started by this run, each stopped by its own pid."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        script: Path,
        loop: str,
        name: str,
        redis: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> tuple[int, int]:
        port = free_port()
        args = [PY, str(script), "--host", "127.0.0.1", "--port", str(port), *extra]
        if loop == "uvloop":
            args.append("--uvloop")
        if redis is not None:
            args += ["--redis", redis]
        env = {k: v for k, v in os.environ.items() if k != "TIDEWIRE_UVLOOP"}
        log = (self.logs / f"{name}-{loop}.log").open("ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.procs.append(proc)
        wait_listening(port, proc)
        return port, proc.pid

    def stop(self, pid: int | None = None) -> None:
        for proc in list(self.procs):
            if pid is None or proc.pid == pid:
                proc.kill()
                proc.wait()
                self.procs.remove(proc)


class LoadGen:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PY, str(BENCH / "loadgen.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def __call__(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"{op} {args}: {answer['error']}")
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Table:
    """Rows of medians: ``rows[loop][row][impl] = [samples]``."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.units: dict[str, str] = {}

    def add(self, loop: str, row: str, impl: str, value: float, unit: str) -> None:
        self.samples.setdefault(loop, {}).setdefault(row, {}).setdefault(impl, []).append(value)
        self.units[row] = unit

    def medians(self) -> dict[str, dict[str, dict[str, float]]]:
        return {
            loop: {
                row: {impl: statistics.median(v) for impl, v in impls.items()}
                for row, impls in rows.items()
            }
            for loop, rows in self.samples.items()
        }


def ratio(row: str, ours: float, theirs: float) -> float:
    """How many times better tidewire is: memory and latency are better when lower."""
    if row.startswith(("idle memory", "latency")):
        return theirs / ours
    return ours / theirs


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"-- {name} ...", file=sys.stderr, flush=True)
    yield
    print(f"   {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def bench_server_rows(
    table: Table, gen: LoadGen, servers: Servers, loop: str, a: Any, redis: str | None
) -> None:
    if {"echo", "handshakes", "hello"} & a.stages:
        ports = {
            name: servers.start(script, loop, name)[0] for name, script in SERVER_SCRIPTS.items()
        }
    if "echo" in a.stages:
        with stage(f"echo ({loop})"):
            for label, size, conns, window in ECHO_ROWS:
                duration = echo_duration(a.duration, size)
                for _ in range(a.runs):
                    for name, port in ports.items():
                        args = dict(size=size, conns=conns, window=window, warmup=a.warmup)
                        rate = gen("echo", port=port, duration=duration, **args)["rate"]
                        table.add(loop, label, name, rate, "msg/s")
    if "handshakes" in a.stages:
        with stage(f"handshakes ({loop})"):
            for _ in range(a.runs):
                for name, port in ports.items():
                    rate = gen("handshakes", port=port, concurrency=8, duration=a.duration)["rate"]
                    table.add(loop, "handshakes", name, rate, "/s")
    if "hello" in a.stages:
        with stage(f"HTTP hello ({loop})"):
            for _ in range(a.runs):
                for name in HELLO_SERVERS:
                    rate = hello_rate(ports[name], a.duration)
                    table.add(loop, "HTTP hello", name, rate, "req/s")
    servers.stop()
    if "fanout" in a.stages:
        assert redis is not None
        with stage(f"fan-out ({loop})"):
            bench_room_rows(table, gen, servers, loop, a, redis)
            servers.stop()
    if "memory" in a.stages:
        with stage(f"idle memory ({loop})"):
            for name, script in SERVER_SCRIPTS.items():
                port, pid = servers.start(script, loop, name)
                gen("hold", port=port, count=200)  # warm up: first allocations, imports
                gen("release")
                time.sleep(0.3)
                before = rss_kib(pid)
                gen("hold", port=port, count=IDLE_CONNECTIONS)
                time.sleep(0.5)
                per_conn = (rss_kib(pid) - before) * 1024 / IDLE_CONNECTIONS
                gen("release")
                servers.stop(pid)
                table.add(loop, "idle memory", name, per_conn, "B/conn")


def bench_room_rows(
    table: Table, gen: LoadGen, servers: Servers, loop: str, a: Any, redis: str
) -> None:
    """A room of 1,000 in one process, and split over processes through Redis; then
    the latency from a sender on one of those processes to a member on the other."""
    rooms = {name: [servers.start(script, loop, name)[0]] for name, script in ROOM_SCRIPTS.items()}
    spread = {
        name: [
            servers.start(ROOM_SCRIPTS[name], loop, f"{name}-redis{i}", redis)[0]
            for i in range(REDIS_PROCESSES)
        ]
        for name in REDIS_ROOMS
    }
    # (row, servers, measured for how many times --duration): single runs through
    # Redis swing by 2x on a busy machine, a longer one steadies them
    cells = [("fan-out 1000", rooms, 1), ("fan-out 1000 via Redis", spread, 3)]
    for _ in range(a.runs):
        for label, impls, longer in cells:
            for name, ports in impls.items():
                args = dict(receivers=RECEIVERS, size=32, batch=20, duration=a.duration * longer)
                rate = gen("fanout", ports=ports, warmup=a.warmup, **args)["rate"]
                table.add(loop, label, name, rate, "/s")
    for _ in range(a.runs):
        for name, ports in spread.items():
            args = dict(receivers=LATENCY_RECEIVERS, size=32, rate=LATENCY_RATE)
            got = gen("latency", ports=ports, duration=LATENCY_SECONDS, warmup=a.warmup, **args)
            for quantile in ("p50", "p99"):
                table.add(loop, f"latency via Redis {quantile}", name, got[quantile], "ms")


def install_wrk() -> str:
    """Debian's wrk, installed on first use where we may (root with apt-get)."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        for command in ("update -qq", "install -y -qq wrk"):
            subprocess.run(["apt-get", *command.split()], capture_output=True, check=False)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed for the HTTP row: apt-get install wrk")
    return wrk


def hello_rate(port: int, duration: float) -> float:
    """wrk (one thread, 50 keep-alive connections); Debian packages it as `wrk`."""
    wrk = shutil.which("wrk") or install_wrk()
    out = subprocess.run(
        [wrk, "-t1", "-c50", f"-d{max(1, round(duration))}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    return float(match.group(1))


def bench_client_rows(table: Table, servers: Servers, a: Any) -> None:
    port, _ = servers.start(SERVER_SCRIPTS["picows"], "uvloop", "picows-for-clients")
    with stage("clients"):
        for loop in LOOPS:
            for _ in range(a.runs):
                for name in ("tidewire", "aiohttp", "websockets"):
                    args = [PY, str(BENCH / "clients.py"), name, str(port), "--loop", loop]
                    args += ["--duration", str(a.duration), "--warmup", str(a.warmup)]
                    done = subprocess.run(
                        args, capture_output=True, text=True, cwd=ROOT, check=False
                    )
                    if done.returncode:
                        raise RuntimeError(f"client {name} failed:\n{done.stderr}")
                    for row, (value, unit) in json.loads(done.stdout).items():
                        table.add(loop, f"client {row}", name, value, unit)
    servers.stop()


def format_value(value: float, unit: str) -> str:
    if unit == "B/conn":
        return f"{value / 1024:.1f} KiB"
    if unit == "ms":
        return f"{value:.2f}"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def render(medians: dict[str, dict[str, dict[str, float]]], units: dict[str, str]) -> str:
    lines = []
    peers = PEERS
    head = f"| {'row':<22} | {'unit':<6} | {'tidewire':>8} | " + " | ".join(
        f"{p:>10}" for p in peers
    )
    head += " | " + " | ".join(f"{'vs ' + p:>13}" for p in peers) + " |"
    for loop, rows in medians.items():
        lines += ["", f"### {loop}", "", head, "|" + "|".join("---" for _ in range(9)) + "|"]
        for row, impls in rows.items():
            unit = units[row]
            ours = impls.get("tidewire")
            cells = [format_value(impls[p], unit) if p in impls else "" for p in peers]
            ratios = [
                f"{ratio(row, ours, impls[p]):.2f}x" if p in impls and ours else "" for p in peers
            ]
            ours_cell = format_value(ours, unit) if ours is not None else ""
            lines.append(
                f"| {row:<22} | {unit:<6} | {ours_cell:>8} | "
                + " | ".join(f"{c:>10}" for c in cells)
                + " | "
                + " | ".join(f"{r:>13}" for r in ratios)
                + " |"
            )
    return "\n".join(lines)


TICKS = (0.5, 1, 2, 4, 8)


def draw_chart(medians: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, grid = plt.subplots(1, len(medians), figsize=(14, 9), sharey=True, squeeze=False)
    axes = grid[0]
    for ax, (loop, rows) in zip(axes, medians.items(), strict=True):
        labels = list(rows)
        for i, peer in enumerate(PEERS):
            values = [
                ratio(row, rows[row]["tidewire"], rows[row][peer]) if peer in rows[row] else 0.0
                for row in labels
            ]
            ax.barh([y + (i - 1) * 0.27 for y in range(len(labels))], values, 0.27, label=peer)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xscale("log")
        ax.set_xticks(TICKS, [f"{t:g}x" for t in TICKS])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"tidewire / peer ({loop}); > 1x means tidewire is ahead")
        ax.legend(loc="lower right")  # the client rows down there are short
    axes[0].invert_yaxis()  # once: the axes share it; rows in the table's order
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--duration", type=float, default=0.6, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.2, help="seconds before measuring")
    parser.add_argument("--loops", default=",".join(LOOPS), help="uvloop,asyncio")
    parser.add_argument("--no-clients", action="store_true", help="skip the client rows")
    parser.add_argument(
        "--only",
        help=f"run only these stages, of {','.join(STAGES)} (the chart then goes to results/)",
    )
    parser.add_argument("--save", action="store_true", help="also write bench/results.json")
    a = parser.parse_args()
    a.stages = set(a.only.split(",") if a.only else STAGES)
    if a.no_clients:
        a.stages.discard("clients")
    if a.stages - set(STAGES):
        raise SystemExit(f"unknown stages {sorted(a.stages - set(STAGES))}: pick of {STAGES}")

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < IDLE_CONNECTIONS + 1000:
        raise SystemExit(f"the open files limit ({hard}) is too low for {IDLE_CONNECTIONS}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    results = BENCH / "results"
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = os.getloadavg()
    table = Table()
    servers = Servers(logs)
    redis = start_redis() if "fanout" in a.stages else None
    gen = LoadGen()
    try:
        for loop in a.loops.split(","):
            bench_server_rows(table, gen, servers, loop, a, redis and redis.url)
        if "clients" in a.stages:
            bench_client_rows(table, servers, a)
    finally:
        servers.stop()
        gen.close()
        if redis is not None:
            redis.close()
    medians = table.medians()
    from tidewire.protocol.frames import HAS_SPEEDUPS

    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "tidewire_speedups": HAS_SPEEDUPS,
        "runs": a.runs,
        "duration_s": a.duration,
        "units": table.units,
        "medians": medians,
        "samples": table.samples,
        "ratios": {
            loop: {
                row: {p: ratio(row, impls["tidewire"], impls[p]) for p in PEERS if p in impls}
                for row, impls in rows.items()
                if "tidewire" in impls
            }
            for loop, rows in medians.items()
        },
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    text = json.dumps(report, indent=1)
    (results / "latest.json").write_text(text)
    if a.save:
        (BENCH / "results.json").write_text(text)
    draw_chart(medians, results / "ratios.png" if a.only else BENCH / "ratios.png")
    print(render(medians, table.units))
    print(
        f"\n{report['machine']['cpu']}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, speedups={'on' if HAS_SPEEDUPS else 'off'}; "
        f"median of {a.runs} runs; load {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"took {report['elapsed_s']} s"
    )


def start_redis() -> RedisServer:
    """Debian's redis-server (installed when missing and we may), on a free port."""
    binary, why = find_redis_server()
    if binary is None:
        raise SystemExit(f"redis-server is needed for the fan-out rows: {why}")
    redis = RedisServer(binary)
    redis.start()
    return redis


def cpu_model() -> str:
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
