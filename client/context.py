"""The aiohttp idiom of a call that can be awaited or used as ``async with``."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


class AwaitableContext(Coroutine[Any, Any, T]):
    """``x = await call()`` or ``async with call() as x``; leaving the block ends ``x``
    the way the subclass's ``_end`` says (a response is released, a WebSocket closed).

    It is a coroutine itself, as aiohttp's are: ``asyncio.create_task(session.get(u))``
    and ``asyncio.gather(...)`` take it as they take the call's coroutine."""

    __slots__ = ("_coro", "_value")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._value: T | None = None

    def __await__(self) -> Generator[Any, None, T]:
        return self._coro.__await__()

    def send(self, value: Any) -> Any:
        """Run the call's coroutine on (what a task does with a coroutine)."""
        return self._coro.send(value)

    def throw(self, *exc: Any) -> Any:
        """Raise inside the call's coroutine (a task's cancellation)."""
        return self._coro.throw(*exc)

    def close(self) -> None:
        """Close the call's coroutine without running it further."""
        self._coro.close()

    async def __aenter__(self) -> T:
        self._value = await self._coro
        return self._value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._value is not None:
            await self._end(self._value)

    async def _end(self, value: T) -> None:
        raise NotImplementedError
