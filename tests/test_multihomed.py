"""A client linked to several servers at once (core/uplink.py): each serves every mapping,
each link reconnects on its own, proxy traffic moves to the next live server."""
from __future__ import annotations


import pytest

from _util import tagged_http, curl, run, until
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ProxyListenerConfig, ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(90)


def server(port: int = 0) -> CenterServer:
    return CenterServer(ServerConfig(bind=f"127.0.0.1:{port}", username="u", password="p",
                                     map_http_bind="127.0.0.1:0", allow_targets=["127.0.0.1"]))


def test_every_server_serves_the_mappings_and_links_recover_on_their_own() -> None:
    async def main() -> None:
        svc = await tagged_http("svc")
        a, b = server(), server()
        await a.start()
        await b.start()
        a_port = a.addresses["center"][1]
        cli = CenterClient(ClientConfig(
            server=[f"127.0.0.1:{a_port}", "127.0.0.1:%d" % b.addresses["center"][1]], username="u", password="p",
            reconnect_min=0.2, reconnect_max=0.4,
            mappings=[MappingConfig("web", "http", "127.0.0.1:%d" % svc.sockets[0].getsockname()[1],
                                    domain="mh.test")],
            proxies=[ProxyListenerConfig(bind="127.0.0.1:0")]))
        events: list[tuple[str, str]] = []
        cli.on_uplink.append(lambda u: events.append((u.server, u.state)))
        await cli.start()
        try:
            await until(lambda: all(u.connected and u.mapping_status for u in cli.uplinks), "both links")
            assert [u.mapping_status["web"].ok for u in cli.uplinks] == [True, True]
            assert cli.primary is cli.uplinks[0]
            for srv in (a, b):  # each server routes the mapping over its own link
                code, out, err = await curl("-H", "Host: mh.test", "http://127.0.0.1:%d/x" % srv.addresses["http"][1])
                assert out == "svc /x", err
            proxy = "http://127.0.0.1:%d" % cli.addresses["proxy"][1]
            target = "http://127.0.0.1:%d/p" % svc.sockets[0].getsockname()[1]
            code, out, err = await curl("-x", proxy, target)
            assert out == "svc /p", err
            await a.stop()  # the first server goes away: the client stays connected through the second
            await until(lambda: cli.uplinks[0].state in ("error", "connecting") and cli.uplinks[0].last_error,
                        "the first link down with its error")
            assert cli.state == "connected" and cli.primary is cli.uplinks[1]
            assert cli.next_attempt_at is None  # a link is up: the client as a whole waits for nothing
            await until(lambda: cli.uplinks[0].next_attempt_at is not None, "a countdown on the first link")
            code, out, err = await curl("-x", proxy, target)  # proxy traffic moved to the live server
            assert out == "svc /p", err
            a2 = server(a_port)
            await a2.start()
            cli.uplinks[0].reconnect_now()
            await until(lambda: cli.uplinks[0].connected and cli.uplinks[0].mapping_status, "the first link back")
            assert cli.primary is cli.uplinks[0] and cli.uplinks[0].last_error == ""
            code, out, err = await curl("-H", "Host: mh.test", "http://127.0.0.1:%d/y" % a2.addresses["http"][1])
            assert out == "svc /y", err
            assert (f"127.0.0.1:{a_port}", "error") in events or (f"127.0.0.1:{a_port}", "connecting") in events
            await a2.stop()
        finally:
            await cli.stop()
            await b.stop()
            svc.close()

    run(main())


def test_wait_connected_raises_only_when_every_server_refuses_the_login() -> None:
    async def main() -> None:
        good, bad = server(), CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="other"))
        await good.start()
        await bad.start()
        servers = ["127.0.0.1:%d" % s.addresses["center"][1] for s in (bad, good)]
        cli = CenterClient(ClientConfig(server=servers, username="u", password="p", reconnect_min=5, reconnect_max=5))
        await cli.start()
        try:
            await cli.wait_connected(10)  # one refuses, the other lets us in
            await until(lambda: cli.uplinks[0].state == "error", "the refusing server's link in error")
            assert "authentication failed" in cli.uplinks[0].last_error and cli.state == "connected"
        finally:
            await cli.stop()
        from core.errors import AuthError

        cli = CenterClient(ClientConfig(server=servers[:1], username="u", password="p", reconnect_min=5,
                                        reconnect_max=5))
        await cli.start()
        try:
            with pytest.raises(AuthError):
                await cli.wait_connected(10)
        finally:
            await cli.stop()
            await good.stop()
            await bad.stop()

    run(main())
