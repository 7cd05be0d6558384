"""HTTPS and proxy mappings, per-mapping public ports, heartbeat and fairness, on real loopback sockets."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from _servers import HttpTarget, make_cert
from _util import curl, echo_handler as echo, free_port, run, until
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def pair(server: ServerConfig, mappings: list[MappingConfig], **client_kw):
    srv = CenterServer(server)
    await srv.start()
    cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username=server.username,
                                    password=server.password, mappings=mappings, **client_kw))
    await cli.start()
    await cli.wait_connected(10)
    return srv, cli


def test_https_mapping_terminates_tls_and_routes_by_host(tmp_path: Path) -> None:
    cert = make_cert(tmp_path / "map", dns_names=("secure.test",), ips=())

    async def main() -> None:
        with HttpTarget() as target:
            srv, cli = await pair(
                ServerConfig(bind="127.0.0.1:0", username="u", password="p", map_https_bind="127.0.0.1:0",
                             map_cert=str(cert.cert), map_key=str(cert.key)),
                [MappingConfig(name="site", mode="https", local_addr=target.authority, domain="secure.test")])
            try:
                await until(lambda: srv.router.for_host("https", "secure.test"), "mapping")
                host, port = srv.addresses["https"]
                code, out, err = await curl("--resolve", f"secure.test:{port}:{host}", "--cacert", str(cert.cert),
                                            f"https://secure.test:{port}/over-tls")
                assert code == 0 and "hello /over-tls" in out, err
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_proxy_mapping_client_serves_proxy_into_its_network() -> None:
    async def main() -> None:
        with HttpTarget() as target:
            srv, cli = await pair(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                               map_proxy_bind="127.0.0.1:0"),
                                  # the test's "network" is loopback, which a proxy mapping must name
                                  [MappingConfig(name="lan", mode="proxy", allow_targets=["127.0.0.1", "[::1]"])])
            try:
                await until(lambda: srv.router.for_mode("proxy"), "mapping")
                host, port = srv.addresses["proxy"]
                code, out, err = await curl("-x", f"http://{host}:{port}", target.url("/inside"))
                assert code == 0 and "hello /inside" in out, err
                code, out, err = await curl("--socks5-hostname", f"{host}:{port}", target.url("/s5", host="localhost"))
                assert code == 0 and "hello /s5" in out, err
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_remote_port_gives_a_mapping_its_own_public_port() -> None:
    async def main() -> None:
        a = await asyncio.start_server(echo, "127.0.0.1", 0)

        async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"B says hi")
            await writer.drain()
            writer.close()

        b = await asyncio.start_server(hello, "127.0.0.1", 0)
        port_b = free_port()
        srv, cli = await pair(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                           map_tcp_bind="127.0.0.1:0"),
                              [MappingConfig(name="a", mode="tcp", local_addr="127.0.0.1:%d" % a.sockets[0].getsockname()[1]),
                               MappingConfig(name="b", mode="tcp", local_addr="127.0.0.1:%d" % b.sockets[0].getsockname()[1],
                                             remote_port=port_b)])
        try:
            await until(lambda: "tcp:b" in srv.addresses, "remote port listener")
            assert srv.addresses["tcp:b"][1] == port_b
            r, w = await asyncio.open_connection("127.0.0.1", port_b)
            assert await asyncio.wait_for(r.read(), 10) == b"B says hi"
            w.close()
            # removing the mapping closes its port, without reconnecting the link
            link_before = cli.link
            cfg = cli.cfg
            await cli.update(ClientConfig(**{**cfg.__dict__, "mappings": cfg.mappings[:1]}))
            await until(lambda: "tcp:b" not in srv.addresses, "port closed")
            assert cli.link is link_before
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port_b), 5)
        finally:
            await cli.stop()
            await srv.stop()
            a.close()
            b.close()

    run(main(), 60)


class Blackhole:
    """A TCP relay between client and server that can silently stop forwarding (a dead NAT)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = False
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(*self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.frozen:
                    dst.write(data)
            dst.close()

        await asyncio.gather(pump(r, uw), pump(ur, w), return_exceptions=True)


def test_heartbeat_detects_a_silent_dead_link_and_reconnects() -> None:
    async def main() -> None:
        srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                        heartbeat_interval=0.2, heartbeat_timeout=1.0))
        await srv.start()
        hole = Blackhole(srv.addresses["center"])
        port = await hole.start()
        cli = CenterClient(ClientConfig(server=f"127.0.0.1:{port}", username="u", password="p",
                                        heartbeat_interval=0.2, heartbeat_timeout=1.0,
                                        reconnect_min=0.1, reconnect_max=0.2))
        states: list[str] = []
        cli.on_state.append(lambda s, e: states.append(s))
        await cli.start()
        try:
            await cli.wait_connected(10)
            first = cli.link
            await asyncio.sleep(1.5)  # pings flow: the link stays up
            assert cli.link is first and cli.state == "connected"
            hole.frozen = True  # no RST, no FIN: only the heartbeat can notice
            await until(lambda: cli.state != "connected", "dead link detected", 10)
            assert "heartbeat" in cli.last_error or "lost" in cli.last_error
            hole.frozen = False
            await cli.wait_connected(10)
            assert cli.link is not first
        finally:
            await cli.stop()
            await srv.stop()

    run(main(), 60)


def test_bulk_channel_does_not_starve_an_interactive_one() -> None:
    blob = os.urandom(1 << 20)

    async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1)
        if first == b"B":  # bulk: stream forever
            try:
                while True:
                    writer.write(blob)
                    await writer.drain()
            except (ConnectionError, OSError):
                return
        writer.write(first)
        await echo(reader, writer)

    async def main() -> None:
        svc = await asyncio.start_server(service, "127.0.0.1", 0)
        srv, cli = await pair(ServerConfig(bind="127.0.0.1:0", username="u", password="p", map_tcp_bind="127.0.0.1:0"),
                              [MappingConfig(name="svc", mode="tcp",
                                             local_addr="127.0.0.1:%d" % svc.sockets[0].getsockname()[1])])
        try:
            await until(lambda: srv.router.for_mode("tcp"), "mapping")
            br, bw = await asyncio.open_connection(*srv.addresses["tcp"])
            bw.write(b"B")
            received = 0

            async def drain_bulk() -> None:
                nonlocal received
                while data := await br.read(1 << 18):
                    received += len(data)

            bulk = asyncio.ensure_future(drain_bulk())
            await until(lambda: received > 8 << 20, "bulk flowing")
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            for i in range(50):
                msg = f"ping {i}".encode()
                w.write(msg if i else b"I" + msg)
                await w.drain()
                want = (b"I" + msg) if i == 0 else msg
                assert await asyncio.wait_for(r.readexactly(len(want)), 10) == want
            before = received
            await asyncio.sleep(0.3)
            assert received > before, "bulk stalled while the interactive channel ran"
            bw.close()
            w.close()
            bulk.cancel()
        finally:
            await cli.stop()
            await srv.stop()
            svc.close()

    run(main(), 90)
