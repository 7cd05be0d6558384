"""One receive buffer that a thread's sockets read into, reused once nothing points into it.

A plain ``asyncio.Protocol`` gets every read as a new ``bytes``: the event loop reads into a
buffer of its own, then copies. For bulk traffic through a TLS link that copy was the largest
single cost of the server after the encryption (7% of its CPU, ``perf``). Reading straight into
an arena and handing on slices of it skips that copy. The center link reads into it too: its
Data payloads are slices of it, and a link gone idle holds no buffer of its own.

A slice is valid for as long as it lives: the arena moves on and never rewrites bytes that a
live ``memoryview`` can see. Python tells us when none is left: a ``bytearray`` cannot be
resized while a buffer of it is exported, so a spare arena that can be resized is free for
reuse. A bulk reader therefore cycles through a few arenas without allocating (and zeroing)
new ones, and a slice kept for long only keeps its own arena, which leaves the pool.

Per thread (each thread runs at most one event loop here), so no locks.
"""
from __future__ import annotations

import threading

ARENA_SIZE = 256 * 1024  # one read takes at most what is left of the arena
MIN_READ = 16 * 1024  # a fresh arena once less than this is left (one TLS record's worth)
SPARES = 3  # arenas kept for reuse; pinned ones beyond that are left to their slices
_NO_VIEW = memoryview(b"")


def _unexported(buf: bytearray) -> bool:
    """True when no memoryview of ``buf`` is alive (resizing is refused while one is)."""
    try:
        del buf[-1]
    except BufferError:
        return False
    buf.append(0)  # back to its size; the allocation has room for it, so nothing moves
    return True


class ReadArena:
    __slots__ = ("_buf", "_view", "_pos", "_spares")

    def __init__(self) -> None:
        self._buf = bytearray(ARENA_SIZE)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._spares: list[bytearray] = []

    def space(self) -> memoryview:
        """Where the next read goes (``BufferedProtocol.get_buffer``)."""
        if ARENA_SIZE - self._pos < MIN_READ:
            self._next()
        return self._view[self._pos:]

    def take(self, n: int) -> memoryview:
        """The ``n`` bytes the read put into ``space()`` (``buffer_updated``)."""
        start = self._pos
        self._pos = start + n
        return self._view[start:start + n]

    def _next(self) -> None:
        self._view = _NO_VIEW  # drop our own view of it: only the slices handed out may keep it now
        spares = self._spares
        spares.append(self._buf)
        for i, buf in enumerate(spares):
            if _unexported(buf):
                del spares[i]
                break
        else:
            buf = bytearray(ARENA_SIZE)
        del spares[:-SPARES]  # the oldest pinned ones go; their slices still keep them alive
        self._buf, self._view, self._pos = buf, memoryview(buf), 0


_local = threading.local()


def arena() -> ReadArena:
    """This thread's arena."""
    a = getattr(_local, "arena", None)
    if a is None:
        a = _local.arena = ReadArena()
    return a
