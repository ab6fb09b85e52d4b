"""Waiting on the real server: it runs workflow tasks and activities in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], what: str, timeout: float = 20.0) -> T:
    """Retry `probe` until it stops raising (an AssertionError names what was still missing)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await probe()
        except Exception as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {err}") from err
            await asyncio.sleep(0.2)
