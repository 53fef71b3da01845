"""What every benchmark server shares: ``--host/--port/--uvloop`` and running forever.

Each server script builds its listener in ``serve(host, port)`` and hands it here; the
process then serves until the benchmark runner terminates it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

Serve = Callable[[str, int], Awaitable[object]]


def run_server(serve: Serve, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()

    async def main() -> None:
        await serve(args.host, args.port)
        await asyncio.Event().wait()

    if args.uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
