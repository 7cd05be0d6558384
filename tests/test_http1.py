"""Sans-io HTTP/1 framing: heads, body boundaries, header rules."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.frames import HeaderOp, HeaderRule
from core.http1 import (
    CHUNKED,
    CLOSE,
    LENGTH,
    NONE,
    BodyReader,
    HttpError,
    RequestHead,
    ResponseHead,
    apply_header_rules,
    expand,
    find_head_end,
    join_authority,
    make_response,
    parse_request_head,
    parse_response_head,
    request_body_kind,
    response_body_kind,
    split_authority,
    strip_hop_by_hop,
)

pytestmark = pytest.mark.timeout(60)

REQ = b"GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Two: 1\r\nx-two: 2\r\nUser-Agent: t\r\n\r\n"


# ---------------------------------------------------------------- heads
def test_request_head_fields_order_and_case() -> None:
    h = parse_request_head(REQ + b"BODY")
    assert h is not None
    assert (h.method, h.target, h.version) == ("GET", "http://example.com:8080/a?b=1", (1, 1))
    assert h.head_len == len(REQ)
    assert h.headers == [("Host", "example.com"), ("X-Two", "1"), ("x-two", "2"), ("User-Agent", "t")]
    assert h.get("HOST") == "example.com"
    assert h.get_all("X-TWO") == ["1", "2"]
    assert h.serialize() == REQ


def test_request_head_incomplete_at_every_prefix() -> None:
    for i in range(len(REQ)):
        assert parse_request_head(REQ[:i]) is None, i
    assert parse_request_head(REQ) is not None


def test_head_helpers_set_add_remove() -> None:
    h = parse_request_head(REQ)
    assert h is not None
    h.set("x-TWO", "only")  # replaces both, keeps the first one's position
    assert h.headers[1] == ("x-TWO", "only") and h.get_all("x-two") == ["only"]
    h.add("X-New", "a")
    h.add("x-new", "b")
    assert h.get_all("X-NEW") == ["a", "b"]
    assert h.remove("X-new") == 2 and not h.has("x-new")
    assert h.remove("absent") == 0
    h.set("Added", "v")
    assert h.headers[-1] == ("Added", "v")


def test_lf_only_and_leading_blank_lines() -> None:
    h = parse_request_head(b"\r\n\r\nGET / HTTP/1.0\nHost: a\n\nrest")
    assert h is not None and h.get("host") == "a" and h.version == (1, 0)
    assert not h.keep_alive
    assert b"\r\n\r\nGET / HTTP/1.0\nHost: a\n\nrest"[h.head_len :] == b"rest"


def test_keep_alive_rules() -> None:
    def ka(raw: bytes) -> bool:
        h = parse_request_head(raw)
        assert h is not None
        return h.keep_alive

    assert ka(b"GET / HTTP/1.1\r\n\r\n")
    assert not ka(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
    assert not ka(b"GET / HTTP/1.0\r\n\r\n")
    assert ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nName : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nnocolon\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ],
)
def test_malformed_request_heads(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as ei:
        parse_request_head(raw)
    assert ei.value.status == status


def test_oversized_head_is_431_without_waiting_for_the_end() -> None:
    big = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 70_000
    with pytest.raises(HttpError) as ei:
        parse_request_head(big)
    assert ei.value.status == 431
    # below the limit it just asks for more
    assert parse_request_head(big[:60_000]) is None
    # a custom limit
    with pytest.raises(HttpError):
        parse_request_head(b"GET / HTTP/1.1\r\nA: " + b"b" * 200 + b"\r\n\r\n", max_head=100)


def test_find_head_end_incremental() -> None:
    buf = bytearray()
    scanned = 0
    for i, byte in enumerate(REQ):
        buf.append(byte)
        end = find_head_end(buf, scanned - 3)
        scanned = len(buf)
        if i < len(REQ) - 1:
            assert end == -1
    assert end == len(REQ)


def test_response_head() -> None:
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc"
    h = parse_response_head(raw, "GET")
    assert h is not None and (h.status, h.reason, h.head_len) == (404, "Not Found", len(raw) - 3)
    assert h.serialize() == raw[:-3]
    h2 = parse_response_head(b"HTTP/1.1 200\r\n\r\n")
    assert h2 is not None and h2.reason == ""
    assert parse_response_head(b"HTTP/1.1 200 OK\r\n") is None
    with pytest.raises(HttpError) as ei:
        parse_response_head(b"HTTP/1.1 2000 OK\r\n\r\n")
    assert ei.value.status == 502


def test_make_response() -> None:
    raw = make_response(407, "need auth\n", [("Proxy-Authenticate", 'Basic realm="wmproxy"')])
    h = parse_response_head(raw)
    assert h is not None and h.status == 407 and h.get("content-length") == "10"
    assert h.get("proxy-authenticate") == 'Basic realm="wmproxy"' and h.get("connection") == "close"
    assert raw.endswith(b"\r\n\r\nneed auth\n")


# ---------------------------------------------------------------- authority
def test_split_and_join_authority() -> None:
    assert split_authority("example.com:443") == ("example.com", 443)
    assert split_authority("example.com", 80) == ("example.com", 80)
    assert split_authority("[::1]:8080") == ("::1", 8080)
    assert split_authority("[::1]", 443) == ("::1", 443)
    assert split_authority("::1", 80) == ("::1", 80)
    for bad in ("", "host:", "host:99999", "host:x", "[::1", "[::1]x", ":80"):
        with pytest.raises(ValueError):
            split_authority(bad, None if bad.endswith(":") else 80) if bad != "host:" else split_authority(bad)
    with pytest.raises(ValueError):
        split_authority("example.com")  # no default port
    assert join_authority("::1", 80) == "[::1]:80" and join_authority("a", 1) == "a:1"


# ---------------------------------------------------------------- bodies
def _req(extra: bytes) -> RequestHead:
    h = parse_request_head(b"POST / HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n")
    assert h is not None
    return h


def _resp(extra: bytes, status: int = 200) -> ResponseHead:
    h = parse_response_head(b"HTTP/1.1 %d X\r\n" % status + extra + b"\r\n")
    assert h is not None
    return h


def test_body_kinds() -> None:
    assert request_body_kind(_req(b"")) == (NONE, 0)
    assert request_body_kind(_req(b"Content-Length: 0\r\n")) == (NONE, 0)
    assert request_body_kind(_req(b"Content-Length: 12\r\n")) == (LENGTH, 12)
    assert request_body_kind(_req(b"Content-Length: 5, 5\r\n")) == (LENGTH, 5)
    assert request_body_kind(_req(b"Transfer-Encoding: gzip, chunked\r\n")) == (CHUNKED, 0)
    for bad, status in (
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: 1e3\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
        (b"Transfer-Encoding: gzip\r\n", 501),
        (b"Transfer-Encoding: chunked, gzip\r\n", 400),
    ):
        with pytest.raises(HttpError) as ei:
            request_body_kind(_req(bad))
        assert ei.value.status == status, bad

    assert response_body_kind(_resp(b"Content-Length: 9\r\n"), "HEAD") == (NONE, 0)
    for status in (100, 101, 204, 304):
        assert response_body_kind(_resp(b"Content-Length: 9\r\n", status), "GET") == (NONE, 0)
    assert response_body_kind(_resp(b""), "CONNECT") == (NONE, 0)
    assert response_body_kind(_resp(b"", 407), "CONNECT") == (CLOSE, 0)
    assert response_body_kind(_resp(b""), "GET") == (CLOSE, 0)
    assert response_body_kind(_resp(b"Transfer-Encoding: gzip\r\n"), "GET") == (CLOSE, 0)
    assert response_body_kind(_resp(b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"), "GET") == (CHUNKED, 0)
    assert response_body_kind(_resp(b"Content-Length: 4\r\n"), "GET") == (LENGTH, 4)


def test_length_body_and_next_message() -> None:
    r = BodyReader(LENGTH, 5)
    assert r.feed(b"he") == 2 and not r.done
    assert r.feed(b"lloGET /") == 3 and r.done
    assert r.feed(b"more") == 0


def test_close_body() -> None:
    r = BodyReader(CLOSE)
    assert r.feed(b"x" * 1000) == 1000 and not r.done
    r.eof()
    assert r.done


def test_truncated_body_eof_raises() -> None:
    r = BodyReader(LENGTH, 10)
    r.feed(b"abc")
    with pytest.raises(HttpError):
        r.eof()
    c = BodyReader(CHUNKED)
    c.feed(b"5\r\nab")
    with pytest.raises(HttpError):
        c.eof()


CHUNKED_BODY = (
    b"5;name=value\r\nhello\r\n"
    b"1A\r\n" + b"z" * 26 + b"\r\n"
    b"000\r\n"
    b"X-Trailer: one\r\nX-Other: two\r\n\r\n"
)
AFTER = b"GET /next HTTP/1.1\r\n\r\n"


def test_chunked_split_at_every_boundary() -> None:
    data = CHUNKED_BODY + AFTER
    for cut in range(len(data) + 1):
        r = BodyReader(CHUNKED)
        n1 = r.feed(data[:cut])
        assert n1 <= cut
        if r.done:
            assert n1 == len(CHUNKED_BODY), cut
            continue
        assert n1 == cut
        n2 = r.feed(memoryview(data)[cut:])
        assert r.done and n1 + n2 == len(CHUNKED_BODY), cut


def test_chunked_one_byte_at_a_time() -> None:
    r = BodyReader(CHUNKED)
    total = 0
    for i in range(len(CHUNKED_BODY)):
        assert not r.done
        total += r.feed(CHUNKED_BODY[i : i + 1])
    assert r.done and total == len(CHUNKED_BODY)
    assert r.feed(b"x") == 0


def test_chunked_without_trailers_and_lf_only() -> None:
    r = BodyReader(CHUNKED)
    assert r.feed(b"3\nabc\n0\n\nNEXT") == len(b"3\nabc\n0\n\n") and r.done


@pytest.mark.parametrize(
    "bad",
    [b"xyz\r\n", b"5\r\nhelloXX\r\n", b"-5\r\n", b"5 junk\r\nhello\r\n0\r\n\r\n", b"1" * 40 + b"\r\n"],
)
def test_chunked_malformed(bad: bytes) -> None:
    r = BodyReader(CHUNKED)
    with pytest.raises(HttpError):
        r.feed(bad)
        r.feed(b"\r\n0\r\n\r\n")
        raise AssertionError("accepted")  # pragma: no cover


def test_chunked_bounded_buffers() -> None:
    r = BodyReader(CHUNKED)
    with pytest.raises(HttpError):  # a size line without end is refused, not buffered forever
        for _ in range(100):
            r.feed(b"1" + b";" + b"e" * 1000)
    assert len(r._line) <= 4 * 1024 + 1
    t = BodyReader(CHUNKED, max_line=1000)
    t.feed(b"0\r\n")
    with pytest.raises(HttpError) as ei:
        for _ in range(100):
            t.feed(b"X-T: " + b"v" * 100 + b"\r\n")
    assert ei.value.status == 431


def test_pipelined_requests_with_bodies() -> None:
    stream = (
        b"POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
        b"GET /3 HTTP/1.1\r\n\r\n"
        b"HEAD /4 HTTP/1.1\r\n\r\n"
    )
    buf = bytearray(stream)
    seen = []
    while buf:
        h = parse_request_head(buf)
        assert h is not None
        del buf[: h.head_len]
        r = BodyReader.for_request(h)
        n = r.feed(buf)
        assert r.done
        seen.append((h.target, bytes(buf[:n])))
        del buf[:n]
    assert seen == [("/1", b"abc"), ("/2", b"2\r\nde\r\n0\r\n\r\n"), ("/3", b""), ("/4", b"")]


def test_response_sequence_head_204_304() -> None:
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"  # answer to HEAD: no body despite length
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    buf = bytearray(stream)
    out = []
    for method in ("HEAD", "GET", "GET", "GET"):
        h = parse_response_head(buf, method)
        assert h is not None
        del buf[: h.head_len]
        r = BodyReader.for_response(h, method)
        n = r.feed(buf)
        assert r.done
        out.append((h.status, bytes(buf[:n])))
        del buf[:n]
    assert out == [(200, b""), (204, b""), (304, b""), (200, b"ok")] and not buf


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_chunked_property_any_split(chunks: list[bytes], cuts: list[int]) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    data = body + b"TAIL"
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    r = BodyReader(CHUNKED)
    used = 0
    for a, b in zip(points, points[1:]):
        if r.done:
            break
        n = r.feed(data[a:b])
        used += n
    assert r.done and used == len(body)


# ---------------------------------------------------------------- header rules
def test_expand_variables() -> None:
    v = {"client_ip": "1.2.3.4", "url": "/x?y", "host": "h"}
    assert expand("{client_ip}", v) == "1.2.3.4"
    assert expand("from $url at {host}", v) == "from /x?y at h"
    assert expand("{url}|$unknown|{nope}", v) == "/x?y|$unknown|{nope}"
    assert expand("a$url", {"url": "/p\r\nX-Evil: 1"}) == "a/pX-Evil: 1"


def test_apply_header_rules_all_opers() -> None:
    rules = [
        HeaderRule(True, HeaderOp.REPLACE, "X-Forward-For", "{client_ip}"),
        HeaderRule(True, HeaderOp.ADD, "from", "$url"),
        HeaderRule(True, HeaderOp.ADD, "from", "{host}"),
        HeaderRule(True, HeaderOp.DEL, "Cookie"),
        HeaderRule(True, HeaderOp.DEFAULT, "User-Agent", "wmproxy"),
        HeaderRule(True, HeaderOp.DEFAULT, "X-Default", "d"),
        HeaderRule(False, HeaderOp.ADD, "last-modified", "from proxy"),
        HeaderRule(False, HeaderOp.DEL, "etag"),
    ]
    req = parse_request_head(
        b"GET /p?q=1 HTTP/1.1\r\nHost: web\r\nx-forward-for: spoofed\r\nX-Forward-For: again\r\n"
        b"Cookie: a\r\ncookie: b\r\nUser-Agent: curl\r\n\r\n"
    )
    assert req is not None
    variables = {"client_ip": "10.0.0.7", "url": req.target, "host": "web"}
    apply_header_rules(req, rules, variables)
    assert req.get_all("x-forward-for") == ["10.0.0.7"]
    assert req.get_all("from") == ["/p?q=1", "web"]
    assert not req.has("cookie")
    assert req.get("user-agent") == "curl" and req.get("x-default") == "d"
    assert not req.has("last-modified")  # response rules leave requests alone

    resp = parse_response_head(b"HTTP/1.1 200 OK\r\nETag: \"1\"\r\nLast-Modified: yesterday\r\n\r\n")
    assert resp is not None
    apply_header_rules(resp, rules, variables)
    assert not resp.has("etag")
    assert resp.get_all("last-modified") == ["yesterday", "from proxy"]
    assert not resp.has("x-forward-for")
    # explicit selection overrides the head type
    apply_header_rules(resp, rules, variables, is_proxy=True)
    assert resp.get("x-forward-for") == "10.0.0.7"


def test_strip_hop_by_hop() -> None:
    h = parse_request_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Content-Length\r\nX-Secret: s\r\n"
        b"Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
        b"Upgrade: websocket\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\nX-Keep: k\r\n\r\n"
    )
    assert h is not None
    strip_hop_by_hop(h)
    assert [k for k, _ in h.headers] == ["Host", "Content-Length", "Transfer-Encoding", "X-Keep"]


def test_rule_values_outside_latin1_serialize_as_utf8() -> None:
    h = parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert h is not None
    apply_header_rules(h, [HeaderRule(True, HeaderOp.ADD, "X-Note", "来自代理")], {})
    assert "X-Note: 来自代理\r\n".encode() in h.serialize()
    again = parse_request_head(h.serialize())
    assert again is not None and again.get("x-note") == "来自代理".encode().decode("latin-1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=16, max_value=400))
def test_fuzz_heads_fail_only_with_http_error(data: bytes, max_head: int) -> None:
    for raw in (data, b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + data + b"\r\n\r\n"):
        for parse in (parse_request_head, lambda b, m: parse_response_head(b, "GET", m)):
            try:
                h = parse(raw, max_head)
            except HttpError as e:
                assert e.status in (400, 431, 502, 505)
                continue
            if h is not None:
                assert 0 < h.head_len <= len(raw)
                assert h.head_len <= max_head + 12  # never reads past the limit (+ skipped blank lines)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_chunked_fails_only_with_http_error(data: bytes) -> None:
    r = BodyReader(CHUNKED, max_line=200)
    try:
        n = r.feed(data)
        assert 0 <= n <= len(data)
    except HttpError:
        pass
    assert len(r._line) <= 4 * 1024 + 1
