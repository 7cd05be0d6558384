"""The sans-io exchange observer: heads, bodies, keep-alive, pipelining, limits, never raising."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.inspect.exchange import Exchange
from core.inspect.observer import MAX_PIPELINED, ExchangeObserver


def observer(limit: int = 64 * 1024) -> tuple[ExchangeObserver, list[Exchange]]:
    out: list[Exchange] = []
    ticks = iter(range(1, 10_000))
    obs = ExchangeObserver(out.append, tunnel_name="web", remote_addr="203.0.113.9:5555",
                           target="127.0.0.1:8080", body_limit=limit, wall=lambda: 1_700_000_000.0,
                           clock=lambda: float(next(ticks)))
    return obs, out


REQ_GET = b"GET /a?x=1 HTTP/1.1\r\nHost: app.test\r\nAccept: */*\r\n\r\n"
RESP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
JSON = b'{"event": "push", "n": 1}'
REQ_POST = (b"POST /hook HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(JSON)) + JSON
RESP_CHUNKED = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"


def test_one_exchange_fields() -> None:
    obs, out = observer()
    obs.request_data(REQ_GET)
    assert out == []
    obs.response_data(RESP_OK)
    (ex,) = out
    assert (ex.method, ex.uri, ex.path, ex.proto, ex.status, ex.reason) == ("GET", "/a?x=1", "/a", "HTTP/1.1", 200, "OK")
    assert ex.tunnel_name == "web" and ex.remote_addr == "203.0.113.9:5555" and ex.target == "127.0.0.1:8080"
    assert ex.request.head == REQ_GET and ex.request.body == b"" and ex.request.complete
    assert ex.response is not None and ex.response.raw == RESP_OK and ex.response.size == 5
    assert ex.response.complete and not ex.response.truncated and ex.error == ""
    assert ex.host == "app.test"
    assert ex.ttfb is not None and ex.duration is not None and ex.duration >= ex.ttfb > 0
    assert ex.start == 1_700_000_000.0


def test_keep_alive_pipelining_and_chunked() -> None:
    obs, out = observer()
    obs.request_data(REQ_GET + REQ_POST + REQ_GET)  # three pipelined requests in one read
    obs.response_data(RESP_OK + RESP_CHUNKED)
    obs.response_data(RESP_OK)
    assert [e.method for e in out] == ["GET", "POST", "GET"]
    post = out[1]
    assert post.request.body == JSON and post.request.size == len(JSON) and post.status == 201
    assert post.response is not None and post.response.body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert post.response.complete


def test_body_prefix_is_bounded_and_marked() -> None:
    obs, out = observer(limit=10)
    body = b"x" * 1000
    obs.request_data(b"PUT /big HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + body[:300])
    obs.request_data(body[300:])
    obs.response_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body)
    (ex,) = out
    assert ex.request.body == b"x" * 10 and ex.request.size == 1000 and ex.request.truncated
    assert ex.response is not None and len(ex.response.body) == 10 and ex.response.truncated


def test_provisional_100_is_skipped_and_head_response_has_no_body() -> None:
    obs, out = observer()
    obs.request_data(b"POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    obs.response_data(b"HTTP/1.1 100 Continue\r\n\r\n")
    obs.request_data(b"ok")
    obs.response_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    obs.request_data(b"HEAD /h HTTP/1.1\r\n\r\n")
    obs.response_data(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert [(e.method, e.status) for e in out] == [("POST", 204), ("HEAD", 200)]
    assert out[0].request.body == b"ok"


def test_read_until_close_body_ends_at_eof() -> None:
    obs, out = observer()
    obs.request_data(REQ_GET)
    obs.response_data(b"HTTP/1.0 200 OK\r\n\r\npart one ")
    obs.response_data(b"part two")
    assert out == []
    obs.response_eof()
    (ex,) = out
    assert ex.response is not None and ex.response.body == b"part one part two" and ex.response.complete
    assert ex.error == ""


def test_connection_closed_before_response_is_emitted_with_error() -> None:
    obs, out = observer()
    obs.request_data(REQ_POST)
    obs.closed()
    (ex,) = out
    assert ex.response is None and ex.status == 0 and ex.error
    obs.request_data(REQ_GET)  # nothing after close
    assert len(out) == 1


def test_upgrade_stops_after_101() -> None:
    obs, out = observer()
    obs.request_data(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    obs.response_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
    assert [e.status for e in out] == [101]
    assert not obs.active
    obs.request_data(b"\x81\x85garbage")  # websocket frames: ignored, never raising
    obs.response_data(b"\x00\x01")


@pytest.mark.parametrize("junk", [b"\x16\x03\x01\x02\x00binary tls hello\r\n\r\n", b"GET / HTTP/2.0\r\n\r\n",
                                  b"A" * 70_000])
def test_not_http_stops_observing_without_raising(junk: bytes) -> None:
    obs, out = observer()
    obs.request_data(junk)
    assert not obs.active
    obs.response_data(RESP_OK)
    assert out == []


def test_odd_header_lines_are_captured_as_they_came() -> None:
    """The fast path reads only the framing headers; a line it does not need is kept raw, and the
    views fall back to showing the head as text (request_head() is None, nothing raises)."""
    from core.inspect.formats import to_json

    obs, out = observer()
    obs.request_data(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n")
    obs.response_data(RESP_OK)
    (ex,) = out
    assert ex.request_head() is None and ex.status == 200
    assert to_json(ex)["request"]["headers"] == {}


def test_response_without_request_stops() -> None:
    obs, out = observer()
    obs.response_data(RESP_OK)
    assert not obs.active and out == []


def test_too_many_pipelined_requests_stops() -> None:
    obs, out = observer()
    obs.request_data(REQ_GET * (MAX_PIPELINED + 1))
    assert not obs.active
    assert len(out) == MAX_PIPELINED and all(e.error for e in out)


def test_memoryview_input() -> None:
    obs, out = observer()
    buf = bytearray(REQ_POST)
    obs.request_data(memoryview(buf)[:30])
    obs.request_data(memoryview(buf)[30:])
    obs.response_data(memoryview(RESP_CHUNKED))
    (ex,) = out
    assert ex.request.body == JSON and isinstance(ex.request.body, bytes)
    assert isinstance(ex.request.head, bytes)


STREAM_REQ = REQ_GET + REQ_POST + b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n"
STREAM_RESP = RESP_OK + RESP_CHUNKED + RESP_OK


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return [c for c in out if c]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12), st.lists(st.integers(0, 10_000), max_size=12),
       st.integers(0, 64))
def test_any_split_gives_the_same_exchanges(req_cuts: list[int], resp_cuts: list[int], limit: int) -> None:
    obs, out = observer(limit)
    reqs, resps = _split(STREAM_REQ, req_cuts), _split(STREAM_RESP, resp_cuts)
    rnd = random.Random(len(reqs) * 31 + len(resps))
    req_ends = [len(REQ_GET), len(REQ_GET + REQ_POST), len(STREAM_REQ)]
    resp_ends = [len(RESP_OK), len(RESP_OK + RESP_CHUNKED), len(STREAM_RESP)]
    fed_req = fed_resp = 0
    while reqs or resps:  # interleave; a response never starts before its request is complete
        last = fed_resp + len(resps[0]) - 1 if resps else 0
        allowed = bool(resps) and fed_req >= req_ends[next(i for i, e in enumerate(resp_ends) if last < e)]
        if reqs and (not allowed or rnd.random() < 0.6):
            fed_req += len(reqs[0])
            obs.request_data(reqs.pop(0))
        else:
            fed_resp += len(resps[0])
            obs.response_data(resps.pop(0))
    assert obs.active
    assert [(e.method, e.uri, e.status) for e in out] == [("GET", "/a?x=1", 200), ("POST", "/hook", 201),
                                                           ("POST", "/c", 200)]
    assert out[1].request.body == JSON[:limit] and out[1].request.size == len(JSON)
    assert out[2].request.body == b"4\r\nwiki\r\n0\r\n\r\n"[:limit]


def test_garbage_never_raises() -> None:
    rnd = random.Random(7)
    for _ in range(300):
        obs, _out = observer(rnd.randint(0, 50))
        for _ in range(6):
            blob = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 80)))
            if rnd.random() < 0.5:
                blob = REQ_GET[: rnd.randint(0, len(REQ_GET))] + blob
            (obs.request_data if rnd.random() < 0.5 else obs.response_data)(blob)
        obs.closed()
