"""Server profiles: list, edit (address, TLS, login), connect, test, import and export.

Trust on first use is made visible: before the first TLS connection to a
server whose certificate is not yet known, its SHA-256 fingerprint is fetched
and shown; only if the user accepts it is it written to known_hosts, and from
then on the core refuses a different certificate with a message saying so.
"""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QHBoxLayout, QHeaderView, QInputDialog, QLineEdit, QMenu,
                               QGroupBox, QLabel, QMessageBox, QPushButton, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from core import paths
from core import diagnose
from core.config import ClientConfig, ClientTls, DEFAULT_CENTER_PORT, parse_addr
from core.errors import ConfigError, WmproxyError

from ..diagnosis import UNKNOWN_SERVER
from ..profiles import Profile, ProfileStore, new_id, tls_mode, with_tls_mode
from ..widgets.common import (EmptyState, ValidatedForm, ask, error_text, mark_error, schedule_grow, set_status,
                              spawn, status_label)
from .validation import address_problem, client_problem, fingerprint_problem, name_problem, translate_problem

TLS_CHOICES = (  # marked for lupdate, translated where shown
    ("tofu", QT_TRANSLATE_NOOP("ProfilesPage", "Trust on first use (ask once, then pin)")),
    ("pin", QT_TRANSLATE_NOOP("ProfilesPage", "Pin a SHA-256 fingerprint")),
    ("ca", QT_TRANSLATE_NOOP("ProfilesPage", "Verify with a CA certificate")),
    ("off", QT_TRANSLATE_NOOP("ProfilesPage", "Off (plain TCP)")),
)
TLS_SHORT = {"tofu": QT_TRANSLATE_NOOP("ProfilesPage", "Trust on first use"),
             "pin": QT_TRANSLATE_NOOP("ProfilesPage", "Pinned fingerprint"),
             "ca": QT_TRANSLATE_NOOP("ProfilesPage", "CA certificate"),
             "off": QT_TRANSLATE_NOOP("ProfilesPage", "Off (plain TCP)")}
STATE_TEXT = {"stopped": QT_TRANSLATE_NOOP("ProfilesPage", "Disconnected"),
              "connecting": QT_TRANSLATE_NOOP("ProfilesPage", "Connecting…"),
              "connected": QT_TRANSLATE_NOOP("ProfilesPage", "Connected"),
              "degraded": QT_TRANSLATE_NOOP("ProfilesPage", "Partly connected"),
              "error": QT_TRANSLATE_NOOP("ProfilesPage", "Error")}
LINK_TEXT = {"stopped": QT_TRANSLATE_NOOP("ProfilesPage", "Disconnected"),  # one server's link
             "connecting": QT_TRANSLATE_NOOP("ProfilesPage", "Connecting…"),
             "connected": QT_TRANSLATE_NOOP("ProfilesPage", "Connected"),
             "down": QT_TRANSLATE_NOOP("ProfilesPage", "Down"),
             "error": QT_TRANSLATE_NOOP("ProfilesPage", "Down")}


def _t(text: str) -> str:
    return QCoreApplication.translate("ProfilesPage", text)
STATE_COLOR = {"connected": "#2e7d32", "connecting": "#b26a00", "degraded": "#c25e00", "error": "#c62828",
               "down": "#c62828"}
TEST_TIMEOUT = 10.0


# ------------------------------------------------------------------ TLS trust helpers

def known_hosts_path(client: ClientConfig) -> Path:
    return Path(client.tls.known_hosts) if client.tls.known_hosts else paths.default_known_hosts_path()


def trust_key(server: str) -> str:
    """The known_hosts key of a server: the address as the profile lists it (what the core looks up)."""
    return server.strip()


def host_port(client: ClientConfig) -> str:
    """The known_hosts key of a single-server client (see ``trust_key``)."""
    return trust_key(client.servers[0])


async def probe_fingerprint(client: ClientConfig, timeout: float = TEST_TIMEOUT, server: str | None = None) -> str:
    """SHA-256 of the certificate ``server`` (default: the client's first) presents (no verification:
    it is shown to the user to decide)."""
    from core import tls

    server = server or client.servers[0]
    host, port = parse_addr(server)
    ctx = tls.client_context(dataclasses.replace(client.tls, ca_file=None))  # accepts any cert, shows ours
    _r, w = await asyncio.wait_for(asyncio.open_connection(
        host, port, ssl=ctx, server_hostname=tls.server_hostname(client.tls, host)), timeout)
    try:
        der = tls.peer_der(w)
    finally:
        w.close()
    if not der:
        raise ConnectionError(f"{server} sent no certificate")
    return tls.fingerprint(der)


class TofuDialog(QMessageBox):
    """First contact with a server: show its fingerprint, trust it only on an explicit yes."""

    def __init__(self, server: str, fp: str, parent: QWidget | None = None) -> None:
        from core.tls import format_fingerprint

        super().__init__(QMessageBox.Icon.Question, self.tr("Trust this server?"),
                         self.tr("This is the first TLS connection to {server}.").format(server=server),
                         QMessageBox.StandardButton.NoButton, parent)
        self.setObjectName("tofuDialog")
        self.fingerprint = fp
        self.setInformativeText(self.tr(
            "Its certificate's SHA-256 fingerprint is:\n\n{fp}\n\nCompare it with the one the server shows "
            "(its log or Server page). If you trust it, it is remembered and a different certificate "
            "will be refused later.").format(fp=format_fingerprint(fp)))
        self.trust = self.addButton(self.tr("Trust and continue"), QMessageBox.ButtonRole.AcceptRole)
        self.trust.setObjectName("trust")
        self.cancel = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel)  # Enter must not trust by accident


class ChangedCertDialog(QMessageBox):
    """A trusted server shows another certificate: both fingerprints side by side, trust only on a yes."""

    def __init__(self, server: str, old: str, new: str, parent: QWidget | None = None) -> None:
        from core.tls import format_fingerprint

        super().__init__(QMessageBox.Icon.Warning, self.tr("Certificate changed"),
                         self.tr("The certificate of {server} is not the one you trusted before.").format(
                             server=server), QMessageBox.StandardButton.NoButton, parent)
        self.setObjectName("changedCertDialog")
        self.old, self.new = old, new
        self.setInformativeText(self.tr(
            "Trusted before:\n{old}\n\nShown now:\n{new}\n\nIf the server was reinstalled or got a new "
            "certificate, compare the new fingerprint with the one the server prints, then trust it. "
            "Otherwise someone may be in between: do not connect.").format(
                old=format_fingerprint(old), new=format_fingerprint(new)))
        self.trust = self.addButton(self.tr("Trust the new certificate"), QMessageBox.ButtonRole.AcceptRole)
        self.trust.setObjectName("trustNew")
        self.cancel = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel)


async def offer_new_certificate(parent: QWidget, server: str, known_hosts: Path, d: diagnose.Diagnosis) -> bool:
    """For a CERT_CHANGED diagnosis: show both fingerprints; True when the user trusted the new one."""
    from core.tls import KnownHosts

    dlg = ChangedCertDialog(server, d.old_fingerprint, d.new_fingerprint, parent)
    parent.changed_cert_dialog = dlg  # type: ignore[attr-defined]  # tests find it here
    clicked: list[object] = []
    dlg.buttonClicked.connect(clicked.append)
    try:
        await ask(dlg)
    finally:
        dlg.deleteLater()
    if not clicked or clicked[-1] is not dlg.trust:
        return False
    KnownHosts(known_hosts).set(d.addr, d.new_fingerprint)
    return True


async def confirm_new_server(parent: QWidget, server: str, fp: str, known_hosts: Path) -> bool:
    """First contact with ``server``: show its fingerprint; record it in known_hosts only on a yes."""
    from core.tls import KnownHosts

    dlg = TofuDialog(server, fp, parent)
    parent.tofu_dialog = dlg  # type: ignore[attr-defined]  # tests find it here
    clicked: list[object] = []
    dlg.buttonClicked.connect(clicked.append)
    try:
        await ask(dlg)
    finally:
        dlg.deleteLater()
    if not clicked or clicked[-1] is not dlg.trust:
        return False
    KnownHosts(known_hosts).set(trust_key(server), fp)
    return True


async def first_declined(parent: QWidget, client: ClientConfig) -> str | None:
    """For TOFU profiles: ask the user about each listed server whose certificate is not known yet, one
    after the other. The first server the user declined, or None.

    A single server that cannot be reached raises ``diagnose.ConnectionProblem`` (nothing to connect
    to). With several, one that cannot be reached now is skipped: the tunnel never trusts it silently,
    its link fails as "not trusted yet" once it answers, and the Profiles page asks then."""
    from core.tls import KnownHosts

    if tls_mode(client.tls) != "tofu":
        return None
    store = KnownHosts(known_hosts_path(client))
    servers = client.servers
    for server in servers:
        key = trust_key(server)
        if store.get(key) is not None:
            continue  # known: the core compares and refuses a changed certificate
        try:
            fp = await probe_fingerprint(client, diagnose.PROBE_TIMEOUT * 2, server)
        except (OSError, asyncio.TimeoutError) as e:  # ssl.SSLError is an OSError
            if len(servers) > 1:
                continue
            host, port = parse_addr(server)
            d = await diagnose.check_reachable(host, port, True) or diagnose.classify(e, key, True)
            raise diagnose.ConnectionProblem(d) from None
        if not await confirm_new_server(parent, server, fp, known_hosts_path(client)):
            return server
    return None


async def ensure_trusted(parent: QWidget, client: ClientConfig) -> bool:
    """``first_declined`` as a yes/no: False = the user declined one of the servers."""
    return await first_declined(parent, client) is None


async def test_connection(parent: QWidget, client: ClientConfig) -> str:
    """Log in once with ``client`` to its first server (no listeners, no mappings); the success text,
    or raise ``diagnose.ConnectionProblem`` saying what is wrong (refused, timed out, TLS on one side
    only, wrong login, certificate changed...). ``ProfileDialog`` tests each server this way."""
    from core.client import CenterClient
    from core.tls import format_fingerprint

    server = client.servers[0]
    client = dataclasses.replace(client, server=server)
    host, port = parse_addr(server)
    addr = host_port(client)
    problem = await diagnose.check_reachable(host, port, client.tls.enabled)
    if problem is not None:  # no login attempted: nothing listens, or TLS on one side only
        raise diagnose.ConnectionProblem(problem)
    if not await ensure_trusted(parent, client):
        raise NotTrustedError("the server's certificate was not trusted")
    probe = dataclasses.replace(client, mappings=[], proxies=[], direct=False)
    cli = CenterClient(probe)
    await cli.start()
    try:
        try:
            await cli.wait_connected(TEST_TIMEOUT)
        except (WmproxyError, asyncio.TimeoutError) as e:
            raise diagnose.ConnectionProblem(
                diagnose.classify(cli.last_exception or e, addr, client.tls.enabled, cli.last_error)) from None
        if cli.server_fingerprint:
            return QCoreApplication.translate("ProfilesPage", "Connected to {s} and logged in. "
                                              "Certificate SHA-256 {fp}").format(
                s=server, fp=format_fingerprint(cli.server_fingerprint))
        return QCoreApplication.translate("ProfilesPage", "Connected to {s} and logged in.").format(s=server)
    finally:
        await cli.stop()


class NotTrustedError(WmproxyError):
    """The user declined the server's certificate."""


# ------------------------------------------------------------------ the dialog

class ServerListEdit(QWidget):
    """The profile's servers, one host:port per line, with "Add server" and a remove button per line.

    The client keeps a link to every server listed (any of them serves the mappings; the first one up
    carries the local proxies), so the order matters and is kept. ``edits[0]`` stays the first line's
    editor for the dialog's lifetime (removing a line moves the texts up and drops the last editor)."""

    changed = Signal()

    def __init__(self, servers: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.rows = QVBoxLayout()
        self.rows.setSpacing(4)
        lay.addLayout(self.rows)
        self.add_button = QPushButton(self.tr("Add server"))
        self.add_button.setObjectName("add_server")
        self.add_button.setToolTip(self.tr("Keep a link to one more server: any of them can serve your mappings"))
        self.add_button.clicked.connect(lambda: self.add_server(focus=True))
        bottom = QHBoxLayout()
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        lay.addLayout(bottom)
        self.edits: list[QLineEdit] = []
        self._rows: list[tuple[QWidget, QLabel, QToolButton]] = []
        for text in servers or [""]:
            self.add_server(text)

    def add_server(self, text: str = "", focus: bool = False) -> QLineEdit:
        n = len(self.edits)
        row = QWidget()
        hl = QHBoxLayout(row)
        hl.setContentsMargins(0, 0, 0, 0)
        number = QLabel(f"{n + 1}.")
        edit = QLineEdit(text, placeholderText=f"example.com:{DEFAULT_CENTER_PORT}")
        edit.setObjectName("server" if n == 0 else f"server_{n + 1}")
        edit.textChanged.connect(self.changed)
        remove = QToolButton()
        remove.setText("−")
        remove.setObjectName(f"remove_server_{n + 1}")
        remove.setToolTip(self.tr("Remove this server"))
        remove.clicked.connect(lambda _c=False, i=n: self.remove_server(i))
        hl.addWidget(number)
        hl.addWidget(edit, 1)
        hl.addWidget(remove)
        self.rows.addWidget(row)
        self.edits.append(edit)
        self._rows.append((row, number, remove))
        self._sync()
        if focus:
            edit.setFocus()
        self.changed.emit()
        return edit

    def remove_server(self, index: int) -> None:
        if len(self.edits) <= 1 or not 0 <= index < len(self.edits):
            return
        for i in range(index, len(self.edits) - 1):
            self.edits[i].setText(self.edits[i + 1].text())
        self.edits.pop()
        row, _n, _r = self._rows.pop()
        self.rows.removeWidget(row)
        row.deleteLater()
        self._sync()
        self.changed.emit()

    def _sync(self) -> None:
        several = len(self.edits) > 1
        for _row, number, remove in self._rows:
            number.setVisible(several)
            remove.setVisible(several)
        # an explicit minimum: the form around this row lays out by height-for-width (its hint wraps),
        # which would keep the old height after a line is added and squeeze the lines together
        self.setMinimumHeight(self.layout().sizeHint().height())
        if self.window() is not self:
            schedule_grow(self)  # a visible dialog grows with a new line

    def texts(self) -> list[str]:
        return [e.text().strip() for e in self.edits]

    def set_problems(self, bad: set[int]) -> None:
        """Red border on the lines with a problem."""
        for i, e in enumerate(self.edits):
            mark_error(e, i in bad)



class ProfileDialog(QDialog):
    """Create or edit a profile. The password goes to the keyring on Save, never to a file."""

    def __init__(self, store: ProfileStore, profile: Profile | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileDialog")
        self.setWindowTitle(self.tr("Edit profile") if profile else self.tr("New profile"))
        self.store = store
        self.original = profile
        self.saved: Profile | None = None
        # new profiles speak TLS like the server's default, trusting its certificate on first use
        p = profile or Profile(new_id(), store.unique_name(self.tr("My server")),
                               ClientConfig(tls=ClientTls(enabled=True, tofu=True)))
        try:
            self.has_password = bool(profile and store.password(profile.id))
        except Exception:
            self.has_password = False
        c = p.client
        self.others = {o.name for o in store.profiles() if o.id != p.id}
        self.profile = p

        self.form = ValidatedForm()
        self.name = self.form.add("name", self.tr("Name"), QLineEdit(p.name))
        self.servers = ServerListEdit(c.servers)
        self.form.add("server", self.tr("Servers"), self.servers,
                      self.tr("The center server as host:port (wmproxy's default port is 8091). With several, "
                              "a link is kept to each and any of them serves your mappings."))
        self.servers.setObjectName("servers")
        self.server = self.servers.edits[0]  # the first (or only) server's line
        self.username = self.form.add("username", self.tr("Username"),
                                      QLineEdit(c.username or "", placeholderText=self.tr("(none)")))
        self.password = self.form.add(
            "password", self.tr("Password"),
            QLineEdit(placeholderText=self.tr("unchanged (stored in the keyring)") if self.has_password else ""),
            self.tr("Kept in your OS keyring, never written to a file or an export."))
        self.password.setEchoMode(QLineEdit.EchoMode.Password)

        self.tls = QComboBox()
        for key, label in TLS_CHOICES:
            self.tls.addItem(_t(label), key)
        self.tls.setCurrentIndex(self.tls.findData(tls_mode(c.tls)))
        self.form.add("tls", self.tr("Encryption"), self.tls)
        self.ca_file = self._file_row("ca_file", self.tr("CA certificate"), c.tls.ca_file or "",
                                      self.tr("PEM file of the CA that signed the server's certificate."))
        self.fingerprint = self.form.add("fingerprint", self.tr("Fingerprint"),
                                         QLineEdit(c.tls.fingerprint or "", placeholderText="AB:CD:…"),
                                         self.tr("SHA-256 of the server's certificate (64 hex digits)."))
        self.server_name = self.form.add("server_name", self.tr("Server name (SNI)"),
                                         QLineEdit(c.tls.server_name or "", placeholderText=self.tr("(from address)")))
        self.cert_file = self._file_row("cert_file", self.tr("Client certificate"), c.tls.cert_file or "",
                                        self.tr("Only for servers that require client certificates (two-way TLS)."))
        self.key_file = self._file_row("key_file", self.tr("Client key"), c.tls.key_file or "")
        self.auto_connect = QCheckBox(self.tr("Connect when the app starts"))
        self.auto_connect.setObjectName("auto_connect")
        self.auto_connect.setChecked(p.auto_connect)
        self.form.addRow("", self.auto_connect)

        self.test_button = QPushButton(self.tr("Test connection"))
        self.test_button.setObjectName("test")
        self.test_button.clicked.connect(self.start_test)
        self.test_status = status_label()
        self.test_status.setObjectName("test_status")
        self.test_task: asyncio.Task | None = None
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_status, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setObjectName("save")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addLayout(test_row)
        lay.addWidget(self.buttons)
        for w in (self.name, self.username, self.password, self.fingerprint, self.server_name,
                  self.ca_file, self.cert_file, self.key_file):
            w.textChanged.connect(self.validate)
        self.servers.changed.connect(self.validate)
        self.tls.currentIndexChanged.connect(self.validate)
        self.validate()

    def _file_row(self, key: str, label: str, value: str, hint: str = "") -> QLineEdit:
        edit = QLineEdit(value)
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(lambda: self._browse(edit, label))
        row.addWidget(browse)
        self.form.add(key, label, box, hint)
        self.form.fields[key] = edit  # errors highlight the line edit itself
        edit.setObjectName(key)
        return edit

    def _browse(self, edit: QLineEdit, label: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, label, edit.text() or str(Path.home()),
                                              self.tr("PEM files (*.pem *.crt *.cer *.key);;All files (*)"))
        if path:
            edit.setText(path)

    # ---- form <-> config
    def mode(self) -> str:
        return self.tls.currentData()

    def client(self) -> ClientConfig:
        """The ClientConfig as entered (no password)."""
        c = self.profile.client
        mode = self.mode()
        tls = with_tls_mode(c.tls, mode, ca_file=self.ca_file.text().strip() or None,
                            fingerprint=self.fingerprint.text().strip() or None)
        tls = dataclasses.replace(
            tls, server_name=self.server_name.text().strip() or None if mode != "off" else tls.server_name,
            cert_file=self.cert_file.text().strip() or None, key_file=self.key_file.text().strip() or None)
        servers = self.servers.texts()
        return dataclasses.replace(c, server=servers[0] if len(servers) == 1 else servers, password=None,
                                   username=self.username.text().strip() or None, tls=tls)

    def entered_password(self) -> str | None:
        """What to log in with: the typed password, else the stored one."""
        if self.password.text():
            return self.password.text()
        return self.store.password(self.profile.id) if self.has_password else None

    def problems(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if p := name_problem(self.name.text(), self.others):
            out["name"] = p
        if p := self.server_problems():
            out["server"] = p
        mode = self.mode()
        user = self.username.text().strip()
        if user and not self.password.text() and not self.has_password:
            out["password"] = self.tr("enter the password for this username")
        if self.password.text() and not user:
            out["username"] = self.tr("a password needs a username")
        if mode == "ca":
            ca = self.ca_file.text().strip()
            if not ca:
                out["ca_file"] = self.tr("choose the CA certificate file")
            elif not Path(ca).expanduser().is_file():
                out["ca_file"] = self.tr("no such file")
        if mode == "pin" and (p := fingerprint_problem(self.fingerprint.text())):
            out["fingerprint"] = p
        cert, key = self.cert_file.text().strip(), self.key_file.text().strip()
        if bool(cert) != bool(key):
            out["key_file" if cert else "cert_file"] = self.tr("a client certificate needs both the certificate and its key")
        for k, v in (("cert_file", cert), ("key_file", key)):
            if v and k not in out and not Path(v).expanduser().is_file():
                out[k] = self.tr("no such file")
        if not out and (err := client_problem(self.client())):
            field = (err.key or "").rsplit(".", 1)[-1].split("[", 1)[0]
            out[field if field in self.form.errors else "server"] = translate_problem(err.problem)
        return out

    def server_problems(self) -> str:
        """Each server line checked on its own (and against the lines above it); one line per problem,
        naming the line's number when there are several."""
        texts = self.servers.texts()
        bad: dict[int, str] = {}
        for i, text in enumerate(texts):
            if p := address_problem(text):
                bad[i] = p
            else:
                first = next((j for j in range(i) if texts[j].lower() == text.lower()), None)
                if first is not None:
                    bad[i] = self.tr("the same as server {n}").format(n=first + 1)
        self.servers.set_problems(set(bad))
        if len(texts) == 1:
            return bad.get(0, "")
        return "\n".join(self.tr("Server {n}: {problem}").format(n=i + 1, problem=p) for i, p in sorted(bad.items()))

    def validate(self) -> bool:
        mode = self.mode()
        for key, visible in (("ca_file", mode == "ca"), ("fingerprint", mode == "pin"),
                             ("server_name", mode != "off"), ("cert_file", mode != "off"),
                             ("key_file", mode != "off")):
            self.form.setRowVisible(self.form.errors[key].parentWidget(), visible)
        ok = self.form.show_problems(self.problems())
        self.save_button.setEnabled(ok)
        self.test_button.setEnabled(ok and (self.test_task is None or self.test_task.done()))
        schedule_grow(self)  # rows and error lines come and go: never squeeze them
        return ok

    # ---- actions
    def start_test(self) -> None:
        if not self.validate():
            return
        cfg = dataclasses.replace(self.client(), password=self.entered_password())
        self.test_button.setEnabled(False)
        self.test_results: list[tuple[str, str, str]] = []  # (server, "ok"|"warn"|"error", text): tests read it
        self.test_task = spawn(self._test_all(cfg), lambda _r: self.validate(), self._test_crashed)

    def _test_crashed(self, e: BaseException) -> None:
        set_status(self.test_status, error_text(e), "error")
        self.validate()

    async def _test_all(self, cfg: ClientConfig) -> None:
        """Test each server in turn (a first-contact prompt at a time), showing each result as it comes:
        one line per server."""
        servers = cfg.servers
        lines: list[str] = []
        offers: list[tuple[ClientConfig, diagnose.Diagnosis]] = []
        for server in servers:
            set_status(self.test_status, "\n".join(lines + [self.tr("Connecting to {s}…").format(s=server)]))
            one = dataclasses.replace(cfg, server=server)
            try:
                text, kind = await test_connection(self, one), "ok"
            except NotTrustedError:
                kind = "warn"
                text = (self.tr("Not connected: the server's certificate was not trusted.") if len(servers) == 1
                        else self.tr("Not connected to {s}: its certificate was not trusted.").format(s=server))
            except Exception as e:  # worded by kind, never raw
                text, kind = error_text(e), "error"
                d = getattr(e, "diagnosis", None)
                if d is not None and d.kind == diagnose.CERT_CHANGED:
                    offers.append((one, d))
            lines.append(text)
            self.test_results.append((server, kind, text))
        kinds = {k for _s, k, _t in self.test_results}
        set_status(self.test_status, "\n".join(lines),
                   "ok" if kinds == {"ok"} else "error" if "ok" not in kinds and "warn" not in kinds else "warn")
        for one, d in offers:
            await self._offer_new(one, d)

    async def _offer_new(self, cfg: ClientConfig, d: diagnose.Diagnosis) -> None:
        if await offer_new_certificate(self, cfg.servers[0], known_hosts_path(cfg), d):
            set_status(self.test_status, self.tr("The new certificate is trusted. Test again to connect."), "ok")

    def save(self) -> None:
        if not self.validate():
            return
        p = dataclasses.replace(self.profile, name=self.name.text(), client=self.client(),
                                auto_connect=self.auto_connect.isChecked())
        try:
            if not p.client.username:
                self.store.set_password(p.id, None)
            elif self.password.text():
                self.store.set_password(p.id, self.password.text())
            self.saved = self.store.upsert(p)
        except Exception as e:  # keyring locked, disk full...: say so and keep the dialog open
            self.form.show_problems({"password" if "keyring" in str(e) else "name": error_text(e)})
            return
        self.accept()


# ------------------------------------------------------------------ the page

class ProfilesPage(QWidget):
    COLS = (QT_TRANSLATE_NOOP("ProfilesPage", "Name"), QT_TRANSLATE_NOOP("ProfilesPage", "Server"),
            QT_TRANSLATE_NOOP("ProfilesPage", "Encryption"), QT_TRANSLATE_NOOP("ProfilesPage", "Status"))
    LINK_COLS = (QT_TRANSLATE_NOOP("ProfilesPage", "Server"), QT_TRANSLATE_NOOP("ProfilesPage", "State"),
                 QT_TRANSLATE_NOOP("ProfilesPage", "Details"), "")

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.store: ProfileStore = controller.store
        self.dialog: ProfileDialog | None = None
        self._errors: dict[str, str] = {}

        self.table = QTableWidget(0, len(self.COLS))
        self.table.setObjectName("profiles")
        self.table.setHorizontalHeaderLabels([_t(c) for c in self.COLS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # the status (and its reason) takes the rest
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        self.table.itemSelectionChanged.connect(self.show_links)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())

        self.empty = EmptyState(
            self.tr("No server profiles yet"),
            self.tr("Add the wmproxy server you connect to, import an existing wmproxy config "
                    "(client.toml / client.yaml), or paste a wmproxy:// link someone shared."),
            [(self.tr("Paste link…"), self.import_link_dialog), (self.tr("New profile…"), self.new_profile),
             (self.tr("Import file…"), self.import_file_dialog)])
        self.clipboard_button = QPushButton()
        self.clipboard_button.setObjectName("fromClipboard")
        self.clipboard_button.clicked.connect(lambda: self.import_link(self._clipboard_link()))
        self.clipboard_button.hide()
        self.empty.layout().insertWidget(self.empty.layout().count() - 1, self.clipboard_button, 0,
                                         Qt.AlignmentFlag.AlignHCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)

        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for key, label, slot in (("new", self.tr("New…"), self.new_profile),
                                 ("edit", self.tr("Edit…"), self.edit_selected),
                                 ("delete", self.tr("Delete"), self.delete_selected),
                                 ("connect", self.tr("Connect"), self.toggle_selected),
                                 ("import", self.tr("Import"), None), ("export", self.tr("Export"), None)):
            b = QPushButton(label)
            b.setObjectName(key)
            if slot is not None:
                b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons[key] = b
        row.addStretch(1)
        imp = QMenu(self)
        imp.addAction(self.tr("From file (export or wmproxy TOML/YAML)…"), self.import_file_dialog)
        imp.addAction(self.tr("From wmproxy:// link…"), self.import_link_dialog)
        self.buttons["import"].setMenu(imp)
        exp = QMenu(self)
        exp.addAction(self.tr("To file…"), self.export_file_dialog)
        exp.addAction(self.tr("Copy wmproxy:// link"), self.copy_link)
        self.buttons["export"].setMenu(exp)

        self.status = status_label()
        self.status.setObjectName("status")

        # the selected profile's servers: one row per link, with its own state, error and action
        self.links_box = QGroupBox()
        self.links_box.setObjectName("linksBox")
        self.links_table = QTableWidget(0, len(self.LINK_COLS))
        self.links_table.setObjectName("links")
        self.links_table.setHorizontalHeaderLabels([_t(c) for c in self.LINK_COLS])
        self.links_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.links_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.links_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.links_table.verticalHeader().hide()
        self.links_table.verticalHeader().setMinimumSectionSize(self.fontMetrics().height() + 10)
        self.links_table.setWordWrap(True)  # the reason a link is down is worth reading in full
        self.links_table.setTextElideMode(Qt.TextElideMode.ElideNone)
        lh = self.links_table.horizontalHeader()
        lh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        lh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # the reason takes the rest
        lb = QVBoxLayout(self.links_box)
        lb.setContentsMargins(6, 4, 6, 6)
        lb.addWidget(self.links_table)
        self.links_box.hide()
        self._offering: set[tuple[str, str]] = set()  # (profile, server) whose certificate is being asked about
        self._declined: set[tuple[str, str]] = set()  # ... the user said no to (asked again on Trust…)

        lay = QVBoxLayout(self)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.links_box)
        lay.addLayout(row)
        lay.addWidget(self.status)
        if hasattr(controller, "state_changed"):
            controller.state_changed.connect(self._on_state)
            controller.error.connect(self._on_error)
        if hasattr(controller, "link_error"):
            controller.link_error.connect(self._on_link_error)
            controller.links_changed.connect(self._on_links_changed)
        if hasattr(controller, "tick"):
            controller.tick.connect(self._on_tick)  # countdowns
        self.setAcceptDrops(True)  # a wmproxy:// link dropped anywhere on the page is imported
        self._status_owner: str | None = None  # the profile whose error the status line shows
        self.reload()

    # ---- table
    def reload(self, select: str | None = None) -> None:
        keep = select or self.selected_id()
        try:
            profiles = self.store.load()
        except (ConfigError, OSError) as e:
            set_status(self.status, self.tr("Profiles not loaded: {e}").format(e=error_text(e)), "error")
            profiles = []
        self.table.setRowCount(len(profiles))
        for r, p in enumerate(profiles):
            mode = tls_mode(p.client.tls)
            servers = p.client.servers
            shown = servers[0] + (f" +{len(servers) - 1}" if len(servers) > 1 else "")
            cells = (p.name, shown + (f"  ({p.client.username})" if p.client.username else ""),
                     _t(TLS_SHORT[mode]), "")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, p.id)
                self.table.setItem(r, c, item)
            if len(servers) > 1:
                self.table.item(r, 1).setToolTip("\n".join(servers))
            self._show_state(r, p.id)
        self.stack.setCurrentWidget(self.table if profiles else self.empty)
        if keep:
            self.select(keep)
        self._sync_buttons()
        self.show_links()

    def _row_of(self, profile_id: str) -> int:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == profile_id:
                return r
        return -1

    def select(self, profile_id: str) -> None:
        r = self._row_of(profile_id)
        if r >= 0:
            self.table.selectRow(r)

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None

    def _health(self, profile_id: str) -> str:
        health = getattr(self.controller, "health", None)
        return health(profile_id) if health is not None else self.controller.state(profile_id)

    def _links(self, profile_id: str) -> list[Any]:
        return getattr(self.controller, "links", lambda _p: [])(profile_id)

    def state_text(self, profile_id: str) -> str:
        """Status cell: the state, the reason of an error, how many of several links are up, and the
        countdown to the next attempt."""
        state = self.controller.state(profile_id)
        health = self._health(profile_id)
        text = _t(STATE_TEXT.get(health, health))
        if state == "error" and profile_id in self._errors:
            text += f": {self._errors[profile_id]}"
        links = self._links(profile_id)
        if len(links) > 1 and state == "connected":
            up = sum(1 for l in links if l.up)
            text += " · " + self.tr("{up} of {n} links up").format(up=up, n=len(links))
        waits = [n for n in (l.retry_in() for l in links) if n is not None]
        if waits and state != "connected":
            text += " · " + self.tr("next try in {n} s").format(n=min(waits))
        return text

    def _show_state(self, row: int, profile_id: str) -> None:
        text = self.state_text(profile_id)
        item = self.table.item(row, 3)
        item.setText(text)
        links = self._links(profile_id)
        tip = text
        if len(links) > 1:
            tip += "\n" + "\n".join(f"{l.server}: {self.link_state_text(l)}" for l in links)
        item.setToolTip(tip)
        color = STATE_COLOR.get(self._health(profile_id))
        item.setData(Qt.ItemDataRole.ForegroundRole, QColor(color) if color else None)

    # ---- the selected profile's servers, one link each
    @staticmethod
    def _link_key(link: Any) -> str:
        return "connected" if link.up else "down" if link.down else link.state

    def link_state_text(self, link: Any) -> str:
        return _t(LINK_TEXT.get(self._link_key(link), link.state))

    def link_detail(self, link: Any, profile: Profile | None = None) -> str:
        """Why a link is down (trying again now?); for the one carrying the local proxies, that."""
        parts = []
        if link.state == "connecting" and link.error:
            parts.append(self.tr("trying again…"))
        if link.error and not link.up:
            parts.append(link.error)
        if link.up and link.primary and profile is not None and profile.client.proxies \
                and len(profile.client.servers) > 1:
            parts.append(self.tr("local proxies go through this server"))
        return " · ".join(parts)

    def show_links(self) -> None:
        """The links panel: every server of the selected profile with its own state, error, countdown and
        a button to act on it (Reconnect now while it waits; Trust… when its certificate needs a yes)."""
        pid = self.selected_id()
        p = self.store.get(pid) if pid else None
        self.links_box.setVisible(p is not None)
        if p is None:
            return
        self.links_box.setTitle(self.tr("Servers of {name}").format(name=p.name))
        links = self._links(pid)
        if not links:  # not running: the servers it would connect to
            from ..controller import LinkView

            links = [LinkView(s, "stopped") for s in p.client.servers]
        t = self.links_table
        if [t.item(r, 0).text() if t.item(r, 0) else None for r in range(t.rowCount())] != [l.server for l in links]:
            t.setRowCount(len(links))
            for r, l in enumerate(links):
                for c in range(3):
                    t.setItem(r, c, QTableWidgetItem())
                t.item(r, 0).setText(l.server)
                b = QPushButton()
                b.setObjectName(f"link_action:{l.server}")
                b.clicked.connect(lambda _c=False, server=l.server: self._link_action(server))
                cell = QWidget()  # the view shows its cell widgets: the button hides inside one
                cl = QHBoxLayout(cell)
                cl.setContentsMargins(2, 1, 2, 1)
                cl.addWidget(b)
                t.setCellWidget(r, 3, cell)
        for r, l in enumerate(links):
            key = self._link_key(l)
            state_item, detail = t.item(r, 1), t.item(r, 2)
            state = self.link_state_text(l)
            n = l.retry_in()
            if n is not None and not l.up:  # the countdown before the (long) reason: never cut off
                state += " · " + self.tr("next try in {n} s").format(n=n)
            state_item.setText(state)
            color = STATE_COLOR.get(key)
            state_item.setData(Qt.ItemDataRole.ForegroundRole, QColor(color) if color else None)
            text = self.link_detail(l, p)
            detail.setText(text)
            detail.setToolTip(text)
            b = t.cellWidget(r, 3).findChild(QPushButton)
            action = self._action_of(l)
            b.setVisible(action is not None)
            if action == "trust":
                b.setText(self.tr("Trust…"))
                b.setToolTip(self.tr("Show this server's certificate and decide whether to trust it"))
            elif action == "reconnect":
                b.setText(self.tr("Reconnect now"))
                b.setToolTip(self.tr("Try this server again without waiting"))
        t.resizeColumnToContents(0)
        t.resizeColumnToContents(1)
        t.resizeColumnToContents(3)
        t.resizeRowsToContents()
        rows = sum(t.rowHeight(r) for r in range(min(t.rowCount(), 4)))
        t.setFixedHeight(rows + t.horizontalHeader().height() + 2 * t.frameWidth()
                         + (t.horizontalScrollBar().sizeHint().height() if t.horizontalScrollBar().isVisible() else 0))

    @staticmethod
    def _action_of(link: Any) -> str | None:
        d = getattr(link, "diagnosis", None)
        if not link.up and d is not None and d.kind in (diagnose.CERT_CHANGED, UNKNOWN_SERVER):
            return "trust"
        if link.next_attempt_at is not None and not link.up:
            return "reconnect"
        return None

    def link_button(self, server: str) -> QPushButton | None:
        """The action button of ``server``'s row in the links panel (tests press it)."""
        return self.links_table.findChild(QPushButton, f"link_action:{server}")

    def _link_action(self, server: str) -> None:
        pid = self.selected_id()
        link = next((l for l in self._links(pid) if l.server == server), None) if pid else None
        if link is None:
            return
        action = self._action_of(link)
        if action == "trust":
            self._declined.discard((pid, server))
            self._offer_trust(pid, server, link.diagnosis)
        elif action == "reconnect":
            self.controller.reconnect_now(pid, server)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.links_box.isVisible():
            self.show_links()  # wrapped reasons take more or fewer lines at another width

    def _on_links_changed(self, profile_id: str) -> None:
        r = self._row_of(profile_id)
        if r >= 0:
            self._show_state(r, profile_id)
        if profile_id == self.selected_id():
            self.show_links()
        self._sync_buttons()

    def _on_tick(self) -> None:
        for r in range(self.table.rowCount()):
            pid = self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
            if self.controller.state(pid) != "stopped":
                self._show_state(r, pid)
        self._sync_buttons()
        if self.links_box.isVisible():
            self.show_links()

    def _on_state(self, profile_id: str, state: str) -> None:
        if state in ("connected", "stopped"):
            self._errors.pop(profile_id, None)
            if self._status_owner == profile_id:  # the link is back: its red line goes
                self._status_owner = None
                set_status(self.status, self.tr("{name}: connected.").format(name=self._name(profile_id))
                           if state == "connected" else "", "ok")
        r = self._row_of(profile_id)
        if r >= 0:
            self._show_state(r, profile_id)
        self._sync_buttons()
        if profile_id == self.selected_id():
            self.show_links()

    def _name(self, profile_id: str) -> str:
        p = self.store.get(profile_id)
        return p.name if p else profile_id

    def _on_error(self, profile_id: str, text: str) -> None:
        self._errors[profile_id] = text
        self._status_owner = profile_id
        set_status(self.status, f"{self._name(profile_id)}: {text}", "error")
        r = self._row_of(profile_id)
        if r >= 0:
            self._show_state(r, profile_id)

    def _on_link_error(self, profile_id: str, server: str, _text: str) -> None:
        """A server's link failed: a changed or not yet trusted certificate is offered to the user,
        once per server and fingerprint (the Trust… button in the links panel asks again)."""
        link = next((l for l in self._links(profile_id) if l.server == server), None)
        d = getattr(link, "diagnosis", None)
        if d is None or d.kind not in (diagnose.CERT_CHANGED, UNKNOWN_SERVER):
            return
        key = (profile_id, server)
        if key in self._offering or key in self._declined:
            return
        self._offer_trust(profile_id, server, d)

    def _offer_trust(self, profile_id: str, server: str, d: diagnose.Diagnosis) -> None:
        key = (profile_id, server)
        if key in self._offering:
            return
        self._offering.add(key)
        spawn(self._offer(profile_id, server, d))

    async def _offer(self, profile_id: str, server: str, d: diagnose.Diagnosis) -> None:
        key = (profile_id, server)
        try:
            p = self.store.get(profile_id)
            if p is None:
                return
            kh = known_hosts_path(p.client)
            if d.kind == diagnose.CERT_CHANGED:
                ok = await offer_new_certificate(self, server, kh, d)
            else:
                ok = await confirm_new_server(self, server, d.new_fingerprint, kh)
            if not ok:
                self._declined.add(key)
                return
            self._declined.discard(key)
            several = len(p.client.servers) > 1
            set_status(self.status, (self.tr("{name}: the certificate of {server} is trusted; connecting…").format(
                name=p.name, server=server) if several else self.tr(
                "{name}: the new certificate is trusted; connecting…").format(name=p.name)), "ok")
            self._status_owner = None
            retry = getattr(self.controller, "retry_link", None)
            if retry is not None:
                await retry(profile_id, server)
            else:
                await self.controller.connect_profile(profile_id)
        finally:
            self._offering.discard(key)

    def _active(self, profile_id: str) -> bool:
        """Running or retrying: what Connect/Disconnect would stop."""
        is_active = getattr(self.controller, "is_active", None)
        if is_active is not None:
            return bool(is_active(profile_id))
        return self.controller.state(profile_id) in ("connecting", "connected")

    def _sync_buttons(self) -> None:
        pid = self.selected_id()
        for k in ("edit", "delete", "connect", "export"):
            self.buttons[k].setEnabled(pid is not None)
        running = pid is not None and self._active(pid)
        self.buttons["connect"].setText(self.tr("Disconnect") if running else self.tr("Connect"))

    def reconnect_selected(self) -> None:
        """Hurry every waiting link of the selected profile (each row of the links panel has its own)."""
        pid = self.selected_id()
        if pid:
            self.controller.reconnect_now(pid)

    # ---- profile dialog
    def new_profile(self) -> None:
        self._open_dialog(None)

    def edit_selected(self) -> None:
        pid = self.selected_id()
        if pid:
            self._open_dialog(self.store.get(pid))

    def _open_dialog(self, profile: Profile | None) -> None:
        dlg = ProfileDialog(self.store, profile, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._saved(dlg.saved))
        self.dialog = dlg
        dlg.open()

    def _saved(self, p: Profile | None) -> None:
        if p is None:
            return
        self.reload(select=p.id)
        set_status(self.status, self.tr("Saved {name}.").format(name=p.name), "ok")
        if self._active(p.id):
            spawn(self.controller.apply_profile(p), None,
                  lambda e: set_status(self.status, error_text(e), "error"))

    def delete_selected(self) -> None:
        pid = self.selected_id()
        p = self.store.get(pid) if pid else None
        if p is None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Delete profile"),
                          self.tr("Delete {name} and its saved password?").format(name=p.name),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirmDelete")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: spawn(self._delete(p.id), None,
                                           lambda e: set_status(self.status, error_text(e), "error")))
        self.confirm = box
        box.open()

    async def _delete(self, profile_id: str) -> None:
        if self.controller.state(profile_id) != "stopped":
            await self.controller.disconnect_profile(profile_id)
        self.store.delete(profile_id)
        self.reload()
        set_status(self.status, self.tr("Deleted."), "ok")

    # ---- connect
    def toggle_selected(self) -> None:
        pid = self.selected_id()
        if pid:
            self.toggle(pid)

    def toggle(self, profile_id: str) -> asyncio.Task:
        return spawn(self._toggle(profile_id), None,
                     lambda e: self._on_error(profile_id, error_text(e)))

    async def _toggle(self, profile_id: str) -> None:
        if self._active(profile_id):
            await self.controller.disconnect_profile(profile_id)
            return
        p = self.store.get(profile_id)
        if p is None:
            return
        set_status(self.status, self.tr("Connecting {name}…").format(name=p.name))
        declined = await first_declined(self, p.client)
        if declined is not None:
            set_status(self.status, self.tr("Not connected: the server's certificate was not trusted.")
                       if len(p.client.servers) == 1 else
                       self.tr("Not connected: the certificate of {server} was not trusted.").format(server=declined),
                       "warn")
            return
        for server in p.client.servers:  # asked just now: a later failure may ask again
            self._declined.discard((profile_id, server))
        await self.controller.connect_profile(profile_id)

    # ---- import / export
    def import_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Import profile"), str(Path.home()),
                                              self.tr("Profiles and wmproxy configs (*.toml *.yaml *.yml);;"
                                                      "All files (*)"))
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path) -> Profile | None:
        try:
            p = self.store.import_file(path)
        except Exception as e:
            set_status(self.status, self.tr("Not imported: {e}").format(e=error_text(e)), "error")
            return None
        self.reload(select=p.id)
        set_status(self.status, self.tr("Imported {name} ({n} mappings).").format(
            name=p.name, n=len(p.client.mappings)), "ok")
        return p

    @staticmethod
    def _clipboard_link() -> str:
        text = QGuiApplication.clipboard().text().strip()
        return text if text.startswith("wmproxy://") and "\n" not in text else ""

    def showEvent(self, event: Any) -> None:
        """Re-read profiles (the tray or a link may have added one); on first start a wmproxy:// link
        already in the clipboard is offered with one button."""
        self.reload()
        link = self._clipboard_link()
        if link:
            try:
                name = self.store.parse_link(link).name
            except Exception:
                link = ""
        self.clipboard_button.setVisible(bool(link))
        if link:
            self.clipboard_button.setText(self.tr("Use the link in the clipboard ({name})").format(name=name))
        super().showEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().text().strip().startswith("wmproxy://"):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        text = event.mimeData().text().strip()
        if text.startswith("wmproxy://"):
            event.acceptProposedAction()
            self.import_link(text)

    def import_link_dialog(self) -> None:
        dlg = QInputDialog(self)
        dlg.setObjectName("linkDialog")
        dlg.setWindowTitle(self.tr("Import link"))
        dlg.setLabelText(self.tr("Paste the wmproxy:// link the server printed or someone shared:"))
        dlg.setTextValue(self._clipboard_link())
        dlg.resize(max(dlg.width(), 560), dlg.height())
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.textValueSelected.connect(self.import_link)
        self.link_dialog = dlg
        dlg.open()

    def import_link(self, text: str) -> Profile | None:
        """Add the link's profile; when it names a user, ask for the password once (to the keyring)."""
        try:
            p = self.store.import_link(text)
        except Exception as e:
            set_status(self.status, self.tr("Not imported: {e}").format(e=error_text(e)), "error")
            return None
        self.reload(select=p.id)
        self.clipboard_button.hide()
        if p.client.username:
            self.ask_password(p)
        else:
            self._imported(p)
        return p

    def ask_password(self, p: Profile) -> QInputDialog:
        dlg = QInputDialog(self)
        dlg.setObjectName("passwordDialog")
        dlg.setWindowTitle(self.tr("Password"))
        dlg.setLabelText(self.tr("Password of {user} on {server}\n(kept in your OS keyring, never in a file):")
                         .format(user=p.client.username, server=", ".join(p.client.servers)))
        dlg.setTextEchoMode(QLineEdit.EchoMode.Password)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(pw: str) -> None:
            if not pw:
                return
            try:
                self.store.set_password(p.id, pw)
            except Exception as e:
                set_status(self.status, error_text(e), "error")
                return
            self._imported(p)

        dlg.textValueSelected.connect(chosen)
        dlg.rejected.connect(lambda: set_status(self.status, self.tr(
            "Imported {name} without a password: enter it with Edit before connecting.").format(name=p.name), "warn"))
        self.password_dialog = dlg
        dlg.open()
        return dlg

    def _imported(self, p: Profile) -> None:
        set_status(self.status, self.tr("Imported {name}. Next: add a mapping on the Mappings page, then "
                                        "Connect.").format(name=p.name), "ok")

    def export_file_dialog(self) -> None:
        p = self.store.get(self.selected_id() or "")
        if p is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export profile"),
                                              str(Path.home() / f"{p.name}.wmproxy.toml"),
                                              self.tr("Profile (*.toml)"))
        if path:
            self.export_file(p.id, path)

    def export_file(self, profile_id: str, path: str | Path) -> None:
        p = self.store.get(profile_id)
        try:
            self.store.export_file(p, path)
        except Exception as e:
            set_status(self.status, self.tr("Not exported: {e}").format(e=error_text(e)), "error")
            return
        set_status(self.status, self.tr("Exported to {path} (without password).").format(path=path), "ok")

    def copy_link(self) -> str | None:
        p = self.store.get(self.selected_id() or "")
        if p is None:
            return None
        link = self.store.export_link(p)
        QGuiApplication.clipboard().setText(link)
        set_status(self.status, self.tr("Link copied (without password)."), "ok")
        return link
