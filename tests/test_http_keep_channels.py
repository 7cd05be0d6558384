"""HTTP/HTTPS mapping channels kept between public connections (core/idle_channels.py).

A real nginx behind the mapping logs which of its connections served each request; curl and raw
sockets in front open a new public connection per request, as a TLS client per request, a CDN
rotating connections or "Connection: close" do.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from _nginx import Nginx
from _util import curl, run, server_addr, tagged_http, until
from core.client import wire_options
from core.config import MappingConfig
from test_http_real_clients import tunnel

pytestmark = pytest.mark.timeout(120)

SITE = """
  log_format k '$connection $connection_requests "$http_connection" $request_uri';
  server { listen 127.0.0.1:{port:svc}; access_log {root}/access.log k; keepalive_requests 100000;
           location / { return 200 "site $request_uri\\n"; } }
"""


def log_lines(nginx: Nginx) -> list[list[str]]:
    p = nginx.root / "access.log"
    return [line.split() for line in p.read_text().splitlines()] if p.exists() else []


async def fetch(mode: str, port: int, tmp_path: Path, path: str, *headers: str) -> tuple[int, str, str]:
    hdr = [a for h in headers for a in ("-H", h)]
    if mode == "https":
        return await curl("--cacert", str(tmp_path / "m.crt"), "--resolve", f"a.test:{port}:127.0.0.1", *hdr,
                          f"https://a.test:{port}{path}")
    return await curl("-H", "Host: a.test", *hdr, f"http://127.0.0.1:{port}{path}")


@pytest.mark.parametrize("mode", ["http", "https"])
def test_new_public_connections_ride_one_kept_channel_to_one_service_connection(tmp_path, mode) -> None:
    async def main() -> None:
        with Nginx(tmp_path, SITE) as nginx:
            m = MappingConfig("a", mode, f"127.0.0.1:{nginx.port('svc')}", domain="a.test")
            async with tunnel(tmp_path, m) as (srv, cli):
                srv.kept_channels.idle_timeout = 60  # (a slow machine must not age them out between steps)
                port = srv.addresses[mode][1]
                for i in range(8):
                    extra = ("Connection: close",) if i % 2 else ()
                    code, out, err = await fetch(mode, port, tmp_path, f"/n{i}", *extra)
                    assert code == 0 and out == f"site /n{i}\n", (code, out, err)
                    # the channel is kept once curl's connection has gone
                    await until(lambda: len(srv.kept_channels) == 1, "the channel kept")
                lines = log_lines(nginx)
                assert [ln[3] for ln in lines] == [f"/n{i}" for i in range(8)]
                assert {ln[0] for ln in lines} == {lines[0][0]}, lines  # one service connection for all
                assert [int(ln[1]) for ln in lines] == list(range(1, 9))
                # the clients' Connection: close was this hop's business: the service never saw it
                assert {ln[2] for ln in lines} == {'"-"'}, lines
                assert srv.kept_channels.reused == 7
                opened = [c for c in cli.stats.snapshot().channels if c.name == "a"]
                assert len(opened) == 1, opened

    run(main(), 100)


def test_sites_alternating_over_new_connections_each_get_their_own_service(tmp_path) -> None:
    async def main() -> None:
        a, b = await tagged_http("A"), await tagged_http("B")
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(a), domain="a.test"),
                          MappingConfig("b", "http", server_addr(b), domain="b.test")) as (srv, cli):
            srv.kept_channels.idle_timeout = 60  # (a slow machine must not age them out between steps)
            port = srv.addresses["http"][1]
            for i in range(12):
                site = "ab"[i % 2]
                code, out, err = await curl("-H", f"Host: {site}.test", "-H", "Connection: close",
                                            f"http://127.0.0.1:{port}/{i}")
                assert code == 0 and out == f"{site.upper()} /{i}", (site, out, err)
            assert (a.conns, b.conns) == (1, 1)  # each site's channel kept for its next connection
            assert len(srv.kept_channels) == 2
        a.close()
        b.close()

    run(main(), 60)


def open_channels(cli) -> list:  # type: ignore[no-untyped-def]
    return [c for c in cli.stats.snapshot().channels if c.name == "a" and not c.ended]


async def raw_exchange(addr: tuple[str, int], request: bytes) -> bytes:
    """One request on a new public connection; everything the server sent until it closed."""
    r, w = await asyncio.open_connection(*addr)
    w.write(request)
    data = await asyncio.wait_for(r.read(-1), 10)
    w.close()
    return data


def test_a_kept_channel_the_service_closed_meanwhile_sends_the_request_again(tmp_path) -> None:
    """The race of every upstream keep-alive: the service closes its idle connection just as a
    request goes out on it. The request (a GET: nothing lost by sending it twice) goes again."""

    async def main() -> None:
        conns: list[list[bytes]] = []

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            seen: list[bytes] = []
            conns.append(seen)
            try:
                while True:
                    head = await r.readuntil(b"\r\n\r\n")
                    seen.append(head.split(b" ", 2)[1])
                    if len(seen) > 1:
                        break  # its own idle timeout, as the second request arrives: no answer
                    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await w.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            w.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(svc), domain="a.test")) as (srv, cli):
            srv.kept_channels.idle_timeout = 60  # (a slow machine must not age them out between steps)
            addr = srv.addresses["http"]
            get = b"GET /%d HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
            assert (await raw_exchange(addr, get % 1)).endswith(b"\r\n\r\nok")
            await until(lambda: len(srv.kept_channels) == 1, "the channel kept")
            out = await raw_exchange(addr, get % 2)
            assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"\r\n\r\nok"), out
            assert conns == [[b"/1", b"/2"], [b"/2"]]
            # a request with a body never takes a kept channel: it could not go twice
            await until(lambda: len(srv.kept_channels) == 1, "the new channel kept")
            post = b"POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
            assert (await raw_exchange(addr, post)).endswith(b"ok")
            assert len(conns) == 3 and conns[2] == [b"/p"]
        svc.close()

    run(main(), 60)


@pytest.mark.parametrize("case", ["service-says-close", "http10", "more-connection-options", "cut-body",
                                  "ntlm-answer", "negotiate-request"])
def test_a_channel_is_not_kept_unless_the_service_expects_more(tmp_path, case) -> None:
    async def main() -> None:
        conns = [0]

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            conns[0] += 1
            try:
                while True:
                    head = await r.readuntil(b"\r\n\r\n")
                    close = b"Connection: close\r\n" if case == "service-says-close" else b""
                    # answers early, before the request's body is in (as a 413 or a redirect does)
                    if case == "ntlm-answer":  # a login that holds for this TCP connection
                        w.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 2\r\n\r\nok")
                    else:
                        w.write(b"HTTP/1.1 200 OK\r\n%sContent-Length: 2\r\n\r\nok" % close)
                    await w.drain()
                    if b"Content-Length: 100" in head:
                        await r.readexactly(100)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            w.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(svc), domain="a.test")) as (srv, cli):
            srv.kept_channels.idle_timeout = 60  # a channel kept by mistake would stay: the asserts see it
            addr = srv.addresses["http"]
            req = {"service-says-close": b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
                   "http10": b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n",
                   "more-connection-options": b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close, x-a\r\n"
                                              b"X-A: 1\r\n\r\n",
                   "cut-body": b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\nConnection: close\r\n"
                               b"\r\n" + b"x" * 10,
                   "ntlm-answer": b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
                   "negotiate-request": b"GET / HTTP/1.1\r\nHost: a.test\r\nAuthorization: Negotiate YIIx\r\n"
                                        b"\r\n"}[case]
            r, w = await asyncio.open_connection(*addr)
            w.write(req)
            head = await asyncio.wait_for(r.readuntil(b"ok"), 10)
            assert head.startswith(b"HTTP/1.1 401" if case == "ntlm-answer" else b"HTTP/1.1 200 OK")
            w.close()  # (cut-body: the client goes while its body is on its way)
            await until(lambda: not open_channels(cli), "the channel closed")
            assert len(srv.kept_channels) == 0
            assert (await raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                    ).endswith(b"ok")
            assert conns[0] == 2
        svc.close()

    run(main(), 60)


def test_kept_channels_are_bounded_age_out_and_go_with_the_service_or_the_link(tmp_path) -> None:
    async def main() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            writers.append(w)
            try:
                while True:
                    await r.readuntil(b"\r\n\r\n")
                    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            w.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(svc), domain="a.test")) as (srv, cli):
            pool = srv.kept_channels
            pool.idle_timeout = 0.6
            addr = srv.addresses["http"]
            socks = [await asyncio.open_connection(*addr) for _ in range(40)]  # 40 at once: 40 channels
            for _, w in socks:
                w.write(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            for r, _ in socks:
                assert (await asyncio.wait_for(r.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
            for _, w in socks:
                w.close()
            await until(lambda: len(open_channels(cli)) == pool.per_route, "all but per_route channels closed")
            assert len(pool) == pool.per_route
            await until(lambda: len(pool) == 0, "the kept channels aged out", 5)
            await until(lambda: not open_channels(cli), "the client's connections to the service closed", 5)
            assert len(writers) == 40

            # the service closes its side: the kept channel goes at once, without waiting for a request
            pool.idle_timeout = 60
            get = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
            assert (await raw_exchange(addr, get)).endswith(b"ok")
            await until(lambda: len(pool) == 1, "kept")
            writers[-1].close()
            await until(lambda: len(pool) == 0 and not open_channels(cli), "the closed one dropped")

            # the link goes: its kept channels go with it
            assert (await raw_exchange(addr, get)).endswith(b"ok")
            await until(lambda: len(pool) == 1, "kept again")
            await cli.stop()
            await until(lambda: len(pool) == 0, "dropped with the link")
        svc.close()

    run(main(), 60)


def test_the_client_offers_reuse_only_where_one_channel_may_carry_several_public_clients() -> None:
    ms = [MappingConfig("plain", "http", "127.0.0.1:1", domain="a.test"),
          MappingConfig("sec", "https", "127.0.0.1:1", domain="b.test"),
          MappingConfig("pp", "http", "127.0.0.1:1", domain="c.test", proxy_protocol="v1"),
          MappingConfig("seen", "http", "127.0.0.1:1", domain="d.test", inspect=True),
          MappingConfig("h2", "https", "127.0.0.1:1", domain="e.test", http2=True),
          MappingConfig("off", "http", "127.0.0.1:1", domain="f.test", enabled=False),
          MappingConfig("raw", "tcp", "127.0.0.1:1")]
    assert dict(wire_options(ms)) == {"plain": "reuse", "sec": "reuse", "seen": "reuse", "h2": "h2"}


def test_an_https_client_per_request_gets_its_own_answer_through_a_kept_channel(tmp_path) -> None:
    """Raw TLS clients, each its own connection and session, one after another: every one gets the
    answer to its own request (the path it asked for), none another's."""

    async def main() -> None:
        svc = await tagged_http("A")
        async with tunnel(tmp_path, MappingConfig("a", "https", server_addr(svc), domain="a.test")) as (srv, cli):
            srv.kept_channels.idle_timeout = 60  # (a slow machine must not age them out between steps)
            ctx = ssl.create_default_context(cafile=str(tmp_path / "m.crt"))
            addr = srv.addresses["https"]

            def one(i: int) -> bytes:
                with socket.create_connection(addr, 5) as raw, ctx.wrap_socket(raw, server_hostname="a.test") as s:
                    s.sendall(b"GET /%d HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" % i)
                    out = b""
                    while chunk := s.recv(65536):
                        out += chunk
                    return out

            loop = asyncio.get_running_loop()
            for i in range(10):
                out = await loop.run_in_executor(None, one, i)
                assert out.endswith(b"A /%d" % i), out
                # its Connection: close stayed with us, and the answer says that we close
                assert out.lower().count(b"\r\nconnection: close\r\n") == 1, out
            assert svc.conns == 1
        svc.close()

    run(main(), 60)


def test_each_public_client_on_a_kept_channel_is_named_in_traffic_and_inspector(tmp_path) -> None:
    """The server announces every new public connection on a kept channel (Create flagged AGAIN):
    the client's traffic row and the inspector's captured requests name who is calling now, not
    the channel's first caller."""
    from core.inspect.ring import CaptureRing

    async def main() -> None:
        svc = await tagged_http("A")
        ring = CaptureRing()
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(svc), domain="a.test"),
                          capture=ring) as (srv, cli):
            srv.kept_channels.idle_timeout = 60  # (a slow machine must not age them out between steps)
            callers = []
            for i in range(4):
                r, w = await asyncio.open_connection(*srv.addresses["http"])
                callers.append("%s:%d" % w.get_extra_info("sockname")[:2])
                w.write(b"GET /%d HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" % i)
                assert (await asyncio.wait_for(r.read(-1), 10)).endswith(b"A /%d" % i)
                w.close()
                await until(lambda: len(srv.kept_channels) == 1, "kept")
                (row,) = open_channels(cli)
                assert row.peer == callers[-1]
            assert svc.conns == 1 and srv.kept_channels.reused == 3
            await until(lambda: len(ring) == 4, "four requests captured")
            assert [(ex.uri, ex.remote_addr) for ex in ring.items()] == [(f"/{i}", c) for i, c in enumerate(callers)]
        svc.close()

    run(main(), 60)
