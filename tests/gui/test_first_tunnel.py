"""Issue 12: from a fresh server's output to a working tunnel, and a window that says what is wrong.

Real servers on loopback (CenterServer, real TLS), the real controller and pages, pytest-qt offscreen:
refused port, TLS on one side only (both ways), a mapping the server cannot open (busy port), the
reconnect countdown reaching zero and "Reconnect now", the Closed tab and closing a live connection,
public addresses, the wmproxy:// link of the first run imported with one password prompt, the QR code.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until  # tests/gui/conftest.py
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton

from core import headless, tls
from core.config import ClientConfig, ClientTls, MappingConfig, ServerConfig
from core.server import CenterServer
from wmproxy_gui.pages.mappings_page import MappingsPage
from wmproxy_gui.pages.profiles_page import ProfileDialog, ProfilesPage
from wmproxy_gui.pages.traffic_page import TrafficPage
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(120)


def addr(a: tuple[str, int]) -> str:
    return f"{a[0]}:{a[1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def click(button: QPushButton) -> None:
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_dialog(profile_store: Any, server: str, mode: str) -> ProfileDialog:
    dlg = ProfileDialog(profile_store)
    dlg.server.setText(server)
    dlg.tls.setCurrentIndex(dlg.tls.findData(mode))
    return dlg


test_dialog.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


# ------------------------------------------------------------------ Test connection says what is wrong

def test_refused_port_is_named_with_the_next_step(profile_store, qrun, qtbot):
    port = free_port()  # nothing listens there
    dlg = test_dialog(profile_store, f"127.0.0.1:{port}", "off")
    qtbot.addWidget(dlg)
    started = time.monotonic()
    click(dlg.test_button)
    qrun(wait_until(lambda: "Nothing is listening" in dlg.test_status.text(), 10, "refusal named"))
    assert time.monotonic() - started < 5  # refused is told at once, not after a timeout
    text = dlg.test_status.text()
    assert f"127.0.0.1:{port}" in text and "Check the port" in text
    assert "timed out" not in text.lower() and "Errno" not in text and "Connect call failed" not in text


def test_profile_without_tls_against_a_tls_server(profile_store, center_server, qrun, qtbot):
    srv = center_server(ServerConfig(bind="127.0.0.1:0", tls=True))
    dlg = test_dialog(profile_store, addr(srv.addresses["center"]), "off")
    qtbot.addWidget(dlg)
    click(dlg.test_button)
    qrun(wait_until(lambda: "uses TLS" in dlg.test_status.text(), 10, "TLS server named"))
    assert "Trust on first use" in dlg.test_status.text()  # the setting to change


def test_new_profile_defaults_to_tls_and_a_plain_server_is_named(profile_store, center_server, qrun, qtbot):
    srv = center_server(ServerConfig(bind="127.0.0.1:0"))
    dlg = ProfileDialog(profile_store)
    qtbot.addWidget(dlg)
    assert dlg.mode() == "tofu"
    dlg.server.setText(addr(srv.addresses["center"]))
    started = time.monotonic()
    click(dlg.test_button)
    qrun(wait_until(lambda: "does not use TLS" in dlg.test_status.text(), 15, "plain server named"))
    assert time.monotonic() - started < 8  # not the 15 s handshake timeout


def test_running_tunnel_names_a_tls_mismatch(controller, profile_store, center_server, qrun):
    """A TLS profile on a plain server only ever waits for the handshake: the probe says why."""
    srv = center_server(ServerConfig(bind="127.0.0.1:0"))
    p = profile_store.upsert(Profile(new_id(), "Mismatch", ClientConfig(
        server=addr(srv.addresses["center"]), tls=ClientTls(enabled=True, tofu=True,
                                                            known_hosts=str(profile_store.path.parent / "kh")))))
    errors: list[str] = []
    controller.error.connect(lambda _pid, msg: errors.append(msg))

    async def scenario() -> None:
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: any("does not use TLS" in e for e in errors), 15, "mismatch reported")

    qrun(scenario(), 40)
    assert controller.diagnosis(p.id).kind == "server_plain"
    assert controller.state(p.id) == "error"


# ------------------------------------------------------------------ a mapping the server cannot open

def test_bind_failure_on_the_server_is_shown_as_failed_with_its_reason(controller, profile_store, center_server,
                                                                        qrun, qtbot, echo_server):
    srv = center_server()
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    port = busy.getsockname()[1]
    p = profile_store.upsert(Profile(new_id(), "Busy", ClientConfig(
        server=addr(srv.addresses["center"]),
        mappings=[MappingConfig("shell", "tcp", addr(echo_server))])))
    page = MappingsPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select_profile(p.id)
    try:
        async def scenario() -> None:
            assert await controller.connect_profile(p.id)
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
            await wait_until(lambda: "shell" in controller.mapping_status(p.id), 10, "server's verdict")
            page.refresh_live()
            # the shared TCP port: open, with its public address
            assert page.mappings.data(page.mappings.index(0, page.mappings.STATUS)) == "open"
            shared = page.mappings.data(page.mappings.index(0, page.mappings.PUBLIC))
            assert shared == f"127.0.0.1:{srv.addresses['tcp'][1]}"
            # now a public port of its own that is already taken on the server
            page.mappings.replace(0, MappingConfig("shell", "tcp", addr(echo_server), remote_port=port))
            await wait_until(lambda: "could not open shell" in page.status.text(), 10, "refusal reported")

        qrun(scenario(), 40)
        text = page.status.text()
        assert f":{port} is in use on the server" in text and "Saved and applied." not in text
        status = page.mappings.data(page.mappings.index(0, page.mappings.STATUS))
        assert status.startswith("failed:") and f":{port} is in use on the server" in status
        assert page.mappings.data(page.mappings.index(0, page.mappings.PUBLIC)) == "-"
    finally:
        busy.close()


def test_public_addresses_and_copy(controller, profile_store, center_server, qrun, qtbot, echo_server):
    from PySide6.QtGui import QGuiApplication

    srv = center_server()
    own = free_port()
    p = profile_store.upsert(Profile(new_id(), "Pub", ClientConfig(
        server=addr(srv.addresses["center"]),
        mappings=[MappingConfig("web", "http", "127.0.0.1:8080", domain="app.example.test"),
                  MappingConfig("ssh", "tcp", addr(echo_server), remote_port=own)])))
    page = MappingsPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select_profile(p.id)

    async def scenario() -> None:
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: len(controller.mapping_status(p.id)) == 2, 15, "both verdicts")
        page.refresh_live()

    qrun(scenario(), 40)
    m = page.mappings
    assert m.data(m.index(0, m.PUBLIC)) == f"http://app.example.test:{srv.addresses['http'][1]}/"
    assert m.data(m.index(1, m.PUBLIC)) == f"127.0.0.1:{own}"
    assert page.copy_address(1) == f"127.0.0.1:{own}"
    assert QGuiApplication.clipboard().text() == f"127.0.0.1:{own}"


# ------------------------------------------------------------------ link state you can act on

def test_reconnect_countdown_reaches_zero_and_reconnect_now(controller, profile_store, qrun, qtbot):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0"))
    qrun(srv.start())
    center = srv.addresses["center"]
    p = profile_store.upsert(Profile(new_id(), "Lab", ClientConfig(server=addr(center), reconnect_min=2.0,
                                                                   reconnect_max=30.0)))
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select(p.id)
    seen: list[int] = []

    async def scenario() -> None:
        nonlocal srv
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        await srv.stop()  # the link is lost; the client waits before its next try
        await wait_until(lambda: controller.links(p.id) and controller.links(p.id)[0].retry_in() is not None,
                         10, "a countdown")
        first = controller.links(p.id)[0].next_attempt_at
        while True:  # this wait's countdown goes down to 0, then the attempt is made
            links = controller.links(p.id)
            if not links or links[0].next_attempt_at != first:
                break
            n = links[0].retry_in()
            seen.append(n)
            if n > 0:
                await wait_until(lambda: "next try in" in page.state_text(p.id), 2, "countdown shown")
            await asyncio.sleep(0.05)
        assert seen and seen[-1] == 0 and seen == sorted(seen, reverse=True)
        assert controller.state(p.id) != "connected"
        assert page.status.text()  # the red line is there while the link is down
        # the server is back; with a long wait ahead, "Reconnect now" does not wait for it
        srv = CenterServer(ServerConfig(bind=addr(center)))
        await srv.start()
        await wait_until(lambda: p.id in controller.waiting(), 15, "waiting again")
        page.show_links()  # the link's row in the selected profile's servers offers it
        button = page.link_button(addr(center))
        assert button is not None and button.isVisibleTo(page) and button.text() == "Reconnect now"
        click(button)
        await wait_until(lambda: controller.state(p.id) == "connected", 5, "reconnected at once")
        # the error is cleared on recovery, in the controller and on the page
        assert controller.last_error(p.id) == "" and "connected" in page.status.text()
        assert "next try" not in page.state_text(p.id)

    try:
        qrun(scenario(), 60)
    finally:
        qrun(srv.stop())


def test_tray_menu_reconnect_now_mapping_toggle_and_speeds(controller, profile_store, qrun, tmp_path,
                                                            center_server, echo_server):
    from wmproxy_gui.settings import SettingsStore
    from wmproxy_gui.tray import TrayIcon

    srv = center_server()
    p = profile_store.upsert(Profile(new_id(), "Home", ClientConfig(
        server=addr(srv.addresses["center"]), mappings=[MappingConfig("echo", "tcp", addr(echo_server))])))
    store = SettingsStore(tmp_path / "s.toml")
    tray = TrayIcon(controller, store, store.load())
    try:
        tray.rebuild_menu()
        assert "↑" in tray.action("header").text() and "↓" in tray.action("header").text()
        assert tray.action("reconnect") is None  # nothing is waiting
        act = tray.action(f"mapping:{p.id}:echo")
        assert act is not None and act.isChecked()

        async def scenario() -> None:
            assert await controller.connect_profile(p.id)
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
            await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping served")
            act.trigger()  # off from the tray: saved and re-announced
            await wait_until(lambda: srv.router.for_mode("tcp") is None, 10, "mapping withdrawn")
            assert profile_store.get(p.id).client.mappings[0].enabled is False

        qrun(scenario(), 40)
        controller.rates_changed.emit(2048.0, 1024.0)
        assert "2.0 KiB/s" in tray.action("header").text() and "1.0 KiB/s" in tray.action("header").text()
    finally:
        tray.deleteLater()


# ------------------------------------------------------------------ traffic that tells the truth

def test_closed_tab_and_closing_a_live_connection(controller, profile_store, center_server, qrun, qtbot,
                                                  echo_server):
    srv = center_server()
    p = profile_store.upsert(Profile(new_id(), "T", ClientConfig(
        server=addr(srv.addresses["center"]), mappings=[MappingConfig("echo", "tcp", addr(echo_server))])))
    page = TrafficPage(controller)
    qtbot.addWidget(page)
    page.show()

    async def scenario() -> tuple[str, Any]:
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping served")
        r, w = await asyncio.open_connection(*srv.addresses["tcp"])
        w.write(b"hello")
        await w.drain()
        assert await asyncio.wait_for(r.readexactly(5), 10) == b"hello"
        local = "%s:%d" % w.get_extra_info("sockname")[:2]
        await wait_until(lambda: (page.model.refresh() or True) and page.model.rowCount() == 1, 10, "listed")
        # the Peer column is the public client's address (the server says it in the Create)
        assert page.model.data(page.model.index(0, page.model.PEER)) == local
        page.table.selectRow(0)
        assert page.close_button.isEnabled()
        click(page.close_button)
        await asyncio.wait_for(r.read(), 10)  # the public client sees its connection closed
        w.close()
        await wait_until(lambda: (page.model.refresh() or True) and page.closed.rowCount() >= 1, 10, "closed")
        return local, page.closed.records()[0]

    local, rec = qrun(scenario(), 40)
    c = page.closed
    assert rec.peer == local and rec.up >= 5 and rec.down >= 5 and rec.ended >= rec.started
    assert c.data(c.index(0, c.REASON)) == "closed by the user"
    assert c.data(c.index(0, c.DURATION)).endswith("s")
    assert page.tabs.tabText(1).startswith("Closed (1")
    assert page.model.rowCount() == 0


def test_closed_channels_are_bounded():
    from core.stats import CLOSED_KEPT, Stats

    stats = Stats()
    for i in range(CLOSED_KEPT + 50):
        stats.close_channel(stats.open_channel(i, "mapping", "m", "1.2.3.4:5", "t", "l"))
    assert len(stats.recent_closed) == CLOSED_KEPT and stats.recent_closed[-1].id == CLOSED_KEPT + 49


def test_per_channel_rates_match_the_total_within_10_percent(qapp):
    """A steady flow sampled by a drifting timer: window rates add up to the total rate."""
    import dataclasses

    from core.stats import Stats
    from wmproxy_gui.models import ChannelTableModel, RateWindow

    stats = Stats()
    recs = [stats.open_channel(i, "mapping", "m", "p", "t", "l") for i in range(3)]
    model = ChannelTableModel(stats, autostart=False)
    total = RateWindow()
    t = 1000.0
    speeds = (10_000, 20_000, 5_000)  # bytes/s
    for step in range(12):
        dt = 1.0 + (0.35 if step % 2 else -0.3)  # the 1 s timer drifting
        t += dt
        for r, v in zip(recs, speeds):
            r.up += int(v * dt)
        snap = dataclasses.replace(stats.snapshot(), taken=t)
        model.apply(snap)
        up, _down = total.add(t, snap.total_up, snap.total_down)
        if step >= 3:
            rows = sum(model.rates(r.key)[0] for r in recs)
            assert rows == pytest.approx(up, rel=0.10)
            assert up == pytest.approx(sum(speeds), rel=0.10)  # no swing between 0 and twice the rate


def test_graph_scale_ignores_a_start_up_spike(qapp):
    from wmproxy_gui.widgets.graph import ThroughputGraph

    g = ThroughputGraph(300)
    g.set_series("up", "Up", "#1e88e5")
    g.add({"up": 500 * 1024 * 1024})  # one spike at start
    for _ in range(100):
        g.add({"up": 100 * 1024})
    assert g.peak() == 500 * 1024 * 1024
    assert g.scale_top() <= 200 * 1024  # the steady 100 KiB/s fills the graph


# ------------------------------------------------------------------ one-minute first tunnel

def test_first_run_link_to_working_mapping(secret_service, controller, profile_store, qrun, qtbot, tmp_path,
                                           monkeypatch, echo_server):
    """The server's first-run output -> paste the link, type the password, add a mapping, connect."""
    from core.config import load_config

    monkeypatch.setenv(headless.ENV_HOST, "127.0.0.1")
    base = free_port()
    monkeypatch.setenv(headless.ENV_PORT_BASE, str(base))
    cfg, summary = headless.write_default_server_config(tmp_path / "server.toml", tmp_path / "data")
    link = next(ln.strip() for ln in summary.splitlines() if ln.strip().startswith("wmproxy://"))
    password = cfg.server.password
    assert password not in link
    fp = tls.cert_file_info(cfg.server.cert_file).fingerprint
    assert f"SHA-256 {tls.format_fingerprint(fp)}" in summary  # the format the trust dialog shows
    server_cfg = load_config(tmp_path / "server.toml").server
    server_cfg.map_http_bind = server_cfg.map_https_bind = None  # only what this test uses
    server_cfg.map_tcp_bind = f"127.0.0.1:{free_port()}"
    srv = CenterServer(server_cfg)
    qrun(srv.start())
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    try:
        # 1. paste the link
        p = page.import_link(link)
        assert p is not None and p.client.tls.fingerprint
        # 2. type the password (asked once; it goes to the keyring)
        dlg = page.password_dialog
        dlg.setTextValue(password)
        dlg.accept()
        assert profile_store.password(p.id) == password
        assert password not in profile_store.path.read_text()
        assert "Mappings page" in page.status.text()
        # 3. add a mapping
        maps = MappingsPage(controller)
        qtbot.addWidget(maps)
        maps.show()
        maps.select_profile(p.id)
        maps.mappings.add(MappingConfig("echo", "tcp", addr(echo_server)))
        # 4. one click
        page.select(p.id)
        click(page.buttons["connect"])

        async def scenario() -> bytes:
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
            await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping served")
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"ping")
            data = await asyncio.wait_for(r.readexactly(4), 10)
            w.close()
            return data

        assert qrun(scenario(), 40) == b"ping"
        assert getattr(page, "tofu_dialog", None) is None  # the link pinned the certificate: no prompt
    finally:
        qrun(srv.stop())


def test_server_page_shows_link_and_qr(controller, qrun, qtbot, tmp_path):
    from wmproxy_gui.pages.server_page import ServerPage

    page = ServerPage(controller)
    page.settings_path = tmp_path / "server.toml"  # the session's shared config dir stays as it was
    qtbot.addWidget(page)
    page.show()
    page.tls.setChecked(True)
    page.bind.setText(f"127.0.0.1:{free_port()}")
    for w in page.map_binds.values():
        w.setText("")
    click(page.start_button)
    qrun(wait_until(lambda: controller.server_state == "running", 15, "server running"))
    try:
        link = page.link_text.text()
        srv = controller.server
        assert link.startswith(f"wmproxy://127.0.0.1:{srv.addresses['center'][1]}?") and "tls=pin" in link
        assert f"fp={srv.fingerprint}" in link
        assert page.link_box.isVisibleTo(page) and not page.qr.pixmap().isNull()
        assert page.qr.pixmap().width() > 100
    finally:
        qrun(controller.stop_server())


def test_link_by_drop_and_from_the_clipboard(profile_store, controller, qtbot):
    from PySide6.QtCore import QMimeData, QPoint, QPointF
    from PySide6.QtGui import QDropEvent, QGuiApplication

    link = headless.client_link("192.0.2.7", 8091, None, "ab" * 32, name="Office")
    QGuiApplication.clipboard().setText(link)
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    assert page.clipboard_button.isVisibleTo(page) and "Office" in page.clipboard_button.text()
    click(page.clipboard_button)
    assert [p.name for p in profile_store.profiles()] == ["Office"]
    mime = QMimeData()
    mime.setText(link)
    drop = QDropEvent(QPointF(QPoint(10, 10)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    page.dropEvent(drop)
    assert [p.name for p in profile_store.profiles()] == ["Office", "Office (2)"]
    QGuiApplication.clipboard().clear()


def test_no_display_is_one_line_and_exit_2(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_RUNTIME_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "wmproxy_gui"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wmproxy-gui: error: no display")
    assert "--headless-server" in lines[0] and "xcb" not in lines[0]


def test_closing_a_live_connection_of_the_server_run_from_the_gui(controller, qrun, qtbot, echo_server):
    """The Traffic page of the app's own server: a public connection through it can be closed too
    (the client and the public end are told)."""
    from core.client import CenterClient
    from core.config import ServerConfig

    page = TrafficPage(controller)
    qtbot.addWidget(page)
    page.show()

    async def scenario() -> Any:
        assert await controller.start_server(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                                          map_tcp_bind="127.0.0.1:0"))
        srv = controller.server
        assert srv is not None
        cli = CenterClient(ClientConfig(server=addr(srv.addresses["center"]), username="u", password="p",
                                        mappings=[MappingConfig("echo", "tcp", addr(echo_server))]))
        await cli.start()
        try:
            await cli.wait_connected(10)
            await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping served")
            r, w = await asyncio.open_connection(*srv.addresses["tcp"])
            w.write(b"hello")
            await w.drain()
            assert await asyncio.wait_for(r.readexactly(5), 10) == b"hello"
            await wait_until(lambda: (page.model.refresh() or True) and page.model.rowCount() == 1, 10, "listed")
            page.table.selectRow(0)
            assert page.close_button.isEnabled()
            click(page.close_button)
            await asyncio.wait_for(r.read(), 10)  # the public client sees its connection closed
            w.close()
            await wait_until(lambda: not cli.stats.channels, 10, "the client's end closed too")
            await wait_until(lambda: (page.model.refresh() or True) and page.closed.rowCount() >= 1, 10, "closed")
            return page.closed.records()[0]
        finally:
            await cli.stop()
            await controller.stop_server()

    rec = qrun(scenario(), 40)
    assert rec.reason == "closed by the server's operator"
