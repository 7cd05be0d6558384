"""core/forward_proxy.py: plain-HTTP forward proxying on the server side of a proxy channel,
through a real tunnel (client proxy listener -> link -> server -> target)."""
from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
from hypothesis import given, settings, strategies as st

from _servers import HttpTarget
from _util import curl, run
from core.client import CenterClient
from core.config import ClientConfig, ProxyListenerConfig, ServerConfig
from core.forward_proxy import HeadRewriter, origin_form, proxy_target
from core.http_scan import scan_request
from core.server import CenterServer

pytestmark = pytest.mark.timeout(60)


def test_origin_form_drops_hop_by_hop_and_sets_host() -> None:
    head = (b"GET http://a.test:8080/p?q=1 HTTP/1.1\r\nHost: wrong\r\nProxy-Connection: keep-alive\r\n"
            b"Proxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
            b"Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n")
    info = scan_request(head)
    host, port, path, authority = proxy_target(info.target)
    assert (host, port, path, authority) == ("a.test", 8080, "/p?q=1", "a.test:8080")
    out = origin_form(head, info, path, authority)
    assert out == b"GET /p?q=1 HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n"
    old = b"GET http://b.test/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    info = scan_request(old)
    assert origin_form(old, info, "/", "b.test") == b"GET / HTTP/1.0\r\nHost: b.test\r\nConnection: keep-alive\r\n\r\n"
    for bad in ("https://x/", "/relative", "http:///nohost"):
        with pytest.raises(ValueError):
            proxy_target(bad)


_AUTHORITIES = ["a.test", "a.test:8080", "A.TEST:80", "u:p@a.test", "b.test", "[::1]:81", "a.test:8080x"]
_PATHS = ["", "/", "/p", "/p?q=1", "?q", "#frag", "/x#y", "/a/b?c=d#e"]
_HEADERS = [b"Accept: */*", b"Proxy-Connection: keep-alive", b"Connection: keep-alive, X-S", b"X-S: 1",
            b"Connection: close", b"Keep-Alive: 5", b"TE: trailers", b"User-Agent: t", b"Content-Length: 0",
            b"Host: elsewhere"]


@st.composite
def proxy_heads(draw: st.DrawFn) -> bytes:
    scheme = draw(st.sampled_from(["http://", "HTTP://", "https://"]))
    target = scheme + draw(st.sampled_from(_AUTHORITIES)) + draw(st.sampled_from(_PATHS))
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    lines = draw(st.lists(st.sampled_from(_HEADERS), max_size=5, unique=True))
    return b"GET " + target.encode() + b" HTTP/" + version + b"\r\n" + b"".join(h + b"\r\n" for h in lines) + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(proxy_heads(), min_size=1, max_size=8))
def test_the_rewriter_says_what_proxy_target_and_origin_form_say(heads: list[bytes]) -> None:
    """Request after request on one connection (the same host, other URLs, other headers), the
    rewriter's memos never change what a fresh parse and rewrite would give."""
    rw = HeadRewriter()
    for head in heads:
        info = scan_request(head)
        try:
            want = proxy_target(info.target)
        except ValueError:
            with pytest.raises(ValueError):
                rw.target(info.target)
            continue
        assert rw.target(info.target) == want
        host, port, path, authority = want
        assert rw.head(head, info, path, authority) == origin_form(head, info, path, authority)


@contextlib.asynccontextmanager
async def tunnel(**server_kw):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                    **({"allow_targets": ["127.0.0.1"]} | server_kw)))
    await srv.start()
    cli = CenterClient(ClientConfig(server="127.0.0.1:%d" % srv.addresses["center"][1], username="u", password="p",
                                    proxies=[ProxyListenerConfig(bind="127.0.0.1:0")]))
    await cli.start()
    try:
        await cli.wait_connected(10)
        yield srv, cli, "http://127.0.0.1:%d" % cli.addresses["proxy"][1]
    finally:
        await cli.stop()
        await srv.stop()


def test_keep_alive_reuses_one_upstream_per_host_and_switches_hosts() -> None:
    async def main() -> None:
        with HttpTarget() as a, HttpTarget() as b:
            async with tunnel() as (srv, cli, proxy):
                code, out, err = await curl("-x", proxy, a.url("/1"), a.url("/2"), b.url("/3"), a.url("/4"))
                assert code == 0, err
                assert out.splitlines() == ["hello /1", "hello /2", "hello /3", "hello /4"]
                assert a.connections == 2 and b.connections == 1  # kept while the host stays the same
                seen = a.requests[0]
                assert seen.path == "/1" and seen.header("proxy-connection") is None
                assert seen.header("host") == a.authority
                rec = [c for c in srv.stats.snapshot().channels] + list(srv.stats.recent_closed)
                assert any(r.target == a.authority for r in rec)

    run(main())


def test_pipelined_requests_and_a_chunked_body() -> None:
    async def main() -> None:
        with HttpTarget() as t:
            async with tunnel() as (srv, cli, proxy):
                host, port = proxy[7:].split(":")
                r, w = await asyncio.open_connection(host, int(port))
                w.write(b"".join(f"GET {t.url(f'/p{i}')} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5)))
                w.write(f"POST {t.url('/post')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".encode())
                data = await asyncio.wait_for(r.read(), 10)
                w.close()
                bodies = [chunk.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[0] for chunk in data.split(b"HTTP/1.1 200")[1:]]
                assert [b.strip() for b in bodies[:5]] == [f"hello /p{i}".encode() for i in range(5)]
                assert data.endswith(b"hello world") and b"X-Request-Chunked: yes" in data
                assert t.connections == 1

    run(main())


def test_repeated_heads_split_heads_and_a_host_change_between_them() -> None:
    """A head equal to the previous one reuses what was found for it: the hop-by-hop headers stay
    dropped, a head that arrives in pieces or goes to another host is read afresh, and the answers
    keep their order."""
    async def main() -> None:
        with HttpTarget() as a, HttpTarget() as b:
            async with tunnel() as (srv, cli, proxy):
                host, port = proxy[7:].split(":")
                r, w = await asyncio.open_connection(host, int(port))

                def head(t: HttpTarget, path: str) -> bytes:
                    return (f"GET {t.url(path)} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n"
                            "Proxy-Authorization: Basic c2VjcmV0\r\nX-N: 1\r\n\r\n").encode()

                async def answers(n: int) -> list[bytes]:
                    out = []
                    for _ in range(n):
                        await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                        out.append(await asyncio.wait_for(r.readline(), 10))
                    return out

                w.write(head(a, "/same") * 3 + head(b, "/same") * 2 + head(a, "/same"))
                first = head(a, "/same")
                w.write(first[:-2])  # the same head again, in two pieces, then a short one
                await w.drain()
                await asyncio.sleep(0.2)
                w.write(first[-2:] + f"GET {a.url('/other')} HTTP/1.1\r\n\r\n".encode())
                got = await answers(8)
                w.close()
                assert [g.strip() for g in got] == [b"hello /same"] * 7 + [b"hello /other"]
                assert [q.path for q in a.requests] == ["/same"] * 3 + ["/same"] * 2 + ["/other"]
                assert [q.path for q in b.requests] == ["/same"] * 2
                for q in a.requests + b.requests:
                    assert q.header("proxy-connection") is None and q.header("proxy-authorization") is None
                    assert q.header("x-n") == ("1" if q is not a.requests[-1] else None)
                assert [q.header("host") for q in b.requests] == [b.authority] * 2

    run(main())


def test_dial_failures_become_answers_with_their_kind() -> None:
    async def main() -> None:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()  # nothing listens there
        with HttpTarget() as t:
            async with tunnel() as (srv, cli, proxy):
                code, out, err = await curl("-x", proxy, "-D", "-", f"http://127.0.0.1:{port}/")
                assert "HTTP/1.1 502" in out and "X-Wmproxy-Error: refused" in out and "connection refused" in out
            async with tunnel(allow_targets=[]) as (srv, cli, proxy):  # loopback denied by default
                code, out, err = await curl("-x", proxy, "-D", "-", t.url("/x"))
                assert "HTTP/1.1 403" in out and "X-Wmproxy-Error: denied" in out and t.requests == []
                code, out, err = await curl("-x", proxy, "-w", "%{http_code}", "-o", "/dev/null",
                                            "-H", "Content-Length: 1", "-H", "Transfer-Encoding: chunked",
                                            "-d", "x", t.url("/smuggle"))
                assert out == "400" and t.requests == []

    run(main())


def test_a_reused_upstream_that_closed_is_dialed_again() -> None:
    async def main() -> None:
        served = []

        async def one_per_connection(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            served.append(head.split(b" ")[1])
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive, then it quietly goes
            await w.drain()
            await asyncio.sleep(0.2)
            w.close()

        origin = await asyncio.start_server(one_per_connection, "127.0.0.1", 0)
        url = "http://127.0.0.1:%d" % origin.sockets[0].getsockname()[1]
        async with tunnel() as (srv, cli, proxy):
            host, port = proxy[7:].split(":")
            r, w = await asyncio.open_connection(host, int(port))
            for path in (b"/a", b"/b"):
                w.write(b"GET " + url.encode() + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(r.readuntil(b"ok"), 10)
                assert head.startswith(b"HTTP/1.1 200")
                await asyncio.sleep(0.5)  # the origin closed its side meanwhile
            w.close()
            assert served == [b"/a", b"/b"]
        origin.close()

    run(main())


def test_an_upstream_reset_mid_body_reaches_the_client_as_a_reset() -> None:
    async def main() -> None:
        async def cut(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100_000)
            await w.drain()
            sock = w.get_extra_info("socket")
            import struct
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()

        origin = await asyncio.start_server(cut, "127.0.0.1", 0)
        url = "http://127.0.0.1:%d/big" % origin.sockets[0].getsockname()[1]
        async with tunnel() as (srv, cli, proxy):
            code, out, err = await curl("-x", proxy, "-o", "/dev/null", url)
            assert code in (18, 56), (code, err)  # partial file / recv failure: never a clean success
        origin.close()

    run(main())
