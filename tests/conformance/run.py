"""Run the Autobahn|Testsuite against tidewire, both roles, compression included.

Server role: ``wstest -m fuzzingclient`` drives ``demos/echo.py``. Client role:
``wstest -m fuzzingserver`` is driven by ``echo_client.py``. Each job's report is merged
into one ``index.json`` per role and summarised by ``shared/autobahn/summarize.py``
(exit 1 on any failure); this script also fails on NON-STRICT.

Why the compression groups run as many small wstest processes: in groups 12 and 13
wstest (PyPy 2.7) offers ``client_no_context_takeover``, which we accept as RFC 7692
allows, and then builds a zlib compressor per message whose memory its garbage
collector does not count, so one wstest grows by about 100 MB per case and never gives
it back. A process over all cases passed 14 GB; three long jobs in parallel filled the
24 GB machine. A wstest that runs a few cases and exits returns that memory, so each
sub-group of 12 and 13 is cut by case id into chunks that each peak near 2 GB (the
later cases send more: cases 1-6 took 0.9 GB, 7-12 2.0 GB, 13-18 3.0 GB as one
process), at most ``--parallel`` wstest processes run at once, and each process's peak
resident memory is printed with the most that processes running together held. The
run fails if that passes ``--max-gb``.
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
from dataclasses import dataclass, field
from pathlib import Path

from tidewire.server.testing import unused_port

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "autobahn"
AGENT = "tidewire"
GB = 1024**3
# Groups 1-11 are cheap in memory and run as one process; 12.1-12.5 and 13.1-13.7 hold
# 18 cases each and are cut by case id.
LIGHT_GROUPS = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*", "11.*"]
HEAVY_SUBGROUPS = [f"12.{n}" for n in range(1, 6)] + [f"13.{n}" for n in range(1, 8)]
CHUNKS = ((1, 6), (7, 12), (13, 15), (16, 18))  # case ids of a sub-group, first to last


@dataclass
class Job:
    """One wstest process: the case patterns it runs and where its report goes."""

    name: str
    cases: list[str]
    outdir: Path = Path()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    wstest_pid: int = 0
    started: float = 0.0
    peak_rss: int = 0  # bytes, from the kernel's accounting when wstest exits
    ended: float = 0.0


def plan_jobs() -> list[Job]:
    """The light groups first, beside the first heavy chunk; then every chunk."""
    jobs = [Job("1-11", list(LIGHT_GROUPS))]
    for subgroup in HEAVY_SUBGROUPS:
        for first, last in CHUNKS:
            cases = [f"{subgroup}.{n}" for n in range(first, last + 1)]
            jobs.append(Job(f"{subgroup}.{first}-{last}", cases))
    return jobs


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


def rss_of(pid: int) -> int:
    """Resident memory of a running process in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_server_job(wstest: str, job: Job) -> None:
    """An echo server of its own for each job, so that jobs share no event loop."""
    port = unused_port()
    job.outdir.mkdir(parents=True)
    with open(job.outdir / "echo.log", "wb") as log:
        echo = subprocess.Popen(
            [sys.executable, str(ROOT / "demos" / "echo.py"), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, echo)
    spec = {
        "outdir": str(job.outdir),
        "servers": [{"agent": AGENT, "url": f"ws://127.0.0.1:{port}/ws"}],
        "cases": job.cases,
        "exclude-cases": [],
        "options": {"failByDrop": False},
    }
    wst = spawn_wstest(wstest, job, "fuzzingclient", spec, [])
    job.procs = [wst, echo]  # wstest ends by itself; the echo server is stopped after


def start_client_job(wstest: str, job: Job) -> None:
    """A fuzzing server of its own for each job, driven by its own echo client."""
    port = unused_port()
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "outdir": str(job.outdir),
        "cases": job.cases,
        "exclude-cases": [],
        "options": {"failByDrop": False},
    }
    wst = spawn_wstest(wstest, job, "fuzzingserver", spec, ["--webport", "0"])
    wait_for_port(port, wst)
    echo_client = Path(__file__).with_name("echo_client.py")
    client = subprocess.Popen([sys.executable, str(echo_client), f"ws://127.0.0.1:{port}", AGENT])
    job.procs = [client, wst]  # the client ends by itself; the fuzzing server is stopped after


def spawn_wstest(
    wstest: str, job: Job, mode: str, spec: dict[str, object], extra: list[str]
) -> subprocess.Popen[bytes]:
    job.outdir.mkdir(parents=True, exist_ok=True)
    spec_path = job.outdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    with open(job.outdir / "wstest.log", "wb") as log:
        wst = subprocess.Popen(
            [wstest, "-m", mode, "-s", str(spec_path), *extra],
            cwd=job.outdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    job.wstest_pid = wst.pid  # the wrapper execs PyPy, so this is wstest itself
    return wst


def reap(proc: subprocess.Popen[bytes], block: bool = True) -> int | None:
    """Collect an ended child and return its peak resident memory in bytes, or None if
    it still runs (``block=False``).

    ``os.wait4`` gives the kernel's own high-water mark, which sampling can miss; it
    also reaps the child, so ``Popen.poll`` must not be used on these processes."""
    pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024


def finish(job: Job, first_peak: int) -> None:
    """The first process ended by itself; the second (a server) is stopped after it."""
    first, second = job.procs
    second.terminate()
    second_peak = reap(second) or 0
    job.peak_rss = first_peak if first.pid == job.wstest_pid else second_peak
    job.ended = time.monotonic()


def overlap_bound(jobs: list[Job]) -> int:
    """The most that wstest processes alive at one moment can have held: at each job's
    start, the sum of the peaks of all jobs running then. Sampling the live total can
    miss a spike; this cannot, though it may count two peaks that did not meet."""
    return max(
        sum(other.peak_rss for other in jobs if other.started <= job.started < other.ended)
        for job in jobs
    )


def run_role(role: str, wstest: str, outdir: Path, jobs: list[Job], parallel: int) -> int:
    """Run the jobs ``parallel`` at a time; return the sampled peak of wstest memory."""
    start = start_server_job if role == "server" else start_client_job
    pending = list(jobs)
    running: list[Job] = []
    sampled = 0
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            job.outdir = outdir / job.name
            job.started = time.monotonic()
            start(wstest, job)
            running.append(job)
        sampled = max(sampled, sum(rss_of(job.wstest_pid) for job in running))
        for job in list(running):
            first_peak = reap(job.procs[0], block=False)
            if first_peak is None:
                continue
            finish(job, first_peak)
            running.remove(job)
            print(
                f"  {role} {job.name:<10} {job.ended - job.started:5.0f} s, wstest peak "
                f"{job.peak_rss / GB:.2f} GB",
                flush=True,
            )
        time.sleep(0.25)
    return sampled


def merge_reports(outdir: Path, jobs: list[Job]) -> None:
    merged: dict[str, dict[str, object]] = {}
    for job in jobs:
        path = job.outdir / "index.json"
        if not path.exists():
            raise SystemExit(f"no report at {path}: see {job.outdir}/wstest.log")
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
    parser.add_argument("--cases", help="comma-separated case patterns, as one job")
    parser.add_argument("--parallel", type=int, default=2, help="wstest processes at once")
    parser.add_argument("--max-gb", type=float, default=8.0, help="fail above this peak")
    parser.add_argument("--outdir", default=str(ROOT / "reports" / "autobahn"))
    args = parser.parse_args()
    wstest = install_wstest()
    status = 0
    roles = ["server", "client"] if args.role == "both" else [args.role]
    for role in roles:
        jobs = [Job("cases", args.cases.split(","))] if args.cases else plan_jobs()
        outdir = Path(args.outdir) / role
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        started = time.monotonic()
        sampled = run_role(role, wstest, outdir, jobs, args.parallel)
        merge_reports(outdir, jobs)
        peak = max(sampled, overlap_bound(jobs))
        largest = max(jobs, key=lambda job: job.peak_rss)
        print(
            f"== {role} role: {time.monotonic() - started:.0f} s, {len(jobs)} wstest processes"
            f" ({args.parallel} at once); wstest memory peak {peak / GB:.2f} GB in all"
            f" (limit {args.max_gb:g} GB; {sampled / GB:.2f} GB sampled live), the largest"
            f" process {largest.peak_rss / GB:.2f} GB ({largest.name})",
            flush=True,
        )
        summary = [sys.executable, str(SHARED / "summarize.py"), str(outdir)]
        status |= subprocess.run(summary, check=False).returncode
        status |= strict_check(outdir)
        if peak > args.max_gb * GB:
            print(f"  wstest memory peaked over {args.max_gb:g} GB")
            status |= 1
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
