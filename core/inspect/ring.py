"""The capture store: the last N exchanges within a byte budget, in memory only.

Everything runs on the event loop thread (observers add, the API and the GUI's
timer read), so there is no locking. Readers poll ``version`` and take
``items()`` when it moved, like the GUI does with ``Stats.snapshot()``.
"""
from __future__ import annotations

import collections
import itertools
import secrets
import time
from collections.abc import Callable

from .exchange import Exchange

DEFAULT_MAX_REQUESTS = 1000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_BODY_LIMIT = 64 * 1024
# Capture costs ~10 us of CPU per exchange (heads framed, copies kept). Beyond this many new exchanges
# a second (a burst of as many is allowed) busy connections stop being observed, so a load test
# through a mapping runs at full speed and capture never takes more than ~1 % of a core.
DEFAULT_MAX_RATE = 1000


class CaptureRing:
    """Oldest first out, by count and by bytes. ``body_limit`` is read by the observers feeding it."""

    def __init__(self, max_requests: int = DEFAULT_MAX_REQUESTS, max_bytes: int = DEFAULT_MAX_BYTES,
                 body_limit: int = DEFAULT_BODY_LIMIT, max_rate: float = DEFAULT_MAX_RATE) -> None:
        self.max_requests = max_requests
        self.max_rate = max_rate
        self.skipped = 0  # requests not captured because of max_rate
        self._tokens = float(max_rate)
        self._refilled = time.monotonic()
        self.max_bytes = max_bytes
        self.body_limit = body_limit
        self.used_bytes = 0
        self.version = 0  # moves on every change
        self.evicted = 0  # exchanges dropped to stay within the limits
        self._items: collections.OrderedDict[str, Exchange] = collections.OrderedDict()
        self._seq = itertools.count(1)
        self._prefix = secrets.token_hex(4)  # ids stay unique across restarts, as ngrok's do
        self._listeners: list[Callable[[Exchange], None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, ex: Exchange) -> Exchange:
        """Store ``ex`` (assigning its id), then drop the oldest until within both limits."""
        ex.seq = next(self._seq)
        ex.id = f"{self._prefix}{ex.seq:08x}"
        cost = ex.measure()
        if cost > self.max_bytes:  # one huge exchange: keep its heads, not its bodies
            ex.request.body = b""
            if ex.response is not None:
                ex.response.body = b""
            cost = ex.measure()
        self._items[ex.id] = ex
        self.used_bytes += cost
        while self._items and (len(self._items) > self.max_requests or self.used_bytes > self.max_bytes):
            _, old = self._items.popitem(last=False)
            self.used_bytes -= old.cost
            self.evicted += 1
        self.version += 1
        for cb in tuple(self._listeners):
            try:
                cb(ex)
            except Exception:  # a viewer's bug must not break capture
                pass
        return ex

    def admit(self) -> bool:
        """May one more exchange be captured now? (token bucket: ``max_rate`` a second, bursts as large)"""
        now = time.monotonic()
        tokens = self._tokens + (now - self._refilled) * self.max_rate
        self._refilled = now
        if tokens >= 1.0:
            self._tokens = min(tokens, self.max_rate) - 1.0
            return True
        self._tokens = tokens
        self.skipped += 1
        return False

    def get(self, id: str) -> Exchange | None:
        return self._items.get(id)

    def items(self) -> list[Exchange]:
        """Oldest first (a copy of the list; the exchanges themselves are never changed once stored)."""
        return list(self._items.values())

    def clear(self) -> None:
        self._items.clear()
        self.used_bytes = 0
        self.version += 1

    def subscribe(self, callback: Callable[[Exchange], None]) -> Callable[[], None]:
        """``callback(ex)`` after each add; returns an unsubscribe."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None
