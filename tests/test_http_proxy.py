"""HTTP proxy protocol details over real sockets: header rewriting, reuse, framing, errors,
and the client half ``connect_via_http_proxy``."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import pytest
from _servers import HttpTarget
from _util import EchoServer, run

from core import socks5
from core.config import ProxyListenerConfig
from core.http1 import BodyReader, ResponseHead, parse_response_head
from core.http_proxy import ProxyConnectError, basic_auth_value, connect_via_http_proxy, parse_basic
from core.policy import DialError
from core.proxy import ProxyListener, ProxyOptions, serve_proxy
from core.streams import ByteStream, TcpStream

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def target() -> HttpTarget:
    with HttpTarget() as t:
        yield t  # type: ignore[misc]


@pytest.fixture(scope="module")
def target_b() -> HttpTarget:
    with HttpTarget() as t:
        yield t  # type: ignore[misc]


async def listener(dial: Callable[[str, int], Awaitable[ByteStream]] | None = None, **kw: object) -> ProxyListener:
    lst = ProxyListener(ProxyListenerConfig(name="p", bind="127.0.0.1:0", **kw), dial=dial)  # type: ignore[arg-type]
    await lst.start()
    return lst


class Client:
    """A raw HTTP client connection that parses responses with our own framing."""

    def __init__(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.r, self.w, self.buf = r, w, bytearray()

    @classmethod
    async def open(cls, lst: ProxyListener) -> "Client":
        return cls(*await asyncio.open_connection(*lst.address))

    def send(self, data: bytes) -> None:
        self.w.write(data)

    async def response(self, method: str = "GET") -> tuple[ResponseHead, bytes]:
        while True:
            head = parse_response_head(self.buf, method)
            if head is not None:
                break
            data = await self.r.read(65536)
            assert data, f"connection closed; got {bytes(self.buf)!r}"
            self.buf += data
        del self.buf[: head.head_len]
        body = bytearray()
        reader = BodyReader.for_response(head, method)
        while not reader.done:
            if self.buf:
                n = reader.feed(self.buf)
                body += self.buf[:n]
                del self.buf[:n]
                continue
            data = await self.r.read(65536)
            if not data:
                reader.eof()
                break
            self.buf += data
        return head, bytes(body)

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.r.read(1), 10) == b""

    def close(self) -> None:
        self.w.close()


def get(url: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {url} HTTP/{version}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---------------------------------------------------------------- forward mode
def test_request_rewritten_for_origin(target: HttpTarget) -> None:
    async def go() -> None:
        lst = await listener(username="u", password="p")
        c = await Client.open(lst)
        c.send(get(target.url("/path?q=1#frag"), "Host: wrong.example", f"Proxy-Authorization: {basic_auth_value('u', 'p')}",
                   "Proxy-Connection: keep-alive", "Connection: X-Hop", "X-Hop: secret", "Keep-Alive: 5", "X-End: 1"))
        head, body = await c.response()
        assert head.status == 200 and body == b"hello /path?q=1\n"
        c.close()
        await lst.stop()

    run(go())
    seen = target.requests[-1]
    assert seen.path == "/path?q=1"
    assert seen.header("host") == target.authority
    names = {k.lower() for k, _ in seen.headers}
    assert not names & {"proxy-authorization", "proxy-connection", "x-hop", "keep-alive", "connection"}
    assert seen.header("x-end") == "1"


def test_upstream_reused_per_host(target: HttpTarget, target_b: HttpTarget) -> None:
    a0, b0 = target.connections, target_b.connections

    async def go() -> None:
        lst = await listener()
        c = await Client.open(lst)
        for t, path in ((target, "/a1"), (target, "/a2"), (target_b, "/b1"), (target, "/a3")):
            c.send(get(t.url(path)))
            head, body = await c.response()
            assert (head.status, body) == (200, f"hello {path}\n".encode())
        c.close()
        await lst.stop()

    run(go())
    assert target.connections - a0 == 2  # a1+a2 share one, a3 needs a new one after b1
    assert target_b.connections - b0 == 1


def test_pipelined_requests_answered_in_order(target: HttpTarget) -> None:
    async def go() -> None:
        lst = await listener()
        c = await Client.open(lst)
        c.send(get(target.url("/p1")) + get(target.url("/p2"), method="HEAD") + get(target.url("/p3")))
        assert (await c.response())[1] == b"hello /p1\n"
        h2, b2 = await c.response("HEAD")
        assert h2.status == 200 and b2 == b"" and h2.get("content-length") == "10"
        assert (await c.response())[1] == b"hello /p3\n"
        c.close()
        await lst.stop()

    run(go())


def test_204_304_and_close_delimited(target: HttpTarget) -> None:
    async def go() -> None:
        lst = await listener()
        c = await Client.open(lst)
        for status in (204, 304):
            c.send(get(target.url(f"/status/{status}")))
            h, b = await c.response()
            assert (h.status, b) == (status, b"")
        c.send(get(target.url("/close/5000")))
        h, b = await c.response()
        assert h.status == 200 and len(b) == 5000 and h.get("connection") == "close"
        assert await c.closed()
        await lst.stop()

    run(go())


def test_http10_client_gets_closed(target: HttpTarget) -> None:
    async def go() -> None:
        lst = await listener()
        c = await Client.open(lst)
        c.send(get(target.url("/ten"), version="1.0"))
        h, b = await c.response()
        assert b == b"hello /ten\n" and h.get("connection") == "close"
        assert await c.closed()
        c2 = await Client.open(lst)
        c2.send(get(target.url("/ten-ka"), "Connection: keep-alive", version="1.0"))
        h, b = await c2.response()
        assert b == b"hello /ten-ka\n" and h.get("connection") == "keep-alive"
        c2.send(get(target.url("/ten-again"), version="1.0"))
        assert (await c2.response())[1] == b"hello /ten-again\n"
        c2.close()
        await lst.stop()

    run(go())


async def _one_shot_server() -> tuple[asyncio.Server, list[int]]:
    """Answers one request per connection with keep-alive framing, then hangs up (like an idle timeout)."""
    conns: list[int] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        conns.append(1)
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()
        await asyncio.sleep(0.05)
        w.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), conns


def test_reused_upstream_that_closed_is_redialed() -> None:
    async def go() -> None:
        srv, conns = await _one_shot_server()
        port = srv.sockets[0].getsockname()[1]
        lst = await listener()
        c = await Client.open(lst)
        for _ in range(3):
            c.send(get(f"http://127.0.0.1:{port}/"))
            h, b = await c.response()
            assert (h.status, b) == (200, b"ok")
            await asyncio.sleep(0.2)  # let the upstream hang up
        assert len(conns) == 3
        c.close()
        await lst.stop()
        srv.close()

    run(go())


def test_bad_upstream_response_is_502() -> None:
    async def go() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"SSH-2.0-OpenSSH\r\n\r\n")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        lst = await listener()
        c = await Client.open(lst)
        c.send(get(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"))
        h, b = await c.response()
        assert h.status == 502 and b"bad response" in b
        c.close()
        await lst.stop()
        srv.close()

    run(go())


@pytest.mark.parametrize(
    "request_head,status",
    [
        (b"POST http://127.0.0.1:9/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"GET https://127.0.0.1:9/ HTTP/1.1\r\n\r\n", 400),
        (b"GET http://[::1/ HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT 127.0.0.1:99999 HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
    ],
)
def test_bad_requests(request_head: bytes, status: int) -> None:
    async def go() -> None:
        lst = await listener()
        c = await Client.open(lst)
        c.send(request_head)
        h, _ = await c.response()
        assert h.status == status
        assert await c.closed()
        await lst.stop()

    run(go())


# ---------------------------------------------------------------- dial failures -> answers
@pytest.mark.parametrize(
    "exc,status,code",
    [
        (DialError("no route", "network"), 502, socks5.NETWORK_UNREACHABLE),
        (DialError("no host", "host"), 502, socks5.HOST_UNREACHABLE),
        (DialError("denied here", "denied"), 403, socks5.NOT_ALLOWED),
        (ConnectionRefusedError(), 502, socks5.CONNECTION_REFUSED),
        (RuntimeError("tunnel broke"), 502, socks5.GENERAL_FAILURE),
        (None, 504, socks5.TTL_EXPIRED),  # None: the dialer hangs past connect_timeout
    ],
)
def test_dial_failures_map_to_answers(exc: BaseException | None, status: int, code: int) -> None:
    async def dial(host: str, port: int) -> ByteStream:
        if exc is None:
            await asyncio.sleep(60)
        raise exc  # type: ignore[misc]

    async def go() -> None:
        lst = await listener(dial)
        lst.options.connect_timeout = 0.3
        c = await Client.open(lst)
        c.send(get("http://example.test:81/"))
        h, body = await c.response()
        assert h.status == status and body.startswith(b"example.test:81: ")
        c.close()
        r, w = await asyncio.open_connection(*lst.address)
        w.write(socks5.client_greeting() + socks5.client_request("example.test", 81))
        reply = await asyncio.wait_for(r.readexactly(12), 10)  # method choice + 10-byte reply
        assert reply[:2] == b"\x05\x00" and reply[2:4] == bytes((5, code))
        w.close()
        await lst.stop()

    run(go())


def test_serve_proxy_reports_target_and_never_raises(target: HttpTarget) -> None:
    targets: list[str] = []

    async def go() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await serve_proxy(TcpStream(r, w), ProxyOptions(), on_target=targets.append)

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        addr = srv.sockets[0].getsockname()[:2]
        r, w = await asyncio.open_connection(*addr)
        w.write(get(target.url("/t")))
        c = Client(r, w)
        assert (await c.response())[1] == b"hello /t\n"
        c.close()
        r, w = await asyncio.open_connection(*addr)  # garbage, then reset
        w.write(b"\x05\x01")
        w.transport.abort()
        await asyncio.sleep(0.1)
        srv.close()

    run(go())
    assert targets == [target.authority]


# ---------------------------------------------------------------- client half
def test_connect_via_http_proxy_success_and_auth() -> None:
    echo = EchoServer().start()

    async def go() -> None:
        lst = await listener(username="u", password="p")
        s = await TcpStream.connect(*lst.address)
        await connect_via_http_proxy(s, "127.0.0.1", echo.port, auth=("u", "p"))
        s.write(b"through the tunnel")
        await s.drain()
        assert await s.read() == b"through the tunnel"
        s.close()
        s = await TcpStream.connect(*lst.address)
        with pytest.raises(ProxyConnectError) as ei:
            await connect_via_http_proxy(s, "127.0.0.1", echo.port, auth=("u", "bad"))
        assert ei.value.status == 407 and "407 Proxy Authentication Required" in str(ei.value)
        assert isinstance(ei.value, ConnectionRefusedError)
        s.close()
        await lst.stop()

    try:
        run(go())
    finally:
        echo.stop()


def test_connect_via_http_proxy_leftover_and_refusal() -> None:
    async def go() -> None:
        async def fake_proxy(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            if b"CONNECT good:1 HTTP/1.1" in head:
                w.write(b"HTTP/1.1 200 Connection established\r\n\r\nEARLY")
            elif b"silent" in head:
                await asyncio.sleep(5)
            else:
                w.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(fake_proxy, "127.0.0.1", 0)
        addr = srv.sockets[0].getsockname()[:2]
        s = await TcpStream.connect(*addr)
        await connect_via_http_proxy(s, "good", 1)
        assert await s.read() == b"EARLY"
        s.close()
        s = await TcpStream.connect(*addr)
        with pytest.raises(ProxyConnectError) as ei:
            await connect_via_http_proxy(s, "bad", 1)
        assert ei.value.status == 403 and "HTTP/1.1 403 Forbidden" in str(ei.value) and "bad:1" in str(ei.value)
        s.close()
        s = await TcpStream.connect(*addr)
        with pytest.raises(TimeoutError):
            await connect_via_http_proxy(s, "silent", 1, timeout=0.3)
        s.close()
        srv.close()

    run(go())


def test_chained_proxy_keeps_failure_kinds(target: HttpTarget) -> None:
    """A credentialed local listener reaching targets by CONNECT through another proxy
    (as the client does through the tunnel) still answers SOCKS5 with the far end's exact code."""
    from core.policy import TargetPolicy

    async def go() -> None:
        far = ProxyListener(ProxyListenerConfig(name="far", bind="127.0.0.1:0"), policy=TargetPolicy(
            allow=[f"127.0.0.1:{target.port}"]))
        await far.start()

        async def via_far(host: str, port: int) -> ByteStream:
            s = await TcpStream.connect(*far.address)
            try:
                await connect_via_http_proxy(s, host, port)
            except BaseException:
                s.close()
                raise
            return s

        near = await listener(via_far, username="u", password="p")
        cases = [("127.0.0.1", target.port, socks5.SUCCEEDED), ("127.0.0.1", 1, socks5.NOT_ALLOWED),
                 ("no-such-host.invalid", 80, socks5.HOST_UNREACHABLE)]
        for host, port, code in cases:
            r, w = await asyncio.open_connection(*near.address)
            w.write(socks5.client_greeting((2,)) + socks5.client_auth("u", "p") + socks5.client_request(host, port))
            got = await asyncio.wait_for(r.readexactly(4 + 10), 10)
            assert got[:4] == b"\x05\x02\x01\x00" and got[4:6] == bytes((5, code)), (host, port, got)
            w.close()
        s = await TcpStream.connect(*far.address)
        with pytest.raises(ProxyConnectError) as ei:
            await connect_via_http_proxy(s, "127.0.0.1", 1)
        assert ei.value.kind == "denied" and "denied by default (loopback)" in str(ei.value)
        s.close()
        await near.stop()
        await far.stop()

    run(go())


def test_basic_credentials_parsing() -> None:
    assert parse_basic(basic_auth_value("a", "b:c")) == ("a", "b:c")
    assert parse_basic("basic  " + basic_auth_value("é", "ü")[6:]) == ("é", "ü")
    for bad in (None, "", "Bearer x", "Basic", "Basic !!!", "Basic " + "bm9jb2xvbg==" ):  # 'nocolon'
        assert parse_basic(bad) is None, bad
