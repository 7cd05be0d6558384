"""HTTP mappings: curl -> server's public http port -> tunnel -> client's local HTTP service."""
from __future__ import annotations

import asyncio


import pytest

from _servers import HttpTarget
from _util import curl, run, server_addr, until
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig, parse_header_rule
from core.server import CenterServer

pytestmark = pytest.mark.timeout(90)


async def start(local_addr: str, headers: list[str], **server_kw):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                    map_http_bind="127.0.0.1:0", **server_kw))
    await srv.start()
    cli = CenterClient(ClientConfig(
        server="%s:%d" % srv.addresses["center"], username="u", password="p",
        mappings=[MappingConfig(name="web", mode="http", local_addr=local_addr, domain="app.test",
                                headers=[parse_header_rule(h) for h in headers])]))
    await cli.start()
    await cli.wait_connected(10)
    await until(lambda: srv.router.for_host("http", "app.test"), "mapping announced")
    return srv, cli


@pytest.mark.parametrize("rules", [[], ["proxy x-forward-for {client_ip}", "proxy + from $url", "- etag",
                                        "+ x-served-by wmproxy-gui"]])
def test_http_mapping_by_host_with_curl(rules: list[str]) -> None:
    async def main() -> None:
        with HttpTarget() as target:
            srv, cli = await start(target.authority, rules)
            try:
                host, port = srv.addresses["http"]
                base = f"http://{host}:{port}"
                code, out, err = await curl("-H", "Host: app.test", "-D", "-", f"{base}/hello", "-o", "-",
                                            f"{base}/bytes/200000", "-o", "/dev/null")
                assert code == 0, err
                assert "hello /hello" in out
                assert out.count("HTTP/1.1 200") == 2
                # keep-alive: both requests rode one public connection -> one channel, one local connection
                assert target.connections == 1
                # chunked response and a POST body
                code, out, err = await curl("-H", "Host: app.test", f"{base}/chunked/100000", "-o", "/dev/null",
                                            "-w", "%{size_download}")
                assert code == 0 and out == "100000", err
                code, out, err = await curl("-H", "Host: app.test", "-d", "x=1", f"{base}/post")
                assert code == 0 and "x=1" in out, err
                seen = target.requests[0]
                if rules:
                    assert seen.header("x-forward-for") == "127.0.0.1"
                    assert seen.header("from") == "/hello"
                    code, out, err = await curl("-H", "Host: app.test", "-D", "-", "-o", "/dev/null", f"{base}/x")
                    assert "x-served-by: wmproxy-gui" in out.lower()
                else:
                    assert seen.header("x-forward-for") is None
                # unknown host -> 404 with a reason, server still serves
                code, out, err = await curl("-H", "Host: nobody.test", f"{base}/")
                assert "no mapping serves host nobody.test" in out
                code, out, err = await curl("-H", "Host: app.test", f"{base}/again")
                assert "hello /again" in out
                names = {n for n in srv.stats.snapshot().per_name}
                assert "web" in names
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 80)


def test_a_service_that_closes_after_answering_leaves_no_channel_open() -> None:
    """A service that ends its keep-alive connections itself (its own idle timeout, or one answer
    per connection): the channel and the client's connection to it close at once, while the
    public connection stays open, and do not wait for the link to end."""

    async def main() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            await asyncio.sleep(0.1)
            w.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        srv, cli = await start(server_addr(svc), [])
        try:
            def live(stats) -> int:  # type: ignore[no-untyped-def]
                return len([c for c in stats.snapshot().channels if not c.ended])

            publics = []
            for _ in range(5):
                r, w = await asyncio.open_connection(*srv.addresses["http"])
                w.write(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
                assert (await asyncio.wait_for(r.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
                publics.append(w)
            await until(lambda: live(cli.stats) == 0 and live(srv.stats) == 0, "every channel closed")
            for w in publics:
                w.close()
        finally:
            await cli.stop()
            await srv.stop()
            svc.close()

    run(main(), 60)


def test_local_service_down_reports_close_reason() -> None:
    async def main() -> None:
        with HttpTarget() as target:
            srv, cli = await start(target.authority, [])
            target.stop()
            try:
                host, port = srv.addresses["http"]
                closed = []
                srv.stats.subscribe(lambda ev, rec: closed.append(rec.reason) if ev == "channel_close" else None)
                code, out, err = await curl("-H", "Host: app.test", "-w", "%{http_code}", f"http://{host}:{port}/")
                assert code == 0 and out == "the mapping's local service is not reachable\n502", (out, err)
                await until(lambda: closed, "channel closed")
                assert any("cannot connect to" in r for r in closed), closed
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_mapping_without_domain_takes_any_host() -> None:
    async def main() -> None:
        with HttpTarget() as target:
            srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p", map_http_bind="127.0.0.1:0"))
            await srv.start()
            cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                            mappings=[MappingConfig(name="any", mode="http", local_addr=target.authority)]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: srv.router.for_host("http", "whatever.example"), "mapping announced")
                host, port = srv.addresses["http"]
                code, out, err = await curl("-H", "Host: whatever.example", f"http://{host}:{port}/catch-all")
                assert code == 0 and "hello /catch-all" in out, err
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_deadlines_of_a_keep_alive_connection() -> None:
    """A head begun after an answer has head_timeout, not the idle keep-alive time, to finish;
    an idle connection goes after http_keepalive_timeout."""
    async def main() -> None:
        with HttpTarget() as target:
            srv, cli = await start(target.authority, [], http_head_timeout=1.0, http_keepalive_timeout=3.0)
            try:
                r, w = await asyncio.open_connection(*srv.addresses["http"])
                w.write(b"GET /one HTTP/1.1\r\nHost: app.test\r\n\r\n")
                await asyncio.wait_for(r.readuntil(b"hello /one\n"), 10)
                w.write(b"GE")  # the next head, begun and never finished
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                rest = await asyncio.wait_for(r.read(), 10)
                assert b"408" in rest and loop.time() - t0 < 2.5, (rest, loop.time() - t0)
                w.close()
                r, w = await asyncio.open_connection(*srv.addresses["http"])
                w.write(b"GET /two HTTP/1.1\r\nHost: app.test\r\n\r\n")
                await asyncio.wait_for(r.readuntil(b"hello /two\n"), 10)
                t0 = loop.time()
                assert await asyncio.wait_for(r.read(), 10) == b""  # idle: closed quietly
                assert 2.5 < loop.time() - t0 < 5, loop.time() - t0
                w.close()
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)
