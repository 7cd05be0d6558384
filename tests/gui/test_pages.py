"""The pages driven like a user would (clicks and typing), against a real CenterServer/CenterClient on loopback.

Fixtures (qasync loop, controller, profile store, Secret Service, center server) come from
tests/gui/conftest.py; the echo server from tests/conftest.py.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import hashlib
import stat
import tomllib
from pathlib import Path

import keyring
import pytest
from conftest import wait_until  # tests/gui/conftest.py
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit, QPushButton

from core import tls
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.server import CenterServer
from wmproxy_gui.pages.certificates_page import CertificatesPage, certs_dir
from wmproxy_gui.pages.mappings_page import MappingsPage
from wmproxy_gui.pages.profiles_page import ProfilesPage
from wmproxy_gui.pages.server_page import ServerPage
from wmproxy_gui.pages.traffic_page import TrafficPage
from wmproxy_gui.profiles import Profile, new_id, with_tls_mode

pytestmark = pytest.mark.timeout(120)

keyring.get_keyring()  # see test_profiles.py: initialise detection before conftest's reset()

CLICK = Qt.MouseButton.LeftButton


def click(widget) -> None:
    assert widget.isEnabled(), f"{widget.objectName() or widget.text()} is disabled"
    QTest.mouseClick(widget, CLICK)


def type_into(edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    QTest.keyClicks(edit, text)


def addr(pair) -> str:
    return f"{pair[0]}:{pair[1]}"


def loop_profile(store, srv, name="Loop", **client) -> Profile:
    cfg = ClientConfig(server=addr(srv.addresses["center"]), reconnect_min=0.1, reconnect_max=0.5, **client)
    return store.upsert(Profile(new_id(), name, cfg))


async def echo_once(hp, payload: bytes) -> tuple[bytes, asyncio.StreamWriter]:
    r, w = await asyncio.wait_for(asyncio.open_connection(*hp), 5)
    w.write(payload)
    await w.drain()
    return await asyncio.wait_for(r.readexactly(len(payload)), 10), w


# ------------------------------------------------------------------ mappings

def test_add_mapping_through_the_dialog_saves_and_reaches_the_running_tunnel(
        controller, profile_store, center_server, echo_server, qrun, qtbot):
    srv = center_server(stats=None)
    p = loop_profile(profile_store, srv)
    page = MappingsPage(controller)
    traffic = TrafficPage(controller)
    qtbot.addWidget(page)
    qtbot.addWidget(traffic)
    page.show()

    async def scenario() -> None:
        assert await controller.connect_profile(p.id)
        await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
        page.select_profile(p.id)
        assert page.stack.currentIndex() == 1 and page.mappings.rowCount() == 0
        assert "running" in page.status.text()

        click(page.findChild(QPushButton, "mapping_add"))
        dlg = page.dialog
        assert dlg is not None and dlg.isVisible()
        type_into(dlg.name, "echo")
        dlg.mode.setCurrentIndex(dlg.mode.findText("tcp"))
        type_into(dlg.local_addr, "127.0.0.1:99999")  # inline validation before anything is saved
        assert not dlg.ok.isEnabled() and "out of range" in dlg.form.problem("local_addr")
        type_into(dlg.local_addr, "localhost")
        assert "HOST:PORT" in dlg.form.problem("local_addr")
        type_into(dlg.local_addr, addr(echo_server))
        assert dlg.ok.isEnabled() and dlg.form.problem("local_addr") == ""
        assert not dlg.form.fields["domain"].isVisibleTo(dlg)  # tcp: no domain/header rows
        click(dlg.ok)

        await wait_until(lambda: "applied" in page.status.text(), 10, "applied")
        doc = tomllib.loads(profile_store.path.read_text())
        saved = doc["profiles"][0]["client"]["mappings"]
        assert saved == [{"name": "echo", "mode": "tcp", "local_addr": addr(echo_server), "domain": "",
                          "http2": False, "enabled": True}]
        await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping announced")
        got, w = await echo_once(srv.addresses["tcp"], b"through the GUI" * 100)
        assert got == b"through the GUI" * 100
        # live traffic sees the open channel and the totals per mapping
        traffic.model.refresh()
        await wait_until(lambda: traffic.model.rowCount() >= 1, 5, "channel listed")
        assert traffic.model.data(traffic.model.index(0, 0)) == "echo"
        traffic.table.selectRow(0)  # the graph gets a series for the selected channel
        assert "sel" in traffic.graph.series and traffic.selected_key == traffic.model.record(
            traffic.selected_key).key
        traffic.model.refresh()
        assert len(traffic.graph.series["sel"].samples) >= 1
        assert traffic.totals.totals()["echo"][1] + traffic.totals.totals()["echo"][2] >= 2 * 1500
        w.close()

        # a duplicate name is refused inline; disabling via the checkbox re-announces without it
        click(page.findChild(QPushButton, "mapping_add"))
        dlg2 = page.dialog
        type_into(dlg2.name, "echo")
        assert "already used" in dlg2.form.problem("name") and not dlg2.ok.isEnabled()
        dlg2.reject()
        assert page.mappings.setData(page.mappings.index(0, 0), Qt.CheckState.Unchecked.value,
                                     Qt.ItemDataRole.CheckStateRole)
        await wait_until(lambda: srv.router.for_mode("tcp") is None, 10, "mapping withdrawn")
        assert tomllib.loads(profile_store.path.read_text())["profiles"][0]["client"]["mappings"][0][
            "enabled"] is False

    qrun(scenario(), 60)


def test_local_proxy_password_goes_to_the_keyring(secret_service, controller, profile_store, qrun, qtbot):
    p = profile_store.upsert(Profile(new_id(), "P", ClientConfig(server="127.0.0.1:9")))
    page = MappingsPage(controller)
    qtbot.addWidget(page)
    page.select_profile(p.id)
    click(page.findChild(QPushButton, "proxy_add"))
    dlg = page.dialog
    assert dlg.bind.text() == "127.0.0.1:8090"
    type_into(dlg.username, "bob")
    assert "password" in dlg.form.problem("password") and not dlg.ok.isEnabled()
    type_into(dlg.password, "listener-secret-42")
    dlg.protocols["http"].setChecked(False)
    click(dlg.ok)
    assert profile_store.proxy_password(p.id, "proxy") == "listener-secret-42"
    assert b"listener-secret-42" not in profile_store.path.read_bytes()
    stored = profile_store.get(p.id).client.proxies[0]
    assert stored.username == "bob" and stored.password is None and stored.protocols == ("https", "socks5")

    # duplicate: a renamed copy on a clashing bind must be fixed before it can be added
    page.proxy_view.selectRow(0)
    click(page.findChild(QPushButton, "proxy_duplicate"))
    dup = page.dialog
    assert dup.name.text() == "proxy-copy" and "used by another listener" in dup.form.problem("bind")
    type_into(dup.bind, "127.0.0.1:8091")
    click(dup.ok)
    assert profile_store.proxy_password(p.id, "proxy-copy") == "listener-secret-42"  # carried over
    assert [x.name for x in profile_store.get(p.id).client.proxies] == ["proxy", "proxy-copy"]


# ------------------------------------------------------------------ profiles, login, TOFU

def test_wrong_password_shows_the_servers_reason(secret_service, controller, profile_store, qrun, qtbot):
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="alice", password="right-pw"))
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    assert page.stack.currentWidget() is page.empty  # empty state first

    async def scenario() -> None:
        await srv.start()
        try:
            click(page.findChild(QPushButton, "new"))
            dlg = page.dialog
            type_into(dlg.name, "Lab")
            type_into(dlg.server, addr(srv.addresses["center"]))
            type_into(dlg.username, "alice")
            assert "password" in dlg.form.problem("password")
            type_into(dlg.password, "wrong-pw")
            # a new profile speaks TLS (like the server's default); this server is plain: said at once
            assert dlg.mode() == "tofu"
            click(dlg.test_button)
            await wait_until(lambda: "does not use TLS" in dlg.test_status.text(), 15, "mismatch named")
            assert 'Set Encryption to "Off"' in dlg.test_status.text()
            dlg.tls.setCurrentIndex(dlg.tls.findData("off"))
            click(dlg.test_button)
            await wait_until(lambda: "refused the username" in dlg.test_status.text(), 15, "test result")
            type_into(dlg.password, "right-pw")
            click(dlg.test_button)
            await wait_until(lambda: "Connected" in dlg.test_status.text(), 15, "test ok")
            type_into(dlg.password, "wrong-pw")
            click(dlg.save_button)
            assert not dlg.isVisible()
            pid = page.selected_id()
            assert pid and profile_store.password(pid) == "wrong-pw"
            assert b"wrong-pw" not in profile_store.path.read_bytes()

            click(page.buttons["connect"])  # through the controller: the reason reaches the page
            await wait_until(lambda: controller.state(pid) == "error", 15, "error state")
            await wait_until(lambda: "refused the username or password" in page.status.text(), 5, "reason shown")
            row = page._row_of(pid)
            assert "refused the username or password" in page.table.item(row, 3).text()
        finally:
            await srv.stop()

    qrun(scenario(), 60)


def test_tofu_prompt_accepts_then_a_changed_certificate_is_refused(controller, profile_store, gui_dirs,
                                                                   tmp_path, qrun, qtbot):
    from core.tls import KnownHosts, format_fingerprint

    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    page.show()
    cert, key = tls.generate_cert("other", ["localhost"], ["127.0.0.1"], days=30)
    tls.write_cert(tmp_path / "other.crt", cert)
    tls.write_private_key(tmp_path / "other.key", key)

    async def scenario() -> None:
        first = CenterServer(ServerConfig(bind="127.0.0.1:0", tls=True))  # generated cert in the data dir
        await first.start()
        hp = addr(first.addresses["center"])
        p = profile_store.upsert(Profile(new_id(), "TLS", ClientConfig(
            server=hp, reconnect_min=0.1, reconnect_max=0.5,
            tls=with_tls_mode(ClientTls_default(), "tofu"))))
        page.reload(select=p.id)
        known = KnownHosts(gui_dirs.data_home / "wmproxy-gui" / "known_hosts")
        try:
            # 1. the user says no: nothing recorded, not connected
            page.toggle(p.id)
            await wait_until(lambda: getattr(page, "tofu_dialog", None) is not None
                             and page.tofu_dialog.isVisible(), 10, "prompt")
            dlg = page.tofu_dialog
            assert format_fingerprint(first.fingerprint) in dlg.informativeText()
            click(dlg.cancel)
            await wait_until(lambda: "not trusted" in page.status.text(), 5, "refusal noted")
            assert known.get(hp) is None and controller.state(p.id) == "stopped"

            # 2. the user trusts it: recorded, connected
            page.tofu_dialog = None
            page.toggle(p.id)
            await wait_until(lambda: page.tofu_dialog is not None and page.tofu_dialog.isVisible(), 10, "prompt")
            click(page.tofu_dialog.trust)
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
            assert known.get(hp) == first.fingerprint
            await controller.disconnect_profile(p.id)
        finally:
            await first.stop()

        # 3. same address, another certificate: no prompt, refused with the reason
        second = CenterServer(ServerConfig(bind=hp, tls=True, cert_file=str(tmp_path / "other.crt"),
                                           key_file=str(tmp_path / "other.key")))
        await second.start()
        try:
            assert second.fingerprint != first.fingerprint
            page.tofu_dialog = None
            page.toggle(p.id)
            await wait_until(lambda: controller.state(p.id) == "error", 15, "refused")
            assert page.tofu_dialog is None  # known server: no first-use prompt
            await wait_until(lambda: "has changed" in page.status.text(), 5, "message shown")
            assert "Certificates page" in page.status.text()  # the next step, not the raw exception
            assert known.get(hp) == first.fingerprint  # the old pin stays until the user says so
            # both fingerprints side by side, in the format the server prints; trust only on a yes
            await wait_until(lambda: getattr(page, "changed_cert_dialog", None) is not None
                             and page.changed_cert_dialog.isVisible(), 10, "changed-certificate dialog")
            dlg = page.changed_cert_dialog
            text = dlg.informativeText()
            assert format_fingerprint(first.fingerprint) in text and format_fingerprint(second.fingerprint) in text
            assert dlg.trust.text() == "Trust the new certificate"
            click(dlg.trust)
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected with the new certificate")
            assert known.get(hp) == second.fingerprint
            assert "has changed" not in page.status.text()  # the red line went with the recovery
            await controller.disconnect_profile(p.id)
        finally:
            await second.stop()

    qrun(scenario(), 90)


def ClientTls_default():
    from core.config import ClientTls

    return ClientTls()


def test_import_and_export_from_the_page(controller, profile_store, data_dir, tmp_path, qtbot, qrun):
    page = ProfilesPage(controller)
    qtbot.addWidget(page)
    # a native export round trip through the page (no keyring needed: no password involved)
    src = profile_store.upsert(Profile(new_id(), "Shared", ClientConfig(server="h.example:8091")))
    page.reload(select=src.id)
    page.export_file(src.id, tmp_path / "shared.toml")
    assert "Exported" in page.status.text()
    imported = page.import_file(tmp_path / "shared.toml")
    assert imported is not None and imported.name == "Shared (2)" and page.table.rowCount() == 2
    page.select(src.id)
    link = page.copy_link()
    assert link is not None and link.startswith("wmproxy://h.example:8091?")
    assert page.import_link("wmproxy://x") is None and "Not imported" in page.status.text()
    assert page.import_link(link).name == "Shared (3)"


# ------------------------------------------------------------------ certificates

def test_generate_ca_and_server_cert_writes_private_keys_and_shows_fingerprints(controller, qtbot, gui_dirs):
    page = CertificatesPage(controller)
    qtbot.addWidget(page)
    for f in certs_dir().glob("*") if certs_dir().exists() else ():
        f.unlink()
    page.reload()
    assert not [e for e in page.entries if e.path.parent == certs_dir()]
    assert page.stack.currentIndex() == (1 if page.entries else 0)  # empty state unless a server made one

    click(page.buttons["gen_ca"])
    dlg = page.dialog
    type_into(dlg.common_name, "Test Root CA")
    type_into(dlg.stem, "bad name!")
    assert "letters" in dlg.form.problem("stem") and not dlg.ok.isEnabled()
    type_into(dlg.stem, "testca")
    click(dlg.ok)
    ca_crt, ca_key = certs_dir() / "testca.crt", certs_dir() / "testca.key"
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600
    assert str(certs_dir()).startswith(str(gui_dirs.data_home))

    click(page.buttons["gen_cert"])
    dlg = page.dialog
    assert dlg.signer.currentData().path == ca_crt  # our CA is offered and chosen by default
    type_into(dlg.common_name, "tunnel.test")
    type_into(dlg.names, "tunnel.test, 127.0.0.1, not a name")
    assert "not a host name" in dlg.form.problem("names")
    type_into(dlg.names, "tunnel.test, 127.0.0.1")
    dlg.days.setValue(10)
    type_into(dlg.stem, "tunnel")
    click(dlg.ok)
    crt, key = certs_dir() / "tunnel.crt", certs_dir() / "tunnel.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    want = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    ca = x509.load_pem_x509_certificate(ca_crt.read_bytes())
    assert cert.issuer == ca.subject
    row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "tunnel.crt")
    assert page.table.item(row, 4).text().replace(":", "").lower() == want
    page.table.selectRow(row)
    assert tls.format_fingerprint(want) in page.details.toHtml()
    # 10 days left: warning colour and text, on the row and in the banner
    assert "expires in" in page.table.item(row, 3).text()
    assert page.table.item(row, 3).foreground().color().name() == "#b26a00"
    assert not page.warning.isHidden() and "tunnel.crt" in page.warning.text()
    ca_row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "testca.crt")
    assert "expires" not in page.table.item(ca_row, 3).text()

    # import a PEM holding both a certificate and its key
    bundle = Path(gui_dirs.root) / "bundle.pem"
    c2, k2 = tls.generate_cert("imported.test", ["imported.test"], days=400)
    bundle.write_bytes(c2 + k2)
    target = page.import_file(bundle)
    assert target == certs_dir() / "bundle.crt"
    assert stat.S_IMODE(target.with_suffix(".key").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in target.read_bytes()
    assert page.entry("bundle.crt").info.fingerprint == tls.cert_info(c2).fingerprint
    junk = Path(gui_dirs.root) / "junk.pem"
    junk.write_text("hello")
    assert page.import_file(junk) is None and "Not imported" in page.status.text()


# ------------------------------------------------------------------ server

def test_server_page_runs_the_server_and_lists_clients(secret_service, controller, profile_store, echo_server,
                                                       gui_dirs, qrun, qtbot):
    page = ServerPage(controller)
    qtbot.addWidget(page)
    page.show()
    type_into(page.bind, "127.0.0.1:99999")
    assert "out of range" in page.form.problem("bind") and not page.start_button.isEnabled()
    type_into(page.bind, "127.0.0.1:0")
    type_into(page.map_binds["map_tcp_bind"], "127.0.0.1:0")
    type_into(page.map_binds["map_http_bind"], "")
    type_into(page.username, "srv-user")
    type_into(page.password, "srv-secret-77")

    async def scenario() -> None:
        click(page.start_button)
        await wait_until(lambda: controller.server is not None and controller.server_state == "running", 15,
                         "server running")
        assert page.start_button.text() == "Stop server" and "center" in page.listening.text()
        srv = controller.server
        assert keyring.get_password(profile_store.server_service(), "password") == "srv-secret-77"
        assert b"srv-secret-77" not in page.settings_path.read_bytes()
        cli = CenterClient(ClientConfig(server=addr(srv.addresses["center"]), username="srv-user",
                                        password="srv-secret-77",
                                        mappings=[MappingConfig("echo", "tcp", addr(echo_server))]))
        await cli.start()
        try:
            await cli.wait_connected(10)
            page.refresh()
            await wait_until(lambda: (page.refresh() or page.links.rowCount() == 1)
                             and page.links.data(page.links.index(0, 2)) == "echo (tcp)", 10, "client listed")
            assert page.links.data(page.links.index(0, 1)) == "srv-user"
            page.table.selectRow(0)
            texts = [page.client_detail.item(i).text() for i in range(page.client_detail.count())]
            assert any("mapping echo (tcp): 0 open channels" in t for t in texts), texts
        finally:
            await cli.stop()
        click(page.start_button)
        await wait_until(lambda: controller.server is None, 10, "stopped")
        assert page.start_button.text() == "Start server"

    qrun(scenario(), 60)
    # the saved settings reload into a new page (password stays in the keyring)
    again = ServerPage(controller)
    qtbot.addWidget(again)
    assert again.username.text() == "srv-user" and again.has_password and again.password.text() == ""
    for f in [*gui_dirs.config_home.rglob("*"), *gui_dirs.data_home.rglob("*")]:
        if f.is_file():
            assert b"srv-secret-77" not in f.read_bytes(), f
