"""``python -m tidewire.server MODULE:FACTORY``: serve an application from the command line.

What ``python -m aiohttp.web`` is to aiohttp: one process, ``run_app`` underneath, for
development and for deployments that run one process per core themselves (with
``--reuse-port``); gunicorn and ``GunicornWorker`` are the way to several workers under
a supervisor. The application is found as gunicorn finds it (``resolve_app``), so the
same ``MODULE:FACTORY`` works for both.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from tidewire.server.runner import NotAnApplication, resolve_app, run_app

PROG = "python -m tidewire.server"

EPILOG = """\
MODULE:FACTORY names the application: a module importable from the current directory,
then an Application in it, or a function that takes no arguments and returns one
(def or async def). For example, with myapp.py containing

    def make_app():
        app = Application()
        app.router.add_get("/", hello)
        return app

run:
    python -m tidewire.server myapp:make_app --port 8080
    python -m tidewire.server myapp:make_app --host 0.0.0.0 --uvloop
    python -m tidewire.server myapp:make_app --path /run/myapp.sock

SIGINT (Ctrl-C) or SIGTERM stops the server gracefully: WebSockets are closed with
1001, running handlers get up to --shutdown-timeout seconds. For several worker
processes, use gunicorn:
    gunicorn myapp:make_app --worker-class tidewire.server.GunicornWorker -w 4
"""


def parser() -> argparse.ArgumentParser:
    """The command line's arguments and its ``--help``."""
    parse = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a tidewire application in this process until SIGINT or SIGTERM.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument(
        "entry", metavar="MODULE:FACTORY", help="the application, e.g. myapp:make_app"
    )
    parse.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; 0.0.0.0 for every interface)",
    )
    parse.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    parse.add_argument(
        "--path", metavar="UNIX_SOCKET", help="listen on this Unix socket instead of --host/--port"
    )
    parse.add_argument("--uvloop", action="store_true", help="run on uvloop (must be installed)")
    parse.add_argument(
        "--reuse-port",
        action="store_true",
        help="SO_REUSEPORT: processes may share the port, the kernel spreads connections",
    )
    parse.add_argument(
        "--shutdown-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long running handlers may finish at shutdown (default: %(default)s)",
    )
    return parse


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2, as argparse does for a bad argument."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def load(entry: str) -> object:
    """The object ``MODULE:FACTORY`` names; ``fail`` for a malformed entry, a missing
    module or attribute. A module that fails to import for another reason keeps its
    traceback: that is a bug in it, not a wrong argument."""
    module_name, _, attribute = entry.partition(":")
    if not module_name or not attribute.isidentifier():
        fail(f"expected MODULE:FACTORY (e.g. myapp:make_app), got {entry!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name != missing and not module_name.startswith(f"{missing}."):
            raise
        fail(f"no module named {missing!r} (run from the folder that holds it?)")
    try:
        return getattr(module, attribute)
    except AttributeError:
        fail(f"module {module_name!r} has no attribute {attribute!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, load the application and serve it with ``run_app``."""
    args = parser().parse_args(argv)
    sys.path.insert(0, os.getcwd())  # as gunicorn does; ``-m`` has it there already
    target = load(args.entry)
    try:
        run_app(
            resolve_app(target, args.entry),
            host=args.host,
            port=args.port,
            path=args.path,
            use_uvloop=args.uvloop or None,
            reuse_port=args.reuse_port or None,
            shutdown_timeout=args.shutdown_timeout,
        )
    except NotAnApplication as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
