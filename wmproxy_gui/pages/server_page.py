"""Run a center server from the GUI and watch who is connected.

The settings are a small ServerConfig form saved as ``<config dir>/server.toml``
(core.config's native format, without the password: that one lives in the OS
keyring like every other secret). Connected clients and the mappings they
announced come from the shared Stats' server-role links, refreshed once a second.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QFrame, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QPushButton, QScrollArea, QSplitter, QStackedWidget,
                               QTableView, QVBoxLayout, QWidget)

from core import paths
from core.config import DEFAULT_CENTER_PORT, Config, ServerConfig, load_config, save_config, validate_config
from core.errors import ConfigError

from ..models import LinkTableModel, fmt_bytes
from ..widgets.common import EmptyState, ValidatedForm, error_text, set_status, spawn, status_label
from .validation import address_problem, translate_problem

SERVER_FILE = "server.toml"
MAP_BINDS = (("map_http_bind", QT_TRANSLATE_NOOP("ServerPage", "HTTP mappings")),  # marked for lupdate
             ("map_https_bind", QT_TRANSLATE_NOOP("ServerPage", "HTTPS mappings")),
             ("map_tcp_bind", QT_TRANSLATE_NOOP("ServerPage", "TCP mappings")),
             ("map_proxy_bind", QT_TRANSLATE_NOOP("ServerPage", "Proxy (exit) port")))
STATE_TEXT = {"stopped": QT_TRANSLATE_NOOP("ServerPage", "Stopped"),
              "starting": QT_TRANSLATE_NOOP("ServerPage", "Starting…"),
              "running": QT_TRANSLATE_NOOP("ServerPage", "Running"), "error": QT_TRANSLATE_NOOP("ServerPage", "Error")}


def _t(text: str) -> str:
    return QCoreApplication.translate("ServerPage", text)


def server_settings_path() -> Path:
    return paths.config_dir() / SERVER_FILE


def load_server_settings(path: Path | None = None) -> ServerConfig:
    """Saved server settings, or sensible defaults (loopback mapping ports) when there are none."""
    path = path or server_settings_path()
    if not path.is_file():
        return ServerConfig(bind=f"0.0.0.0:{DEFAULT_CENTER_PORT}", map_http_bind="0.0.0.0:8001",
                            map_tcp_bind="0.0.0.0:8002")
    cfg = load_config(path) if path.stat().st_size else Config()
    return cfg.server or ServerConfig()


class ServerPage(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.store = controller.store
        self.settings_path = server_settings_path()
        try:
            cfg = load_server_settings(self.settings_path)
            load_problem = ""
        except ConfigError as e:  # keep the broken file; start from defaults
            cfg, load_problem = ServerConfig(), str(e)
        self.base = cfg  # fields the form does not show are kept as loaded
        try:
            self.has_password = bool(self.store.get_secret(self.store.server_service()))
        except Exception:
            self.has_password = False

        # ---- settings form
        self.form = ValidatedForm()
        self.bind = self.form.add("bind", self.tr("Listen for clients on"), QLineEdit(cfg.bind),
                                  self.tr("host:port clients connect to (wmproxy's default port is 8091)."))
        self.tls = QCheckBox(self.tr("Clients connect with TLS"))
        self.tls.setChecked(cfg.tls)
        self.form.add("tls", "", self.tls, self.tr("Without a certificate below, one is generated once and "
                                                   "reused; clients trust it on first use or pin it."))
        self.cert_file = self.form.add("cert_file", self.tr("Certificate"),
                                       QLineEdit(cfg.cert_file or "", placeholderText=self.tr("(generated)")))
        self.key_file = self.form.add("key_file", self.tr("Private key"),
                                      QLineEdit(cfg.key_file or "", placeholderText=self.tr("(generated)")))
        self.username = self.form.add("username", self.tr("Username"),
                                      QLineEdit(cfg.username or "", placeholderText=self.tr("(no login)")))
        self.password = self.form.add(
            "password", self.tr("Password"),
            QLineEdit(placeholderText=self.tr("unchanged (stored in the keyring)") if self.has_password else ""),
            self.tr("Kept in your OS keyring."))
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.anonymous = QCheckBox(self.tr("Allow clients without login on a public address"))
        self.anonymous.setChecked(cfg.allow_anonymous)
        self.form.add("allow_anonymous", "", self.anonymous)
        self.map_binds: dict[str, QLineEdit] = {}
        for key, label in MAP_BINDS:
            self.map_binds[key] = self.form.add(key, _t(label), QLineEdit(
                getattr(cfg, key) or "", placeholderText=self.tr("(off)")))
        for w in (self.bind, self.cert_file, self.key_file, self.username, self.password, *self.map_binds.values()):
            w.textChanged.connect(self.validate)
        for cb in (self.tls, self.anonymous):
            cb.toggled.connect(self.validate)

        self.start_button = QPushButton(self.tr("Start server"))
        self.start_button.setObjectName("start")
        self.start_button.clicked.connect(self.toggle)
        self.import_button = QPushButton(self.tr("Import wmproxy config…"))
        self.import_button.clicked.connect(self.import_dialog)
        self.state_label = QLabel()
        self.state_label.setObjectName("state")
        self.status = status_label()
        self.status.setObjectName("status")
        self.listening = status_label()
        self.listening.setObjectName("listening")
        self.copy_fp = QPushButton(self.tr("Copy certificate fingerprint"))
        self.copy_fp.clicked.connect(self.copy_fingerprint)
        self.copy_fp.hide()
        # the way in for a client: a wmproxy:// link (everything but the password) and its QR code
        self.link_box = QGroupBox(self.tr("Connect a client"))
        self.link_box.setObjectName("linkBox")
        self.link_text = QLineEdit()
        self.link_text.setObjectName("link")
        self.link_text.setReadOnly(True)
        self.link_hint = QLabel(self.tr("In the client's tray app: Profiles > Paste link, then type the password. "
                                        "The link holds no password."))
        self.link_hint.setWordWrap(True)
        self.copy_link_button = QPushButton(self.tr("Copy link"))
        self.copy_link_button.setObjectName("copyLink")
        self.copy_link_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.link_text.text()))
        self.qr = QLabel()
        self.qr.setObjectName("qr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ll = QVBoxLayout(self.link_box)
        lrow = QHBoxLayout()
        lrow.addWidget(self.link_text, 1)
        lrow.addWidget(self.copy_link_button)
        ll.addLayout(lrow)
        ll.addWidget(self.link_hint)
        ll.addWidget(self.qr)
        self.link_box.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.state_label, 1)
        settings = QGroupBox(self.tr("Server settings"))
        sl = QVBoxLayout(settings)
        sl.addLayout(self.form)
        sl.addLayout(buttons)
        sl.addWidget(self.listening)
        sl.addWidget(self.copy_fp)
        sl.addWidget(self.status)
        sl.addStretch(1)
        settings_scroll = QScrollArea()  # a long form at 200 % scale scrolls instead of clipping
        settings_scroll.setWidgetResizable(True)
        # (no horizontal bar in normal sizes: the long lines wrap; at 200 % and minimum size one appears)
        settings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        settings_scroll.setWidget(settings)

        # ---- connected clients
        self.links = LinkTableModel("server", self)
        self.table = QTableView()
        self.table.setObjectName("clients")
        self.table.setModel(self.links)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_client())
        self.client_detail = QListWidget()
        self.client_detail.setObjectName("clientMappings")
        self.empty = EmptyState(self.tr("No clients connected"),
                                self.tr("Start the server, then connect a wmproxy or wmproxy-gui client to "
                                        "it. Each client and the mappings it announced show up here."))
        self.client_stack = QStackedWidget()
        self.client_stack.addWidget(self.empty)
        inner = QSplitter(Qt.Orientation.Vertical)
        inner.addWidget(self.table)
        inner.addWidget(self.client_detail)
        self.client_stack.addWidget(inner)
        clients = QGroupBox(self.tr("Connected clients"))
        QVBoxLayout(clients).addWidget(self.client_stack)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.link_box)
        right.addWidget(clients)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(settings_scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        QVBoxLayout(self).addWidget(split)

        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        controller.server_state_changed.connect(self._on_server_state)
        controller.error.connect(self._on_error)
        if load_problem:
            set_status(self.status, self.tr("Saved settings not loaded: {e}").format(e=load_problem), "error")
        self.validate()
        self._on_server_state(getattr(controller, "server_state", "stopped"))
        self.refresh()

    # ---- form
    def config(self) -> ServerConfig:
        """The ServerConfig as entered (without the password)."""
        user = self.username.text().strip() or None
        return dataclasses.replace(
            self.base, bind=self.bind.text().strip(), tls=self.tls.isChecked(), username=user, password=None,
            cert_file=self.cert_file.text().strip() or None, key_file=self.key_file.text().strip() or None,
            allow_anonymous=self.anonymous.isChecked(),
            **{k: (w.text().strip() or None) for k, w in self.map_binds.items()})

    def problems(self) -> dict[str, str]:
        out: dict[str, str] = {}
        cfg = self.config()
        for key, value in (("bind", cfg.bind), *((k, getattr(cfg, k)) for k in self.map_binds)):
            if value is not None and (p := address_problem(value, listen=True)):
                out[key] = p
        if cfg.username and not self.password.text() and not self.has_password:
            out["password"] = self.tr("enter the password clients must send")
        if self.password.text() and not cfg.username:
            out["username"] = self.tr("a password needs a username")
        if bool(cfg.cert_file) != bool(cfg.key_file):
            out["key_file" if cfg.cert_file else "cert_file"] = self.tr("set both the certificate and its key, "
                                                                        "or neither")
        if not out:
            try:
                validate_config(Config(server=dataclasses.replace(cfg, password="x" if cfg.username else None)),
                                source="")
            except ConfigError as e:
                field = (e.key or "").rsplit(".", 1)[-1]
                if "lets anyone in" in e.problem:
                    problem = self.tr("anyone could connect and use this server: set a username and password, "
                                      "or tick \"Allow clients without login\"")
                else:
                    problem = translate_problem(e.problem)
                out[field if field in self.form.errors else "bind"] = problem
        return out

    def validate(self) -> bool:
        tls = self.tls.isChecked()
        for key in ("cert_file", "key_file"):
            self.form.setRowVisible(self.form.errors[key].parentWidget(), tls)
        running = self.controller.server is not None
        # a running server's form is read-only: its problems are for the next start, not now
        ok = self.form.show_problems({} if running else self.problems()) and (running or not self.problems())
        self.start_button.setEnabled(ok or running)
        return ok

    def save(self) -> ServerConfig:
        """Persist the form (password -> keyring) and return the config to run, with its password."""
        cfg = self.config()
        if self.password.text():
            self.store.set_secret(self.store.server_service(), self.password.text())
            self.has_password = True
        elif not cfg.username:
            self.store.set_secret(self.store.server_service(), None)
            self.has_password = False
        save_config(Config(server=cfg), self.settings_path, secrets=False, validate=False)
        self.base = cfg
        self.password.clear()
        self.password.setPlaceholderText(self.tr("unchanged (stored in the keyring)") if self.has_password else "")
        pw = self.store.get_secret(self.store.server_service()) if cfg.username else None
        return dataclasses.replace(cfg, password=pw)

    # ---- run
    def toggle(self) -> None:
        if self.controller.server is not None:
            spawn(self.controller.stop_server(), None, self._on_exception)
            return
        if not self.validate():
            return
        try:
            cfg = self.save()
        except Exception as e:
            set_status(self.status, self.tr("Not started: {e}").format(e=error_text(e)), "error")
            return
        set_status(self.status, self.tr("Starting…"))
        spawn(self.controller.start_server(cfg), None, self._on_exception)

    def _on_exception(self, e: BaseException) -> None:
        set_status(self.status, error_text(e), "error")

    def _on_error(self, who: str, text: str) -> None:
        if who == "@server":
            set_status(self.status, text, "error")

    def _on_server_state(self, state: str) -> None:
        running = state == "running"
        self.start_button.setText(self.tr("Stop server") if state in ("running", "starting")
                                  else self.tr("Start server"))
        self.state_label.setText(_t(STATE_TEXT.get(state, state)))
        for w in self.form.fields.values():
            w.setEnabled(not running)
        self.import_button.setEnabled(not running)
        srv = self.controller.server
        if running and srv is not None:
            lines = [f"{name}: {host}:{port}" for name, (host, port) in sorted(srv.addresses.items())]
            if srv.fingerprint:
                from core.tls import format_fingerprint

                fp = format_fingerprint(srv.fingerprint)  # 95 characters: two lines of 16 bytes
                lines.append(self.tr("certificate SHA-256: {fp}").format(fp=f"<br><code>{fp[:47]}<br>{fp[48:]}</code>"))
            set_status(self.listening, self.tr("Listening - ") + "<br>".join(lines), "ok")
            set_status(self.status, "")
            self.copy_fp.setVisible(bool(srv.fingerprint))
            self.show_link(self.client_link())
        else:
            self.listening.setText("")
            self.copy_fp.hide()
            self.show_link("")
        self.validate()

    def client_link(self) -> str:
        """The wmproxy:// link for the running server: a reachable address, the user, the pinned certificate."""
        from core.headless import client_link, reachable_hosts

        srv = self.controller.server
        if srv is None or "center" not in srv.addresses:
            return ""
        bind_host = srv.addresses["center"][0]
        hosts = reachable_hosts(bind_host) or ["127.0.0.1"]
        return client_link(hosts[0], srv.addresses["center"][1], getattr(srv.cfg, "username", None),
                           srv.fingerprint if getattr(srv.cfg, "tls", False) else None)

    def show_link(self, link: str) -> None:
        self.link_box.setVisible(bool(link))
        self.link_text.setText(link)
        self.link_text.setCursorPosition(0)
        if link:
            from ..widgets.qr import qr_pixmap

            self.qr.setPixmap(qr_pixmap(link, module=3))

    def copy_fingerprint(self) -> None:
        srv = self.controller.server
        if srv is not None and srv.fingerprint:
            from core.tls import format_fingerprint

            QGuiApplication.clipboard().setText(format_fingerprint(srv.fingerprint))

    # ---- clients
    def refresh(self) -> None:
        if not self.isVisible() and self.links.rowCount() == 0 and self.controller.server is None:
            return
        keep = self._selected_link()
        snap = self.controller.stats.snapshot()
        self.links.apply(snap)
        self.client_stack.setCurrentIndex(1 if self.links.rowCount() else 0)
        if keep is not None:
            for r, l in enumerate(self.links.links()):
                if l.id == keep:
                    self.table.selectRow(r)
        self._snap = snap
        self._show_client()

    def _selected_link(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.links.link(rows[0].row()).id if rows else None

    def _show_client(self) -> None:
        lid = self._selected_link()
        self.client_detail.clear()
        if lid is None:
            self.client_detail.addItem(self.tr("Select a client to see its mappings and open channels."))
            return
        link = next(l for l in self.links.links() if l.id == lid)
        snap = getattr(self, "_snap", None)
        chans = [c for c in (snap.channels if snap else ()) if c.link == lid]
        self.client_detail.addItem(self.tr("{peer} as {user}, {tls}").format(
            peer=link.peer, user=link.username or self.tr("(anonymous)"),
            tls="TLS" if link.tls else self.tr("plain TCP")))
        if not link.mappings:
            self.client_detail.addItem(self.tr("No mappings announced."))
        for label in link.mappings:  # "name (mode)" as the server records them
            name = label.rsplit(" (", 1)[0] if label.endswith(")") else label
            mine = [c for c in chans if c.name == name]
            self.client_detail.addItem(self.tr("mapping {name}: {n} open channels, {b} transferred").format(
                name=label, n=len(mine), b=fmt_bytes(sum(c.up + c.down for c in mine))))

    # ---- import
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Import server config"), str(Path.home()),
                                              self.tr("wmproxy configs (*.toml *.yaml *.yml);;All files (*)"))
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> bool:
        """Fill the form from an upstream wmproxy (or native) config's server part."""
        try:
            from core.upstream import load_any

            cfg = load_any(path)
            if cfg.server is None:
                raise ConfigError("this file has no server settings", file=str(path))
        except Exception as e:
            set_status(self.status, self.tr("Not imported: {e}").format(e=error_text(e)), "error")
            return False
        s = cfg.server
        self.base = dataclasses.replace(s, password=None)
        self.bind.setText(s.bind)
        self.tls.setChecked(s.tls)
        self.cert_file.setText(s.cert_file or "")
        self.key_file.setText(s.key_file or "")
        self.username.setText(s.username or "")
        self.password.setText(s.password or "")
        self.anonymous.setChecked(s.allow_anonymous)
        for k, w in self.map_binds.items():
            w.setText(getattr(s, k) or "")
        set_status(self.status, self.tr("Imported {p}; Start saves it (password to the keyring).").format(
            p=Path(path).name), "ok")
        return True
