"""What every benchmark server shares: ``--host/--port/--uvloop`` and running forever.

Each server script builds its listener in ``serve(host, port)`` and hands it here; the
process then serves until the benchmark runner terminates it. The room servers also
take ``--redis URL``: their room then spans every process on that Redis, and
``serve`` is called with ``redis=URL``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Serve = Callable[..., Awaitable[object]]


def run_server(serve: Serve, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--redis", help="a room across processes, through this Redis")
    args = parser.parse_args()
    options: dict[str, Any] = {"redis": args.redis} if args.redis else {}

    async def main() -> None:
        await serve(args.host, args.port, **options)
        await asyncio.Event().wait()

    if args.uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
