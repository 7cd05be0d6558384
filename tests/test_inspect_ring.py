"""The capture ring: count and byte limits, and that its byte accounting matches real memory."""
from __future__ import annotations

import gc
import tracemalloc

from core.inspect import CaptureRing
from core.inspect.exchange import EXCHANGE_OVERHEAD, Exchange
from core.inspect.observer import ExchangeObserver


def feed(ring: CaptureRing, n: int, body: int = 0) -> None:
    obs = ExchangeObserver(ring.add, tunnel_name="web", remote_addr="198.51.100.7:40000", target="127.0.0.1:8080",
                           body_limit=ring.body_limit)
    payload = b"y" * body
    for i in range(n):
        obs.request_data(b"POST /items/%d?page=%d HTTP/1.1\r\nHost: app.test\r\nUser-Agent: curl/8.0\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (i, i % 7, body) + payload)
        obs.response_data(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                          % body + payload)


def test_count_limit_keeps_the_newest() -> None:
    ring = CaptureRing(max_requests=5)
    feed(ring, 12)
    assert len(ring) == 5 and ring.evicted == 7
    assert [e.seq for e in ring.items()] == [8, 9, 10, 11, 12]
    assert ring.get(ring.items()[0].id) is not None
    assert len({e.id for e in ring.items()}) == 5


def test_byte_budget_and_huge_exchange() -> None:
    ring = CaptureRing(max_requests=1000, max_bytes=64 * 1024, body_limit=4096)
    feed(ring, 500, body=4096)
    assert ring.used_bytes <= ring.max_bytes
    assert ring.used_bytes == sum(e.cost for e in ring.items())
    assert 0 < len(ring) < 500
    small = CaptureRing(max_requests=10, max_bytes=64 * 1024, body_limit=1 << 20)
    feed(small, 1, body=200_000)  # bigger than the whole budget: kept without its bodies
    (ex,) = small.items()
    assert ex.request.body == b"" and ex.request.size == 200_000 and ex.request.truncated
    assert small.used_bytes <= small.max_bytes
    small.clear()
    assert len(small) == 0 and small.used_bytes == 0


def test_accounting_covers_what_python_really_holds() -> None:
    """10,000 exchanges through a ring with a budget: traced memory stays within the budget (+ a margin
    for the ring's own dict), and the per-exchange overhead constant is an honest upper bound."""
    for body in (0, 1024):
        ring = CaptureRing(max_requests=100_000, max_bytes=8 * 1024 * 1024, body_limit=1024)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        feed(ring, 10_000, body=body)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        assert ring.used_bytes <= ring.max_bytes
        per_real = held / len(ring)
        per_counted = ring.used_bytes / len(ring)
        print(f"body {body}: {len(ring)} kept, {held / 1e6:.2f} MB held, {ring.used_bytes / 1e6:.2f} MB counted, "
              f"{per_real:.0f} B real vs {per_counted:.0f} B counted per exchange")
        assert held <= ring.max_bytes * 1.05 + 256 * 1024
        assert per_real <= per_counted * 1.05, (per_real, per_counted)


def test_listener_errors_do_not_break_capture() -> None:
    ring = CaptureRing()
    seen: list[Exchange] = []
    ring.subscribe(lambda ex: 1 / 0)
    unsub = ring.subscribe(seen.append)
    feed(ring, 2)
    unsub()
    feed(ring, 1)
    assert len(seen) == 2 and len(ring) == 3
    assert EXCHANGE_OVERHEAD > 0


def test_capture_rate_limit_detaches_busy_connections() -> None:
    ring = CaptureRing(max_rate=5)
    obs = ExchangeObserver(ring.add, tunnel_name="web", remote_addr="r", target="t", body_limit=1024,
                           admit=ring.admit)
    req = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    for _ in range(5):
        obs.request_data(req)
        obs.response_data(resp)
    assert len(ring) == 5 and obs.active
    obs.request_data(req * 3)  # the bucket is empty: this connection is no longer observed
    assert not obs.active and ring.skipped == 1
    obs.response_data(resp * 3)
    assert len(ring) == 5 and all(e.error == "" for e in ring.items())
    # a pipelined request still waiting for its answer is finished first, then the observer lets go
    ring2 = CaptureRing(max_rate=1)
    obs2 = ExchangeObserver(ring2.add, tunnel_name="web", remote_addr="r", target="t", body_limit=1024,
                            admit=ring2.admit)
    obs2.request_data(req)
    obs2.request_data(req)
    assert obs2.active and ring2.skipped == 1
    obs2.response_data(resp)
    assert not obs2.active and len(ring2) == 1 and ring2.items()[0].status == 200
