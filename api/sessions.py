"""Console sign-in policy: how long a session lives, and how often anyone may try to sign in.

Sessions themselves are rows in the database (`Store.open_session`): the cookie carries a random id, never
the API token, so signing out ends the session on the server and a copied cookie stops working with it.
The login limiter lives in the API process: it keeps a guessing script (or a stuck browser) from turning
the login form into a stream of token lookups; every API process counts on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class SessionPolicy:
    """A session ends after `idle` without a request, and `lifetime` after sign-in whatever happens."""

    idle: timedelta = timedelta(hours=1)
    lifetime: timedelta = timedelta(hours=12)


@dataclass
class LoginLimiter:
    """At most `per_address` sign-in attempts from one client address and `overall` from everyone within
    any `window` seconds (a sliding window); `attempt` says how long to wait when one is over."""

    per_address: int = 10
    overall: int = 60
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _by_address: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _all: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attempt(self, address: str) -> int | None:
        """Count one attempt from `address`: None if it may go ahead, else the whole seconds to wait
        (what `Retry-After` says). A refused attempt is not counted, so waiting always helps."""
        with self._lock:
            now = self.clock()
            self._forget(now)
            mine = self._by_address.get(address, deque())
            for seen, limit in ((mine, self.per_address), (self._all, self.overall)):
                if len(seen) >= limit:
                    return max(1, math.ceil(seen[len(seen) - limit] + self.window - now))
            mine.append(now)
            self._by_address[address] = mine
            self._all.append(now)
            return None

    def _forget(self, now: float) -> None:
        """Drop attempts older than the window; addresses with none left go, so memory stays bounded by
        `overall` entries whatever the number of addresses."""
        cutoff = now - self.window
        while self._all and self._all[0] <= cutoff:
            self._all.popleft()
        for address in list(self._by_address):
            seen = self._by_address[address]
            while seen and seen[0] <= cutoff:
                seen.popleft()
            if not seen:
                del self._by_address[address]
