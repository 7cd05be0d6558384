"""The tray on a real X server: Xvfb + trayer (an XEmbed system tray), the app in a child process on xcb.

The child runs the real Application against a real CenterServer on loopback and drives it the way
a user does: right-click on the embedded icon opens the menu, "Open" shows the window, closing it
keeps the app in the tray (with a one-time balloon saying so), the profile entry connects and
disconnects, a left click toggles the default profile, losing the server shows a notification
balloon, "Quit" ends the app. It prints one JSON line of observations that the test checks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[2]


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def x_display(tmp_path: Path):
    """A private Xvfb (display number chosen by Xvfb itself via -displayfd: never a clash) with trayer."""
    for tool in ("Xvfb", "trayer", "xwininfo"):
        if shutil.which(tool) is None:
            msg = f"{tool} is not installed (tests/setup.sh installs xvfb, trayer, x11-utils)"
            if os.environ.get("CI") == "true":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
                            pass_fds=(wfd,), stdout=subprocess.DEVNULL, stderr=open(tmp_path / "xvfb.log", "wb"))
    os.close(wfd)
    trayer = None
    try:
        number = b""
        deadline = time.monotonic() + 20
        os.set_blocking(rfd, False)
        while not number.endswith(b"\n") and time.monotonic() < deadline and xvfb.poll() is None:
            try:
                number += os.read(rfd, 16)
            except BlockingIOError:
                time.sleep(0.05)
        assert number.strip().isdigit(), f"Xvfb did not start: {(tmp_path / 'xvfb.log').read_text()[-2000:]}"
        display = f":{number.decode().strip()}"
        env = dict(os.environ, DISPLAY=display)
        trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--height", "32",
                                   "--widthtype", "request", "--SetDockType", "true"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(tmp_path / "trayer.log", "wb"))
        yield display
    finally:
        os.close(rfd)
        _stop(trayer)
        _stop(xvfb)


def test_tray_on_a_real_x_server(x_display: str, tmp_path: Path):
    env = dict(os.environ, DISPLAY=x_display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO))
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
        (tmp_path / sub).mkdir(mode=0o700)
        env[var] = str(tmp_path / sub)
    r = subprocess.run([sys.executable, __file__, "--child", str(tmp_path)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=150)
    lines = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert r.returncode == 0 and lines, f"exit {r.returncode}\nstdout:{r.stdout[-3000:]}\nstderr:{r.stderr[-3000:]}"
    res = json.loads(lines[-1][len("RESULT "):])
    print(json.dumps(res, indent=1))
    assert res["tray_available"] is True
    assert res["tray_visible"] is True and res["geometry"][2] > 0 and res["geometry"][3] > 0
    assert res["icon_viewable"] is True and res["icon_embedded"] is True  # mapped inside trayer's panel
    assert res["window_at_start"] is False  # --minimized with a tray: window stays hidden
    assert res["menu_shown_by_right_click"] is True
    assert res["menu_actions"][-2:] == ["open", "quit"] and res["menu_actions"][0] == "header" and res["menu_actions"][1].startswith("profile:")
    assert res["window_opened"] is True
    assert res["window_hidden_after_close"] is True and res["app_still_running"] is True
    assert res["hint_saved"] is True
    assert res["connected_via_menu"] is True and res["icon_connected"] is True
    assert "Loopback: Connected" in res["tooltip_connected"]
    assert res["server_saw_client"] is True
    assert res["disconnected_via_menu"] is True and res["icon_stopped"] is True
    assert res["left_click_connected"] is True
    assert "wmproxy-gui is still running" in res["hint_balloon"]  # said once, on the first close
    assert res["state_after_server_stop"] is True
    assert "Connection lost: Loopback" in res["loss_balloon"]
    assert res["quit_rc"] == 0 and res["state_after_quit"] == "stopped"
    assert "Fatal Python error" not in r.stderr


# ---------------------------------------------------------------------- the child process
def child(workdir: Path) -> int:  # pragma: no cover - runs in a subprocess
    import asyncio

    import qasync
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLabel, QMenu, QSystemTrayIcon

    from core.config import ClientConfig, ServerConfig
    from core.server import CenterServer
    from wmproxy_gui import icons
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.profiles import Profile, ProfileStore, new_id
    from wmproxy_gui.settings import SettingsStore

    app = QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    deadline = time.monotonic() + 20
    while not QSystemTrayIcon.isSystemTrayAvailable() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    res: dict[str, Any] = {"tray_available": QSystemTrayIcon.isSystemTrayAvailable()}
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def until(pred: Any, what: str, timeout: float = 15) -> bool:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                print(f"timed out waiting for {what}", file=sys.stderr)
                return False
            await asyncio.sleep(0.02)
        return True

    async def balloon_text(match: Any) -> str:
        """Text of the tray's message balloon (Qt draws its own on X11 without a notification daemon)."""
        def text() -> str:
            for w in app.topLevelWidgets():
                if w.metaObject().className() == "QBalloonTip" and w.isVisible():
                    return " | ".join(lbl.text() for lbl in w.findChildren(QLabel))
            return ""

        await until(lambda: match(text()), "balloon", 10)
        return text()

    async def main() -> None:
        srv = CenterServer(ServerConfig(bind="127.0.0.1:0"))
        await srv.start()
        host, port = srv.addresses["center"]
        store = ProfileStore(workdir / "profiles.toml")
        p = store.upsert(Profile(new_id(), "Loopback", ClientConfig(server=f"{host}:{port}", reconnect_min=0.1)))
        settings_store = SettingsStore(workdir / "settings.toml")
        a = Application(app, settings_store=settings_store, settings=settings_store.load(), store=store,
                        log_sink=LogSink(), minimized=True)
        tray, window, ctl = a.tray, a.window, a.controller
        run = asyncio.ensure_future(a.run())
        await until(lambda: tray.isVisible() and tray.geometry().width() > 0, "tray embedded")
        g = tray.geometry()
        res["tray_visible"] = tray.isVisible()
        res["geometry"] = [g.x(), g.y(), g.width(), g.height()]
        res["window_at_start"] = window.isVisible()
        icon_win = next(w for w in app.topLevelWidgets() if w.metaObject().className() == "QSystemTrayIconSys")
        info = subprocess.run(["xwininfo", "-children", "-id", str(int(icon_win.winId()))],
                              capture_output=True, text=True, timeout=10).stdout
        info2 = subprocess.run(["xwininfo", "-id", str(int(icon_win.winId()))],
                               capture_output=True, text=True, timeout=10).stdout
        res["icon_viewable"] = "IsViewable" in info2
        res["icon_embedded"] = "Parent window id:" in info and "(the root window)" not in info.split(
            "Parent window id:")[1].splitlines()[0]

        def icon_is(state: str) -> bool:
            return tray.icon().pixmap(32, 32).toImage() == icons.state_icon(state).pixmap(32, 32).toImage()

        # a right click on the icon in the tray opens the menu
        QTest.mouseClick(icon_win, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(g.width() // 2, g.height() // 2))
        menu: QMenu = tray.contextMenu()
        res["menu_shown_by_right_click"] = await until(menu.isVisible, "menu shown")
        res["menu_actions"] = [act.objectName() for act in menu.actions() if act.objectName()]
        tray.action("open").trigger()  # chosen from the open menu, as a user would
        menu.hide()
        res["window_opened"] = await until(lambda: window.isVisible() and window.windowHandle().isExposed(),
                                           "window exposed")
        window.close()
        res["window_hidden_after_close"] = not window.isVisible()
        res["app_still_running"] = not run.done()
        res["hint_saved"] = SettingsStore(settings_store.path).load().notified_tray_hint
        res["hint_balloon"] = await balloon_text(lambda t: "still running" in t)

        tray.rebuild_menu()
        tray.action(f"profile:{p.id}").trigger()
        res["connected_via_menu"] = await until(lambda: ctl.state(p.id) == "connected", "connected")
        res["icon_connected"] = icon_is("connected")
        res["tooltip_connected"] = tray.toolTip()
        res["server_saw_client"] = await until(lambda: bool(srv.links), "server link")
        tray.rebuild_menu()
        tray.action(f"profile:{p.id}").trigger()
        res["disconnected_via_menu"] = await until(lambda: ctl.state(p.id) == "stopped", "stopped")
        res["icon_stopped"] = icon_is("stopped")

        # a left click on the icon toggles the default (here: the only) profile
        QTest.mouseClick(icon_win, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(g.width() // 2, g.height() // 2))
        res["left_click_connected"] = await until(lambda: ctl.state(p.id) == "connected", "click connect")

        # the server goes away: the user is told (desktop notification from the tray)
        await srv.stop()
        res["state_after_server_stop"] = await until(lambda: ctl.state(p.id) in ("error", "connecting"), "loss")
        res["loss_balloon"] = await balloon_text(lambda t: "Connection lost" in t)

        tray.rebuild_menu()
        tray.action("quit").trigger()
        res["quit_rc"] = await asyncio.wait_for(run, 30)
        res["state_after_quit"] = ctl.state(p.id)

    with loop:
        loop.run_until_complete(asyncio.wait_for(main(), 120))
    print("RESULT " + json.dumps(res), flush=True)
    return 0


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    sys.exit(child(Path(sys.argv[2])))
