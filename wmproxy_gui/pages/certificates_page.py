"""Certificates: generate a CA and server/client certificates, import PEM files, inspect and watch expiry.

Everything lives in ``<data dir>/certs`` (the server's auto-generated center
certificate in ``<data dir>/tls`` is listed too, so its fingerprint can be read
out to clients). Keys are written by core.tls.write_private_key: mode 0600
from the moment the file exists.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox, QSplitter,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

from core import paths, tls
from core.errors import WmproxyError

from ..widgets.common import (ERROR_COLOR, WARN_COLOR, EmptyState, ValidatedForm, error_text, set_status,
                              status_label)

EXPIRY_WARN_DAYS = 30
DETAIL_LABELS = {k: k for k in (  # marked for lupdate under "CertificatesPage"
    QT_TRANSLATE_NOOP("CertificatesPage", "Subject"), QT_TRANSLATE_NOOP("CertificatesPage", "Issuer"),
    QT_TRANSLATE_NOOP("CertificatesPage", "Type"), QT_TRANSLATE_NOOP("CertificatesPage", "Valid from"),
    QT_TRANSLATE_NOOP("CertificatesPage", "Valid until"), QT_TRANSLATE_NOOP("CertificatesPage", "DNS names"),
    QT_TRANSLATE_NOOP("CertificatesPage", "IP addresses"), QT_TRANSLATE_NOOP("CertificatesPage", "SHA-256"),
    QT_TRANSLATE_NOOP("CertificatesPage", "File"), QT_TRANSLATE_NOOP("CertificatesPage", "Private key"))}
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\s*", re.S)
_STEM = re.compile(r"^[\w.-]{1,64}$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def certs_dir() -> Path:
    return paths.data_dir() / "certs"


def _search_dirs() -> list[Path]:
    return [certs_dir(), paths.data_dir() / "tls"]


@dataclass
class CertEntry:
    path: Path
    key_path: Path | None
    info: tls.CertInfo | None
    error: str = ""

    @property
    def days_left(self) -> float:
        if self.info is None:
            return 0.0
        return (self.info.not_after - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400

    def expiry_text(self) -> tuple[str, str]:
        """(text, kind) where kind is ''/'warn'/'error' - drives colour and the warning line."""
        if self.info is None:
            return self.error, "error"
        left = self.days_left
        if left < 0:
            return QCoreApplication.translate("CertificatesPage", "expired {d}").format(
                d=f"{self.info.not_after:%Y-%m-%d}"), "error"
        if left < EXPIRY_WARN_DAYS:
            return QCoreApplication.translate("CertificatesPage", "expires in {n} days ({d})").format(
                n=int(left), d=f"{self.info.not_after:%Y-%m-%d}"), "warn"
        return f"{self.info.not_after:%Y-%m-%d}", ""


def scan() -> list[CertEntry]:
    """Every certificate file in the managed directories, with its key when one sits beside it."""
    out: list[CertEntry] = []
    for d in _search_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in (".crt", ".pem", ".cer") or f.name.startswith("."):
                continue
            key = f.with_suffix(".key")
            try:
                info: tls.CertInfo | None = tls.cert_file_info(f)
                err = ""
            except WmproxyError as e:
                info, err = None, str(e)
            out.append(CertEntry(f, key if key.is_file() else None, info, err))
    return out


def free_stem(stem: str) -> str:
    d = certs_dir()
    if not (d / f"{stem}.crt").exists():
        return stem
    n = 2
    while (d / f"{stem}-{n}.crt").exists():
        n += 1
    return f"{stem}-{n}"


def import_pem(path: Path) -> Path:
    """Copy a PEM certificate (and a private key found in the same file) into certs_dir()."""
    data = Path(path).read_bytes()
    blocks = {m.group(1).decode(): m.group(0) for m in _PEM_BLOCK.finditer(data)}
    cert = blocks.get("CERTIFICATE")
    if cert is None:
        try:  # DER certificate file
            tls.cert_info(data)
            cert = data
        except WmproxyError:
            raise WmproxyError(f"{path}: no certificate found (expected a PEM or DER certificate)") from None
    tls.cert_info(cert)  # raises a TlsError naming the problem
    stem = free_stem(re.sub(r"[^\w.-]", "_", Path(path).stem)[:64] or "imported")
    target = certs_dir() / f"{stem}.crt"
    if b"-----BEGIN" in cert:
        tls.write_cert(target, b"".join(m.group(0) for m in _PEM_BLOCK.finditer(data)
                                        if m.group(1) == b"CERTIFICATE"))
    else:
        tls.write_cert(target, cert)
    key = next((v for k, v in blocks.items() if k.endswith("PRIVATE KEY")), None)
    if key is not None:
        tls.write_private_key(target.with_suffix(".key"), key)
    return target


# ------------------------------------------------------------------ generate dialog

class GenerateDialog(QDialog):
    """Generate a CA, or a server/client certificate (self-signed or signed by one of our CAs)."""

    def __init__(self, kind: str, cas: list[CertEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setObjectName("generateDialog")
        self.setWindowTitle(self.tr("Generate CA") if kind == "ca" else self.tr("Generate certificate"))
        self.form = ValidatedForm()
        host_name = tls.default_cert_names()[0]
        self.common_name = self.form.add("common_name", self.tr("Common name"), QLineEdit(
            "wmproxy-gui CA" if kind == "ca" else host_name))
        self.names = self.form.add("names", self.tr("DNS names and IPs"), QLineEdit(
            ", ".join(tls.default_cert_names())),
            self.tr("Comma separated; clients verify the address they dial against these."))
        self.days = QSpinBox()
        self.days.setRange(1, 36500)
        self.days.setValue(3650 if kind == "ca" else 825)
        self.days.setSuffix(self.tr(" days"))
        self.form.add("days", self.tr("Valid for"), self.days)
        self.signer = QComboBox()
        self.signer.addItem(self.tr("Self-signed"), None)
        for ca in cas:
            self.signer.addItem(f"{ca.info.subject} ({ca.path.name})", ca)  # type: ignore[union-attr]
        if len(cas):
            self.signer.setCurrentIndex(1)
        self.form.add("signer", self.tr("Signed by"), self.signer)
        self.stem = self.form.add("stem", self.tr("File name"), QLineEdit(free_stem("ca" if kind == "ca" else "server")),
                                  self.tr("Saved as NAME.crt and NAME.key (0600) in {d}").format(d=certs_dir()))
        if kind == "ca":
            self.form.setRowVisible(self.form.errors["names"].parentWidget(), False)
            self.form.setRowVisible(self.form.errors["signer"].parentWidget(), False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setObjectName("ok")
        self.ok.setText(self.tr("Generate"))
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(self.buttons)
        for w in (self.common_name, self.names, self.stem):
            w.textChanged.connect(self.validate)
        self.created: Path | None = None
        self.validate()

    def name_list(self) -> list[str]:
        return [n.strip() for n in self.names.text().split(",") if n.strip()]

    def problems(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if not self.common_name.text().strip():
            out["common_name"] = "a common name is required"
        if self.kind != "ca":
            from .validation import address_problem

            bad = [n for n in self.name_list() if address_problem(f"[{n}]:1" if ":" in n else f"{n}:1")]
            if bad:
                out["names"] = f"{bad[0]!r} is not a host name or IP address"
        stem = self.stem.text().strip()
        if not _STEM.match(stem):
            out["stem"] = "use letters, digits, '-', '_' or '.'"
        elif (certs_dir() / f"{stem}.crt").exists() or (certs_dir() / f"{stem}.key").exists():
            out["stem"] = f"{stem}.crt already exists"
        return out

    def validate(self) -> bool:
        ok = self.form.show_problems(self.problems())
        self.ok.setEnabled(ok)
        return ok

    def generate(self) -> Path:
        cn = self.common_name.text().strip()
        if self.kind == "ca":
            cert, key = tls.generate_ca(cn, days=self.days.value())
        else:
            names = self.name_list()
            ips = [n for n in names if _is_ip(n)]
            dns = [n for n in names if not _is_ip(n)]
            signer: CertEntry | None = self.signer.currentData()
            ca = None
            if signer is not None and signer.key_path is not None:
                ca = (signer.path.read_bytes(), signer.key_path.read_bytes())
            cert, key = tls.generate_cert(cn, dns, ips, days=self.days.value(), ca=ca)
        target = certs_dir() / f"{self.stem.text().strip()}.crt"
        tls.write_private_key(target.with_suffix(".key"), key)
        tls.write_cert(target, cert)
        return target

    def _accept(self) -> None:
        if not self.validate():
            return
        try:
            self.created = self.generate()
        except (WmproxyError, OSError) as e:
            self.form.show_problems({"stem": error_text(e)})
            return
        self.accept()


# ------------------------------------------------------------------ the page

class KnownHostsBox(QGroupBox):
    """Servers trusted on first use (known_hosts): fingerprint, since when, and a pending change.

    A profile whose last failure was "certificate changed" shows its row with the new
    fingerprint beside the old one; "Trust the new certificate" replaces the entry."""

    COLS = (QT_TRANSLATE_NOOP("KnownHostsBox", "Server"), QT_TRANSLATE_NOOP("KnownHostsBox", "SHA-256"),
            QT_TRANSLATE_NOOP("KnownHostsBox", "Trusted since"), QT_TRANSLATE_NOOP("KnownHostsBox", "Note"))

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(self.tr("Trusted servers (trust on first use)"))
        self.controller = controller
        self.path = paths.default_known_hosts_path()
        self.rows: list[tuple[str, str, str, str]] = []  # host:port, fingerprint, date, new fingerprint
        self.table = QTableWidget(0, len(self.COLS))
        self.table.setObjectName("knownHosts")
        self.table.setHorizontalHeaderLabels([QCoreApplication.translate("KnownHostsBox", c) for c in self.COLS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._sync)
        self.empty = QLabel(self.tr("No server trusted yet. The first TLS connection to a server asks you to "
                                    "compare its fingerprint, and remembers it here."))
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.trust_new = QPushButton(self.tr("Trust the new certificate"))
        self.trust_new.setObjectName("trustNew")
        self.trust_new.clicked.connect(self.trust_selected)
        self.forget = QPushButton(self.tr("Forget"))
        self.forget.setObjectName("forget")
        self.forget.setToolTip(self.tr("The next connection asks again"))
        self.forget.clicked.connect(self.forget_selected)
        self.copy = QPushButton(self.tr("Copy fingerprint"))
        self.copy.setObjectName("copyKnown")
        self.copy.clicked.connect(self.copy_selected)
        row = QHBoxLayout()
        for b in (self.trust_new, self.forget, self.copy):
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.empty)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        if hasattr(controller, "error"):
            controller.error.connect(lambda *_: self.reload())
        self.reload()

    def pending(self) -> dict[str, str]:
        """host:port -> the new fingerprint, for profiles whose last failure was a changed certificate."""
        out: dict[str, str] = {}
        try:
            profiles = self.controller.store.profiles()
        except Exception:
            return out
        for p in profiles:
            d = getattr(self.controller, "diagnosis", lambda _p: None)(p.id)
            if d is not None and d.kind == "cert_changed":
                out[tls._host_port_key(d.addr)] = d.new_fingerprint
        return out

    def reload(self) -> None:
        try:
            entries = tls.KnownHosts(self.path).dated_entries()
        except WmproxyError:
            entries = {}
        new = self.pending()
        self.rows = [(hp, fp, day, new.get(hp, "")) for hp, (fp, day) in sorted(entries.items())]
        self.table.setRowCount(len(self.rows))
        for r, (hp, fp, day, changed) in enumerate(self.rows):
            note = self.tr("changed! now {fp}").format(fp=tls.format_fingerprint(changed)) if changed else ""
            for c, text in enumerate((hp, tls.format_fingerprint(fp), day or "-", note)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if changed and c == 3:
                    item.setForeground(QColor(ERROR_COLOR))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.setVisible(bool(self.rows))
        self.empty.setVisible(not self.rows)
        self._sync()

    def selected(self) -> tuple[str, str, str, str] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _sync(self) -> None:
        sel = self.selected()
        self.forget.setEnabled(sel is not None)
        self.copy.setEnabled(sel is not None)
        self.trust_new.setEnabled(bool(sel and sel[3]))

    def select(self, host_port: str) -> None:
        for r, row in enumerate(self.rows):
            if row[0] == tls._host_port_key(host_port):
                self.table.selectRow(r)

    def trust_selected(self) -> bool:
        sel = self.selected()
        if not sel or not sel[3]:
            return False
        tls.KnownHosts(self.path).set(sel[0], sel[3])
        for p in self.controller.store.profiles():  # reconnect what failed over it
            d = getattr(self.controller, "diagnosis", lambda _p: None)(p.id)
            if d is not None and d.kind == "cert_changed" and tls._host_port_key(d.addr) == sel[0]:
                self.controller.toggle(p.id)
        self.reload()
        return True

    def forget_selected(self) -> None:
        sel = self.selected()
        if sel:
            tls.KnownHosts(self.path).remove(sel[0])
            self.reload()

    def copy_selected(self) -> None:
        sel = self.selected()
        if sel:
            QGuiApplication.clipboard().setText(tls.format_fingerprint(sel[1]))


class CertificatesPage(QWidget):
    COLS = (QT_TRANSLATE_NOOP("CertificatesPage", "File"), QT_TRANSLATE_NOOP("CertificatesPage", "Subject"),
            QT_TRANSLATE_NOOP("CertificatesPage", "Issuer"), QT_TRANSLATE_NOOP("CertificatesPage", "Valid until"),
            QT_TRANSLATE_NOOP("CertificatesPage", "SHA-256"))

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.entries: list[CertEntry] = []
        self.dialog: GenerateDialog | None = None

        self.table = QTableWidget(0, len(self.COLS))
        self.table.setObjectName("certificates")
        self.table.setHorizontalHeaderLabels([QCoreApplication.translate("CertificatesPage", c) for c in self.COLS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_details)
        self.details = QTextBrowser()
        self.details.setObjectName("details")
        self.empty = EmptyState(
            self.tr("No certificates yet"),
            self.tr("Generate a CA and sign server and client certificates with it (for TLS and two-way TLS "
                    "between your clients and server), or import PEM files you already have."),
            [(self.tr("Generate CA…"), lambda: self.open_generate("ca")),
             (self.tr("Import PEM…"), self.import_dialog)])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        self.stack.addWidget(split)
        self.warning = status_label()
        self.warning.setObjectName("warning")
        self.status = status_label()
        self.status.setObjectName("status")

        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, label, slot in (("gen_ca", self.tr("Generate CA…"), lambda: self.open_generate("ca")),
                                 ("gen_cert", self.tr("Generate certificate…"), lambda: self.open_generate("cert")),
                                 ("import", self.tr("Import PEM…"), self.import_dialog),
                                 ("copy", self.tr("Copy fingerprint"), self.copy_fingerprint),
                                 ("refresh", self.tr("Refresh"), self.reload)):
            b = QPushButton(label)
            b.setObjectName(key)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons[key] = b
        row.addStretch(1)
        self.known = KnownHostsBox(controller)
        files = QGroupBox(self.tr("Certificate files"))
        fl = QVBoxLayout(files)
        fl.addWidget(self.stack, 1)
        fl.addLayout(row)
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(files)
        outer.addWidget(self.known)
        outer.setStretchFactor(0, 3)
        outer.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addWidget(self.warning)
        lay.addWidget(outer, 1)
        lay.addWidget(self.status)
        self.reload()

    def showEvent(self, event: Any) -> None:
        self.reload()  # a server started meanwhile generated its certificate; TOFU may have trusted one
        super().showEvent(event)

    def reload(self) -> None:
        if hasattr(self, "known"):
            self.known.reload()
        self.entries = scan()
        self.table.setRowCount(len(self.entries))
        soon: list[str] = []
        for r, e in enumerate(self.entries):
            text, kind = e.expiry_text()
            info = e.info
            fp = tls.format_fingerprint(info.fingerprint) if info else ""
            cells = (e.path.name, info.subject if info else "-", info.issuer if info else "-", text, fp)
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if kind and c == 3:
                    item.setForeground(QColor(WARN_COLOR if kind == "warn" else ERROR_COLOR))
                self.table.setItem(r, c, item)
            if kind:
                soon.append(f"{e.path.name}: {text}")
        self.table.resizeColumnsToContents()
        self.stack.setCurrentIndex(1 if self.entries else 0)
        if soon:
            set_status(self.warning, self.tr("Renew soon - ") + "; ".join(soon), "warn")
        self.warning.setVisible(bool(soon))
        self.buttons["copy"].setEnabled(False)
        self._show_details()

    def entry(self, name: str) -> CertEntry | None:
        return next((e for e in self.entries if e.path.name == name), None)

    def selected(self) -> CertEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def _show_details(self) -> None:
        e = self.selected()
        self.buttons["copy"].setEnabled(bool(e and e.info))
        if e is None:
            self.details.setHtml(self.tr("<i>Select a certificate to see its details.</i>"))
            return
        if e.info is None:
            self.details.setPlainText(e.error)
            return
        i = e.info
        text, kind = e.expiry_text()
        color = {"warn": WARN_COLOR, "error": ERROR_COLOR}.get(kind, "inherit")
        rows = [("Subject", i.subject), ("Issuer", i.issuer + (self.tr(" (self-signed)") if i.self_signed else "")),
                ("Type", "CA" if i.is_ca else self.tr("certificate")),
                ("Valid from", f"{i.not_before:%Y-%m-%d %H:%M} UTC"),
                ("Valid until", f"<span style='color:{color}'>{i.not_after:%Y-%m-%d %H:%M} UTC"
                                f"{' - ' + text if kind else ''}</span>"),
                ("DNS names", ", ".join(i.dns_names) or "-"), ("IP addresses", ", ".join(i.ips) or "-"),
                ("SHA-256", f"<code>{tls.format_fingerprint(i.fingerprint)}</code>"),
                ("File", str(e.path)), ("Private key", str(e.key_path) if e.key_path else self.tr("not here"))]
        self.details.setHtml("<table>" + "".join(
            f"<tr><td><b>{QCoreApplication.translate('CertificatesPage', DETAIL_LABELS.get(k, k))}</b>&nbsp;</td>"
            f"<td>{v}</td></tr>" for k, v in rows) + "</table>")

    def copy_fingerprint(self) -> None:
        e = self.selected()
        if e and e.info:
            QGuiApplication.clipboard().setText(e.info.fingerprint)
            set_status(self.status, self.tr("Fingerprint of {f} copied.").format(f=e.path.name), "ok")

    def open_generate(self, kind: str) -> GenerateDialog:
        cas = [e for e in self.entries if e.info and e.info.is_ca and e.key_path]
        dlg = GenerateDialog(kind, cas, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._created(dlg.created))
        self.dialog = dlg
        dlg.open()
        return dlg

    def _created(self, path: Path | None) -> None:
        self.reload()
        if path is not None:
            r = next((n for n, e in enumerate(self.entries) if e.path == path), -1)
            if r >= 0:
                self.table.selectRow(r)
            set_status(self.status, self.tr("Created {c} and its key {k} (readable only by you).").format(
                c=path, k=path.with_suffix(".key").name), "ok")

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Import certificate"), str(Path.home()),
                                              self.tr("Certificates (*.pem *.crt *.cer *.der);;All files (*)"))
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> Path | None:
        try:
            target = import_pem(path)
        except (WmproxyError, OSError) as e:
            set_status(self.status, self.tr("Not imported: {e}").format(e=error_text(e)), "error")
            return None
        self._created(target)
        set_status(self.status, self.tr("Imported {p}.").format(p=target.name), "ok")
        return target
