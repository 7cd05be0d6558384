"""Log lines that an attacker cannot multiply: one per key per interval, with a count.

A public server is asked to log what strangers do (wrong passwords, refused
connections, bad requests); each such line is a few hundred bytes an attacker
can make us write thousands of times a second. ``ThrottledLog`` writes the
first line for a key, suppresses the next ones for ``interval`` seconds, and
then says how many it suppressed. Keys are bounded (oldest dropped).
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

MAX_KEYS = 4096


def sanitize(text: str, limit: int = 200) -> str:
    """Text from a peer made safe for one log line: printable characters only, bounded length."""
    out = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


class ThrottledLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._seen: OrderedDict[str, list[float | int]] = OrderedDict()  # key -> [last time, suppressed]

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log unless ``key`` logged within ``interval``; True if this line was written."""
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return False
        suppressed = int(entry[1]) if entry is not None else 0
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        if suppressed:
            msg += " (%d more like this in the last %.0f s not shown)"
            args = (*args, suppressed, self.interval)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def info(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)
