"""App preferences (settings.toml) and start-on-login, per platform.

Qt-free, so it is testable without a display and usable by the CLI.
A settings file that cannot be read never stops the app: it is moved aside
(``settings.toml.corrupt-<timestamp>``) and the app starts with defaults,
telling the user where the old file went.  Single bad values fall back to
their default with a warning; the rest of the file is kept.
"""
from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from core import paths

log = logging.getLogger("wmproxy_gui.settings")

SETTINGS_FILE = "settings.toml"
LANGUAGES = ("en", "zh_CN")
APP_ID = "wmproxy-gui"
LAUNCH_AGENT_LABEL = "io.github.wmproxy-gui"


@dataclass
class Settings:
    """What the user chose in the Settings page; every field has a safe default."""

    start_on_login: bool = False
    connect_on_start: bool = True  # connect the profiles marked auto_connect when the app starts
    language: str = "en"  # "en" | "zh_CN"
    default_profile: str = ""  # id of the profile a tray click toggles ("" = the first one)
    notified_tray_hint: bool = False  # "still running in the tray" was shown once
    notifications: bool = True  # desktop notifications on link loss / recovery
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    inspector_api: bool = True  # serve the request inspector's API and web page on 127.0.0.1 (a free port)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys, kept on save


def _valid(name: str, value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if name == "language":
        return value in LANGUAGES
    return isinstance(value, type(default))


class SettingsStore:
    """Load/save ``Settings``; after ``load()``, ``warnings`` holds messages for the user."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.config_dir() / SETTINGS_FILE
        self.warnings: list[str] = []
        self.first_run = False

    def load(self) -> Settings:
        self.warnings = []
        self.first_run = False
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self.first_run = True
            return Settings()
        except OSError as e:
            self.warnings.append(f"{self.path}: cannot read ({e.strerror or e}); using default settings")
            return Settings()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            self._move_aside(f"not valid TOML ({e})")
            return Settings()
        settings = Settings()
        for f in fields(Settings):
            if f.name == "extra" or f.name not in data:
                continue
            value = data.pop(f.name)
            if _valid(f.name, value, getattr(settings, f.name)):
                setattr(settings, f.name, value)
            else:
                self.warnings.append(f"{self.path}: {f.name}: invalid value {value!r}; using the default")
        settings.extra = data  # keys from newer versions survive a save by this one
        for w in self.warnings:
            log.warning("%s", w)
        return settings

    def _move_aside(self, problem: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self.path, target)
            msg = (f"{self.path}: {problem}. The file was moved to {target.name} "
                   "and default settings are used.")
        except OSError as e:
            msg = f"{self.path}: {problem}; could not move it aside ({e.strerror or e}). Using default settings."
        log.warning("%s", msg)
        self.warnings.append(msg)

    def save(self, settings: Settings) -> None:
        """Atomic: a crash mid-save leaves the previous file intact."""
        if settings.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        doc = dict(settings.extra)
        doc.update({f.name: getattr(settings, f.name) for f in fields(Settings) if f.name != "extra"})
        paths.atomic_write(self.path, tomli_w.dumps(doc).encode("utf-8"), mode=0o600)

    def update(self, settings: Settings, **changes: Any) -> Settings:
        """Apply ``changes`` to ``settings`` in place, save, and return it."""
        for k, v in changes.items():
            if k not in {f.name for f in fields(Settings)}:
                raise AttributeError(k)
            setattr(settings, k, v)
        self.save(settings)
        return settings


# ---------------------------------------------------------------- start on login
def launch_command(minimized: bool = True) -> list[str]:
    """How to start *this* app at login: the running bundle's executable, else the running Python
    with ``-m wmproxy_gui`` (never whatever ``wmproxy-gui`` PATH finds: that may be another install)."""
    if getattr(sys, "frozen", False):
        cmd = [sys.executable]
    else:
        cmd = [sys.executable, "-m", "wmproxy_gui"]
    return [*cmd, "--minimized"] if minimized else cmd


def _desktop_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec ("%" is a field code, so it is doubled)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def desktop_exec(command: list[str]) -> str:
    """The Exec= value: quoted arguments, then the string escaping every value gets (backslash doubled)."""
    return " ".join(_desktop_quote(a) for a in command).replace("\\", "\\\\").replace("\n", "\\n")


class Autostart:
    """Start-on-login for one platform; ``location`` says where it is recorded."""

    location: str = ""

    def is_enabled(self) -> bool:
        raise NotImplementedError

    def enable(self, command: list[str]) -> None:
        raise NotImplementedError

    def disable(self) -> None:
        raise NotImplementedError

    def set(self, enabled: bool, command: list[str] | None = None) -> None:
        if enabled:
            self.enable(command or launch_command())
        else:
            self.disable()


class XdgAutostart(Autostart):
    """Linux/BSD desktops: ``$XDG_CONFIG_HOME/autostart/wmproxy-gui.desktop``."""

    def __init__(self, config_home: Path | None = None) -> None:
        base = config_home or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        self.path = Path(base) / "autostart" / f"{APP_ID}.desktop"
        self.location = str(self.path)

    def is_enabled(self) -> bool:
        try:
            text = self.path.read_text("utf-8")
        except OSError:
            return False
        return "Hidden=true" not in text and "X-GNOME-Autostart-enabled=false" not in text

    def enable(self, command: list[str]) -> None:
        entry = "\n".join([
            "[Desktop Entry]",
            "Type=Application",
            "Name=wmproxy-gui",
            "Comment=Tunnel client for wmproxy servers",
            "Exec=" + desktop_exec(command),
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Network;",
            "X-GNOME-Autostart-enabled=true",
            "",
        ])
        paths.atomic_write(self.path, entry.encode("utf-8"), mode=0o644)

    def disable(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class LaunchAgentAutostart(Autostart):
    """macOS: ``~/Library/LaunchAgents/<label>.plist`` with RunAtLoad."""

    def __init__(self, home: Path | None = None) -> None:
        self.path = Path(home or Path.home()) / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        self.location = str(self.path)

    def is_enabled(self) -> bool:
        return self.path.is_file()

    def enable(self, command: list[str]) -> None:
        import plistlib

        doc = {"Label": LAUNCH_AGENT_LABEL, "ProgramArguments": list(command), "RunAtLoad": True,
               "ProcessType": "Interactive"}
        paths.atomic_write(self.path, plistlib.dumps(doc), mode=0o644)

    def disable(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class WindowsAutostart(Autostart):
    """Windows: a value under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``."""

    KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
    location = "HKEY_CURRENT_USER\\" + KEY

    def is_enabled(self) -> bool:
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, self.KEY) as k:
                winreg.QueryValueEx(k, APP_ID)
            return True
        except OSError:
            return False

    def enable(self, command: list[str]) -> None:
        import winreg  # type: ignore[import-not-found]

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, self.KEY) as k:
            winreg.SetValueEx(k, APP_ID, 0, winreg.REG_SZ, subprocess.list2cmdline(command))

    def disable(self) -> None:
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, self.KEY, 0, winreg.KEY_SET_VALUE) as k:
                winreg.DeleteValue(k, APP_ID)
        except FileNotFoundError:
            pass


def autostart_backend(platform: str | None = None) -> Autostart:
    platform = platform or sys.platform
    if platform.startswith("win"):
        return WindowsAutostart()
    if platform == "darwin":
        return LaunchAgentAutostart()
    return XdgAutostart()


def command_text(command: list[str]) -> str:
    """A command line for display."""
    return subprocess.list2cmdline(command) if sys.platform.startswith("win") else shlex.join(command)


__all__ = ["Settings", "SettingsStore", "LANGUAGES", "Autostart", "XdgAutostart", "LaunchAgentAutostart",
           "WindowsAutostart", "autostart_backend", "launch_command", "command_text"]
