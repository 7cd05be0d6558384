"""Brute-force throttling of logins, per source address.

Each wrong password from an address doubles the wait before that address's
next login attempt is even checked (0.25 s, 0.5 s, 1 s ... up to 16 s); a
correct login clears the record. Other addresses are never slowed: the delay
is per source, and a client that logs in from elsewhere is checked at once.
Combined with the cap on connections that have not logged in yet (per source
and in total), one address gets at most a handful of guesses per minute
instead of thousands per second. Records are bounded and forgotten after a
quiet quarter of an hour.
"""
from __future__ import annotations

import time
from collections import OrderedDict

BASE_DELAY = 0.25
MAX_DELAY = 16.0
FORGET_AFTER = 900.0
MAX_SOURCES = 10_000


class AuthThrottle:
    def __init__(self, base: float = BASE_DELAY, cap: float = MAX_DELAY, forget_after: float = FORGET_AFTER,
                 clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.base, self.cap, self.forget_after = base, cap, forget_after
        self.clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # source -> (count, last)

    def delay(self, source: str) -> float:
        """Seconds to wait before checking a login from ``source``."""
        entry = self._failures.get(source)
        if entry is None:
            return 0.0
        count, last = entry
        if self.clock() - last > self.forget_after:
            del self._failures[source]
            return 0.0
        return min(self.cap, self.base * 2 ** (count - 1))

    def failed(self, source: str) -> int:
        """Record a wrong login; returns the source's consecutive failures."""
        count = self._failures.pop(source, (0, 0.0))[0] + 1
        self._failures[source] = (count, self.clock())
        while len(self._failures) > MAX_SOURCES:
            self._failures.popitem(last=False)
        return count

    def succeeded(self, source: str) -> None:
        self._failures.pop(source, None)
