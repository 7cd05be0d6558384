"""Proxy through the tunnel: curl -> client's local listener -> channel -> server parses and dials."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from _servers import HttpTarget, make_cert
from _util import curl, run, until
from core.client import CenterClient
from core.config import ClientConfig, ProxyListenerConfig, ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)

LOOPBACK_ALLOWED = ["127.0.0.1/32", "::1/128"]


async def start(allow: list[str], listener: ProxyListenerConfig):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p", allow_targets=allow))
    await srv.start()
    cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                    proxies=[listener]))
    await cli.start()
    await cli.wait_connected(10)
    return srv, cli


def test_http_https_socks5_through_tunnel(tmp_path: Path) -> None:
    cert = make_cert(tmp_path)

    async def main() -> None:
        with HttpTarget() as plain, HttpTarget(tls=cert.server_context()) as secure, HttpTarget("::1") as v6:
            srv, cli = await start(LOOPBACK_ALLOWED, ProxyListenerConfig(name="local", bind="127.0.0.1:0"))
            try:
                h, p = cli.addresses["local"]
                proxy = f"http://{h}:{p}"
                code, out, err = await curl("-x", proxy, plain.url("/one"), "-x", proxy, plain.url("/two"))
                assert code == 0 and "hello /one" in out and "hello /two" in out, err
                code, out, err = await curl("-x", proxy, "--cacert", str(cert.cert), secure.url("/tls"))
                assert code == 0 and "hello /tls" in out, err
                code, out, err = await curl("--socks5-hostname", f"{h}:{p}", plain.url("/s5h", host="localhost"))
                assert code == 0 and "hello /s5h" in out, err
                code, out, err = await curl("--socks5", f"{h}:{p}", plain.url("/s5v4"))
                assert code == 0 and "hello /s5v4" in out, err
                code, out, err = await curl("--socks5", f"{h}:{p}", v6.url("/s5v6"))
                assert code == 0 and "hello /s5v6" in out, err
                # the server recorded where each channel went
                targets = set()
                srv.stats.subscribe(lambda ev, rec: targets.add(rec.target) if ev == "channel_close" else None)
                code, out, err = await curl("-x", proxy, plain.url("/rec"))
                await until(lambda: targets, "channel closed")
                assert plain.authority in targets
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 100)


def test_server_policy_denies_loopback_by_default() -> None:
    async def main() -> None:
        with HttpTarget() as plain:
            srv, cli = await start([], ProxyListenerConfig(name="local", bind="127.0.0.1:0"))
            try:
                h, p = cli.addresses["local"]
                code, out, err = await curl("-x", f"http://{h}:{p}", "-o", "/dev/null", "-w", "%{http_code}",
                                            plain.url("/"))
                assert out == "403"
                code, out, err = await curl("--socks5", f"{h}:{p}", plain.url("/"))
                assert code == 97 and "(2)" in err, err  # SOCKS5 reply 2: connection not allowed by ruleset
                assert plain.requests == []
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_listener_with_credentials_authenticates_locally() -> None:
    async def main() -> None:
        with HttpTarget() as plain:
            srv, cli = await start(LOOPBACK_ALLOWED, ProxyListenerConfig(
                name="auth", bind="127.0.0.1:0", username="alice", password="s3cret"))
            try:
                h, p = cli.addresses["auth"]
                code, out, err = await curl("-x", f"http://{h}:{p}", "--proxy-user", "alice:s3cret", plain.url("/ok"))
                assert code == 0 and "hello /ok" in out, err
                code, out, err = await curl("-x", f"http://{h}:{p}", "--proxy-user", "alice:nope",
                                            "-o", "/dev/null", "-w", "%{http_code}", plain.url("/no"))
                assert out == "407"
                code, out, err = await curl("--socks5-hostname", f"{h}:{p}", "--proxy-user", "alice:s3cret",
                                            plain.url("/s5"))
                assert code == 0 and "hello /s5" in out, err
                code, out, err = await curl("--socks5-hostname", f"{h}:{p}", "--proxy-user", "alice:bad",
                                            plain.url("/s5bad"))
                assert code != 0
                assert [r.path for r in plain.requests] == ["/ok", "/s5"]
            finally:
                await cli.stop()
                await srv.stop()

    run(main(), 60)


def test_direct_mode_needs_no_server() -> None:
    async def main() -> None:
        with HttpTarget() as plain:
            cli = CenterClient(ClientConfig(server="127.0.0.1:1", direct=True,
                                            proxies=[ProxyListenerConfig(name="d", bind="127.0.0.1:0")]))
            await cli.start()
            try:
                h, p = cli.addresses["d"]
                code, out, err = await curl("-x", f"http://{h}:{p}", plain.url("/direct"))
                assert code == 0 and "hello /direct" in out, err
                assert cli.state == "connected"
            finally:
                await cli.stop()

    run(main(), 60)


def test_client_with_listeners_stops_cleanly_under_uvloop() -> None:
    """The headless modes run on uvloop, whose Server is no asyncio.AbstractServer."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        with HttpTarget() as plain:
            srv, cli = await start(LOOPBACK_ALLOWED, ProxyListenerConfig(name="local", bind="127.0.0.1:0"))
            try:
                h, p = cli.addresses["local"]
                code, out, err = await curl("-x", f"http://{h}:{p}", plain.url("/uv"))
                assert code == 0 and "hello /uv" in out, err
            finally:
                await cli.stop()
                await srv.stop()
            assert cli.addresses == {} and cli.state == "stopped"

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 60))
    finally:
        loop.close()
