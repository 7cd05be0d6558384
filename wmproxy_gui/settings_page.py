"""Settings page: startup, tray click, notifications, language, folders, about.

Every change is saved at once (no Apply button), like other tray apps.
"""
from __future__ import annotations

import logging
import platform
import sys
from pathlib import Path

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

import core
from core import paths
from core.errors import WmproxyError

from .controller import TunnelController
from .settings import Autostart, Settings, SettingsStore, autostart_backend

log = logging.getLogger("wmproxy_gui.settings_page")

LANGUAGE_NAMES = (("en", "English"), ("zh_CN", "简体中文"))  # each in its own language, never translated


class SettingsPage(QWidget):
    def __init__(self, controller: TunnelController, settings_store: SettingsStore, settings: Settings,
                 parent: QWidget | None = None, *, autostart: Autostart | None = None,
                 running_language: str | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.store = settings_store
        self.settings = settings
        self.autostart = autostart or autostart_backend()
        self.running_language = running_language or settings.language

        # ---- startup
        self.start_on_login = QCheckBox(self.tr("Start wmproxy-gui when I log in"))
        self.start_on_login.setToolTip(self.tr("Starts minimized in the tray. Recorded in: %1")
                                       .replace("%1", self.autostart.location))
        try:
            enabled = self.autostart.is_enabled()
        except OSError:
            enabled = settings.start_on_login
        self.start_on_login.setChecked(enabled)
        if enabled != settings.start_on_login:  # the file/registry is the truth
            self._save(start_on_login=enabled)
        self.start_on_login.toggled.connect(self._set_autostart)
        self.autostart_error = QLabel()
        self.autostart_error.setStyleSheet("color: #d42b2b;")
        self.autostart_error.setWordWrap(True)
        self.autostart_error.hide()

        self.connect_on_start = QCheckBox(self.tr("Connect profiles marked “auto-connect” when the app starts"))
        self.connect_on_start.setChecked(settings.connect_on_start)
        self.connect_on_start.toggled.connect(lambda v: self._save(connect_on_start=v))

        self.default_profile = QComboBox()
        self.default_profile.setMinimumWidth(260)
        self.default_profile.setToolTip(self.tr("Clicking the tray icon connects or disconnects this profile"))
        self.default_profile.currentIndexChanged.connect(self._default_changed)
        self.refresh_profiles()

        startup = QGroupBox(self.tr("Startup and tray"))
        form = QFormLayout(startup)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow(self.start_on_login)
        form.addRow(self.autostart_error)
        form.addRow(self.connect_on_start)
        form.addRow(self.tr("Tray click toggles:"), self.default_profile)

        # ---- notifications
        self.notifications = QCheckBox(self.tr("Notify me when a connection drops or comes back"))
        self.notifications.setToolTip(self.tr("At most one notification per profile every 30 seconds"))
        self.notifications.setChecked(settings.notifications)
        self.notifications.toggled.connect(lambda v: self._save(notifications=v))
        notes = QGroupBox(self.tr("Notifications"))
        QVBoxLayout(notes).addWidget(self.notifications)

        # ---- language
        self.language = QComboBox()
        self.language.setMinimumWidth(180)
        for code, name in LANGUAGE_NAMES:
            self.language.addItem(name, code)
        self.language.setCurrentIndex(max(0, self.language.findData(settings.language)))
        self.language.currentIndexChanged.connect(self._language_changed)
        self.restart_note = QLabel(self.tr("Restart wmproxy-gui to use the new language."))
        self.restart_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.restart_note.setVisible(settings.language != self.running_language)
        lang = QGroupBox(self.tr("Language"))
        lang_form = QFormLayout(lang)
        lang_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        lang_form.addRow(self.tr("Interface language:"), self.language)
        lang_form.addRow(self.restart_note)

        # ---- request inspector
        self.inspector_api = QCheckBox(self.tr("Serve the request inspector's web page and API on this computer"))
        self.inspector_api.setToolTip(self.tr("ngrok-style API on 127.0.0.1 with a free port; "
                                              "only programs on this computer can reach it"))
        self.inspector_api.setChecked(settings.inspector_api)
        self.inspector_api.toggled.connect(self._inspector_toggled)
        self.inspector_address = QLabel(objectName="inspectorAddress")
        self.inspector_address.setOpenExternalLinks(True)
        self.inspector_address.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        inspector = QGroupBox(self.tr("Request inspector"))
        ins_form = QFormLayout(inspector)
        ins_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        ins_form.addRow(self.inspector_api)
        ins_form.addRow(self.tr("Address:"), self.inspector_address)
        controller.inspector_changed.connect(self._show_inspector_address)
        api = getattr(controller, "inspector_api", None)
        self._show_inspector_address(api.url if api is not None else "")

        # ---- folders
        folders = QGroupBox(self.tr("Folders"))
        grid = QGridLayout(folders)
        rows = ((self.tr("Settings and profiles"), paths.config_dir(create=False)),
                (self.tr("Certificates and known hosts"), paths.data_dir(create=False)),
                (self.tr("Logs"), paths.log_dir(create=False)))
        for i, (title, folder) in enumerate(rows):
            path_label = QLabel(str(folder))
            path_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            button = QPushButton(self.tr("Open"))
            button.setToolTip(str(folder))
            button.clicked.connect(lambda _c=False, f=folder: self.open_folder(f))
            grid.addWidget(QLabel(title), i, 0)
            grid.addWidget(path_label, i, 1)
            grid.addWidget(button, i, 2)
        grid.setColumnStretch(1, 1)

        # ---- about
        about = QGroupBox(self.tr("About"))
        about_text = QLabel(f"<b>wmproxy-gui {core.__version__}</b><br>"
                            + self.tr("A desktop client and server for wmproxy-compatible tunnels."))
        about_text.setWordWrap(True)
        versions = QLabel(f"Qt {qVersion()} · PySide6 {PySide6.__version__} · "
                          f"Python {platform.python_version()} · {sys.platform}")
        versions.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        versions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        about_lay = QVBoxLayout(about)
        about_lay.addWidget(about_text)
        about_lay.addWidget(versions)

        body = QWidget()
        lay = QVBoxLayout(body)
        for box in (startup, notes, lang, inspector, folders, about):
            lay.addWidget(box)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ------------------------------------------------------------------ actions
    def _save(self, **changes: object) -> None:
        try:
            self.store.update(self.settings, **changes)
        except OSError as e:
            log.warning("cannot save settings: %s", e)

    def _set_autostart(self, enabled: bool) -> None:
        try:
            self.autostart.set(enabled)
        except (OSError, WmproxyError) as e:
            self.autostart_error.setText(self.tr("Could not change start-on-login: %1").replace("%1", str(e)))
            self.autostart_error.show()
            self.start_on_login.blockSignals(True)
            self.start_on_login.setChecked(not enabled)
            self.start_on_login.blockSignals(False)
            return
        self.autostart_error.hide()
        self._save(start_on_login=enabled)

    def _inspector_toggled(self, enabled: bool) -> None:
        self._save(inspector_api=enabled)
        from .widgets.common import spawn

        spawn(self.controller.set_inspector_api(enabled))

    def _show_inspector_address(self, url: str) -> None:
        if url:
            self.inspector_address.setText(f'<a href="{url}">{url}</a>')
        elif getattr(self.controller, "inspector_error", ""):
            self.inspector_address.setText(self.tr("Not served: %1").replace("%1", self.controller.inspector_error))
        else:
            self.inspector_address.setText(self.tr("Not served"))

    def refresh_profiles(self) -> None:
        combo = self.default_profile
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(self.tr("The first profile"), "")
        try:
            profiles = self.controller.store.profiles()
        except WmproxyError:
            profiles = []
        for p in profiles:
            combo.addItem(p.name, p.id)
        combo.setCurrentIndex(max(0, combo.findData(self.settings.default_profile)))
        combo.blockSignals(False)

    def _default_changed(self, _index: int) -> None:
        self._save(default_profile=self.default_profile.currentData() or "")

    def _language_changed(self, _index: int) -> None:
        code = self.language.currentData()
        self._save(language=code)
        self.restart_note.setVisible(code != self.running_language)

    def open_folder(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def showEvent(self, event: object) -> None:  # profiles may have changed on another page
        self.refresh_profiles()
        super().showEvent(event)  # type: ignore[arg-type]
