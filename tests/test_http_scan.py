"""core/http_scan.py: the strict head scanner of the public HTTP listeners (pure, no sockets)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.http1 import CHUNKED, CLOSE, LENGTH, NONE, HttpError
from core.http_scan import scan_request, scan_response

pytestmark = pytest.mark.timeout(60)

OK = b"GET /x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\n\r\n"


def test_a_plain_request() -> None:
    info = scan_request(OK + b"GET /next")
    assert (info.method, info.target, info.version, info.host, info.body, info.keep_alive, info.upgrade) == \
        ("GET", "/x?y=1", (1, 1), "a.test:8080", NONE, True, False)
    assert info.head_len == len(OK) and info.skip == 0
    for cut in range(len(OK)):  # every strict prefix: not complete yet
        assert scan_request(OK[:cut]) is None


@pytest.mark.parametrize("head, body, length, keep", [
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", LENGTH, 5, True),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", NONE, 0, True),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", CHUNKED, 0, True),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", CHUNKED, 0, True),
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", NONE, 0, False),
    (b"GET / HTTP/1.0\r\n\r\n", NONE, 0, False),
    (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", NONE, 0, True),
    (b"\r\nGET / HTTP/1.1\nHost: a\n\n", NONE, 0, True),  # a stray CRLF first, bare LF lines
])
def test_framing(head, body, length, keep) -> None:
    info = scan_request(head)
    assert (info.body, info.length, info.keep_alive) == (body, length, keep)


def test_upgrade_connect_and_absolute_form() -> None:
    assert scan_request(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").upgrade
    assert scan_request(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").upgrade
    info = scan_request(b"GET http://b.test/p HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert info.host == "b.test"  # the absolute-form target names the host


@pytest.mark.parametrize("head, status, words", [
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400, "both"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", 400, "several Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n", 400, "bad Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n", 400, "bad Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400, "unsupported"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400, "unsupported"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
     "unsupported"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400, "malformed header"),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed header"),
    (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400, "malformed header"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "several Host"),
    (b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "no Host"),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2"),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431, "more than 100"),
])
def test_what_is_refused_before_anything_is_forwarded(head, status, words) -> None:
    with pytest.raises(HttpError) as e:
        scan_request(head)
    assert e.value.status == status and words in e.value.message


def test_head_size_limit() -> None:
    with pytest.raises(HttpError) as e:
        scan_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * 70_000)
    assert e.value.status == 431


@pytest.mark.parametrize("head, method, body, length, keep", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "GET", LENGTH, 3, True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "HEAD", NONE, 0, True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", NONE, 0, True),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", NONE, 0, True),
    (b"HTTP/1.1 200 OK\r\n\r\n", "GET", CLOSE, 0, True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", CHUNKED, 0, True),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "GET", LENGTH, 1, False),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "GET", NONE, 0, True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", NONE, 0, False),
])
def test_responses(head, method, body, length, keep) -> None:
    info = scan_response(head, method)
    assert (info.body, info.length, info.keep_alive, info.head_len) == (body, length, keep, len(head))


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
    b"HTTP/9 200 OK\r\n\r\n",
])
def test_responses_a_client_must_not_see_are_502(head) -> None:
    with pytest.raises(HttpError) as e:
        scan_response(head, "GET")
    assert e.value.status == 502


_names = st.sampled_from([b"Accept", b"X-Id", b"Cookie", b"Content-Length", b"Transfer-Encoding", b"Connection",
                          b"Host", b"Upgrade", b"content-length", b"HOST"])
_values = st.sampled_from([b"1", b"0", b"chunked", b"close", b"keep-alive", b"a.test", b"x, y", b"12", b""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=6), st.sampled_from([b"GET", b"POST"]),
       st.sampled_from([b"1.0", b"1.1"]),
       st.sampled_from([b"/p", b"http://b.test/p", b"http://u:pw@b.test:81/p?q", b"http://b.test?x=/y",
                        b"HTTP://B.test/", b"https://b.test/", b"http://", b"http://[::1]:8/", b"*"]))
def test_the_fast_path_agrees_with_the_general_one(fields, method, version, target) -> None:
    """A leading CRLF sends a head down the general path: both must say the same, or both refuse."""
    head = method + b" " + target + b" HTTP/" + version + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in fields) + b"\r\n"

    def outcome(buf: bytes):
        try:
            info = scan_request(buf)
        except HttpError as e:
            return ("error", e.status)
        return (info.method, info.target, info.version, info.host, info.body, info.length, info.keep_alive,
                info.upgrade, info.head_len - info.skip)

    assert outcome(head) == outcome(b"\r\n" + head)
    try:
        fast = scan_response(b"HTTP/" + version + b" 200 OK\r\n" + head.split(b"\r\n", 1)[1], "GET")
        fast_o = (fast.body, fast.length, fast.keep_alive)
    except HttpError as e:
        fast_o = ("error", e.status)
    try:
        slow = scan_response(b"HTTP/" + version + b" 200 OK\n" + head.split(b"\r\n", 1)[1].replace(b"\r\n", b"\n"),
                             "GET")
        slow_o = (slow.body, slow.length, slow.keep_alive)
    except HttpError as e:
        slow_o = ("error", e.status)
    assert fast_o == slow_o


@pytest.mark.parametrize("head, kept", [
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: 1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nconnection:CLOSE \t\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-a\r\nX-A: 1\r\n\r\n", None),  # names a hop header
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: close\r\n\r\n", None),
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", None),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n", None),
])
def test_without_connection_close_drops_only_a_lone_close(head: bytes, kept: bytes | None) -> None:
    from core.http_scan import without_connection_close

    assert without_connection_close(head) == kept
    if kept is not None:  # still one valid head, now keep-alive
        info = scan_request(kept)
        assert info is not None and info.keep_alive and info.head_len == len(kept)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 2\n\n",
])
def test_with_connection_close_makes_an_answer_say_close(head: bytes) -> None:
    from core.http_scan import with_connection_close

    out = with_connection_close(head)
    info = scan_response(out, "GET")
    assert info is not None and not info.keep_alive and info.length == 2 and info.head_len == len(out)
    assert out.lower().count(b"connection:") == 1


@pytest.mark.parametrize("head, bound", [
    (b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: NTLM TlRMTVNT\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nHost: a\r\nauthorization:negotiate YII\r\n\r\n", True),
    (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n", True),
    (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ntlm\r\n\r\n", False),
    (b"GET /ntlm HTTP/1.1\r\nHost: a\r\nX-Note: Authorization: NTLM\r\n\r\n", False),
])
def test_binds_connection_finds_connection_bound_logins(head: bytes, bound: bool) -> None:
    from core.http_scan import binds_connection

    assert binds_connection(head) is bound
