"""TunnelController against a real CenterServer on loopback (no mocks): states, errors, stats, server."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from conftest import wait_until  # tests/gui/conftest.py

from core.config import ClientConfig, MappingConfig, ProxyListenerConfig, ServerConfig
from core.stats import Stats
from wmproxy_gui.controller import SERVER_ID, LinkAlerts, RateMeter, TunnelController
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(90)


def make_profile(store: Any, server: Any, name: str = "Home", **client: Any) -> Profile:
    host, port = server.addresses["center"]
    cfg = ClientConfig(server=f"{host}:{port}", reconnect_min=0.1, reconnect_max=0.5, **client)
    return store.upsert(Profile(new_id(), name, cfg))


def record(ctl: TunnelController) -> dict[str, list]:
    seen: dict[str, list] = {"state": [], "error": [], "server": [], "notify": []}
    ctl.state_changed.connect(lambda pid, s: seen["state"].append((pid, s)))
    ctl.error.connect(lambda pid, m: seen["error"].append((pid, m)))
    ctl.server_state_changed.connect(lambda s: seen["server"].append(s))
    ctl.notify.connect(lambda t, m: seen["notify"].append((t, m)))
    return seen


async def echo_through(host: str, port: int, payload: bytes) -> bytes:
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    w.write(payload)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(payload)), 10)
    w.close()
    return got


def test_connect_use_mapping_disconnect(controller, profile_store, center_server, echo_server, qrun):
    srv = center_server(stats=Stats())
    p = make_profile(profile_store, srv, mappings=[
        MappingConfig("echo", mode="tcp", local_addr=f"{echo_server[0]}:{echo_server[1]}")])
    seen = record(controller)

    async def scenario() -> None:
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        # the mapping is announced once connected; a public connection reaches the echo server
        await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping announced")
        host, port = srv.addresses["tcp"]
        r, w = await asyncio.open_connection(host, port)
        w.write(b"ping" * 1000)
        assert await asyncio.wait_for(r.readexactly(4000), 10) == b"ping" * 1000
        chans = [c for c in controller.stats.snapshot().channels if c.name == "echo"]
        assert chans and chans[0].kind == "mapping" and chans[0].up + chans[0].down >= 4000
        w.close()
        assert await controller.disconnect_profile(p.id)

    qrun(scenario())
    assert controller.state(p.id) == "stopped"
    assert [s for pid, s in seen["state"] if pid == p.id] == ["connecting", "connected", "stopped"]
    assert seen["error"] == [] and seen["notify"] == []
    assert controller.client(p.id) is None
    snap = controller.stats.snapshot()
    assert snap.per_name["echo"][0] + snap.per_name["echo"][1] >= 8000  # both directions counted


def test_wrong_password_reports_server_reason(secret_service, controller, profile_store, center_server, qrun,
                                              caplog):
    srv = center_server(username="alice", password="right-horse-battery")
    p = make_profile(profile_store, srv, username="alice")
    profile_store.set_password(p.id, "wrong-secret-4711")
    seen = record(controller)
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        await controller.connect_profile(p.id)
        await wait_until(lambda: seen["error"], 15, "error signal")
        # a refused login is final: the controller stops retrying
        await wait_until(lambda: controller.client(p.id) is None, 10, "client stopped")

    qrun(scenario())
    assert controller.state(p.id) == "error"
    pid, msg = seen["error"][0]
    assert pid == p.id
    assert "refused the username or password" in msg  # worded for the user, with the next step
    assert len(seen["error"]) == 1
    assert seen["notify"] and "Home" in seen["notify"][0][0] and "refused the username or password" in seen["notify"][0][1]
    for secret in ("wrong-secret-4711", "right-horse-battery"):
        assert secret not in caplog.text
        assert secret not in msg
        assert secret not in profile_store.path.read_text()


def test_password_from_keyring_connects(secret_service, controller, profile_store, center_server, qrun):
    srv = center_server(username="alice", password="right-horse-battery")
    p = make_profile(profile_store, srv, username="alice")
    profile_store.set_password(p.id, "right-horse-battery")

    async def scenario() -> None:
        await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")

    qrun(scenario())
    assert "right-horse-battery" not in profile_store.path.read_text()
    assert controller.client(p.id).cfg.password == "right-horse-battery"  # only the engine holds it


def test_toggle_twice_ends_stopped_and_toggle_connects(controller, profile_store, center_server, qrun):
    srv = center_server()
    p = make_profile(profile_store, srv)

    async def scenario() -> None:
        controller.toggle(p.id)
        assert controller.state(p.id) == "connecting"  # at once, before the loop runs
        controller.toggle(p.id)  # changed my mind
        await wait_until(lambda: not controller._tasks, 10, "toggles done")
        assert controller.state(p.id) == "stopped" and controller.client(p.id) is None
        controller.toggle(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")

    qrun(scenario())


async def http_connect(proxy: tuple[str, int], target: tuple[str, int]) -> tuple[asyncio.StreamReader, Any]:
    r, w = await asyncio.open_connection(*proxy)
    w.write(f"CONNECT {target[0]}:{target[1]} HTTP/1.1\r\nHost: {target[0]}:{target[1]}\r\n\r\n".encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    assert b" 200 " in head.split(b"\r\n")[0], head
    return r, w


def test_apply_profile_adds_a_proxy_listener_to_the_running_tunnel(controller, profile_store, center_server,
                                                                    echo_server, qrun):
    srv = center_server(allow_targets=["127.0.0.1"])  # loopback targets are refused by default
    p = make_profile(profile_store, srv)

    async def scenario() -> None:
        await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        assert controller.client(p.id).addresses == {}
        p.client.proxies = [ProxyListenerConfig("px", bind="127.0.0.1:0", protocols=("http",))]
        profile_store.upsert(p)
        assert await controller.apply_profile(p)
        addr = controller.client(p.id).addresses["px"]
        r, w = await http_connect(addr, echo_server)
        w.write(b"through the tunnel")
        assert await asyncio.wait_for(r.readexactly(18), 10) == b"through the tunnel"
        w.close()
        names = {c.name for c in controller.stats.snapshot().channels}
        assert "px" in names

    qrun(scenario())


def test_applying_a_changed_server_reconnects_without_a_loss_notice(controller, profile_store, center_server,
                                                                     qrun):
    first, second = center_server(), center_server()
    p = make_profile(profile_store, first)
    controller.alerts.interval = 0
    seen = record(controller)

    async def scenario() -> None:
        await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        host, port = second.addresses["center"]
        p.client.server = f"{host}:{port}"
        profile_store.upsert(p)
        assert await controller.apply_profile(p)
        await wait_until(lambda: controller.state(p.id) == "connected" and bool(second.links), 15, "moved")

    qrun(scenario())
    assert not first.links and second.links
    assert seen["notify"] == []  # the user asked for this reconnect


def test_link_loss_and_recovery_notify(controller, profile_store, center_server, qrun):
    srv = center_server()
    host, port = srv.addresses["center"]
    p = make_profile(profile_store, srv, name="Office")
    controller.alerts.interval = 0  # no rate limit here: LinkAlerts is tested on its own below
    seen = record(controller)

    async def restart_server_scenario() -> None:
        await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        await srv.stop()
        await wait_until(lambda: len(seen["notify"]) >= 1, 15, "loss notification")
        from core.server import CenterServer

        again = CenterServer(ServerConfig(bind=f"{host}:{port}"))
        await again.start()
        try:
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "reconnected")
            await wait_until(lambda: len(seen["notify"]) >= 2, 5, "recovery notification")
        finally:
            await controller.disconnect_profile(p.id)
            await again.stop()

    qrun(restart_server_scenario())
    lost, back = seen["notify"][:2]
    assert "Office" in lost[0] and "lost" in lost[0].lower()
    assert "Office" in back[0] and "restored" in back[0].lower()
    states = [s for pid, s in seen["state"] if pid == p.id]
    assert states[:2] == ["connecting", "connected"] and "connected" in states[3:]


def test_server_start_stop_and_port_in_use(controller, qrun):
    seen = record(controller)

    async def scenario() -> None:
        assert await controller.start_server(ServerConfig(bind="127.0.0.1:0"))
        srv = controller.server
        host, port = srv.addresses["center"]
        # a second controller cannot bind the same port: the error names the problem
        other = TunnelController(controller.store)
        errors: list[tuple[str, str]] = []
        other.error.connect(lambda pid, m: errors.append((pid, m)))
        assert not await other.start_server(ServerConfig(bind=f"{host}:{port}"))
        assert other.server_state == "error" and other.server is None
        assert errors and errors[0][0] == SERVER_ID and "cannot listen" in errors[0][1]
        await other.shutdown()
        assert await controller.stop_server()

    qrun(scenario())
    assert seen["server"] == ["starting", "running", "stopped"]
    assert controller.server is None


def test_connect_reports_missing_profile(controller, qrun):
    seen = record(controller)
    assert qrun(controller.connect_profile("no-such-id")) is False
    assert controller.state("no-such-id") == "error"
    assert seen["error"] and seen["error"][0][0] == "no-such-id"


# ------------------------------------------------------------------ pure helpers
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_link_alerts_rate_limit_one_per_profile_per_interval():
    clock = FakeClock()
    a = LinkAlerts(30, clock)
    a.started("p")
    assert a.transition("p", "stopped", "connecting") is None
    assert a.transition("p", "connecting", "connected") is None  # a normal connect is not news
    assert a.transition("p", "connected", "error") == "lost"
    assert a.transition("p", "error", "connecting") is None
    clock.now += 5
    assert a.transition("p", "connecting", "connected") is None  # too soon: held back
    assert a.due("p", "connected") is None
    clock.now += 5
    assert a.transition("p", "connected", "error") is None  # flapping: suppressed
    assert a.transition("p", "error", "connected") is None
    assert a.transition("q", "connected", "error") == "lost"  # another profile has its own budget
    clock.now += 25
    assert a.due("p", "connected") == "recovered"  # delivered once allowed, link still up
    assert a.due("p", "connected") is None
    # a user disconnect is not a loss
    clock.now += 100
    a.stopped("p")
    assert a.transition("p", "connected", "stopped") is None


def test_link_alerts_drop_recovery_if_down_again_and_report_first_failure():
    clock = FakeClock()
    a = LinkAlerts(30, clock)
    assert a.transition("p", "connected", "connecting") == "lost"
    clock.now += 1
    assert a.transition("p", "connecting", "connected") is None
    assert a.transition("p", "connected", "error") is None
    clock.now += 60
    assert a.due("p", "error") is None  # it is down again: no "restored" lie
    a.started("f")
    assert a.transition("f", "connecting", "error") == "failed"
    clock.now += 60
    assert a.transition("f", "error", "connecting") is None
    assert a.transition("f", "connecting", "error") is None  # one failure notice per attempt
    assert a.transition("f", "connecting", "connected") == "recovered"


def test_rate_meter():
    m = RateMeter()
    assert m.update(10.0, 0, 0) == (0.0, 0.0)
    assert m.update(12.0, 2000, 500) == (1000.0, 250.0)
    assert m.update(12.0, 9999, 9999) == (1000.0, 250.0)  # no time passed: keep the last rates
    assert m.update(13.0, 9999, 9999) == (7999.0, 9499.0)
