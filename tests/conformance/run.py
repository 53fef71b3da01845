"""Run the Autobahn|Testsuite against tidewire, both roles, compression included.

Server role: ``wstest -m fuzzingclient`` drives ``demos/echo.py``. Client role:
``wstest -m fuzzingserver`` is driven by ``echo_client.py``. The slow compression
groups run in parallel processes; their reports are merged into one ``index.json``
per role and summarised by ``shared/autobahn/summarize.py`` (exit 1 on any failure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "autobahn"
AGENT = "tidewire"
# Case groups split into jobs of similar cost: 12.* and 13.* dominate.
JOBS = (
    ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*", "11.*", "12.1.*", "12.2.*"],
    ["12.3.*", "12.4.*", "12.5.*", "13.1.*", "13.2.*"],
    ["13.3.*", "13.4.*", "13.5.*", "13.6.*", "13.7.*"],
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early with {proc.returncode}: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def install_wstest() -> str:
    out = subprocess.run(
        ["bash", str(SHARED / "install.sh")], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def run_server_role(wstest: str, outdir: Path, jobs: list[list[str]]) -> None:
    """One echo server per job, so the jobs do not share an event loop."""
    procs = []
    for index, cases in enumerate(jobs):
        port = free_port()
        echo = subprocess.Popen(
            [sys.executable, str(ROOT / "demos" / "echo.py"), "--port", str(port)]
        )
        wait_for_port(port, echo)
        spec = {
            "outdir": str(outdir / f"job{index}"),
            "servers": [{"agent": AGENT, "url": f"ws://127.0.0.1:{port}/ws"}],
            "cases": cases,
            "exclude-cases": [],
            "options": {"failByDrop": False},
        }
        spec_path = outdir / f"server-spec{index}.json"
        spec_path.write_text(json.dumps(spec))
        log = open(outdir / f"wstest{index}.log", "wb")  # noqa: SIM115
        wst = subprocess.Popen(
            [wstest, "-m", "fuzzingclient", "-s", str(spec_path)],
            cwd=outdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append((wst, echo))
    for wst, echo in procs:
        wst.wait()
        echo.terminate()
        echo.wait()


def run_client_role(wstest: str, outdir: Path, jobs: list[list[str]]) -> None:
    """One fuzzing server per job, each driven by its own echo client process."""
    procs = []
    for index, cases in enumerate(jobs):
        port = free_port()
        spec = {
            "url": f"ws://127.0.0.1:{port}",
            "outdir": str(outdir / f"job{index}"),
            "cases": cases,
            "exclude-cases": [],
            "options": {"failByDrop": False},
        }
        spec_path = outdir / f"client-spec{index}.json"
        spec_path.write_text(json.dumps(spec))
        log = open(outdir / f"wstest{index}.log", "wb")  # noqa: SIM115
        wst = subprocess.Popen(
            [wstest, "-m", "fuzzingserver", "-s", str(spec_path), "--webport", "0"],
            cwd=outdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, wst)
        client = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("echo_client.py")),
                f"ws://127.0.0.1:{port}",
                AGENT,
            ]
        )
        procs.append((client, wst))
    for client, wst in procs:
        client.wait()
        wst.terminate()
        wst.wait()


def merge_reports(outdir: Path, count: int) -> None:
    merged: dict[str, dict[str, object]] = {}
    for index in range(count):
        path = outdir / f"job{index}" / "index.json"
        if not path.exists():
            raise SystemExit(f"no report at {path}: see {outdir}/wstest{index}.log")
        for agent, cases in json.loads(path.read_text()).items():
            merged.setdefault(agent, {}).update(cases)
    (outdir / "index.json").write_text(json.dumps(merged))


def strict_check(outdir: Path) -> int:
    """Our bar is higher than the summary's: NON-STRICT counts as a failure too."""
    index = json.loads((outdir / "index.json").read_text())
    lax = sorted(
        case
        for cases in index.values()
        for case, result in cases.items()
        if {result["behavior"], result["behaviorClose"]} - {"OK", "INFORMATIONAL"}
    )
    if lax:
        print(f"  not OK ({len(lax)}): {' '.join(lax[:80])}")
    return 1 if lax else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["server", "client", "both"], default="both")
    parser.add_argument("--cases", help="comma-separated case patterns (default: all, split)")
    parser.add_argument("--outdir", default=str(ROOT / "reports" / "autobahn"))
    args = parser.parse_args()
    jobs = [args.cases.split(",")] if args.cases else [list(j) for j in JOBS]
    wstest = install_wstest()
    status = 0
    roles = ["server", "client"] if args.role == "both" else [args.role]
    for role in roles:
        outdir = Path(args.outdir) / role
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        started = time.monotonic()
        runner = run_server_role if role == "server" else run_client_role
        runner(wstest, outdir, jobs)
        merge_reports(outdir, len(jobs))
        print(f"== {role} role: {time.monotonic() - started:.0f} s", flush=True)
        summary = [sys.executable, str(SHARED / "summarize.py"), str(outdir)]
        status |= subprocess.run(summary, check=False).returncode
        status |= strict_check(outdir)
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
