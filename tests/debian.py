"""Programs the tests run for real (chromium, redis-server), from Debian's packages.

A test that needs one asks ``debian_program``: on a machine without it, as root with
apt-get, it is installed; elsewhere the test is skipped with the reason, never mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

_updated = False  # apt-get update once per test run


def debian_program(program: str, package: str) -> tuple[str | None, str]:
    """The path of ``program``, installing Debian's ``package`` with apt-get when it is
    missing and we are root; else None and why."""
    global _updated
    path = shutil.which(program)
    if path is not None:
        return path, ""
    if not sys.platform.startswith("linux") or shutil.which("apt-get") is None:
        return None, f"no {program} on PATH and no apt-get to install Debian's {package!r}"
    if os.geteuid() != 0:
        return None, f"no {program} on PATH: run 'apt-get install {package}' as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]]
    if not _updated:
        commands.insert(0, ["apt-get", "update", "-qq"])
    for command in commands:
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"'{' '.join(command)}' took over 15 minutes"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"'{' '.join(command)}' failed: {' / '.join(tail)}"
        _updated = True
    path = shutil.which(program)
    return path, "" if path else f"apt-get installed {package!r} but {program} is not on PATH"
