"""Settings file (atomic, corrupt file moved aside, bad values), start-on-login files, Settings page."""
from __future__ import annotations

import sys

import configparser
import os
import plistlib
import stat
from pathlib import Path

import pytest

from wmproxy_gui.settings import (
    LaunchAgentAutostart,
    Settings,
    SettingsStore,
    WindowsAutostart,
    XdgAutostart,
    autostart_backend,
    launch_command,
)

pytestmark = pytest.mark.timeout(60)


def test_missing_file_gives_defaults_and_first_run(tmp_path: Path):
    store = SettingsStore(tmp_path / "settings.toml")
    s = store.load()
    assert s == Settings() and store.first_run and store.warnings == []


def test_round_trip_is_atomic_and_private(tmp_path: Path):
    store = SettingsStore(tmp_path / "settings.toml")
    s = Settings(start_on_login=True, connect_on_start=False, language="zh_CN", default_profile="abc123",
                 notified_tray_hint=True, notifications=False, window_geometry="AAAA")
    store.save(s)
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]  # no temp file left behind
    assert stat.S_IMODE(os.stat(tmp_path / "settings.toml").st_mode) == 0o600
    again = SettingsStore(tmp_path / "settings.toml")
    assert again.load() == s and not again.first_run and again.warnings == []
    assert 'language = "zh_CN"' in (tmp_path / "settings.toml").read_text()


def test_update_saves_and_rejects_unknown_fields(tmp_path: Path):
    store = SettingsStore(tmp_path / "settings.toml")
    s = store.load()
    store.update(s, notified_tray_hint=True)
    assert SettingsStore(store.path).load().notified_tray_hint is True
    with pytest.raises(AttributeError):
        store.update(s, no_such_setting=1)
    with pytest.raises(ValueError):
        store.save(Settings(language="fr"))


def test_corrupt_file_is_moved_aside_with_a_message(tmp_path: Path):
    path = tmp_path / "settings.toml"
    garbage = b'language = "en"\nstart_on_login = tru\x00e ['
    path.write_bytes(garbage)
    store = SettingsStore(path)
    s = store.load()
    assert s == Settings()
    assert not path.exists()
    moved = list(tmp_path.glob("settings.toml.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == garbage  # nothing lost
    assert len(store.warnings) == 1 and moved[0].name in store.warnings[0] and "default" in store.warnings[0]
    # a second corrupt file in the same second does not overwrite the first one
    path.write_bytes(b"[[[")
    SettingsStore(path).load()
    assert len(list(tmp_path.glob("settings.toml.corrupt-*"))) == 2
    # and the app can save again afterwards
    store.save(s)
    assert SettingsStore(path).load() == s


def test_bad_values_fall_back_one_by_one_and_unknown_keys_survive(tmp_path: Path):
    path = tmp_path / "settings.toml"
    path.write_text('language = "fr"\nstart_on_login = "yes"\nnotifications = false\nfuture_option = [1, 2]\n')
    store = SettingsStore(path)
    s = store.load()
    assert s.language == "en" and s.start_on_login is False  # defaults for the bad ones
    assert s.notifications is False  # the good one is kept
    assert len(store.warnings) == 2 and any("language" in w for w in store.warnings)
    assert path.exists()  # readable file: not moved
    store.save(s)
    assert "future_option = [" in path.read_text()  # a newer version's key is not dropped


# ------------------------------------------------------------------ start on login
def desktop_exec_args(value: str) -> list[str]:
    """Parse an Exec value the way the Desktop Entry spec says a launcher does (independent of the writer)."""
    unescaped, i = "", 0
    while i < len(value):  # 1. string escapes
        if value[i] == "\\" and i + 1 < len(value):
            unescaped += {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1], "\\" + value[i + 1])
            i += 2
        else:
            unescaped += value[i]
            i += 1
    args: list[str] = []
    cur, quoted, i, started = "", False, 0, False
    while i < len(unescaped):  # 2. Exec quoting, 3. %% -> %
        c = unescaped[i]
        if quoted and c == "\\" and i + 1 < len(unescaped) and unescaped[i + 1] in '"`$\\':
            cur, i = cur + unescaped[i + 1], i + 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started or cur:
                args.append(cur)
            cur, started = "", False
        else:
            cur += c
        i += 1
    if started or cur:
        args.append(cur)
    return [a.replace("%%", "%") for a in args]


def test_xdg_autostart_writes_and_removes_desktop_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    a = XdgAutostart()
    assert a.path == tmp_path / "cfg" / "autostart" / "wmproxy-gui.desktop"
    assert not a.is_enabled()
    cmd = ["/opt/my apps/python3", "-m", "wmproxy_gui.app", "--minimized", 'say "$HOME" 100% C:\\x `y`']
    a.set(True, cmd)
    assert a.is_enabled()
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(a.path, encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "wmproxy-gui" and d["X-GNOME-Autostart-enabled"] == "true"
    assert desktop_exec_args(d["Exec"]) == cmd  # quoting survives spaces, quotes, $, % and backslashes
    a.set(False)
    assert not a.path.exists() and not a.is_enabled()
    a.disable()  # already off: no error


def test_launch_agent_plist(tmp_path: Path):
    a = LaunchAgentAutostart(home=tmp_path)
    a.enable(["/Applications/wmproxy-gui.app/Contents/MacOS/wmproxy-gui", "--minimized"])
    doc = plistlib.loads(a.path.read_bytes())
    assert doc["RunAtLoad"] is True and doc["ProgramArguments"][-1] == "--minimized"
    assert a.path.parent == tmp_path / "Library" / "LaunchAgents" and a.is_enabled()
    a.disable()
    assert not a.is_enabled()


def test_backend_per_platform_and_launch_command():
    assert isinstance(autostart_backend("linux"), XdgAutostart)
    assert isinstance(autostart_backend("darwin"), LaunchAgentAutostart)
    assert isinstance(autostart_backend("win32"), WindowsAutostart)
    assert launch_command()[-1] == "--minimized" and "--minimized" not in launch_command(minimized=False)
    # the running interpreter and this package, never another wmproxy-gui found on PATH
    assert launch_command(minimized=False) == [sys.executable, "-m", "wmproxy_gui"]


# ------------------------------------------------------------------ the page
def test_settings_page_saves_each_change(qtbot, tmp_path: Path, profile_store, qasync_loop):
    from core.config import ClientConfig
    from wmproxy_gui.controller import TunnelController
    from wmproxy_gui.profiles import Profile
    from wmproxy_gui.settings_page import SettingsPage

    profile_store.upsert(Profile("p1", "Home", ClientConfig()))
    profile_store.upsert(Profile("p2", "Office", ClientConfig()))
    store = SettingsStore(tmp_path / "settings.toml")
    settings = store.load()
    autostart = XdgAutostart(config_home=tmp_path / "xdg")
    ctl = TunnelController(profile_store)
    page = SettingsPage(ctl, store, settings, autostart=autostart)
    qtbot.addWidget(page)

    page.start_on_login.setChecked(True)
    assert autostart.path.is_file() and "--minimized" in autostart.path.read_text()
    assert SettingsStore(store.path).load().start_on_login is True
    page.start_on_login.setChecked(False)
    assert not autostart.path.exists()

    assert [page.default_profile.itemText(i) for i in range(page.default_profile.count())][1:] == ["Home", "Office"]
    page.default_profile.setCurrentIndex(2)
    assert SettingsStore(store.path).load().default_profile == "p2"

    assert not page.restart_note.isVisibleTo(page)
    page.language.setCurrentIndex(page.language.findData("zh_CN"))
    assert SettingsStore(store.path).load().language == "zh_CN"
    assert page.restart_note.isVisibleTo(page)

    page.notifications.setChecked(False)
    page.connect_on_start.setChecked(False)
    saved = SettingsStore(store.path).load()
    assert saved.notifications is False and saved.connect_on_start is False


def test_settings_page_reports_autostart_failure(qtbot, tmp_path: Path, profile_store, qasync_loop):
    from wmproxy_gui.controller import TunnelController
    from wmproxy_gui.settings_page import SettingsPage

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the config dir should be")
    store = SettingsStore(tmp_path / "settings.toml")
    settings = store.load()
    page = SettingsPage(TunnelController(profile_store), store, settings,
                        autostart=XdgAutostart(config_home=blocked))
    qtbot.addWidget(page)
    page.start_on_login.setChecked(True)
    assert not page.start_on_login.isChecked()  # rolled back
    assert page.autostart_error.isVisibleTo(page) and page.autostart_error.text()
    assert settings.start_on_login is False
