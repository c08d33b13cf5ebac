"""The one way tests wait: poll a condition until it holds, with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], timeout: float = 30.0, what: str = "condition", interval: float = 0.1
) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value and return that value; fail with ``what``
    after ``timeout`` seconds. Deadlines are generous: the machine running the tests is shared and loaded."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
