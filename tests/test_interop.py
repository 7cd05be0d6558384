"""Our engine against a model of upstream wmproxy (tests/legacy_peer.py), both ways:
our CenterServer with a legacy client, our CenterClient with a legacy server.
The legacy peer records every panic upstream would have; each test asserts none happened."""
from __future__ import annotations

import asyncio
import base64

import pytest

from _util import run
from core.client import CenterClient
from core.config import ClientConfig, ClientTls, MappingConfig, ProxyListenerConfig, ServerConfig
from core.errors import AuthError
from core.server import CenterServer
from core.stats import CONNECTED
from legacy_peer import NOT_VERIFIED, LegacyClient, LegacyServer
from _servers import HttpTarget, make_cert

pytestmark = pytest.mark.timeout(90)

LEGACY_KINDS = {0, 1, 2, 3, 4}


def addr(a: tuple[str, int]) -> str:
    return f"{a[0]}:{a[1]}"


async def until(pred, timeout: float = 10.0, what: str = "condition") -> None:
    async def loop() -> None:
        while not pred():
            await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def tcp_roundtrip(target: tuple[str, int], payload: bytes, timeout: float = 20) -> bytes:
    r, w = await asyncio.wait_for(asyncio.open_connection(*target), timeout)
    try:
        w.write(payload)
        await w.drain()
        out = bytearray()
        while len(out) < len(payload):
            chunk = await asyncio.wait_for(r.read(1 << 16), timeout)
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        w.close()


# ================================================================== our server, legacy client

async def start_server(**kw) -> CenterServer:
    cfg = ServerConfig(bind="127.0.0.1:0", map_tcp_bind="127.0.0.1:0", map_http_bind="127.0.0.1:0",
                       heartbeat_interval=0.2, **kw)
    srv = CenterServer(cfg)
    await srv.start()
    return srv


async def wait_announced(srv: CenterServer, mapping: str) -> None:
    """Until a connected server link lists ``mapping`` (as announced by the client)."""
    def ready() -> bool:
        return any(ln.state == CONNECTED and any(m.startswith(mapping + " ") for m in ln.mappings)
                   for ln in srv.stats.snapshot().links)
    await until(ready, what=f"mapping {mapping!r} to be announced")


def assert_legacy_client_unharmed(client: LegacyClient) -> None:
    assert client.panics == [], client.panics
    assert client.errors == [], client.errors
    assert set(client.kinds_seen) <= LEGACY_KINDS
    assert client.kinds_seen[4] == 0  # a legacy client must never receive a Token
    assert client.flags_seen <= {0}, f"flags sent to a legacy client: {client.flags_seen}"


def test_our_server_accepts_legacy_token_and_serves_tcp_mapping(echo_server):
    async def main() -> None:
        srv = await start_server(username="wmproxy", password="wmproxy")
        try:
            async with LegacyClient(addr(srv.addresses["center"]), "wmproxy", "wmproxy", mappings=[
                    MappingConfig(name="tcp", mode="tcp", local_addr=addr(echo_server))]) as client:
                await wait_announced(srv, "tcp")
                (link,) = [ln for ln in srv.stats.snapshot().links if ln.role == "server"]
                assert link.username == "wmproxy" and link.extensions == ()
                payload = bytes(range(256)) * 4096  # 1 MiB
                assert await tcp_roundtrip(srv.addresses["tcp"], payload) == payload
                for i in range(5):  # sequential connections: channel ids and Close echoes stay sane
                    assert await tcp_roundtrip(srv.addresses["tcp"], b"again %d" % i) == b"again %d" % i
                await asyncio.sleep(0.6)  # three heartbeat intervals: nothing may be sent to a legacy peer
                assert client.connected and client.closed_reason is None
                assert_legacy_client_unharmed(client)
        finally:
            await srv.stop()
    run(main())


def test_http_mapping_via_curl_with_host_header():
    async def main() -> None:
        with HttpTarget() as target:
            srv = await start_server(username="u", password="p")
            try:
                async with LegacyClient(addr(srv.addresses["center"]), "u", "p", mappings=[
                        MappingConfig(name="web", mode="http", local_addr=target.authority,
                                      domain="web.test")]) as client:
                    await wait_announced(srv, "web")
                    url = f"http://{addr(srv.addresses['http'])}/anything"
                    proc = await asyncio.create_subprocess_exec(
                        "curl", "-sS", "-m", "20", "-H", "Host: web.test", "-o", "-", "-w", "\n%{http_code}", url,
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                    out, err = await asyncio.wait_for(proc.communicate(), 30)
                    assert proc.returncode == 0, err.decode()
                    body, _, code = out.decode().rpartition("\n")
                    assert code == "200" and body == "hello /anything\n"
                    assert [r.path for r in target.requests] == ["/anything"]
                    assert target.requests[0].header("Host") == "web.test"
                    assert_legacy_client_unharmed(client)
            finally:
                await srv.stop()
    run(main())


def test_fifty_concurrent_channels_to_legacy_client(echo_server):
    async def main() -> None:
        srv = await start_server(username="u", password="p")
        try:
            async with LegacyClient(addr(srv.addresses["center"]), "u", "p", mappings=[
                    MappingConfig(name="tcp", mode="tcp", local_addr=addr(echo_server))]) as client:
                await wait_announced(srv, "tcp")
                payloads = [(b"%02d:" % i) * (1000 + 97 * i) for i in range(50)]
                got = await asyncio.gather(*(tcp_roundtrip(srv.addresses["tcp"], p) for p in payloads))
                assert [g == p for g, p in zip(got, payloads)] == [True] * 50
                assert_legacy_client_unharmed(client)
        finally:
            await srv.stop()
    run(main())


def test_wrong_password_refused_and_server_keeps_serving(echo_server):
    async def main() -> None:
        srv = await start_server(username="u", password="right")
        try:
            mapping = [MappingConfig(name="tcp", mode="tcp", local_addr=addr(echo_server))]
            async with LegacyClient(addr(srv.addresses["center"]), "u", "wrong", mappings=mapping) as bad:
                await bad.wait_closed()
                assert bad.closed_reason and "wrong username or password" in bad.closed_reason
                assert_legacy_client_unharmed(bad)
            async with LegacyClient(addr(srv.addresses["center"]), mappings=mapping) as anonymous:
                await anonymous.wait_closed()  # no Token at all: refused on its Mapping frame
                assert anonymous.closed_reason
                assert_legacy_client_unharmed(anonymous)
            async with LegacyClient(addr(srv.addresses["center"]), "u", "right", mappings=mapping) as good:
                await wait_announced(srv, "tcp")
                assert await tcp_roundtrip(srv.addresses["tcp"], b"still serving") == b"still serving"
                assert good.closed_reason is None
                assert_legacy_client_unharmed(good)
        finally:
            await srv.stop()
    run(main())


def test_legacy_client_proxy_channel_through_our_server(echo_server):
    host, port = echo_server
    async def main() -> None:
        srv = await start_server(username="u", password="p", allow_targets=["127.0.0.1"])
        try:
            async with LegacyClient(addr(srv.addresses["center"]), "u", "p") as client:
                await until(lambda: any(ln.state == CONNECTED for ln in srv.stats.snapshot().links),
                            what="the link to be accepted")
                ch = await client.open_channel()
                ch.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await asyncio.wait_for(ch.read(), 10)
                    assert chunk, f"channel ended before the proxy answered: {head!r}"
                    head += chunk
                assert head.startswith(b"HTTP/1.1 200"), head
                rest = head.partition(b"\r\n\r\n")[2]
                if rest:
                    ch.unread(rest)
                ch.write(b"via the tunnel")
                got = b""
                while len(got) < 14:
                    chunk = await asyncio.wait_for(ch.read(), 10)
                    assert chunk
                    got += chunk
                assert got == b"via the tunnel"
                ch.close()
                assert_legacy_client_unharmed(client)
        finally:
            await srv.stop()
    run(main())


def test_our_proxy_mapping_served_by_legacy_client(echo_server):
    # server "proxy" listener -> Create(name) -> upstream client runs its proxy (with its own credentials)
    host, port = echo_server
    async def main() -> None:
        srv = await start_server(username="u", password="p", map_proxy_bind="127.0.0.1:0")
        try:
            async with LegacyClient(addr(srv.addresses["center"]), "u", "p",
                                    mappings=[MappingConfig(name="px", mode="proxy")]) as client:
                await wait_announced(srv, "px")
                r, w = await asyncio.open_connection(*srv.addresses["proxy"])
                cred = base64.b64encode(b"u:p").decode()
                w.write(f"CONNECT {host}:{port} HTTP/1.1\r\nProxy-Authorization: Basic {cred}\r\n\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200"), head
                w.write(b"to the intranet")
                assert await asyncio.wait_for(r.readexactly(15), 10) == b"to the intranet"
                w.close()
                assert_legacy_client_unharmed(client)
        finally:
            await srv.stop()
    run(main())


def test_tls_our_server_legacy_client_with_upstream_default_sni(tmp_path, echo_server):
    cert = make_cert(tmp_path, dns_names=("soft.wm-proxy.com",), ips=())
    async def main() -> None:
        srv = await start_server(username="u", password="p", tls=True,
                                 cert_file=str(cert.cert), key_file=str(cert.key))
        try:
            async with LegacyClient(addr(srv.addresses["center"]), "u", "p", ssl=cert.client_context(),
                                    mappings=[MappingConfig(name="tcp", mode="tcp",
                                                            local_addr=addr(echo_server))]) as client:
                await wait_announced(srv, "tcp")
                assert all(ln.tls for ln in srv.stats.snapshot().links)
                assert await tcp_roundtrip(srv.addresses["tcp"], b"tls" * 5000) == b"tls" * 5000
                assert_legacy_client_unharmed(client)
        finally:
            await srv.stop()
    run(main())


# ================================================================== our client, legacy server

def client_cfg(server: LegacyServer, *, username=None, password=None, mappings=(), proxies=()) -> ClientConfig:
    return ClientConfig(server=addr(server.address), username=username, password=password,
                        mappings=list(mappings), proxies=list(proxies), heartbeat_interval=0.2,
                        reconnect_min=0.2, reconnect_max=1.0)


def assert_legacy_server_unharmed(server: LegacyServer) -> None:
    assert server.panics == [], server.panics
    assert server.errors == [], server.errors
    assert set(server.kinds_seen) <= LEGACY_KINDS
    assert server.refused == 0


def test_our_client_mapping_channel_with_legacy_server(echo_server):
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="pw", mappings=[
                MappingConfig(name="svc", mode="tcp", local_addr=addr(echo_server))]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                assert cli.link is not None and not cli.link.peer_ext
                entries = await server.wait_mappings()
                assert [(m.name, m.mode) for m in entries] == [("svc", "tcp")]
                for i in range(3):
                    ch = await server.open_channel("svc")
                    payload = b"legacy server says %d " % i * 1000
                    ch.write(payload)
                    await ch.drain()
                    got = await asyncio.wait_for(ch.read_exactly(len(payload)), 10)
                    assert got == payload
                    ch.close()
                await asyncio.sleep(0.6)  # heartbeats would be due: none may reach a legacy server
                assert cli.state == CONNECTED
                assert_legacy_server_unharmed(server)
                assert server.kinds_seen[4] == 1  # exactly the one Token it needs
            finally:
                await cli.stop()
    run(main())


def test_our_client_unknown_mapping_answered_with_close(echo_server):
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="pw", mappings=[
                MappingConfig(name="svc", mode="tcp", local_addr=addr(echo_server))]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                await server.wait_mappings()
                ch = await server.open_channel("nope.example")
                assert await asyncio.wait_for(ch.read(), 10) == b""
                ch = await server.open_channel("svc")  # the link is fine afterwards
                ch.write(b"ok")
                assert await asyncio.wait_for(ch.read_exactly(2), 10) == b"ok"
                assert_legacy_server_unharmed(server)
            finally:
                await cli.stop()
    run(main())


def test_our_client_proxy_listener_through_legacy_server(echo_server):
    host, port = echo_server
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="pw", proxies=[
                ProxyListenerConfig(name="p", bind="127.0.0.1:0")]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                r, w = await asyncio.open_connection(*cli.addresses["p"])
                cred = base64.b64encode(b"wm:pw").decode()
                w.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Proxy-Authorization: Basic {cred}\r\n\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200"), head
                w.write(b"raw bytes through upstream's proxy")
                assert await asyncio.wait_for(r.readexactly(34), 10) == b"raw bytes through upstream's proxy"
                w.close()
                assert_legacy_server_unharmed(server)
            finally:
                await cli.stop()
    run(main())


def test_our_client_sends_no_token_to_legacy_server_without_credentials(echo_server):
    async def main() -> None:
        async with LegacyServer() as server:
            cli = CenterClient(client_cfg(server, mappings=[
                MappingConfig(name="svc", mode="tcp", local_addr=addr(echo_server))]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                await server.wait_mappings(5)
                ch = await server.open_channel("svc")
                ch.write(b"anonymous")
                assert await asyncio.wait_for(ch.read_exactly(9), 10) == b"anonymous"
                await asyncio.sleep(0.6)
                assert_legacy_server_unharmed(server)
                assert server.kinds_seen[4] == 0
            finally:
                await cli.stop()
    run(main())


def test_our_client_wrong_password_with_legacy_server_says_so():
    async def main() -> None:
        async with LegacyServer(username="wm", password="right") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="wrong"))
            await cli.start()
            try:
                with pytest.raises(AuthError):
                    await cli.wait_connected(5)
                assert server.refused >= 1 and server.panics == []
            finally:
                await cli.stop()
    run(main())


def test_our_client_wrong_password_with_legacy_server_is_refused():
    # what does work today: the refusal reaches the client, the legacy server is unharmed
    async def main() -> None:
        async with LegacyServer(username="wm", password="right") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="wrong"))
            await cli.start()
            try:
                await until(lambda: server.refused >= 1, what="the legacy server to refuse the Token")
                await until(lambda: NOT_VERIFIED in cli.last_error, what="the client to report the refusal")
                assert cli.state != CONNECTED or cli.link is None
                assert server.panics == []
            finally:
                await cli.stop()
    run(main())


def test_our_client_authenticated_proxy_listener_tunnels_through_legacy_server(echo_server):
    # A listener with local credentials dials through the server with its own CONNECT,
    # carrying the center credentials, which upstream's proxy demands.
    host, port = echo_server
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="pw", proxies=[
                ProxyListenerConfig(name="p", bind="127.0.0.1:0", username="local", password="lpw")]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                r, w = await asyncio.open_connection(*cli.addresses["p"])
                cred = base64.b64encode(b"local:lpw").decode()
                w.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Proxy-Authorization: Basic {cred}\r\n\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200"), head
                w.write(b"tunnelled twice")
                assert await asyncio.wait_for(r.readexactly(15), 10) == b"tunnelled twice"
                w.close()
                assert_legacy_server_unharmed(server)
                assert server.kinds_seen[1] >= 1  # the tunnel rode a client-opened channel
            finally:
                await cli.stop()
    run(main())


def test_our_client_fifty_concurrent_channels_from_legacy_server(echo_server):
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server:
            cli = CenterClient(client_cfg(server, username="wm", password="pw", mappings=[
                MappingConfig(name="svc", mode="tcp", local_addr=addr(echo_server))]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                await server.wait_mappings()

                async def one(i: int) -> bool:
                    ch = await server.open_channel("svc")
                    payload = (b"%02d;" % i) * (500 + 131 * i)
                    ch.write(payload)
                    await ch.drain()
                    ok = await asyncio.wait_for(ch.read_exactly(len(payload)), 20) == payload
                    ch.close()
                    return ok

                assert await asyncio.gather(*(one(i) for i in range(50))) == [True] * 50
                assert_legacy_server_unharmed(server)
            finally:
                await cli.stop()
    run(main())


def test_tls_our_client_legacy_server(tmp_path, echo_server):
    cert = make_cert(tmp_path)
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw", ssl=cert.server_context()) as server:
            cfg = client_cfg(server, username="wm", password="pw", mappings=[
                MappingConfig(name="svc", mode="tcp", local_addr=addr(echo_server))])
            cfg.tls = ClientTls(enabled=True, ca_file=str(cert.cert), server_name="localhost",
                                known_hosts=str(tmp_path / "known_hosts"))
            cli = CenterClient(cfg)
            await cli.start()
            try:
                await cli.wait_connected(10)
                await server.wait_mappings()
                ch = await server.open_channel("svc")
                ch.write(b"secured")
                assert await asyncio.wait_for(ch.read_exactly(7), 10) == b"secured"
                assert_legacy_server_unharmed(server)
            finally:
                await cli.stop()
    run(main())
