"""Mappings and local proxy listeners of a profile: table editors with inline validation.

Every change (add, edit, duplicate, delete, enable toggle) is validated first,
saved to the profile store, then pushed to a running tunnel with
``controller.apply_profile`` - no reconnect, the client re-announces its mappings.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QPlainTextEdit,
                               QPushButton, QSpinBox, QStackedWidget, QTableView, QVBoxLayout, QWidget)

from core.config import (MAPPING_MODES, PROXY_PROTOCOLS, MappingConfig, ProxyListenerConfig,
                         format_header_rule, parse_header_rule)
from core.errors import ConfigError

from ..models import MappingTableModel, ProxyTableModel, _ConfigListModel, copy_name
from ..profiles import Profile
from ..widgets.common import EmptyState, ValidatedForm, error_text, schedule_grow, set_status, spawn, status_label
from .validation import client_problem, header_problem, mapping_problems, proxy_problems, translate_problem

MODE_HINTS = {  # marked for lupdate, translated where shown
    "http": QT_TRANSLATE_NOOP("MappingDialog", "Requests to the server's HTTP port whose Host matches the domain "
                                               "reach the local address."),
    "https": QT_TRANSLATE_NOOP("MappingDialog", "Like http, on the server's HTTPS port (TLS ends at the server)."),
    "tcp": QT_TRANSLATE_NOOP("MappingDialog", "Raw TCP: connections to the server's TCP port (or the remote port "
                                              "below) reach the local address."),
    "proxy": QT_TRANSLATE_NOOP("MappingDialog", "The server's proxy port forwards through this client to any "
                                                "target (an exit node)."),
}
APPLY_CHECK_TICKS = 3  # seconds after an apply in which a refusal by the server is reported


# ------------------------------------------------------------------ dialogs

class EntryDialog(QDialog):
    """What the mapping and proxy dialogs share: an Enabled box under the form, OK/Cancel below."""

    form: Any

    def _finish(self, enabled: bool) -> None:
        # explicit context: self.tr() here would look the text up under the subclass's name
        self.enabled = QCheckBox(QCoreApplication.translate("EntryDialog", "Enabled"))
        self.enabled.setObjectName("enabled")
        self.enabled.setChecked(enabled)
        self.form.addRow("", self.enabled)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setObjectName("ok")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(self.buttons)

    def _accept(self) -> None:
        raise NotImplementedError


class MappingDialog(EntryDialog):
    """Add or edit one mapping. OK stays disabled while any field has a problem."""

    def __init__(self, mapping: MappingConfig | None, others: list[MappingConfig],
                 parent: QWidget | None = None, title: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mappingDialog")
        self.setWindowTitle(title or (self.tr("Edit mapping") if mapping else self.tr("Add mapping")))
        self.others = others
        m = mapping or MappingConfig(name=copy_name("web", {o.name for o in others}) if any(
            o.name == "web" for o in others) else "web", mode="http", local_addr="127.0.0.1:8080")
        self.form = ValidatedForm()
        self.name = self.form.add("name", self.tr("Name"), QLineEdit(m.name))
        self.mode = QComboBox()
        self.mode.addItems(list(MAPPING_MODES))
        self.mode.setCurrentText(m.mode)
        self.form.add("mode", self.tr("Mode"), self.mode)
        self.mode_hint = QLabel()
        self.mode_hint.setWordWrap(True)
        self.form.addRow("", self.mode_hint)
        self.local_addr = self.form.add("local_addr", self.tr("Local address"),
                                        QLineEdit(m.local_addr, placeholderText="127.0.0.1:8080"),
                                        self.tr("The service on this machine, as host:port."))
        self.domain = self.form.add("domain", self.tr("Domain"), QLineEdit(m.domain, placeholderText="app.example.com"),
                                    self.tr("Host name the server routes to this mapping; empty = catch-all."))
        self.remote_port = QSpinBox()
        self.remote_port.setRange(0, 65535)
        self.remote_port.setSpecialValueText(self.tr("shared port"))
        self.remote_port.setValue(m.remote_port or 0)
        self.form.add("remote_port", self.tr("Remote port"), self.remote_port,
                      self.tr("A public TCP port of its own on the server (leave at \"shared port\" to use "
                              "the server's TCP listener)."))
        self.headers = QPlainTextEdit("\n".join(format_header_rule(h) for h in m.headers))
        self.headers.setPlaceholderText("proxy x-forward-for {client_ip}\nproxy + from $url\n- etag")
        self.headers.setFixedHeight(90)
        self.form.add("headers", self.tr("Header rules"), self.headers,
                      self.tr("One per line: [proxy] [+|-|?] name [value]. \"proxy\" rewrites the request "
                              "to your service, otherwise the response; + add, - remove, ? set if missing."))
        self._finish(m.enabled)
        for w in (self.name, self.local_addr, self.domain):
            w.textChanged.connect(self.validate)
        self.mode.currentTextChanged.connect(self.validate)
        self.remote_port.valueChanged.connect(self.validate)
        self.headers.textChanged.connect(self.validate)
        self.validate()

    def value(self) -> MappingConfig:
        """The mapping as entered (header lines that do not parse are left out; validate() reports them)."""
        mode = self.mode.currentText()
        rules = []
        for line in self.headers.toPlainText().splitlines():
            if line.strip():
                try:
                    rules.append(parse_header_rule(line))
                except ConfigError:
                    pass
        web = mode in ("http", "https")
        return MappingConfig(
            name=self.name.text(), mode=mode,
            local_addr=self.local_addr.text().strip(),
            domain=self.domain.text().strip() if web else "",
            headers=rules if web else [],
            remote_port=(self.remote_port.value() or None) if mode in ("tcp", "proxy") else None,
            enabled=self.enabled.isChecked())

    def problems(self) -> dict[str, str]:
        out = mapping_problems(self.value(), self.others)
        for n, line in enumerate(self.headers.toPlainText().splitlines(), 1):
            if line.strip() and self.mode.currentText() in ("http", "https"):
                try:
                    parse_header_rule(line)
                except ConfigError as e:
                    out.setdefault("headers", header_problem(n, e.problem))
        return out

    def validate(self) -> bool:
        mode = self.mode.currentText()
        self.mode_hint.setText(QCoreApplication.translate("MappingDialog", MODE_HINTS.get(mode, "")))
        web = mode in ("http", "https")
        for key, visible in (("domain", web), ("headers", web), ("remote_port", mode in ("tcp", "proxy"))):
            self.form.setRowVisible(self.form.fields[key].parentWidget(), visible)
        self.local_addr.setPlaceholderText("127.0.0.1:8080" if mode != "proxy" else self.tr("(not needed for proxy)"))
        ok = self.form.show_problems(self.problems())
        self.ok.setEnabled(ok)
        schedule_grow(self)  # error lines come and go: never squeeze them
        return ok

    def _accept(self) -> None:
        if self.validate():
            self.accept()


class ProxyDialog(EntryDialog):
    """Add or edit a local proxy listener (HTTP/HTTPS CONNECT/SOCKS5 on this machine)."""

    def __init__(self, proxy: ProxyListenerConfig | None, others: list[ProxyListenerConfig],
                 has_password: bool = False, parent: QWidget | None = None, title: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("proxyDialog")
        self.setWindowTitle(title or (self.tr("Edit local proxy") if proxy else self.tr("Add local proxy")))
        self.others = others
        self.has_password = has_password
        taken = {o.name for o in others}
        p = proxy or ProxyListenerConfig(name="proxy" if "proxy" not in taken else copy_name("proxy", taken),
                                         bind=_free_bind(others))
        self.form = ValidatedForm()
        self.name = self.form.add("name", self.tr("Name"), QLineEdit(p.name))
        self.bind = self.form.add("bind", self.tr("Listen on"), QLineEdit(p.bind, placeholderText="127.0.0.1:8090"),
                                  self.tr("127.0.0.1 keeps it private to this machine; 0.0.0.0 opens it to your LAN."))
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.protocols: dict[str, QCheckBox] = {}
        for proto in PROXY_PROTOCOLS:
            cb = QCheckBox(proto.upper() if proto != "socks5" else "SOCKS5")
            cb.setObjectName(f"proto_{proto}")
            cb.setChecked(proto in p.protocols)
            cb.toggled.connect(self.validate)
            row.addWidget(cb)
            self.protocols[proto] = cb
        self.form.add("protocols", self.tr("Protocols"), box)
        self.username = self.form.add("username", self.tr("Username"),
                                      QLineEdit(p.username or "", placeholderText=self.tr("(no authentication)")))
        self.password = self.form.add(
            "password", self.tr("Password"),
            QLineEdit(placeholderText=self.tr("unchanged (stored in the keyring)") if has_password else ""),
            self.tr("Stored in the OS keyring, never in a file."))
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self._finish(p.enabled)
        for w in (self.name, self.bind, self.username, self.password):
            w.textChanged.connect(self.validate)
        self.enabled.toggled.connect(self.validate)
        self.validate()

    def value(self) -> ProxyListenerConfig:
        """As entered; ``password`` is None when the field was left empty (keep the stored one)."""
        user = self.username.text().strip() or None
        return ProxyListenerConfig(
            name=self.name.text(), bind=self.bind.text().strip(),
            protocols=tuple(p for p, cb in self.protocols.items() if cb.isChecked()),
            username=user, password=(self.password.text() or None) if user else None,
            enabled=self.enabled.isChecked())

    def validate(self) -> bool:
        v = self.value()
        out = proxy_problems(v, self.others)
        if v.username and not v.password and not self.has_password:
            out.setdefault("password", self.tr("enter a password for this username"))
        ok = self.form.show_problems(out)
        self.ok.setEnabled(ok)
        schedule_grow(self)  # error lines come and go: never squeeze them
        return ok

    def _accept(self) -> None:
        if self.validate():
            self.accept()


def _free_bind(others: list[ProxyListenerConfig]) -> str:
    used = {o.bind for o in others}
    port = 8090
    while f"127.0.0.1:{port}" in used:
        port += 1
    return f"127.0.0.1:{port}"


# ------------------------------------------------------------------ the page

class MappingsPage(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.store = controller.store
        self.profile: Profile | None = None
        self.dialog: QDialog | None = None  # the open add/edit dialog (tests drive it)

        self.profile_box = QComboBox()
        self.profile_box.setObjectName("profile")
        self.profile_box.currentIndexChanged.connect(self._profile_chosen)
        self.status = status_label()
        self.status.setObjectName("status")
        head = QHBoxLayout()
        head.addWidget(QLabel(self.tr("Profile:")))
        head.addWidget(self.profile_box, 1)
        head.addWidget(self.status, 3)

        self.mappings = MappingTableModel(parent=self)
        self.proxies = ProxyTableModel(parent=self)
        self.mapping_view, mapping_box = self._section(
            self.tr("Mappings"), self.mappings, "mapping",
            self.tr("No mappings yet"),
            self.tr("A mapping publishes a service of this machine (say a web app on 127.0.0.1:8080) "
                    "through the server, like an frp proxy."))
        self.proxy_view, proxy_box = self._section(
            self.tr("Local proxies"), self.proxies, "proxy",
            self.tr("No local proxies"),
            self.tr("A local proxy listener (HTTP, HTTPS CONNECT, SOCKS5) lets apps on this machine "
                    "reach the server's network, like Clash's mixed port."))

        self.no_profile = EmptyState(self.tr("No profile yet"),
                                     self.tr("Create or import a server profile on the Profiles page first; "
                                             "its mappings and local proxies are edited here."))
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(mapping_box, 2)  # mappings (several lines each with several servers) get the room
        bl.addWidget(proxy_box, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.no_profile)
        self.stack.addWidget(body)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.stack, 1)
        self.mappings.changed.connect(lambda: self._commit("mappings"))
        self.proxies.changed.connect(lambda: self._commit("proxies"))
        if hasattr(controller, "state_changed"):
            controller.state_changed.connect(self._on_state)  # a method: disconnected when the page dies
        if hasattr(controller, "tick"):
            controller.tick.connect(self.refresh_live)
        self._check_ticks = 0  # > 0: an apply just happened; a mapping the server refuses is reported
        self._settle = QTimer(self)  # owned by the page: never fires into a deleted one
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self._settled)
        self.reload()

    def _section(self, title: str, model: _ConfigListModel, kind: str, empty_title: str,
                 empty_text: str) -> tuple[QTableView, QGroupBox]:
        view = QTableView()
        view.setObjectName(f"{kind}Table")
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.verticalHeader().hide()
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        if isinstance(model, MappingTableModel):  # where it is reachable and whether it is, right after "what"
            hh = view.horizontalHeader()
            hh.moveSection(hh.visualIndex(MappingTableModel.PUBLIC), 4)
            hh.moveSection(hh.visualIndex(MappingTableModel.STATUS), 5)
            view.setWordWrap(False)
            for col in range(1, MappingTableModel.STATUS + 1):  # a profile's few mappings: fit them
                if col != MappingTableModel.HEADERS.index("Header rules"):
                    hh.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        view.doubleClicked.connect(lambda idx: self.edit(kind, idx.row()) if idx.column() else None)
        add = self.tr("Add mapping") if kind == "mapping" else self.tr("Add local proxy")
        empty = EmptyState(empty_title, empty_text, [(add, lambda: self.add(kind))])
        stack = QStackedWidget()
        stack.addWidget(empty)
        stack.addWidget(view)
        stack.setObjectName(f"{kind}Stack")

        def sync() -> None:
            stack.setCurrentWidget(view if model.rowCount() else empty)
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            sig.connect(sync)
        sync()

        buttons = QHBoxLayout()
        actions = [(add, "add", lambda: self.add(kind)),
                   (self.tr("Edit…"), "edit", lambda: self.edit(kind, self._row(view))),
                   (self.tr("Duplicate…"), "duplicate", lambda: self.duplicate(kind, self._row(view))),
                   (self.tr("Delete"), "delete", lambda: self.delete(kind, self._row(view)))]
        if kind == "mapping":
            actions.append((self.tr("Copy address"), "copy", lambda: self.copy_address(self._row(view))))
        for label, name, slot in actions:
            b = QPushButton(label)
            b.setObjectName(f"{kind}_{name}")
            b.clicked.connect(slot)
            buttons.addWidget(b)
            if name != "add":
                b.setEnabled(False)
                view_sel = view.selectionModel()
                view_sel.selectionChanged.connect(lambda *_a, b=b, v=view: b.setEnabled(bool(v.selectionModel().selectedRows())))
                model.modelReset.connect(lambda b=b: b.setEnabled(False))
        buttons.addStretch(1)
        box = QGroupBox(title)
        bl = QVBoxLayout(box)
        bl.addWidget(stack)
        bl.addLayout(buttons)
        return view, box

    @staticmethod
    def _row(view: QTableView) -> int:
        rows = view.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    # ---- profile selection
    def _current_id(self) -> str | None:
        return self.profile.id if self.profile else None

    def reload(self) -> None:
        """Re-read profiles (another page may have added one); keep the current choice."""
        keep = self._current_id() or getattr(self.controller, "default_profile_id", None)
        try:
            profiles = self.store.profiles()
        except (ConfigError, OSError) as e:
            set_status(self.status, error_text(e), "error")
            profiles = []
        self.profile_box.blockSignals(True)
        self.profile_box.clear()
        for p in profiles:
            self.profile_box.addItem(p.name, p.id)
        idx = self.profile_box.findData(keep) if keep else -1
        self.profile_box.setCurrentIndex(idx if idx >= 0 else (0 if profiles else -1))
        self.profile_box.blockSignals(False)
        self._profile_chosen()

    def select_profile(self, profile_id: str) -> None:
        idx = self.profile_box.findData(profile_id)
        if idx < 0:
            self.reload()
            idx = self.profile_box.findData(profile_id)
        self.profile_box.setCurrentIndex(idx)

    def _profile_chosen(self, *_a: Any) -> None:
        pid = self.profile_box.currentData()
        self.profile = self.store.get(pid) if pid else None
        self.stack.setCurrentIndex(1 if self.profile else 0)
        self.mappings.blockSignals(True)
        self.proxies.blockSignals(True)
        self.mappings.set_items(self.profile.client.mappings if self.profile else [])
        self.proxies.set_items(self.profile.client.proxies if self.profile else [])
        self.mappings.blockSignals(False)
        self.proxies.blockSignals(False)
        # set_items' reset signals were blocked: re-sync the empty states
        self.mappings.modelReset.emit()
        self.proxies.modelReset.emit()
        self._show_state()

    def _on_state(self, profile_id: str, _state: str) -> None:
        if profile_id == self._current_id():
            self._show_state()
            self.refresh_live()

    def refresh_live(self) -> None:
        """Public addresses and each server's verdict per mapping, from the running tunnel: a mapping is
        reachable at every server whose link is up and that opened it."""
        if self.profile is None:
            return
        pid = self.profile.id
        from core.config import parse_addr

        from ..models import ServerLive

        def host_of(server: str) -> str:
            try:
                return parse_addr(server)[0]
            except Exception:
                return ""

        per_server = getattr(self.controller, "server_mapping_status", None)
        if per_server is not None:
            rows = per_server(pid) or [(s, False, {}) for s in self.profile.client.servers]
            live = [ServerLive(server, host_of(server), up, status) for server, up, status in rows]
        else:  # a controller without per-server views: the one verdict it has
            connected = self.controller.state(pid) == "connected"
            status = getattr(self.controller, "mapping_status", lambda _p: {})(pid)
            server = self.profile.client.servers[0]
            live = [ServerLive(server, host_of(server), connected, status)]
        before = self.mappings.live
        self.mappings.set_servers(live)
        if live != before:
            self.mapping_view.resizeRowsToContents()  # several servers: one line each
        if self._check_ticks > 0:
            self._check_ticks -= 1
            failed = [(m.name, server, why) for m in self.mappings.items() if m.enabled
                      for server, why in self.mappings.failures(m)]
            if failed:
                self._check_ticks = 0
                name, server, why = failed[0]
                if self.mappings.several:
                    text = self.tr("Saved, but {server} could not open {name}: {reason}").format(
                        server=server, name=name, reason=why)
                else:
                    text = self.tr("Saved, but the server could not open {name}: {reason}").format(
                        name=name, reason=why)
                set_status(self.status, text, "error")

    def copy_address(self, row: int, index: int | None = None) -> str:
        """Put the selected mapping's public address (URL or host:port) on the clipboard. Published by
        several servers: ``index`` picks one; without it the button offers a menu of them (and the
        first is returned without copying)."""
        if row < 0:
            return ""
        found = self.mappings.public_addresses(self.mappings.item(row))
        if len(found) > 1 and index is None:
            menu = self.address_menu(row)
            button = self.findChild(QPushButton, "mapping_copy")
            if button is not None and button.isVisible():
                menu.popup(button.mapToGlobal(button.rect().bottomLeft()))
            return found[0][1]
        addr = found[index or 0][1] if found and (index or 0) < len(found) else ""
        if addr:
            QGuiApplication.clipboard().setText(addr)
            set_status(self.status, self.tr("Copied {addr}.").format(addr=addr), "ok")
        else:
            set_status(self.status, self.tr("No public address yet: connect the profile first."), "warn")
        return addr

    def address_menu(self, row: int) -> QMenu:
        """One "Copy" entry per server that publishes the mapping of ``row``."""
        menu = QMenu(self)
        menu.setObjectName("addressMenu")
        for i, (server, addr) in enumerate(self.mappings.public_addresses(self.mappings.item(row))):
            act = menu.addAction(self.tr("Copy {addr} (via {server})").format(addr=addr, server=server))
            act.setObjectName(f"copy:{i}")
            act.triggered.connect(lambda _c=False, i=i: self.copy_address(row, i))
        self.address_popup = menu  # tests find it here
        return menu

    def _show_state(self) -> None:
        if not self.profile:
            set_status(self.status, "")
            return
        running = self.controller.state(self.profile.id) in ("connecting", "connected")
        set_status(self.status, self.tr("Tunnel running: changes apply immediately.") if running
                   else self.tr("Not connected: changes are saved and used on the next connect."))

    def showEvent(self, event: Any) -> None:
        self.reload()
        super().showEvent(event)

    # ---- actions
    def add(self, kind: str) -> None:
        self._open(kind, None, None)

    def edit(self, kind: str, row: int) -> None:
        if row >= 0:
            self._open(kind, row, self._model(kind).item(row))

    def duplicate(self, kind: str, row: int) -> None:
        """Open the dialog on a renamed copy (so a clashing port or domain is fixed before saving)."""
        if row < 0:
            return
        model = self._model(kind)
        src = model.item(row)
        copy = dataclasses.replace(src, name=copy_name(src.name, model.names()))
        self._open(kind, None, copy, title=self.tr("Duplicate {name}").format(name=src.name), copy_of=src.name)

    def delete(self, kind: str, row: int) -> None:
        if row >= 0:
            self._model(kind).remove(row)

    def _model(self, kind: str) -> _ConfigListModel:
        return self.mappings if kind == "mapping" else self.proxies

    def _open(self, kind: str, row: int | None, item: Any, title: str | None = None,
              copy_of: str | None = None) -> None:
        if self.profile is None:
            return
        model = self._model(kind)
        others = [it for i, it in enumerate(model.items()) if i != row]
        if kind == "mapping":
            dlg: QDialog = MappingDialog(item, others, self, title)
        else:
            stored = bool(item and item.username and self._proxy_password(copy_of or item.name))
            dlg = ProxyDialog(item, others, stored, self, title)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._accepted(kind, row, dlg, copy_of))
        self.dialog = dlg
        dlg.open()

    def _proxy_password(self, name: str) -> str | None:
        try:
            return self.store.proxy_password(self.profile.id, name) if self.profile else None
        except Exception as e:  # keyring trouble: show it, treat as "no stored password"
            set_status(self.status, error_text(e), "error")
            return None

    def _accepted(self, kind: str, row: int | None, dlg: QDialog, copy_of: str | None) -> None:
        model = self._model(kind)
        value = dlg.value()  # type: ignore[attr-defined]
        if kind == "proxy" and self.profile is not None and value.username and not value.password:
            # keep the stored password across a rename or a duplicate
            old = copy_of or (model.item(row).name if row is not None else None)
            if old and old != value.name:
                value = dataclasses.replace(value, password=self._proxy_password(old))
        if row is None:
            model.add(value)
        else:
            model.replace(row, value)

    def _applied(self) -> None:
        """Applied to the link; the server answers with a Status: wait a few ticks for a refusal."""
        set_status(self.status, self.tr("Saved and applied; waiting for the server's answer…"))
        self._check_ticks = APPLY_CHECK_TICKS
        self._settle.start(APPLY_CHECK_TICKS * 1000 + 500)

    def _settled(self) -> None:
        if self._check_ticks == 0:
            return  # a refusal was reported meanwhile
        self._check_ticks = 0
        set_status(self.status, self.tr("Saved and applied."), "ok")

    def _commit(self, section: str) -> None:
        """Validate the whole profile, save it (secrets to the keyring), apply it to a running tunnel."""
        if self.profile is None:
            return
        client = dataclasses.replace(self.profile.client, mappings=self.mappings.items(),
                                     proxies=self.proxies.items())
        err = client_problem(client)
        if err is not None:
            set_status(self.status, self.tr("Not saved: {e}").format(e=translate_problem(err.problem)), "error")
            self._profile_chosen()  # back to what is stored
            return
        try:
            self.profile = self.store.upsert(dataclasses.replace(self.profile, client=client))
        except Exception as e:
            set_status(self.status, self.tr("Not saved: {e}").format(e=error_text(e)), "error")
            return
        # the store strips passwords into the keyring: show what is stored
        self.proxies.blockSignals(True)
        self.proxies.set_items(self.profile.client.proxies)
        self.proxies.blockSignals(False)
        self.proxies.modelReset.emit()
        if self.controller.state(self.profile.id) in ("connecting", "connected"):
            set_status(self.status, self.tr("Saved; applying to the running tunnel…"))
            spawn(self.controller.apply_profile(self.profile),
                  lambda ok: self._applied() if ok is not False
                  else set_status(self.status, self.tr("Saved, but the tunnel refused it: {e}").format(
                      e=self.controller.last_error(self.profile.id)), "error"),
                  lambda e: set_status(self.status, self.tr("Saved, but the tunnel refused it: {e}").format(
                      e=error_text(e)), "error"))
        else:
            set_status(self.status, self.tr("Saved. Used on the next connect."), "ok")
