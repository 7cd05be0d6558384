"""Issue 13, the GUI part: a profile linked to several servers at once.

Real CenterServers on loopback (127.0.0.1 and 127.0.0.2, port 0), the real controller, pages and tray
(pytest-qt, offscreen): both links connect; one server stopped shows that link down with its error and
countdown while the other stays up and the tray says "partly connected"; the server back and its
"Reconnect now" bring the link back; a mapping one server refuses (its remote_port is busy there only)
shows each server's verdict; the editor round-trips two servers through save, load, export and import;
Test connection and the first-use prompt work per server; a server first met later is never trusted
silently.
"""
from __future__ import annotations

import asyncio
import socket
import tomllib
from typing import Any

import keyring
import pytest
from conftest import wait_until  # tests/gui/conftest.py
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from core import tls
from core.config import ClientConfig, ClientTls, MappingConfig, ServerConfig
from core.server import CenterServer
from wmproxy_gui import icons
from wmproxy_gui.controller import DEGRADED
from wmproxy_gui.pages.mappings_page import MappingsPage
from wmproxy_gui.pages.profiles_page import ProfileDialog, ProfilesPage
from wmproxy_gui.profiles import Profile, new_id, with_tls_mode
from wmproxy_gui.tray import TrayIcon, overall_state

pytestmark = pytest.mark.timeout(120)

keyring.get_keyring()  # see test_profiles.py: initialise detection before conftest's reset()


def addr(pair: tuple[str, int]) -> str:
    return f"{pair[0]}:{pair[1]}"


def click(widget: Any) -> None:
    assert widget.isEnabled(), f"{widget.objectName() or widget.text()} is disabled"
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def second_host_config(**kw: Any) -> ServerConfig:
    """A server on 127.0.0.2 (its center and its public ports): another machine, as far as ports go."""
    return ServerConfig(**{"bind": "127.0.0.2:0", "map_tcp_bind": "127.0.0.2:0", "map_http_bind": "127.0.0.2:0", **kw})


def link_of(controller: Any, pid: str, server: str) -> Any:
    """The LinkView of ``server`` (None while the profile has no links)."""
    return next((l for l in controller.links(pid) if l.server == server), None)


def is_up(controller: Any, pid: str, server: str) -> bool:
    return getattr(link_of(controller, pid, server), "up", False)


def icon_is(tray: TrayIcon, state: str) -> bool:
    return tray.icon().pixmap(32, 32).toImage() == icons.state_icon(state).pixmap(32, 32).toImage()


async def echo(hp: tuple[str, int], payload: bytes) -> bytes:
    r, w = await asyncio.wait_for(asyncio.open_connection(*hp), 5)
    try:
        w.write(payload)
        await w.drain()
        return await asyncio.wait_for(r.readexactly(len(payload)), 10)
    finally:
        w.close()


# ------------------------------------------------------------------ both links, one lost, one back

def test_one_server_down_shows_that_link_down_and_the_tray_partly_connected(
        controller, profile_store, center_server, qrun, qtbot, tmp_path, echo_server):
    from wmproxy_gui.settings import SettingsStore

    a = center_server()
    b = CenterServer(second_host_config())
    qrun(b.start())
    sa, sb = addr(a.addresses["center"]), addr(b.addresses["center"])
    # a long first wait (4-8 s) so "Reconnect now" is what brings the link back, not the timer
    p = profile_store.upsert(Profile(new_id(), "Multi", ClientConfig(
        server=[sa, sb], reconnect_min=8.0, reconnect_max=60.0,
        mappings=[MappingConfig("echo", "tcp", addr(echo_server))])))
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select(p.id)
    store = SettingsStore(tmp_path / "s.toml")
    tray = TrayIcon(controller, store, store.load())
    controller.link_alerts.interval = 0
    notes: list[tuple[str, str]] = []
    controller.notify.connect(lambda t, m: notes.append((t, m)))

    async def scenario() -> None:
        nonlocal b
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.link_counts(p.id) == (2, 2), 15, "both links up")
        assert controller.health(p.id) == "connected" and icon_is(tray, "connected")
        assert [l.server for l in controller.links(p.id)] == [sa, sb]
        assert link_of(controller, p.id, sa).primary and not link_of(controller, p.id, sb).primary
        # both servers route the mapping over their own link
        await wait_until(lambda: b.router.for_mode("tcp") is not None and a.router.for_mode("tcp") is not None,
                         10, "mapping on both servers")
        assert await echo(a.addresses["tcp"], b"via a" * 100) == b"via a" * 100
        assert await echo(b.addresses["tcp"], b"via b" * 100) == b"via b" * 100
        page.show_links()
        t = page.links_table
        assert [t.item(r, 0).text() for r in range(t.rowCount())] == [sa, sb]
        assert [t.item(r, 1).text() for r in range(t.rowCount())] == ["Connected", "Connected"]
        assert "2 of 2 links up" in page.state_text(p.id)

        await b.stop()  # one server goes away; the other keeps the profile up
        await wait_until(lambda: link_of(controller, p.id, sb).retry_in() is not None, 15, "b waits")  # links exist
        down = link_of(controller, p.id, sb)
        assert down.down and down.error and sb in down.error
        assert link_of(controller, p.id, sa).up and controller.state(p.id) == "connected"
        assert controller.health(p.id) == DEGRADED
        # the window: the profile is partly connected, b's row says why and when it tries again
        assert "Partly connected" in page.state_text(p.id) and "1 of 2 links up" in page.state_text(p.id)
        page.show_links()
        assert t.item(1, 1).text().startswith("Down · next try in ") and t.item(0, 1).text() == "Connected"
        assert sb in t.item(1, 2).text() and down.error in t.item(1, 2).text()
        button = page.link_button(sb)
        assert button is not None and button.isVisibleTo(page) and button.text() == "Reconnect now"
        assert not page.link_button(sa).isVisibleTo(page)  # nothing to do for a link that is up
        # the tray: orange, and the tooltip and menu say which link is down
        assert tray.state == DEGRADED and icon_is(tray, DEGRADED)
        assert "Multi: Partly connected (1 of 2 links up)" in tray.toolTip()
        tray.rebuild_menu()
        entry_b, entry_a = tray.action(f"link:{p.id}:{sb}"), tray.action(f"link:{p.id}:{sa}")
        assert entry_b is not None and "Down" in entry_b.text() and "next try in" in entry_b.text()
        assert entry_a is not None and "Connected" in entry_a.text()
        assert "Partly connected" in tray.action(f"profile:{p.id}").text()
        assert tray.action("reconnect") is not None
        assert any("Link lost" in title and sb in text and "1 of 2 links up" in text for title, text in notes)

        b = CenterServer(second_host_config(bind=sb))  # back on its address
        await b.start()
        assert link_of(controller, p.id, sb).retry_in() >= 2  # its own timer would take a while yet
        click(page.link_button(sb))
        await wait_until(lambda: controller.link_counts(p.id) == (2, 2), 3, "b back at once")
        assert controller.health(p.id) == "connected" and icon_is(tray, "connected")
        assert not link_of(controller, p.id, sb).error  # cleared once up
        page.show_links()
        assert t.item(1, 1).text() == "Connected" and t.item(1, 2).text() == ""
        assert tray.tooltip_text().count("Partly") == 0
        assert any("Link restored" in title and sb in text for title, text in notes)
        await controller.disconnect_profile(p.id)

    try:
        qrun(scenario(), 60)
    finally:
        qrun(b.stop())
        tray.deleteLater()


def test_tray_policy_ranks_partly_connected_between_error_and_connecting(qapp):
    assert overall_state(["connected", DEGRADED, "connecting"]) == DEGRADED
    assert overall_state([DEGRADED, "error"]) == "error"
    assert overall_state(["connected", "stopped"]) == "connected"
    images = {s: icons.state_icon(s).pixmap(32, 32).toImage() for s in icons.STATES}
    assert DEGRADED in images and len({bytes(i.constBits()) for i in images.values()}) == len(images)


def test_a_profile_gives_up_only_when_every_server_refuses_the_login(secret_service, controller, profile_store,
                                                                     center_server, qrun):
    """A wrong password at one server leaves the other link serving; at both, retrying stops."""
    right = center_server(username="alice", password="good-horse-7")
    wrong = center_server(username="alice", password="other-horse-8")
    p = profile_store.upsert(Profile(new_id(), "Two", ClientConfig(
        server=[addr(right.addresses["center"]), addr(wrong.addresses["center"])], username="alice",
        reconnect_min=4.0, reconnect_max=4.0)))  # few wrong logins: the server's throttle stays short
    profile_store.set_password(p.id, "good-horse-7")
    errors: list[str] = []
    controller.error.connect(lambda _pid, m: errors.append(m))

    async def scenario() -> None:
        assert await controller.connect_profile(p.id)
        sw = addr(wrong.addresses["center"])
        await wait_until(lambda: getattr(link_of(controller, p.id, sw), "diagnosis", None) is not None, 15,
                         "one refusal")
        assert "refused the username or password" in link_of(controller, p.id, sw).error
        await wait_until(lambda: is_up(controller, p.id, addr(right.addresses["center"])), 10, "right up")
        await asyncio.sleep(0.5)  # a give-up would be under way by now
        assert controller.client(p.id) is not None and controller.state(p.id) == "connected"
        assert controller.last_error(p.id) == ""  # the profile works: no profile-level error
        assert link_of(controller, p.id, sw).next_attempt_at is not None  # the refused link tries again later
        await controller.disconnect_profile(p.id)
        profile_store.set_password(p.id, "wrong-everywhere-9")
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.client(p.id) is None, 15, "given up")
        assert controller.state(p.id) == "error" and "refused the username or password" in errors[-1]
        ended = controller.links(p.id)  # how each link ended stays visible
        assert len(ended) == 2 and all(l.state == "error" and "refused" in l.error for l in ended)

    qrun(scenario(), 60)


# ------------------------------------------------------------------ mappings, per server

def test_status_lines_name_servers_by_host_unless_two_share_one(qapp):
    from wmproxy_gui.models import MappingTableModel, ServerLive

    m = MappingTableModel([MappingConfig("web", "tcp", "127.0.0.1:1")])
    m.set_servers([ServerLive("a.example:8091", "a.example", True, {}),
                   ServerLive("b.example:8091", "b.example", False, {})])
    assert m.data(m.index(0, m.STATUS)) == "a.example: unknown\nb.example: link down"
    m.set_servers([ServerLive("h.example:1", "h.example", True, {}), ServerLive("h.example:2", "h.example", True, {})])
    assert m.data(m.index(0, m.STATUS)) == "h.example:1: unknown\nh.example:2: unknown"


def busy_on_second_host_only() -> tuple[socket.socket, int]:
    """A listening socket on 127.0.0.2:P where P is free on 127.0.0.1 (a's address) at the time."""
    for _ in range(50):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.2", port))
        except OSError:
            busy.close()
            continue
        busy.listen()
        return busy, port
    raise AssertionError("no port free on both addresses")


def test_a_mapping_refused_by_one_server_shows_each_servers_verdict(controller, profile_store, center_server,
                                                                    qrun, qtbot, echo_server):
    a = center_server()
    b = center_server(second_host_config())
    busy, port = busy_on_second_host_only()
    sa, sb = addr(a.addresses["center"]), addr(b.addresses["center"])
    p = profile_store.upsert(Profile(new_id(), "Maps", ClientConfig(
        server=[sa, sb], reconnect_min=0.2, reconnect_max=1.0,
        mappings=[MappingConfig("shell", "tcp", addr(echo_server), remote_port=port),
                  MappingConfig("echo", "tcp", addr(echo_server)),
                  MappingConfig("web", "http", "127.0.0.1:9", domain="app.example.test")])))
    page = MappingsPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select_profile(p.id)
    m = page.mappings

    def verdicts() -> int:
        return sum(len(st) for _s, _up, st in controller.server_mapping_status(p.id))

    try:
        async def scenario() -> None:
            assert await controller.connect_profile(p.id)
            await wait_until(lambda: verdicts() == 6, 15, "both servers' verdicts")
            page.refresh_live()
            # shell: open at a, refused at b with b's reason; reachable at a only
            status = m.data(m.index(0, m.STATUS)).split("\n")
            assert status[0] == "127.0.0.1: open"  # named by host: the two servers' hosts differ
            assert status[1].startswith("127.0.0.2: failed: ") and str(port) in status[1]
            assert m.data(m.index(0, m.PUBLIC)).split("\n") == [f"127.0.0.1:{port}", "-"]
            assert [s for s, _why in m.failures(m.item(0))] == [sb]
            assert m.data(m.index(0, m.STATUS), Qt.ItemDataRole.ForegroundRole).color().name() == "#b26a00"
            assert await echo(("127.0.0.1", port), b"own port" * 50) == b"own port" * 50
            # echo: open at both, at each server's shared TCP port; the copy button offers both
            assert m.data(m.index(1, m.STATUS)) == "127.0.0.1: open\n127.0.0.2: open"
            both = [addr(a.addresses["tcp"]), addr(b.addresses["tcp"])]
            assert m.data(m.index(1, m.PUBLIC)).split("\n") == both
            assert m.data(m.index(1, m.STATUS), Qt.ItemDataRole.ForegroundRole).color().name() == "#2e7d32"
            for hp in (a.addresses["tcp"], b.addresses["tcp"]):
                assert await echo(hp, b"shared" * 50) == b"shared" * 50
            assert page.copy_address(1) == both[0]
            menu = page.address_popup
            acts = [x for x in menu.actions() if x.objectName().startswith("copy:")]
            assert len(acts) == 2 and both[1] in acts[1].text() and sb in acts[1].text()
            acts[1].trigger()
            assert QGuiApplication.clipboard().text() == both[1]
            assert page.copy_address(0) == f"127.0.0.1:{port}"  # one address: copied straight away
            assert QGuiApplication.clipboard().text() == f"127.0.0.1:{port}"
            # web: one URL per server (the domain, each server's HTTP port)
            assert m.data(m.index(2, m.PUBLIC)).split("\n") == [
                f"http://app.example.test:{a.addresses['http'][1]}/", f"http://app.example.test:{b.addresses['http'][1]}/"]
            # saving while b refuses a mapping: the status line names b
            page.mappings.replace(0, MappingConfig("shell", "tcp", addr(echo_server), remote_port=port))
            await wait_until(lambda: "could not open" in page.status.text(), 10, "refusal reported")
            assert sb in page.status.text()
            # b stops: its lines say the link is down, a's stay open
            await b.stop()
            await wait_until(lambda: not is_up(controller, p.id, sb), 10, "b down")
            page.refresh_live()
            assert m.data(m.index(0, m.STATUS)).split("\n") == ["127.0.0.1: open", "127.0.0.2: link down"]
            await controller.disconnect_profile(p.id)

        qrun(scenario(), 60)
    finally:
        busy.close()


# ------------------------------------------------------------------ the editor, export and import

def test_editor_round_trips_two_servers_through_save_load_export_and_import(profile_store, qtbot, tmp_path,
                                                                            controller):
    dlg = ProfileDialog(profile_store)
    qtbot.addWidget(dlg)
    dlg.name.setText("Pair")
    dlg.tls.setCurrentIndex(dlg.tls.findData("off"))
    dlg.server.setText("a.example:8091")
    assert not dlg.servers._rows[0][2].isVisible()  # one server: nothing to remove
    click(dlg.servers.add_button)
    second = dlg.servers.edits[1]
    assert not dlg.save_button.isEnabled() and "Server 2:" in dlg.form.problem("server")
    second.setText("b.example")
    assert "Server 2:" in dlg.form.problem("server") and "HOST:PORT" in dlg.form.problem("server")
    assert "Server 1" not in dlg.form.problem("server")  # only the line that is wrong
    assert second.styleSheet() and not dlg.server.styleSheet()
    second.setText("A.example:8091")
    assert "the same as server 1" in dlg.form.problem("server")
    second.setText("b.example:8091")
    click(dlg.servers.add_button)
    dlg.servers.edits[2].setText("c.example:8091")
    dlg.servers.remove_server(0)  # the first goes: the others move up, in order
    assert dlg.servers.texts() == ["b.example:8091", "c.example:8091"] and dlg.server.text() == "b.example:8091"
    dlg.servers.add_server("a.example:8091")
    assert dlg.form.problem("server") == "" and dlg.save_button.isEnabled()
    click(dlg.save_button)
    saved = dlg.saved
    assert saved is not None and saved.client.server == ["b.example:8091", "c.example:8091", "a.example:8091"]

    # on disk as a TOML list, and loaded back the same
    doc = tomllib.loads(profile_store.path.read_text())
    assert doc["profiles"][0]["client"]["server"] == ["b.example:8091", "c.example:8091", "a.example:8091"]
    profile_store._profiles = None
    p = profile_store.get(saved.id)
    assert p.client.servers == ["b.example:8091", "c.example:8091", "a.example:8091"]
    again = ProfileDialog(profile_store, p)
    qtbot.addWidget(again)
    assert again.servers.texts() == p.client.servers and again.servers._rows[0][2].isVisibleTo(again)

    # the table shows the first and how many more; the tooltip all of them
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.reload(select=p.id)
    cell = page.table.item(page._row_of(p.id), 1)
    assert cell.text().startswith("b.example:8091 +2") and cell.toolTip().split("\n") == p.client.servers

    # export file -> import: same servers, same order, no password anywhere
    page.export_file(p.id, tmp_path / "pair.toml")
    text = (tmp_path / "pair.toml").read_text()
    assert "password" not in text
    imported = page.import_file(tmp_path / "pair.toml")
    assert imported is not None and imported.client.servers == p.client.servers
    # one link naming every server -> import: the same profile again
    link = profile_store.export_link(p)
    assert link.startswith("wmproxy://b.example:8091,c.example:8091,a.example:8091?")
    back = profile_store.import_link(link)
    assert back.client.servers == p.client.servers and back.name == "Pair (3)"
    # with a user: still no password in the link, and it names the servers once
    withuser = profile_store.upsert(Profile(new_id(), "U", ClientConfig(server=["h1:1", "h2:2"], username="bob")))
    link = profile_store.export_link(withuser)
    assert link.startswith("wmproxy://bob@h1:1,h2:2?") and ":" not in link.split("@")[0].removeprefix("wmproxy://")
    assert profile_store.parse_link(link).client.servers == ["h1:1", "h2:2"]
    assert profile_store.parse_link("wmproxy://h.example:8091?name=one").client.server == "h.example:8091"


def test_test_connection_reports_each_server(profile_store, center_server, qrun, qtbot):
    up = center_server()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    gone = f"127.0.0.1:{refused.getsockname()[1]}"
    refused.close()  # nothing listens there
    dlg = ProfileDialog(profile_store)
    qtbot.addWidget(dlg)
    dlg.tls.setCurrentIndex(dlg.tls.findData("off"))
    dlg.server.setText(addr(up.addresses["center"]))
    dlg.servers.add_server(gone)
    click(dlg.test_button)
    qrun(wait_until(lambda: len(getattr(dlg, "test_results", [])) == 2 and dlg.test_button.isEnabled(), 15,
                    "both tested"))
    lines = dlg.test_status.text().split("\n")
    assert len(lines) == 2
    assert lines[0].startswith(f"Connected to {addr(up.addresses['center'])} and logged in")
    assert f"Nothing is listening on {gone}" in lines[1]
    assert [k for _s, k, _t in dlg.test_results] == ["ok", "error"]
    assert "#b26a00" in dlg.test_status.styleSheet()  # one works, one does not: a warning, not green


# ------------------------------------------------------------------ trust, per server

def test_first_use_prompt_and_changed_certificate_per_server(controller, profile_store, gui_dirs, qrun, qtbot,
                                                             tmp_path):
    from core.tls import KnownHosts, format_fingerprint

    cert, key = tls.generate_cert("other", ["localhost"], ["127.0.0.2"], days=30)
    tls.write_cert(tmp_path / "other.crt", cert)
    tls.write_private_key(tmp_path / "other.key", key)
    known = KnownHosts(gui_dirs.data_home / "wmproxy-gui" / "known_hosts")
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()

    async def scenario() -> None:
        a = CenterServer(ServerConfig(bind="127.0.0.1:0", tls=True))
        b = CenterServer(ServerConfig(bind="127.0.0.2:0", tls=True))
        await a.start()
        await b.start()
        sa, sb = addr(a.addresses["center"]), addr(b.addresses["center"])
        p = profile_store.upsert(Profile(new_id(), "Trusty", ClientConfig(
            server=[sa, sb], reconnect_min=0.2, reconnect_max=0.5, tls=with_tls_mode(ClientTls(), "tofu"))))
        page.reload(select=p.id)
        try:
            # 1. one prompt per server, in order; declining the second connects nothing
            page.toggle(p.id)
            await wait_until(lambda: getattr(page, "tofu_dialog", None) is not None
                             and page.tofu_dialog.isVisible() and sa in page.tofu_dialog.text(), 10, "a's prompt")
            click(page.tofu_dialog.trust)
            await wait_until(lambda: page.tofu_dialog.isVisible() and sb in page.tofu_dialog.text(), 10, "b's prompt")
            click(page.tofu_dialog.cancel)
            await wait_until(lambda: "not trusted" in page.status.text(), 5, "refusal noted")
            assert sb in page.status.text() and controller.state(p.id) == "stopped"
            assert known.get(sa) == a.fingerprint and known.get(sb) is None

            # 2. b is down when connecting: skipped, a connects; b comes up later and is not trusted
            # silently: its link fails as "not trusted yet" and the page asks about b
            await b.stop()
            page.tofu_dialog = None
            page.toggle(p.id)
            await wait_until(lambda: is_up(controller, p.id, sa), 15, "a up")
            assert page.tofu_dialog is None  # a is known, b unreachable: nothing to ask yet
            b = CenterServer(ServerConfig(bind=sb, tls=True))
            await b.start()
            await wait_until(lambda: page.tofu_dialog is not None and page.tofu_dialog.isVisible(), 15,
                             "b's prompt from its link")
            assert sb in page.tofu_dialog.text() and format_fingerprint(b.fingerprint) in \
                page.tofu_dialog.informativeText()
            assert known.get(sb) is None  # nothing recorded before the user says yes
            assert "not trusted yet" in link_of(controller, p.id, sb).error
            assert controller.health(p.id) == DEGRADED
            click(page.tofu_dialog.trust)
            await wait_until(lambda: controller.link_counts(p.id) == (2, 2), 15, "b trusted and up")
            assert known.get(sb) == b.fingerprint

            # 3. b comes back with another certificate: b's link is refused, a's stays up, and the
            # changed-certificate dialog names b with both fingerprints
            await b.stop()
            b = CenterServer(ServerConfig(bind=sb, tls=True, cert_file=str(tmp_path / "other.crt"),
                                          key_file=str(tmp_path / "other.key")))
            await b.start()
            await wait_until(lambda: getattr(page, "changed_cert_dialog", None) is not None
                             and page.changed_cert_dialog.isVisible(), 20, "changed-certificate dialog")
            dlg = page.changed_cert_dialog
            assert sb in dlg.text() and format_fingerprint(b.fingerprint) in dlg.informativeText()
            assert link_of(controller, p.id, sa).up and "has changed" in link_of(controller, p.id, sb).error
            page.show_links()
            assert page.link_button(sb).text() == "Trust…"  # the row offers it again if dismissed
            click(dlg.trust)
            await wait_until(lambda: controller.link_counts(p.id) == (2, 2), 15, "b up with its new certificate")
            assert known.get(sb) == b.fingerprint and known.get(sa) == a.fingerprint
            await controller.disconnect_profile(p.id)
        finally:
            await a.stop()
            await b.stop()

    qrun(scenario(), 100)


def test_link_views_follow_the_profile_order_before_the_links_exist(controller, profile_store, qtbot):
    """A stopped multi-server profile lists its servers (state "Disconnected") in the links panel."""
    p = profile_store.upsert(Profile(new_id(), "Idle", ClientConfig(server=["a.example:1", "b.example:2"])))
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    page.select(p.id)
    t = page.links_table
    assert page.links_box.isVisibleTo(page) and "Idle" in page.links_box.title()
    assert [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())] == [
        ("a.example:1", "Disconnected"), ("b.example:2", "Disconnected")]
    assert controller.links(p.id) == [] and controller.link_counts(p.id) == (0, 0)
