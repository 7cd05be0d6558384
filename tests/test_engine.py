"""The tunnel engine end to end, in one process, over real loopback sockets."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from _util import echo_handler as echo, run, until
from core import frames as F
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.errors import AuthError
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)


async def hash_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads everything (until the peer half-closes), answers with the SHA-256 of it."""
    h = hashlib.sha256()
    while data := await reader.read(1 << 18):
        h.update(data)
    writer.write(h.digest())
    await writer.drain()
    writer.close()


async def start_pair(local_port: int, *, username="u", password="p", client_password=None, mode="tcp",
                     window: int = ServerConfig.window, **server_kw):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username=username, password=password,
                                    map_tcp_bind="127.0.0.1:0", window=window, **server_kw))
    await srv.start()
    host, port = srv.addresses["center"]
    cli = CenterClient(ClientConfig(
        server=f"{host}:{port}", username=username,
        password=password if client_password is None else client_password,
        mappings=[MappingConfig(name="svc", mode=mode, local_addr=f"127.0.0.1:{local_port}")],
        reconnect_min=0.2, reconnect_max=1.0, window=window))
    await cli.start()
    return srv, cli


async def wait_route(srv: CenterServer, mode: str = "tcp") -> None:
    await until(lambda: srv.router.for_mode(mode), "mapping announced")


@contextlib.asynccontextmanager
async def tunnel(service, **kw) -> AsyncIterator[tuple[CenterServer, CenterClient]]:
    """A local ``service`` behind a tcp mapping: server and client connected, route announced."""
    svc = await asyncio.start_server(service, "127.0.0.1", 0)
    srv, cli = await start_pair(svc.sockets[0].getsockname()[1], **kw)
    try:
        await cli.wait_connected(10)
        await wait_route(srv)
        yield srv, cli
    finally:
        await cli.stop()
        await srv.stop()
        svc.close()


def test_tcp_mapping_64mib_both_directions_sha256() -> None:
    async def main() -> None:
        async with tunnel(hash_service) as (srv, cli):
            assert cli.link is not None and cli.link.peer_ext
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            payload_hash = hashlib.sha256()
            for _ in range(64):
                chunk = os.urandom(1 << 20)
                payload_hash.update(chunk)
                w.write(chunk)
                await w.drain()
            w.write_eof()
            reply = await asyncio.wait_for(r.read(), 60)
            assert reply == payload_hash.digest()
            w.close()

    run(main(), 100)


def test_download_64mib_from_local_service() -> None:
    blob = os.urandom(1 << 20)

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(64):
            writer.write(blob)
            await writer.drain()
        writer.close()

    async def main() -> None:
        async with tunnel(sender) as (srv, cli):
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            h = hashlib.sha256()
            n = 0
            while data := await r.read(1 << 18):
                h.update(data)
                n += len(data)
            assert n == 64 << 20
            assert h.digest() == hashlib.sha256(blob * 64).digest()
            w.close()

    run(main(), 100)


def test_200_concurrent_channels_no_mixup() -> None:
    async def main() -> None:
        async with tunnel(echo) as (srv, cli):

            async def one(i: int) -> None:
                r, w = await asyncio.open_connection(*srv.addresses["tcp"])
                msg = (f"channel-{i}-".encode() * 2000)[: 10_000 + i * 37]
                w.write(msg)
                await w.drain()
                got = await asyncio.wait_for(r.readexactly(len(msg)), 30)
                assert got == msg
                w.close()

            await asyncio.gather(*(one(i) for i in range(200)))
            snap = srv.stats.snapshot()
            assert snap.per_name["svc"][0] >= sum(10_000 + i * 37 for i in range(200))

    run(main(), 100)


def test_wrong_password_refused_server_keeps_serving() -> None:
    async def main() -> None:
        svc = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = svc.sockets[0].getsockname()[1]
        srv, good = await start_pair(port)
        host, cport = srv.addresses["center"]
        bad = CenterClient(ClientConfig(server=f"{host}:{cport}", username="u", password="wrong",
                                        reconnect_min=5, reconnect_max=5))
        try:
            await good.wait_connected(10)
            await bad.start()
            with pytest.raises(AuthError, match="wrong username or password"):
                await bad.wait_connected(10)
            assert "wrong" not in bad.last_error.replace("wrong username", "")  # the password is not echoed
            await wait_route(srv)
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"still here")
            assert await asyncio.wait_for(r.readexactly(10), 10) == b"still here"
            w.close()
        finally:
            await bad.stop()
            await good.stop()
            await srv.stop()
            svc.close()

    run(main(), 60)


def test_reconnects_after_server_restart_and_mappings_work() -> None:
    async def main() -> None:
        async with tunnel(echo) as (srv, cli):
            host, cport = srv.addresses["center"]
            await srv.stop()
            await until(lambda: cli.state != "connected", "client noticing the server is gone")
            srv = CenterServer(ServerConfig(bind=f"{host}:{cport}", username="u", password="p",
                                            map_tcp_bind="127.0.0.1:0"))
            await srv.start()
            await cli.wait_connected(15)
            await wait_route(srv)
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"again")
            assert await asyncio.wait_for(r.readexactly(5), 10) == b"again"
            w.close()

    run(main(), 60)


def test_slow_reader_does_not_block_other_channel_nor_grow_memory() -> None:
    """One public reader never reads; a second channel keeps flowing; buffered bytes stay bounded."""
    blob = os.urandom(1 << 20)

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1)
        if first == b"F":
            try:
                while True:
                    writer.write(blob)
                    await writer.drain()
            except (ConnectionError, OSError):
                return
        await echo(reader, writer)

    async def main() -> None:
        window = 256 * 1024
        async with tunnel(firehose, window=window) as (srv, cli):
            slow_r, slow_w = await asyncio.open_connection(*srv.addresses["tcp"], limit=1024)
            slow_w.write(b"F")
            await slow_w.drain()
            await asyncio.sleep(1.0)  # let the firehose fill every buffer it can
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"Eping")
            assert await asyncio.wait_for(r.readexactly(4), 10) == b"ping"
            for i in range(20):
                w.write(b"x" * 1000)
                assert await asyncio.wait_for(r.readexactly(1000), 10) == b"x" * 1000
            # what the tunnel holds for the stalled channel is bounded by the window
            ch = next(c for c in srv.stats.channels.values() if c.link.startswith("server") and c.id == 2)
            await asyncio.sleep(0.5)
            before = ch.down
            await asyncio.sleep(1.0)
            assert ch.down - before < 4 * window, "the stalled channel kept receiving"
            assert ch.down < 16 * 1024 * 1024
            slow_w.close()
            w.close()

    run(main(), 60)


def test_malformed_frame_closes_only_that_link() -> None:
    async def main() -> None:
        async with tunnel(echo) as (srv, cli):
            r, w = await asyncio.open_connection(*srv.addresses["center"])
            w.write(F.encode(F.Token("u", "p")) + bytes.fromhex("000001ff0000000100000000") + b"x")
            await w.drain()
            assert await asyncio.wait_for(r.read(), 10) == b""  # dropped, no ack, no reply
            w.close()
            await wait_route(srv)
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"ok")
            assert await asyncio.wait_for(r.readexactly(2), 10) == b"ok"
            w.close()
            assert cli.state == "connected"

    run(main(), 60)


@pytest.mark.parametrize("window", [256 * 1024, 1 << 20, 4 << 20, 16 << 20])
def test_large_windows_are_granted_to_the_peer(window: int) -> None:
    """The opener's grant above INITIAL_WINDOW must reach the peer after its Create, or the
    reply direction stalls at 256 KiB (below the window/4 batch that returns credit)."""

    async def main() -> None:
        async with tunnel(echo, window=window) as (srv, cli):
            for size in (1000, 300_000, 3_000_000):
                r, w = await asyncio.open_connection(*srv.addresses["tcp"])
                payload = os.urandom(size)
                w.write(payload)
                await w.drain()
                w.write_eof()
                assert await asyncio.wait_for(r.read(), 20) == payload
                w.close()

    run(main(), 60)
