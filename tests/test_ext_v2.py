"""Extension version 2 (core/PROTOCOL.md): features both ways, Create with the public addresses,
the server's Status of each mapping, and routes keyed by (mode, domain) with one owner per domain."""
from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from _util import server_addr, tagged_http, curl, run, until
from core import frames as F
from core import link as L
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(60)


def server(**kw) -> CenterServer:
    return CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p", **kw))


def client(srv: CenterServer, *mappings: MappingConfig) -> CenterClient:
    return CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                     mappings=list(mappings), reconnect_min=0.2, reconnect_max=0.5))


@contextlib.asynccontextmanager
async def running(*engines):
    try:
        for e in engines:
            await e.start()
        yield engines
    finally:
        for e in reversed(engines):
            await e.stop()


def test_features_negotiated_both_ways_and_the_client_id_reaches_the_server() -> None:
    async def main() -> None:
        srv = server(map_tcp_bind="127.0.0.1:0")
        await srv.start()
        cli = client(srv, MappingConfig("svc", "tcp", "127.0.0.1:9"))
        async with running(cli):
            await cli.wait_connected(10)
            await until(lambda: srv.links and next(iter(srv.links)).client_id, "client id")
            slink = next(iter(srv.links))
            assert slink.client_id == cli.client_id and slink.identity == "id:" + cli.client_id
            assert set(L.EXT_FEATURES) <= slink.features
            assert cli.link is not None and cli.link.features == slink.features
        await srv.stop()
    run(main())


def test_create_carries_the_public_address_to_the_client_records() -> None:
    async def main() -> None:
        echo = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        srv = server(map_tcp_bind="127.0.0.1:0")
        await srv.start()
        cli = client(srv, MappingConfig("svc", "tcp", server_addr(echo)))
        async with running(cli):
            await cli.wait_connected(10)
            await until(lambda: cli.mapping_status.get("svc"), "status")
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            mine = "127.0.0.1:%d" % w.get_extra_info("sockname")[1]
            await until(lambda: any(c.kind == "mapping" for c in cli.stats.channels.values()), "channel")
            rec = next(c for c in cli.stats.channels.values() if c.kind == "mapping")
            assert rec.peer == mine  # not "server": the public client itself
            w.close()
        await srv.stop()
        echo.close()
    run(main())


def test_status_reports_ports_and_refusals_with_reasons() -> None:
    async def main() -> None:
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        srv = server(map_tcp_bind="127.0.0.1:0", map_http_bind="127.0.0.1:0")
        await srv.start()
        cli = client(srv,
                     MappingConfig("ssh", "tcp", "127.0.0.1:22"),
                     MappingConfig("taken", "tcp", "127.0.0.1:22", remote_port=busy_port),
                     MappingConfig("low", "tcp", "127.0.0.1:22", remote_port=80),
                     MappingConfig("web", "http", "127.0.0.1:80", domain="w.test"),
                     MappingConfig("sec", "https", "127.0.0.1:443", domain="w.test"))
        async with running(cli):
            await cli.wait_connected(10)
            await until(lambda: len(cli.mapping_status) == 5, "status of all five")
            st = cli.mapping_status
            # the shared port: upstream's rule is "the newest tcp mapping", but one with a port of
            # its own never takes it
            assert st["ssh"] == F.MappingState("ssh", True, srv.addresses["tcp"][1])
            assert not st["taken"].ok and "address already in use" in st["taken"].message
            assert not st["low"].ok and "below 1024" in st["low"].message
            assert st["web"] == F.MappingState("web", True, srv.addresses["http"][1])
            assert not st["sec"].ok and "no https listener (map_https_bind)" in st["sec"].message
        await srv.stop()
        busy.close()
    run(main())


def test_http_and_https_mappings_of_one_domain_are_two_routes(tmp_path) -> None:
    async def main() -> None:
        plain, secure = await tagged_http("plain"), await tagged_http("secure")
        srv = server(map_http_bind="127.0.0.1:0", map_https_bind="127.0.0.1:0")
        await srv.start()
        cli = client(srv, MappingConfig("a", "http", server_addr(plain), domain="both.test"),
                     MappingConfig("b", "https", server_addr(secure), domain="both.test"))
        async with running(cli):
            await cli.wait_connected(10)
            await until(lambda: srv.router.for_host("https", "both.test"), "routes")
            hp, sp = srv.addresses["http"][1], srv.addresses["https"][1]
            code, out, err = await curl("--resolve", f"both.test:{hp}:127.0.0.1", f"http://both.test:{hp}/x")
            assert (code, out) == (0, "plain /x"), err
            code, out, err = await curl("-k", "--resolve", f"both.test:{sp}:127.0.0.1", f"https://both.test:{sp}/y")
            assert (code, out) == (0, "secure /y"), err
        await srv.stop()
        plain.close()
        secure.close()
    run(main())


def test_a_domain_has_one_owner_the_other_waits_and_takes_over() -> None:
    async def main() -> None:
        first, second = await tagged_http("first"), await tagged_http("second")
        srv = server(map_http_bind="127.0.0.1:0")
        await srv.start()
        a = client(srv, MappingConfig("site", "http", server_addr(first), domain="own.test"))
        b = client(srv, MappingConfig("site", "http", server_addr(second), domain="own.test"))
        url = "http://127.0.0.1:%d/p" % srv.addresses["http"][1]
        await a.start()
        await a.wait_connected(10)
        await until(lambda: a.mapping_status.get("site"), "a's status")
        await b.start()
        await b.wait_connected(10)
        await until(lambda: b.mapping_status.get("site"), "b's status")
        assert a.mapping_status["site"].ok
        refused = b.mapping_status["site"]
        assert not refused.ok and "served by another client" in refused.message
        code, out, _ = await curl("-H", "Host: own.test", url)
        assert out == "first /p"  # the second client cannot take a domain away
        await a.stop()
        await until(lambda: b.mapping_status["site"].ok, "b takes over")
        code, out, _ = await curl("-H", "Host: own.test", url)
        assert out == "second /p"
        await b.stop()
        await srv.stop()
        first.close()
        second.close()
    run(main())


def test_the_shared_tcp_port_goes_to_the_newest_mapping_and_both_clients_are_told() -> None:
    """The shared tcp port serves the newest mapping without a remote_port: the client that had it
    hears that it lost it (not "open" while another client gets its traffic), and hears again when
    the newer client leaves and the port is its own once more."""
    async def main() -> None:
        srv = server(map_tcp_bind="127.0.0.1:0")
        await srv.start()
        a = client(srv, MappingConfig("old", "tcp", "127.0.0.1:1"))
        b = client(srv, MappingConfig("new", "tcp", "127.0.0.1:1"))
        try:
            await a.start()
            await a.wait_connected(10)
            await until(lambda: a.mapping_status.get("old"), "a's status")
            assert a.mapping_status["old"].ok
            await b.start()
            await b.wait_connected(10)
            await until(lambda: b.mapping_status.get("new"), "b's status")
            assert b.mapping_status["new"].ok
            await until(lambda: not a.mapping_status["old"].ok, "a told it lost the shared port")
            assert "newer mapping 'new'" in a.mapping_status["old"].message
            await b.stop()
            await until(lambda: a.mapping_status["old"].ok, "a told the shared port is its own again")
        finally:
            await a.stop()
            await b.stop()
            await srv.stop()
    run(main())


def test_links_of_one_client_share_its_domains() -> None:
    async def main() -> None:
        svc = await tagged_http("svc")
        srv = server(map_http_bind="127.0.0.1:0")
        await srv.start()
        a = client(srv, MappingConfig("site", "http", server_addr(svc), domain="mh.test"))
        b = client(srv, MappingConfig("site", "http", server_addr(svc), domain="mh.test"))
        b.client_id = a.client_id  # one client linked twice (multi-homed, or a reconnect)
        async with running(a, b):
            for c in (a, b):
                await c.wait_connected(10)
                await until(lambda c=c: c.mapping_status.get("site"), "status")
                assert c.mapping_status["site"].ok
        await srv.stop()
        svc.close()
    run(main())


def test_a_version_1_client_is_served_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.client

    real = core.client.parse_ext_token

    def as_v1(tok: F.Token):
        version, feats, params = real(tok)
        return 1, feats & set(L.V1_FEATURES), params  # never answers with its features

    monkeypatch.setattr(core.client, "parse_ext_token", as_v1)

    async def main() -> None:
        svc = await tagged_http("v1")
        srv = server(map_http_bind="127.0.0.1:0")
        await srv.start()
        cli = client(srv, MappingConfig("site", "http", server_addr(svc), domain="v1.test"))
        async with running(cli):
            await cli.wait_connected(10)
            await until(lambda: srv.router.for_host("http", "v1.test"), "route after the grace", 5)
            slink = next(iter(srv.links))
            assert slink.features == frozenset(L.V1_FEATURES) and not slink.client_id
            code, out, err = await curl("-H", "Host: v1.test", "http://127.0.0.1:%d/z" % srv.addresses["http"][1])
            assert out == "v1 /z", err
            assert cli.mapping_status == {}  # no Status frames for a version-1 client
        await srv.stop()
        svc.close()
    run(main())


class FakeLink:
    def __init__(self, identity: str) -> None:
        self.alive, self.identity, self.peer = True, identity, identity


def test_router_edits_keep_their_place_and_the_earliest_waiting_claim_takes_over() -> None:
    from core.router import Router

    r = Router()
    a, b, c = FakeLink("a"), FakeLink("b"), FakeLink("c")
    site = (F.MappingEntry("s", "http", "x.test"),)
    r.update(a, site)
    r.update(b, site)
    r.update(c, site)
    assert r.for_host("http", "X.test.").link is a
    assert r.update(a, (F.MappingEntry("s", "http", "x.test", (F.HeaderRule(True, F.HeaderOp.ADD, "k", "v"),)),)) == {a}
    assert r.for_host("http", "x.test").link is a  # an edit is no new claim: a keeps the domain
    assert r.remove(a) == {b}  # the earliest waiting claim, not the newest
    assert r.for_host("http", "x.test").link is b and not r.holds(r.routes_of(c)[0])
    assert r.for_host("https", "x.test").link is b  # served in the other mode too (upstream routes by domain)
    assert r.for_host("http", "y.test") is None



def test_reconnect_countdown_and_reconnect_now() -> None:
    async def main() -> None:
        srv = server(map_tcp_bind="127.0.0.1:0")
        await srv.start()
        port = srv.addresses["center"][1]
        await srv.stop()  # nothing listens: every attempt is refused
        cli = CenterClient(ClientConfig(server=f"127.0.0.1:{port}", username="u", password="p",
                                        reconnect_min=30, reconnect_max=60))
        await cli.start()
        try:
            await until(lambda: cli.next_attempt_at is not None, "a countdown")
            import time
            assert 10 < cli.next_attempt_at - time.time() <= 30
            assert "refused" in cli.last_error.lower()
            srv2 = CenterServer(ServerConfig(bind=f"127.0.0.1:{port}", username="u", password="p"))
            await srv2.start()
            cli.reconnect_now()
            await cli.wait_connected(5)  # long before the 15-30 s wait would have ended
            assert cli.next_attempt_at is None and cli.last_error == ""
            await srv2.stop()
        finally:
            await cli.stop()
    run(main())


def test_a_login_held_back_by_the_throttle_is_not_taken_for_a_legacy_server() -> None:
    """After wrong passwords the server holds this address's next login back for longer than the
    legacy one-second grace. The client learned from the refusal (flagged EXT) that this server
    always answers: it never reports "connected" on a wrong password, and after the password is
    fixed it connects with the extensions, not as to a legacy server."""
    from dataclasses import replace

    from core.throttle import AuthThrottle

    async def main() -> None:
        srv = server()
        cli = CenterClient(ClientConfig(server="127.0.0.1:1", username="u", password="wrong",
                                        reconnect_min=0.2, reconnect_max=0.3))
        seen: list[tuple[str, bool]] = []

        def on_state(state: str, _error: str) -> None:
            link = cli.uplinks[0].link if cli.uplinks else None
            seen.append((state, bool(link is not None and link.peer_ext)))

        cli.on_state.append(on_state)
        async with running(srv):
            srv.auth_throttle = AuthThrottle(base=1.5)  # the 2nd login waits 1.5 s, the 3rd 3 s
            cli.cfg = replace(cli.cfg, server="%s:%d" % srv.addresses["center"])
            async with running(cli):
                await until(lambda: srv.auth_throttle._failures and
                            next(iter(srv.auth_throttle._failures.values()))[0] >= 2, "two refused logins",
                            timeout=15)
                assert all(state != "connected" for state, _ in seen), seen
                await cli.update(replace(cli.cfg, password="p"))
                await cli.wait_connected(15)
                assert ("connected", True) in seen and ("connected", False) not in seen, seen

    run(main(), 40)
