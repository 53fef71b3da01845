"""The aiohttp idiom of a call that can be awaited or used as ``async with``."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AwaitableContext(Generic[T]):
    """``x = await call()`` or ``async with call() as x``; leaving the block ends ``x``
    the way the subclass's ``_end`` says (a response is released, a WebSocket closed)."""

    __slots__ = ("_coro", "_value")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._value: T | None = None

    def __await__(self) -> Generator[Any, None, T]:
        return self._coro.__await__()

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
