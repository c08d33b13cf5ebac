"""The gids this coordinator drives: one task each, plus those it is about to drive.

A TCC decision or a saga start makes the transaction this node's in the store a moment before its task
exists; a recovery scan in that window would claim it and drive it as the log stood mid-way. So a gid counts
as driven here from the moment its decision (or start) is being written, and recovery claims none of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from typing import Any


class DrivenHere:
    def __init__(self, name: str) -> None:
        self.name = name  # tasks are named "<name>-<gid>"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._reserved: set[str] = set()

    @property
    def active(self) -> list[str]:
        """Gids driven here or about to be: recovery leaves them alone, and their leases are renewed."""
        return [*self._tasks, *(gid for gid in self._reserved if gid not in self._tasks)]

    def is_active(self, gid: str) -> bool:
        return gid in self._tasks or gid in self._reserved

    def running(self, gid: str) -> bool:
        """Whether ``gid``'s task exists (not only reserved)."""
        return gid in self._tasks

    @contextlib.contextmanager
    def reserved(self, gid: str) -> Iterator[None]:
        """While ``gid``'s decision (or start) is written and handed to its driver, it counts as driven here."""
        self._reserved.add(gid)
        try:
            yield
        finally:
            self._reserved.discard(gid)

    def start(self, gid: str, work: Coroutine[Any, Any, None], ended: Callable[[str], None] | None = None) -> None:
        """Run ``work`` as ``gid``'s task (the caller checked :meth:`running`); ``ended(gid)`` once it is over."""
        task = asyncio.create_task(work, name=f"{self.name}-{gid}")
        self._tasks[gid] = task

        def forget(_task: object) -> None:
            self._tasks.pop(gid, None)
            if ended is not None:
                ended(gid)

        task.add_done_callback(forget)

    def cancel(self, gid: str) -> None:
        task = self._tasks.get(gid)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
