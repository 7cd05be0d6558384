"""The shared receive arena (core/read_arena.py): slices handed out never change, whatever is read
after them, and a bulk reader reuses a few arenas instead of allocating one per 256 KiB."""
from __future__ import annotations

import random

from core import read_arena
from core.read_arena import ARENA_SIZE, SPARES, ReadArena


def read(a: ReadArena, data: bytes) -> memoryview:
    """What a transport does: recv_into(space()), then buffer_updated(n)."""
    space = a.space()
    n = min(len(space), len(data))
    space[:n] = data[:n]
    del space  # the transport lets go of the buffer after the read
    return a.take(n)


def test_kept_slices_are_never_overwritten_while_the_rest_is_reused() -> None:
    rng = random.Random(7)
    a = ReadArena()
    kept: list[tuple[memoryview, bytes]] = []
    for i in range(3000):
        data = rng.randbytes(rng.choice((1, 300, 16 * 1024, 100_000, ARENA_SIZE)))
        piece = read(a, data)
        assert bytes(piece) == data[:len(piece)]
        if rng.random() < 0.05:
            kept.append((piece, bytes(piece)))  # a slow consumer holds on to it
        if kept and rng.random() < 0.04:
            kept.pop(rng.randrange(len(kept)))
    assert len(kept) > 10
    for piece, want in kept:
        assert bytes(piece) == want


def test_a_bulk_reader_cycles_through_a_few_arenas(monkeypatch) -> None:
    made: list[int] = []
    real = bytearray

    class Counting(bytearray):
        def __init__(self, *args: object) -> None:
            made.append(1)
            real.__init__(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(read_arena, "bytearray", Counting, raising=False)
    a = ReadArena()
    pending: list[memoryview] = []
    for _ in range(1000):  # 250 MiB in reads of 256 KiB; each waits one read before it is used
        pending.append(read(a, b"x" * ARENA_SIZE))
        if len(pending) > 1:
            pending.pop(0)
    assert len(made) <= 3, f"{len(made)} arenas allocated for 1000 reads"


def test_pinned_arenas_leave_the_pool() -> None:
    a = ReadArena()
    pins = [read(a, b"p" * ARENA_SIZE)[:1] for _ in range(20)]  # each keeps its whole arena
    assert len(a._spares) <= SPARES
    assert all(bytes(p) == b"p" for p in pins)


class _Link:
    def __init__(self, copies_writes: bool) -> None:
        self.copies_writes = copies_writes


class _Channel:
    def __init__(self, copies_writes: bool) -> None:
        self.link = _Link(copies_writes)
        self.sent: list[object] = []

    def send(self, data: object) -> None:
        self.sent.append(data)


def _deliver(ep, data: bytes) -> None:  # type: ignore[no-untyped-def]
    space = ep.get_buffer(-1)
    space[:len(data)] = data
    del space
    ep.buffer_updated(len(data))


def test_a_socket_endpoint_hands_slices_only_to_a_link_that_copies_at_once() -> None:
    from core.channel import SocketEndpoint

    for tls, kind in ((True, memoryview), (False, bytes)):
        ch = _Channel(tls)
        _deliver(SocketEndpoint(ch), b"hello")  # type: ignore[arg-type]
        # over plain TCP a slice would wait in the socket's buffer, pinning its whole arena
        assert [type(d) for d in ch.sent] == [kind] and bytes(ch.sent[0]) == b"hello"  # type: ignore[arg-type]

    class Sniffing(SocketEndpoint):  # overrides data_received: gets bytes, as from a plain Protocol
        def data_received(self, data: bytes) -> None:
            assert type(data) is bytes and data.upper() == b"HELLO"
            super().data_received(data)

    ch = _Channel(True)
    _deliver(Sniffing(ch), b"hello")  # type: ignore[arg-type]
    assert ch.sent == [b"hello"]
