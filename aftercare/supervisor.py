"""Keeps the embedded stack's children running: one that dies is started again, with back-off.

A worker killed mid-demo must not take the API down with it (stores' and carriers' webhooks would fail until
someone noticed), so `aftercare up` restarts whatever died and says so; only Ctrl-C stops the stack. A child
that keeps dying waits longer each time (1 s, 2 s, 4 s... at most 30 s); one that ran a minute before dying
is started again at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Supervised(Protocol):
    name: str

    def start(self) -> None: ...

    def alive(self) -> bool: ...


@dataclass
class _Watch:
    started_at: float
    failures: int = 0  # deaths in a row, each before it had run `stable` seconds
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Call `check()` now and then: it notices deaths, schedules restarts and carries them out."""

    children: Sequence[Supervised]
    clock: Callable[[], float] = time.monotonic
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable: float = 60.0
    on_event: Callable[[str], None] = print
    restarts: dict[str, int] = field(default_factory=dict)
    _watch: dict[str, _Watch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        self._watch = {c.name: _Watch(started_at=now) for c in self.children}

    def delay_after(self, failures: int) -> float:
        """How long to wait before the restart that follows `failures` quick deaths in a row."""
        return 0.0 if failures == 0 else min(self.first_delay * 2 ** (failures - 1), self.max_delay)

    def check(self) -> None:
        now = self.clock()
        for child in self.children:
            watch = self._watch[child.name]
            if watch.restart_at is None:
                if child.alive():
                    continue
                ran = now - watch.started_at
                watch.failures = 0 if ran >= self.stable else watch.failures + 1
                delay = self.delay_after(watch.failures)
                watch.restart_at = now + delay
                self.on_event(f"{child.name} stopped after {ran:.0f}s; starting it again in {delay:.0f}s")
            if now >= watch.restart_at:
                child.start()
                watch.started_at, watch.restart_at = now, None
                self.restarts[child.name] = self.restarts.get(child.name, 0) + 1
                self.on_event(f"{child.name} started again (restart {self.restarts[child.name]})")
