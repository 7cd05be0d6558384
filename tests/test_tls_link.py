"""The center link over TLS: generated certs, CA, pin, trust-on-first-use, mutual TLS, TLS 1.2 floor."""
from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from _servers import make_cert
from _util import echo_handler as echo, run, until
from core import tls
from core.client import CenterClient
from core.config import ClientConfig, ClientTls, MappingConfig, ServerConfig
from core.errors import TlsError
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def roundtrip(srv: CenterServer, n: int = 4 << 20) -> None:
    await until(lambda: srv.router.for_mode("tcp"), "mapping announced")
    r, w = await asyncio.open_connection(*srv.addresses["tcp"])
    blob = os.urandom(n)

    async def send() -> None:
        w.write(blob)
        await w.drain()

    sender = asyncio.ensure_future(send())
    got = await asyncio.wait_for(r.readexactly(n), 30)
    await sender
    assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
    w.close()


def server_cfg(**kw) -> ServerConfig:
    return ServerConfig(bind="127.0.0.1:0", username="u", password="p", tls=True, map_tcp_bind="127.0.0.1:0", **kw)


def client_cfg(srv: CenterServer, port: int, tls_cfg: ClientTls) -> ClientConfig:
    return ClientConfig(server="127.0.0.1:%d" % srv.addresses["center"][1], username="u", password="p", tls=tls_cfg,
                        mappings=[MappingConfig(name="echo", mode="tcp", local_addr=f"127.0.0.1:{port}")],
                        reconnect_min=0.2, reconnect_max=0.5)


def test_generated_cert_tofu_then_changed_cert_refused(tmp_path: Path) -> None:
    async def main() -> None:
        svc = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = svc.sockets[0].getsockname()[1]
        srv = CenterServer(server_cfg())
        await srv.start()
        assert srv.fingerprint and len(srv.fingerprint) == 64
        assert oct((tmp_path / "data" / "wmproxy-gui" / "tls" / "server.key").stat().st_mode & 0o777) == "0o600"
        known = tmp_path / "known_hosts"
        cli = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, known_hosts=str(known))))
        await cli.start()
        try:
            await cli.wait_connected(10)
            assert cli.server_fingerprint == srv.fingerprint
            assert tls.format_fingerprint(srv.fingerprint) in known.read_text()
            await roundtrip(srv)
            center = srv.addresses["center"]
            await srv.stop()
            # same address, a different certificate: the client must refuse it
            other = make_cert(tmp_path / "other")
            srv = CenterServer(server_cfg(cert_file=str(other.cert), key_file=str(other.key)))
            srv.cfg.bind = "%s:%d" % center
            await srv.start()
            with pytest.raises(TlsError, match="changed from"):
                await cli.wait_connected(10)
            assert known.read_text().count(" ") >= 1
            assert tls.format_fingerprint(srv.fingerprint) not in known.read_text()
        finally:
            await cli.stop()
            await srv.stop()
            svc.close()

    run(main(), 60)


def test_pinned_fingerprint_and_ca_file(tmp_path: Path) -> None:
    cert = make_cert(tmp_path / "ca", dns_names=("tunnel.test",), ips=("127.0.0.1",))

    async def main() -> None:
        svc = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = svc.sockets[0].getsockname()[1]
        srv = CenterServer(server_cfg(cert_file=str(cert.cert), key_file=str(cert.key)))
        await srv.start()
        try:
            good = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, fingerprint=":".join(
                srv.fingerprint[i:i + 2].upper() for i in range(0, 64, 2)))))
            await good.start()
            await good.wait_connected(10)
            await roundtrip(srv, 1 << 20)
            await good.stop()

            bad = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, fingerprint="00" * 32)))
            await bad.start()
            with pytest.raises(TlsError, match="does not match the pinned"):
                await bad.wait_connected(10)
            await bad.stop()

            ca = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, ca_file=str(cert.cert),
                                                              server_name="tunnel.test")))
            await ca.start()
            await ca.wait_connected(10)
            await ca.stop()

            wrong_name = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, ca_file=str(cert.cert),
                                                                      server_name="elsewhere.test")))
            await wrong_name.start()
            with pytest.raises(asyncio.TimeoutError, match="certificate|hostname|match"):
                await wrong_name.wait_connected(3)
            await wrong_name.stop()
        finally:
            await srv.stop()
            svc.close()

    run(main(), 60)


def test_mutual_tls_requires_client_certificate(tmp_path: Path) -> None:
    ca_pem, ca_key = tls.generate_ca("test CA")
    srv_pem, srv_key = tls.generate_cert("localhost", ["localhost"], ["127.0.0.1"], ca=(ca_pem, ca_key))
    cli_pem, cli_key = tls.generate_cert("client-1", ["client-1"], [], ca=(ca_pem, ca_key))
    files = {}
    for name, data in {"ca.crt": ca_pem, "srv.crt": srv_pem, "srv.key": srv_key,
                       "cli.crt": cli_pem, "cli.key": cli_key}.items():
        files[name] = tmp_path / name
        (tls.write_private_key if name.endswith(".key") else tls.write_cert)(files[name], data)

    async def main() -> None:
        svc = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = svc.sockets[0].getsockname()[1]
        srv = CenterServer(server_cfg(cert_file=str(files["srv.crt"]), key_file=str(files["srv.key"]),
                                      two_way_tls=True, client_ca=str(files["ca.crt"])))
        await srv.start()
        try:
            anon = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, ca_file=str(files["ca.crt"]),
                                                                server_name="localhost")))
            await anon.start()
            with pytest.raises(asyncio.TimeoutError):
                await anon.wait_connected(3)
            assert anon.state != "connected"
            await anon.stop()

            mtls = CenterClient(client_cfg(srv, port, ClientTls(
                enabled=True, ca_file=str(files["ca.crt"]), server_name="localhost",
                cert_file=str(files["cli.crt"]), key_file=str(files["cli.key"]))))
            await mtls.start()
            await mtls.wait_connected(10)
            await roundtrip(srv, 1 << 20)
            await mtls.stop()
        finally:
            await srv.stop()
            svc.close()

    run(main(), 60)


def test_openssl_sees_tls12_floor(tmp_path: Path) -> None:
    """A real openssl client: TLS 1.1 is refused, TLS 1.2 and 1.3 complete a handshake."""

    async def main() -> None:
        srv = CenterServer(server_cfg())
        await srv.start()
        host, port = srv.addresses["center"]
        try:
            async def handshake(flag: str) -> int:
                # SECLEVEL=0 lets this client offer TLS 1.1, so only the server's floor can refuse it
                p = await asyncio.create_subprocess_exec(
                    "openssl", "s_client", "-connect", f"{host}:{port}", flag, "-brief",
                    *(["-cipher", "DEFAULT@SECLEVEL=0"] if flag == "-tls1_1" else []),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                await asyncio.wait_for(p.communicate(b""), 20)
                return p.returncode or 0

            assert await handshake("-tls1_2") == 0
            assert await handshake("-tls1_3") == 0
            assert await handshake("-tls1_1") != 0
        finally:
            await srv.stop()

    run(main(), 60)
