"""The tray icon: what users see most of the time.

The icon's colour and glyph show the overall state (any error > partly
connected > connecting > connected > stopped), the tooltip shows per-profile
states and the live up/down rates, the menu connects/disconnects each profile
and lists each server link of a running multi-server profile, and a click on
the icon toggles the default profile (like frpmgr / Clash tray apps).

A profile with several servers is "connected" only while every link is up; with
some up and another down (failed, waiting or retrying) it is "partly connected"
(DEGRADED: orange icon, "Home: Partly connected (2 of 3 links up)" in the
tooltip), and an error only when none is up. A link still on its first attempt
while another is up shows as connecting.
Notifications come from the controller, already rate-limited per profile.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from core.errors import WmproxyError
from core.stats import CONNECTED, CONNECTING, ERROR, STOPPED

from . import icons
from .controller import DEGRADED, TunnelController
from .models import fmt_rate
from .settings import Settings, SettingsStore

log = logging.getLogger("wmproxy_gui.tray")

_PRIORITY = {ERROR: 4, DEGRADED: 3, CONNECTING: 2, CONNECTED: 1, STOPPED: 0}
TOOLTIP_MAX = 120  # Windows truncates tray tooltips at 127 characters


def state_text(state: str) -> str:
    return {
        STOPPED: QCoreApplication.translate("TrayIcon", "Stopped"),
        CONNECTING: QCoreApplication.translate("TrayIcon", "Connecting"),
        CONNECTED: QCoreApplication.translate("TrayIcon", "Connected"),
        DEGRADED: QCoreApplication.translate("TrayIcon", "Partly connected"),
        ERROR: QCoreApplication.translate("TrayIcon", "Error"),
    }.get(state, state)


def overall_state(states: list[str]) -> str:
    """The state the icon shows for several tunnels: the one that most needs attention."""
    return max(states, key=lambda s: _PRIORITY.get(s, 0), default=STOPPED)


class TrayIcon(QSystemTrayIcon):
    open_window_requested = Signal()
    quit_requested = Signal()

    def __init__(self, controller: TunnelController, settings_store: SettingsStore, settings: Settings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings_store = settings_store
        self.settings = settings
        self.up_rate = 0.0
        self.down_rate = 0.0
        self.state = ""
        self.profile_actions: dict[str, QAction] = {}
        self.link_actions: dict[tuple[str, str], QAction] = {}  # (profile id, server) -> its entry
        self.head: QAction | None = None

        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.setContextMenu(self.menu)
        self.activated.connect(self._on_activated)
        controller.state_changed.connect(self._on_state)
        if hasattr(controller, "links_changed"):  # a server lost while the profile stays up: no state change
            controller.links_changed.connect(self._on_state)
        controller.server_state_changed.connect(lambda _s: self._on_state())
        controller.rates_changed.connect(self._on_rates)
        controller.notify.connect(self.show_notification)
        if hasattr(controller, "tick"):
            controller.tick.connect(self._on_tick)
        self.rebuild_menu()
        self._on_state()

    # ------------------------------------------------------------------ state
    def profiles(self) -> list[Any]:
        try:
            return self.controller.store.profiles()
        except WmproxyError as e:
            log.warning("cannot read profiles: %s", e)
            return []

    def default_profile_id(self) -> str | None:
        """The profile a click toggles: the chosen default if it still exists, else the first one."""
        ids = [p.id for p in self.profiles()]
        if self.settings.default_profile in ids:
            return self.settings.default_profile
        return ids[0] if ids else None

    def health(self, profile_id: str) -> str:
        health = getattr(self.controller, "health", None)
        return health(profile_id) if health is not None else self.controller.state(profile_id)

    def _links(self, profile_id: str) -> list[Any]:
        return getattr(self.controller, "links", lambda _p: [])(profile_id)

    def current_state(self) -> str:
        states = [self.health(p.id) for p in self.profiles()]
        srv = self.controller.server_state
        if srv == "running":
            states.append(CONNECTED)
        elif srv == ERROR:
            states.append(ERROR)
        elif srv == "starting":
            states.append(CONNECTING)
        return overall_state(states)

    def _on_state(self, *_: object) -> None:
        state = self.current_state()
        if state != self.state:
            self.state = state
            self.setIcon(icons.state_icon(state))
        self.update_tooltip()
        if self.menu.isVisible():
            self.rebuild_menu()

    def _on_rates(self, up: float, down: float) -> None:
        self.up_rate, self.down_rate = up, down
        self.update_tooltip()
        if self.head is not None:
            self.head.setText(self.header_text())
        if self.menu.isVisible():
            self._update_countdowns()

    def header_text(self) -> str:
        profiles = self.profiles()
        active = sum(1 for p in profiles if self.controller.state(p.id) == CONNECTED)
        partly = sum(1 for p in profiles if self.health(p.id) == DEGRADED)
        text = self.tr("%1 of %2 connected").replace("%1", str(active)).replace("%2", str(len(profiles)))
        if partly:
            text += " (" + self.tr("%1 partly").replace("%1", str(partly)) + ")"
        return text + f"  ·  ↑ {fmt_rate(self.up_rate)}  ↓ {fmt_rate(self.down_rate)}"

    def _counts(self, profile_id: str) -> str:
        """ "2 of 3 links up" for a running profile with several servers, else ""."""
        links = self._links(profile_id)
        if len(links) < 2 or self.controller.state(profile_id) != CONNECTED:
            return ""
        up = sum(1 for l in links if l.state == CONNECTED)
        return self.tr("%1 of %2 links up").replace("%1", str(up)).replace("%2", str(len(links)))

    def _profile_text(self, p: Any) -> str:
        s = self.controller.state(p.id)
        text = f"{p.name}\t{state_text(self.health(p.id))}"
        if counts := self._counts(p.id):
            text += " · " + counts
        links = self._links(p.id)
        waits = [n for n in (l.retry_in() for l in links) if n is not None]
        if waits and s != CONNECTED:
            text += " · " + self.tr("next try in %1 s").replace("%1", str(min(waits)))
        return text

    def _link_text(self, link: Any) -> str:
        """One server's link under its profile: "   ↳ b.example:8091  Down · next try in 4 s"."""
        if link.state == CONNECTED:
            state = state_text(CONNECTED)
        elif getattr(link, "down", False):
            state = self.tr("Down")
        else:
            state = state_text(link.state)
        n = link.retry_in()
        if n is not None and link.state != CONNECTED:
            state += " · " + self.tr("next try in %1 s").replace("%1", str(n))
        return f"    ↳ {link.server}\t{state}"

    def _shown_links(self, profile_id: str) -> list[Any]:
        """The links listed under a profile: those of a running profile with several servers."""
        links = self._links(profile_id)
        return links if len(links) > 1 and self.controller.is_active(profile_id) else []

    def _update_countdowns(self) -> None:
        for p in self.profiles():
            act = self.profile_actions.get(p.id)
            if act is not None:
                act.setText(self._profile_text(p))
            for link in self._shown_links(p.id):
                la = self.link_actions.get((p.id, link.server))
                if la is not None:
                    la.setText(self._link_text(link))
                    la.setIcon(icons.info_state_icon(self._link_icon(link)))

    @staticmethod
    def _link_icon(link: Any) -> str:
        return CONNECTED if link.state == CONNECTED else ERROR if getattr(link, "down", False) else link.state

    def _on_tick(self) -> None:
        """Once a second: a "Reconnect now" entry appears or goes with the waiting profiles, link entries
        with the running profiles."""
        if not self.menu.isVisible():
            return
        shown = {(p.id, l.server) for p in self.profiles() for l in self._shown_links(p.id)}
        if (bool(self.controller.waiting()) != (self.action("reconnect") is not None)
                or shown != set(self.link_actions)):
            self.rebuild_menu()

    def tooltip_text(self) -> str:
        lines = ["wmproxy-gui"]
        for p in self.profiles():
            s = self.controller.state(p.id)
            if s != STOPPED or p.id == self.default_profile_id():
                counts = self._counts(p.id)
                lines.append(f"{p.name}: {state_text(self.health(p.id))}" + (f" ({counts})" if counts else ""))
        if self.controller.server_state != STOPPED:
            lines.append(self.tr("Server: %1").replace("%1", self._server_state_text()))
        lines.append(f"↑ {fmt_rate(self.up_rate)}   ↓ {fmt_rate(self.down_rate)}")
        while len("\n".join(lines)) > TOOLTIP_MAX and len(lines) > 2:
            del lines[-2]  # keep the title and the rates
        return "\n".join(lines)

    def update_tooltip(self) -> None:
        self.setToolTip(self.tooltip_text())

    def _server_state_text(self) -> str:
        return {"running": self.tr("Running"), "starting": self.tr("Starting"), ERROR: self.tr("Error"),
                STOPPED: self.tr("Stopped")}.get(self.controller.server_state, self.controller.server_state)

    # ------------------------------------------------------------------ menu
    def rebuild_menu(self) -> None:
        m = self.menu
        m.clear()
        self.profile_actions = {}
        self.link_actions = {}
        profiles = self.profiles()
        self.head = head = m.addAction(icons.app_icon(), self.header_text())
        head.setObjectName("header")
        head.setEnabled(False)
        m.addSeparator()
        if not profiles:
            empty = m.addAction(self.tr("No profiles yet: add one in the window"))
            empty.setEnabled(False)
        default_id = self.default_profile_id()
        for p in profiles:
            act = QAction(icons.state_icon(self.health(p.id)), self._profile_text(p), m)
            act.setObjectName(f"profile:{p.id}")
            act.setCheckable(True)
            act.setChecked(self.controller.is_active(p.id))
            act.setToolTip(self.tr("Disconnect") if self.controller.is_active(p.id) else self.tr("Connect"))
            if p.id == default_id and len(profiles) > 1:
                f = QFont(act.font())
                f.setBold(True)
                act.setFont(f)
            act.triggered.connect(lambda _checked=False, pid=p.id: self.controller.toggle(pid))
            m.addAction(act)
            self.profile_actions[p.id] = act
            for link in self._shown_links(p.id):
                la = m.addAction(icons.info_state_icon(self._link_icon(link)), self._link_text(link))
                la.setObjectName(f"link:{p.id}:{link.server}")
                la.setEnabled(False)  # information: "Reconnect now" below hurries every waiting link
                self.link_actions[(p.id, link.server)] = la
            if p.client.mappings:
                sub = m.addMenu(self.tr("Mappings of %1").replace("%1", p.name))
                sub.menuAction().setObjectName(f"mappings:{p.id}")
                for mp in p.client.mappings:
                    ma = sub.addAction(f"{mp.name} ({mp.mode})")
                    ma.setObjectName(f"mapping:{p.id}:{mp.name}")
                    ma.setCheckable(True)
                    ma.setChecked(mp.enabled)
                    ma.triggered.connect(lambda on, pid=p.id, name=mp.name: self.controller.spawn(
                        self.controller.set_mapping_enabled(pid, name, bool(on))))
        if getattr(self.controller, "waiting", lambda: [])():
            again = m.addAction(self.tr("Reconnect now"))
            again.setObjectName("reconnect")
            again.triggered.connect(lambda: self.controller.reconnect_now())
        if self.controller.server_state != STOPPED:
            m.addSeparator()
            srv = m.addAction(icons.nav_icon("server"), self.tr("Server: %1").replace("%1", self._server_state_text()))
            srv.setEnabled(False)
            stop = m.addAction(self.tr("Stop server"))
            stop.setObjectName("stop-server")
            stop.triggered.connect(lambda: self.controller.spawn(self.controller.stop_server()))
        m.addSeparator()
        open_act = m.addAction(self.tr("Open wmproxy-gui"))
        open_act.setObjectName("open")
        f = QFont(open_act.font())
        f.setBold(True)
        open_act.setFont(f)
        open_act.triggered.connect(self.open_window_requested)
        quit_act = m.addAction(self.tr("Quit"))
        quit_act.setObjectName("quit")
        quit_act.setToolTip(self.tr("Disconnect everything and exit"))
        quit_act.triggered.connect(self.quit_requested)
        self.update_tooltip()

    def action(self, name: str) -> QAction | None:
        """A menu action by objectName ("open", "quit", "stop-server", "profile:<id>", "reconnect",
        "mapping:<id>:<name>" in the profile's submenu)."""
        for a in self.menu.actions():
            if a.objectName() == name:
                return a
            sub = a.menu()
            if sub is not None:
                hit = next((b for b in sub.actions() if b.objectName() == name), None)
                if hit is not None:
                    return hit
        return None

    def all_texts(self) -> list[str]:
        """Every entry's text, submenus included (the translation test reads them)."""
        out = []
        for a in self.menu.actions():
            out.append(a.text())
            if a.menu() is not None:
                out += [b.text() for b in a.menu().actions()]
        return [t for t in out if t]

    # ------------------------------------------------------------------ clicks and messages
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            if sys.platform == "darwin":
                return  # macOS opens the menu on click: toggling too would surprise
            self.click()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self.open_window_requested.emit()

    def click(self) -> None:
        """A left click: toggle the default profile, or open the window when there is none."""
        pid = self.default_profile_id()
        if pid is None:
            self.open_window_requested.emit()
        else:
            self.controller.toggle(pid)

    def show_notification(self, title: str, message: str) -> None:
        if not self.settings.notifications or not self.isVisible():
            return
        icon = (QSystemTrayIcon.MessageIcon.Warning if self.state == ERROR
                else QSystemTrayIcon.MessageIcon.Information)
        self.showMessage(title, message, icon, 6000)

    def show_hint_once(self) -> bool:
        """After the first window close: say the app lives on in the tray. True if shown now."""
        if self.settings.notified_tray_hint or not self.isVisible():
            return False
        self.showMessage(self.tr("wmproxy-gui is still running"),
                         self.tr("It keeps your tunnels up from the system tray. "
                                 "Use Quit in the tray menu to exit."),
                         icons.app_icon(), 8000)
        try:
            self.settings_store.update(self.settings, notified_tray_hint=True)
        except OSError as e:
            log.warning("cannot save settings: %s", e)
        return True
