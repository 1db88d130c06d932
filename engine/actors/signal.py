"""A level-free wake-up signal for actors that wait on shared state."""

from __future__ import annotations

from collections.abc import Callable

import anyio


class Changed:
    """Wakes every waiter when ``notify`` is called; waiters re-check their condition.

    Use as ``while not condition(): await changed.wait()`` -- a notify that happens between
    the check and the wait is never lost, because ``wait`` waits on the event current at
    the time of the check.
    """

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = anyio.Event()

    async def wait(self) -> None:
        """Wait for the next :meth:`notify`."""
        await self._event.wait()

    async def wait_for(self, condition: Callable[[], bool], *, poll_s: float | None = None) -> None:
        """Wait until ``condition()`` is true (checked after each notify, or every ``poll_s``)."""
        while not condition():
            event = self._event
            if poll_s is None:
                await event.wait()
            else:
                with anyio.move_on_after(poll_s):
                    await event.wait()
