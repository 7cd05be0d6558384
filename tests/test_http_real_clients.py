"""HTTP and HTTPS mappings under the clients people put in front of them: nginx with upstream
keep-alive, curl --http2, websocket clients, h2load, gRPC; pipelining, unknown hosts, half-close."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from _nginx import Nginx, need
from _servers import HttpTarget
from _util import server_addr, tagged_http, curl, run, until
from core import tls
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig, parse_header_rule
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)

RULES = ["proxy x-forward-for {client_ip}", "+ x-via wmproxy-gui"]


@contextlib.asynccontextmanager
async def tunnel(tmp_path: Path, *mappings: MappingConfig, capture=None):  # type: ignore[no-untyped-def]
    """Server (http + https mapping ports, a mapping cert for *.test) and a client with ``mappings``
    (``capture``: the client's request inspector store)."""
    cert_pem, key_pem = tls.generate_cert("mapping", ["a.test", "b.test", "*.test", "localhost"], ["127.0.0.1"])
    (tmp_path / "m.crt").write_bytes(cert_pem)
    (tmp_path / "m.key").write_bytes(key_pem)
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p", map_http_bind="127.0.0.1:0",
                                    map_https_bind="127.0.0.1:0", map_cert=str(tmp_path / "m.crt"),
                                    map_key=str(tmp_path / "m.key")))
    await srv.start()
    cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                    mappings=list(mappings)), capture=capture)
    await cli.start()
    try:
        await cli.wait_connected(10)
        await until(lambda: len(cli.mapping_status) == len(mappings), "every mapping's status")
        assert all(s.ok for s in cli.mapping_status.values()), cli.mapping_status
        yield srv, cli
    finally:
        await cli.stop()
        await srv.stop()


def count_public_connections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from core import http_mapping

    seen = [0]
    real = http_mapping.PublicHttp.connection_made

    def counting(self, transport):
        seen[0] += 1
        real(self, transport)

    monkeypatch.setattr(http_mapping.PublicHttp, "connection_made", counting)
    return seen


@pytest.mark.parametrize("rules", [[], RULES], ids=["splice", "rules"])
def test_nginx_with_upstream_keepalive_gets_each_site_from_its_own_service(tmp_path, monkeypatch, rules) -> None:
    conns = count_public_connections(monkeypatch)

    async def main() -> None:
        a, b = await tagged_http("site-a"), await tagged_http("site-b")
        hdr = [parse_header_rule(r) for r in rules]
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(a), domain="a.test", headers=hdr),
                          MappingConfig("b", "http", server_addr(b), domain="b.test", headers=hdr)) as (srv, cli):
            site = """
  server {{ listen 127.0.0.1:{{port:front}}; server_name {name};
    location / {{ proxy_pass http://tunnel; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header Host $host; }} }}"""
            block = ("  upstream tunnel { server 127.0.0.1:%d; keepalive 2; }\n" % srv.addresses["http"][1]
                     + site.format(name="a.test") + site.format(name="b.test"))
            with Nginx(tmp_path, block) as nginx:
                front = nginx.port("front")
                answers = []
                for i in range(12):
                    name = "a.test" if i % 2 == 0 else "b.test"
                    code, out, err = await curl("-H", f"Host: {name}", f"http://127.0.0.1:{front}/r{i}")
                    assert code == 0, err
                    answers.append(out)
                assert nginx.errors().count("[error]") == 0, nginx.errors()
        want = [("site-a" if i % 2 == 0 else "site-b") + f" /r{i}" for i in range(12)]
        assert answers == want
        assert conns[0] <= 2  # nginx kept its upstream connections: Hosts changed within them
        assert a.conns == 1 and b.conns == 1  # one channel per site per connection, reused
        a.close()
        b.close()

    run(main(), 90)


def test_pipelined_requests_for_two_sites_keep_their_order(tmp_path) -> None:
    async def main() -> None:
        a, b = await tagged_http("A"), await tagged_http("B")
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(a), domain="a.test"),
                          MappingConfig("b", "http", server_addr(b), domain="b.test")) as (srv, cli):
            r, w = await asyncio.open_connection(*srv.addresses["http"])
            reqs = [("a.test", "/1"), ("b.test", "/2"), ("a.test", "/3"), ("nowhere.test", "/4")]
            w.write(b"".join(f"GET {p} HTTP/1.1\r\nHost: {h}\r\n\r\n".encode() for h, p in reqs))
            data = await asyncio.wait_for(r.read(), 10)  # the 404 closes the connection
            bodies = [part.split(b"\r\n\r\n", 1)[1][:40] for part in data.split(b"HTTP/1.1 ")[1:]]
            assert bodies[:3] == [b"A /1", b"B /2", b"A /3"]
            assert data.count(b"HTTP/1.1 404 Not Found") == 1
            assert b"no mapping serves host nowhere.test" in data
            assert b"a.test" not in data.split(b"404 Not Found", 1)[1]  # names no other site
            w.close()

    run(main())


def test_unknown_host_is_404_and_names_no_other_site(tmp_path) -> None:
    async def main() -> None:
        a = await tagged_http("A")
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(a), domain="secret-site.test")) as (srv, cli):
            port = srv.addresses["http"][1]
            code, out, err = await curl("-H", "Host: other.test", "-w", " %{http_code}", f"http://127.0.0.1:{port}/")
            assert code == 0 and out.endswith(" 404"), err
            assert "secret-site" not in out

    run(main())


def test_curl_http2_twice_on_one_connection_with_header_rules(tmp_path) -> None:
    async def main() -> None:
        with HttpTarget() as target:
            async with tunnel(tmp_path, MappingConfig("w", "http", target.authority, domain="a.test",
                                                      headers=[parse_header_rule(r) for r in RULES])) as (srv, cli):
                port = srv.addresses["http"][1]
                # curl offers "Upgrade: h2c"; the service answers 200 without upgrading: the connection
                # must stay usable for the second request
                code, out, err = await curl("--http2", "-H", "Host: a.test", "-D", "-",
                                            f"http://127.0.0.1:{port}/one", f"http://127.0.0.1:{port}/two",
                                            max_time=10)
                assert code == 0, err
                assert "hello /one" in out and "hello /two" in out
                assert out.lower().count("x-via: wmproxy-gui") == 2
                assert "Re-using existing connection" in err or target.connections == 1
                assert [r.header("upgrade") for r in target.requests] == ["h2c", None] or \
                    target.requests[0].header("upgrade") == "h2c"

    run(main())


async def ws_echo() -> tuple[object, int]:
    import websockets

    async def echo(ws) -> None:
        async for msg in ws:
            await ws.send(msg)

    server = await websockets.serve(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("rules", [[], RULES], ids=["splice", "rules"])
@pytest.mark.parametrize("mode", ["http", "https"])
def test_websocket_echo_through_the_mapping(tmp_path, mode, rules) -> None:
    import websockets

    async def main() -> None:
        server, port = await ws_echo()
        m = MappingConfig("ws", mode, f"127.0.0.1:{port}", domain="a.test",
                          headers=[parse_header_rule(r) for r in rules])
        async with tunnel(tmp_path, m) as (srv, cli):
            host, pub = srv.addresses[mode]
            kw: dict = {"host": host, "port": pub}
            if mode == "https":
                ctx = ssl.create_default_context(cafile=str(tmp_path / "m.crt"))
                kw.update(ssl=ctx, server_hostname="a.test")
            async with websockets.connect(f"{'wss' if mode == 'https' else 'ws'}://a.test/chat", **kw) as ws:
                for i in range(20):
                    msg = "x" * (i * 997) + str(i)
                    await ws.send(msg)
                    assert await asyncio.wait_for(ws.recv(), 10) == msg
                await ws.send(b"\x00\x01binary")
                assert await ws.recv() == b"\x00\x01binary"
        server.close()

    run(main())


def test_https_half_close_and_no_warning_per_connection(tmp_path, caplog) -> None:
    async def main() -> None:
        a = await tagged_http("A")
        async with tunnel(tmp_path, MappingConfig("a", "https", server_addr(a), domain="a.test"),
                          MappingConfig("p", "http", server_addr(a), domain="a.test")) as (srv, cli):
            ctx = ssl.create_default_context(cafile=str(tmp_path / "m.crt"))

            def fetch(mode: str) -> bytes:
                raw = socket.create_connection(srv.addresses[mode], 5)
                s = ctx.wrap_socket(raw, server_hostname="a.test") if mode == "https" else raw
                s.sendall(b"GET /half HTTP/1.1\r\nHost: a.test\r\n\r\n")
                socket.socket.shutdown(s, socket.SHUT_WR)  # a FIN (SSLSocket.shutdown would drop TLS)
                s.settimeout(5)
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
                s.close()
                return out

            loop = asyncio.get_running_loop()
            with caplog.at_level(logging.WARNING):
                for mode in ("http", "https"):
                    out = await loop.run_in_executor(None, fetch, mode)
                    assert out.endswith(b"A /half"), (mode, out)
                for _ in range(50):
                    await loop.run_in_executor(None, fetch, "https")
            assert not [r for r in caplog.records if "eof_received" in r.getMessage()]

    run(main())


def test_https_sessions_resume_and_answers_that_close_arrive_whole(tmp_path) -> None:
    """A client that comes back resumes its TLS session (the ticket is held back to go out with the
    first answer, so it must not be lost when that answer closes the connection)."""
    async def main() -> None:
        a = await tagged_http("A")
        async with tunnel(tmp_path, MappingConfig("a", "https", server_addr(a), domain="a.test")) as (srv, cli):
            ctx = ssl.create_default_context(cafile=str(tmp_path / "m.crt"))

            def fetch(session: ssl.SSLSession | None) -> tuple[bytes, ssl.SSLSession | None, bool]:
                raw = socket.create_connection(srv.addresses["https"], 5)
                with ctx.wrap_socket(raw, server_hostname="a.test", session=session) as s:
                    s.sendall(b"GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                    s.settimeout(5)
                    out = b""
                    while chunk := s.recv(65536):
                        out += chunk
                    return out, s.session, s.session_reused

            loop = asyncio.get_running_loop()
            out, session, reused = await loop.run_in_executor(None, fetch, None)
            assert out.endswith(b"A /r") and not reused, out
            for _ in range(5):
                out, session, reused = await loop.run_in_executor(None, fetch, session)
                assert out.endswith(b"A /r"), out
                assert reused, "the session was not resumed"

    run(main())


def test_sni_must_agree_with_host(tmp_path) -> None:
    async def main() -> None:
        a, b = await tagged_http("A"), await tagged_http("B")
        async with tunnel(tmp_path, MappingConfig("a", "https", server_addr(a), domain="a.test"),
                          MappingConfig("b", "https", server_addr(b), domain="b.test")) as (srv, cli):
            port = srv.addresses["https"][1]
            code, out, err = await curl("--cacert", str(tmp_path / "m.crt"), "--resolve", f"a.test:{port}:127.0.0.1",
                                        "-H", "Host: b.test", "-w", " %{http_code}", f"https://a.test:{port}/")
            assert code == 0 and out.endswith(" 421") and "B /" not in out, (out, err)
            code, out, err = await curl("--cacert", str(tmp_path / "m.crt"), "--resolve", f"b.test:{port}:127.0.0.1",
                                        f"https://b.test:{port}/ok")
            assert out == "B /ok", err

    run(main())


H2C_SITE = """
  server { listen 127.0.0.1:{port:h2c} http2; location / { return 200 "h2c:$server_protocol:$uri"; } }
"""


def test_h2load_through_an_http2_https_mapping(tmp_path) -> None:
    need("h2load")

    async def main() -> None:
        with Nginx(tmp_path, H2C_SITE) as nginx:
            m = MappingConfig("h2", "https", f"127.0.0.1:{nginx.port('h2c')}", domain="a.test", http2=True)
            async with tunnel(tmp_path, m) as (srv, cli):
                port = srv.addresses["https"][1]
                proc = await asyncio.create_subprocess_exec(
                    "h2load", "-n", "400", "-c", "4", "-m", "8", f"--connect-to=127.0.0.1:{port}",
                    f"https://a.test:{port}/bench", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                out = (await asyncio.wait_for(proc.communicate(), 60))[0].decode()
                assert "Application protocol: h2" in out, out
                assert "400 total, 400 started, 400 done, 400 succeeded" in out, out
                assert "status codes: 400 2xx" in out, out
                code, body, err = await curl("--http2", "--cacert", str(tmp_path / "m.crt"), "--resolve",
                                             f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/x")
                assert body == "h2c:HTTP/2.0:/x", err

    run(main(), 100)


def test_https_mapping_without_http2_offers_only_http11(tmp_path) -> None:
    async def main() -> None:
        a = await tagged_http("A")
        async with tunnel(tmp_path, MappingConfig("a", "https", server_addr(a), domain="a.test")) as (srv, cli):
            port = srv.addresses["https"][1]
            code, out, err = await curl("-v", "--http2", "--cacert", str(tmp_path / "m.crt"), "--resolve",
                                        f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/x")
            assert out == "A /x" and "ALPN: server accepted http/1.1" in err, err

    run(main())


def test_grpc_call_through_an_http2_https_mapping(tmp_path) -> None:
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    def echo(request: bytes, context) -> bytes:
        return b"echo:" + request + b":" + dict(context.invocation_metadata()).get("x-who", "").encode()

    handler = grpc.method_handlers_generic_handler("test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    local_port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    async def main() -> None:
        m = MappingConfig("grpc", "https", f"127.0.0.1:{local_port}", domain="a.test", http2=True)
        async with tunnel(tmp_path, m) as (srv, cli):
            port = srv.addresses["https"][1]
            creds = grpc.ssl_channel_credentials(root_certificates=(tmp_path / "m.crt").read_bytes())

            def call() -> list[bytes]:
                with grpc.secure_channel(f"127.0.0.1:{port}", creds,
                                         options=[("grpc.ssl_target_name_override", "a.test"),
                                                  ("grpc.default_authority", "a.test")]) as ch:
                    say = ch.unary_unary("/test.Echo/Say")
                    return [say(b"hi%d" % i, timeout=10, metadata=(("x-who", "t"),)) for i in range(5)]

            got = await asyncio.get_running_loop().run_in_executor(None, call)
            assert got == [b"echo:hi%d:t" % i for i in range(5)]

    try:
        run(main(), 90)
    finally:
        server.stop(0)


def test_an_answer_that_closes_ends_the_connection_without_inventing_answers(tmp_path) -> None:
    async def main() -> None:
        async def once(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlast")
            await w.drain()
            w.close()

        svc = await asyncio.start_server(once, "127.0.0.1", 0)
        async with tunnel(tmp_path, MappingConfig("a", "http", server_addr(svc), domain="a.test")) as (srv, cli):
            r, w = await asyncio.open_connection(*srv.addresses["http"])
            w.write(b"GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n")
            data = await asyncio.wait_for(r.read(), 10)
            # the second request gets no answer from us (no 502 the client would take for its answer):
            # the connection ends after the one that said close, and the client sends /2 again
            assert data.count(b"HTTP/1.1 ") == 1 and data.endswith(b"last"), data
            w.close()
        svc.close()

    run(main())
