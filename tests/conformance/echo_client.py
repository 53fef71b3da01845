"""tidewire's client as Autobahn's testee: echo every case the fuzzing server plays."""

from __future__ import annotations

import asyncio
import sys

from tidewire.client import ClientSession
from tidewire.protocol import WSMsgType


async def main(base: str, agent: str) -> None:
    async with ClientSession() as session:
        async with session.ws_connect(f"{base}/getCaseCount") as ws:
            count = int((await ws.receive()).data)
        for case in range(1, count + 1):
            url = f"{base}/runCase?case={case}&agent={agent}"
            try:
                async with session.ws_connect(url, max_msg_size=0) as ws:
                    async for msg in ws:
                        if msg.type is WSMsgType.TEXT:
                            await ws.send_str(msg.data)
                        elif msg.type is WSMsgType.BINARY:
                            await ws.send_bytes(msg.data)
            except ConnectionError:
                pass  # the fuzzer cut the connection: the report says whether it should
        async with session.ws_connect(f"{base}/updateReports?agent={agent}") as ws:
            await ws.receive()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
