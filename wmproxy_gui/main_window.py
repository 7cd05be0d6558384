"""The main window: a sidebar (like Clash / frpmgr) switching between the pages.

Closing the window only hides it: tunnels keep running from the tray (the
tray says so once).  Without a system tray, closing quits.
"""
from __future__ import annotations

import base64
import importlib
import logging
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from core.stats import CONNECTED, ERROR, STOPPED

from . import icons
from .controller import DEGRADED, SERVER_ID, TunnelController
from .logview import LogSink, LogsPage
from .models import fmt_rate
from .settings import Settings, SettingsStore
from .settings_page import SettingsPage
from .tray import TrayIcon, overall_state, state_text

log = logging.getLogger("wmproxy_gui.main_window")

# key, module, class (engineer 2's pages take (controller, parent))
PAGE_MODULES = (
    ("profiles", "wmproxy_gui.pages.profiles_page", "ProfilesPage"),
    ("mappings", "wmproxy_gui.pages.mappings_page", "MappingsPage"),
    ("certificates", "wmproxy_gui.pages.certificates_page", "CertificatesPage"),
    ("traffic", "wmproxy_gui.pages.traffic_page", "TrafficPage"),
    ("inspector", "wmproxy_gui.pages.inspector_page", "InspectorPage"),
    ("history", "wmproxy_gui.pages.history_page", "HistoryPage"),
    ("server", "wmproxy_gui.pages.server_page", "ServerPage"),
)
PAGE_ORDER = ("profiles", "mappings", "certificates", "traffic", "inspector", "history", "server", "logs",
              "settings")

SIDEBAR_STYLE = """
#sidebar { background: palette(base); border: none; border-right: 1px solid palette(midlight); }
#nav { background: transparent; border: none; outline: none; }
#nav::item { padding: 7px 10px; margin: 1px 8px; border-radius: 6px; }
#nav::item:selected { background: palette(highlight); color: palette(highlighted-text); }
#nav::item:hover:!selected { background: palette(alternate-base); }
#brand { font-weight: 600; }
#status { color: palette(text); }
#pageTitle { font-weight: 600; }
"""


def _page_titles() -> dict[str, str]:
    return {
        "profiles": QCoreApplication.translate("MainWindow", "Profiles"),
        "mappings": QCoreApplication.translate("MainWindow", "Mappings"),
        "certificates": QCoreApplication.translate("MainWindow", "Certificates"),
        "traffic": QCoreApplication.translate("MainWindow", "Traffic"),
        "inspector": QCoreApplication.translate("MainWindow", "Inspector"),
        "history": QCoreApplication.translate("MainWindow", "History"),
        "server": QCoreApplication.translate("MainWindow", "Server"),
        "logs": QCoreApplication.translate("MainWindow", "Logs"),
        "settings": QCoreApplication.translate("MainWindow", "Settings"),
    }


class PlaceholderPage(QLabel):
    """Shown only while a page module is missing or failed to load (the reason is in the log)."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)


class MainWindow(QMainWindow):
    quit_requested = Signal()

    def __init__(self, controller: TunnelController, settings_store: SettingsStore, settings: Settings,
                 log_sink: LogSink, tray: TrayIcon | None = None, parent: QWidget | None = None,
                 *, running_language: str | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings_store = settings_store
        self.settings = settings
        self.tray = tray
        self._quitting = False
        self.setWindowTitle("wmproxy-gui")
        self.setWindowIcon(icons.app_icon())
        self.setMinimumSize(760, 480)

        titles = _page_titles()
        self.pages: dict[str, QWidget] = {}
        for key, module, cls in PAGE_MODULES:
            self.pages[key] = self._load_page(key, module, cls)
        self.pages["logs"] = LogsPage(log_sink)
        self.pages["settings"] = SettingsPage(controller, settings_store, settings,
                                              running_language=running_language)

        # ---- sidebar
        sidebar = QFrame(objectName="sidebar")
        sidebar.setFixedWidth(190)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 14, 0, 12)
        side.setSpacing(6)
        brand = QHBoxLayout()
        brand.setContentsMargins(16, 0, 12, 8)
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(28, 28))
        name = QLabel("wmproxy-gui", objectName="brand")
        f = QFont(name.font())
        f.setPointSizeF(f.pointSizeF() * 1.15)
        name.setFont(f)
        brand.addWidget(logo)
        brand.addWidget(name, 1)
        side.addLayout(brand)

        self.nav = QListWidget(objectName="nav")
        self.nav.setIconSize(QSize(18, 18))
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for i, key in enumerate(PAGE_ORDER):
            item = QListWidgetItem(icons.nav_icon(key), titles[key])
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{titles[key]} (Ctrl+{i + 1})")
            self.nav.addItem(item)
        side.addWidget(self.nav, 1)

        status_box = QVBoxLayout()
        status_box.setContentsMargins(18, 0, 12, 0)
        status_box.setSpacing(2)
        row = QHBoxLayout()
        self.status_icon = QLabel()
        self.status_text = QLabel(objectName="status")
        self.status_text.setWordWrap(True)  # "1 of 2 connected · server on" must not be cut at the edge
        row.addWidget(self.status_icon)
        row.addWidget(self.status_text, 1)
        status_box.addLayout(row)
        self.up_label = QLabel(objectName="rates")
        self.down_label = QLabel(objectName="rates")
        for label in (self.up_label, self.down_label):
            label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            label.setToolTip(self.tr("Total traffic of all tunnels, per second"))
            status_box.addWidget(label)
        side.addLayout(status_box)

        # ---- content
        self.stack = QStackedWidget()
        for key in PAGE_ORDER:
            self.stack.addWidget(self.pages[key])
        self.page_title = QLabel(objectName="pageTitle")
        tf = QFont(self.page_title.font())
        tf.setPointSizeF(tf.pointSizeF() * 1.45)
        self.page_title.setFont(tf)
        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(10, 14, 10, 4)
        body.setSpacing(4)
        # pages bring their own layout margins: indent the title by the same amount so they line up
        indent = self.style().pixelMetric(QStyle.PixelMetric.PM_LayoutLeftMargin)
        self.page_title.setContentsMargins(indent, 0, indent, 0)
        body.addWidget(self.page_title)
        body.addWidget(self.stack, 1)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(sidebar)
        lay.addWidget(content, 1)
        self.setCentralWidget(central)
        central.setStyleSheet(SIDEBAR_STYLE)
        self.statusBar().setSizeGripEnabled(True)

        self.nav.currentRowChanged.connect(self._on_nav)
        self.nav.setCurrentRow(0)
        for i in range(len(PAGE_ORDER)):
            sc = QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self)
            sc.activated.connect(lambda i=i: self.nav.setCurrentRow(i))
        QShortcut(QKeySequence.StandardKey.Quit, self).activated.connect(self.request_quit)
        QShortcut(QKeySequence.StandardKey.Close, self).activated.connect(self.close)

        controller.state_changed.connect(self._refresh_status)
        if hasattr(controller, "links_changed"):
            controller.links_changed.connect(self._refresh_status)
        controller.server_state_changed.connect(self._refresh_status)
        controller.rates_changed.connect(self._on_rates)
        controller.error.connect(self._on_error)
        self._on_rates(0.0, 0.0)
        self._refresh_status()
        # dark mode follows the OS (Qt's colour scheme); line icons are drawn in the palette's colour
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_color_scheme)
        self.resize(1040, 680)
        self._restore_geometry()

    def _on_color_scheme(self, *_: Any) -> None:
        for i, key in enumerate(PAGE_ORDER):
            self.nav.item(i).setIcon(icons.nav_icon(key))
        self._refresh_status()

    def changeEvent(self, event: Any) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange:
            self._on_color_scheme()
        super().changeEvent(event)

    # ------------------------------------------------------------------ pages
    def _load_page(self, key: str, module: str, cls: str) -> QWidget:
        factory: Callable[..., QWidget]
        try:
            factory = getattr(importlib.import_module(module), cls)
        except ImportError as e:
            if getattr(e, "name", None) != module:
                raise  # a broken import inside a page is a bug: let it surface
            log.warning("page %s is not available yet (%s)", key, module)
            return PlaceholderPage(self.tr("This page is not available in this build."))
        try:
            return factory(self.controller)
        except Exception:  # one broken page must not take the whole app down
            log.exception("the %s page failed to load", key)
            return PlaceholderPage(self.tr("This page failed to load; see the Logs page."))

    def show_page(self, key: str) -> QWidget:
        self.nav.setCurrentRow(PAGE_ORDER.index(key))
        return self.pages[key]

    def current_page_key(self) -> str:
        return PAGE_ORDER[max(0, self.nav.currentRow())]

    def _on_nav(self, row: int) -> None:
        if row < 0:
            return
        key = PAGE_ORDER[row]
        self.stack.setCurrentWidget(self.pages[key])
        self.page_title.setText(_page_titles()[key])

    # ------------------------------------------------------------------ status
    def _refresh_status(self, *_: Any) -> None:
        try:
            profiles = self.controller.store.profiles()
        except Exception:
            profiles = []
        health = getattr(self.controller, "health", self.controller.state)
        states = [health(p.id) for p in profiles]
        connected = sum(1 for p in profiles if self.controller.state(p.id) == CONNECTED)
        partly = states.count(DEGRADED)
        srv = self.controller.server_state
        shown = overall_state(states + ([CONNECTED] if srv == "running" else [ERROR] if srv == ERROR else []))
        self.status_icon.setPixmap(icons.state_icon(shown).pixmap(14, 14))
        if connected:
            text = self.tr("%1 of %2 connected").replace("%1", str(connected)).replace("%2", str(len(profiles)))
            if partly:
                # kept on one line when the sidebar wraps: "1 partly", not "1 / partly"
                text += " · " + self.tr("%1 partly").replace("%1", str(partly)).replace(" ", "\u00a0")
        else:
            text = state_text(shown if shown != CONNECTED else STOPPED)
        if srv == "running":
            text += " · " + self.tr("server on")
        self.status_text.setText(text)

    def _on_rates(self, up: float, down: float) -> None:
        self.up_label.setText(f"↑ {fmt_rate(up)}")
        self.down_label.setText(f"↓ {fmt_rate(down)}")

    def _on_error(self, profile_id: str, message: str) -> None:
        who = self.tr("Server") if profile_id == SERVER_ID else self.controller.profile_name(profile_id)
        self.statusBar().showMessage(f"{who}: {message}", 15000)

    # ------------------------------------------------------------------ show / hide / quit
    def show_and_raise(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def request_quit(self) -> None:
        self._quitting = True
        self.quit_requested.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        if self._quitting or self.tray is None or not self.tray.isVisible():
            event.accept()
            if not self._quitting:
                self.request_quit()  # no tray to live in: closing the window means quit
            return
        event.ignore()
        self.hide()
        self.tray.show_hint_once()

    def save_geometry(self) -> None:
        geo = base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii")
        if geo != self.settings.window_geometry:
            try:
                self.settings_store.update(self.settings, window_geometry=geo)
            except OSError as e:
                log.warning("cannot save settings: %s", e)

    def _restore_geometry(self) -> None:
        if self.settings.window_geometry:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(self.settings.window_geometry)))
            except (ValueError, TypeError):
                pass
