"""The desktop app's entry point: one instance per user, asyncio on Qt's loop (qasync), tray + window.

``main(argv)``:
  * a second launch asks the running instance (over a per-user QLocalServer) to show its window,
    then exits 0; ``--quit`` asks it to quit instead (installers use this before upgrading);
  * ``--minimized`` starts in the tray (used by start-on-login);
  * everything (core engine included) runs on one qasync loop: the GUI never blocks it.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import (
    QByteArray,
    QLibraryInfo,
    QLocale,
    QLockFile,
    QObject,
    Qt,
    QThread,
    QTimer,
    QTranslator,
    Signal,
)
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

import core
from core import paths
from core.errors import WmproxyError

log = logging.getLogger("wmproxy_gui.app")

APP_NAME = "wmproxy-gui"
SHUTDOWN_TIMEOUT = 15.0


# ------------------------------------------------------------------ single instance
def instance_key() -> str:
    """Per user and per config dir (two users, or tests with their own XDG dirs, never collide)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    digest = hashlib.sha256(str(paths.config_dir(create=False)).encode()).hexdigest()[:12]
    safe_user = "".join(c if c.isalnum() else "_" for c in user)[:32]
    return f"{APP_NAME}-{safe_user}-{digest}"


class SingleInstance(QObject):
    """The first process holds a lock file and listens on a local socket; later ones send it a message.

    The lock (QLockFile, stale locks of dead processes are taken over) decides who is first, so two
    launches at the same moment cannot both become primary; the socket carries "show" / "quit".
    """

    message_received = Signal(str)

    def __init__(self, key: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key or instance_key()
        lock_dir = Path(os.environ.get("XDG_RUNTIME_DIR") or paths.config_dir())
        self.lock = QLockFile(str(lock_dir / f"{self.key}.lock"))
        self.lock.setStaleLockTime(0)  # only a dead owner makes it stale, never age
        self.server: QLocalServer | None = None
        self.error = ""

    def acquire(self) -> bool:
        """True if this process is the first instance (and now listens)."""
        if not self.lock.tryLock(200):
            return False
        QLocalServer.removeServer(self.key)  # a socket file left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            self.error = server.errorString()
        server.newConnection.connect(self._accept)
        self.server = server
        return True

    def _accept(self) -> None:
        assert self.server is not None
        while (sock := self.server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        while sock.canReadLine():
            msg = bytes(sock.readLine().data()).decode("utf-8", "replace").strip()
            if msg:
                log.info("message from another launch: %s", msg)
                sock.write(b"ok\n")
                sock.flush()
                self.message_received.emit(msg)

    def send(self, message: str, timeout_ms: int = 5000) -> bool:
        """Deliver ``message`` to the first instance (retrying while it is still starting up)."""
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.start(timeout_ms)
        while deadline.remainingTime() > 0:
            sock = QLocalSocket()
            sock.connectToServer(self.key)
            if sock.waitForConnected(min(1000, max(1, deadline.remainingTime()))):
                sock.write(QByteArray((message + "\n").encode()))
                sock.waitForBytesWritten(2000)  # False when flush() already wrote it all: fine
                reply = b""
                while b"\n" not in reply and sock.waitForReadyRead(3000):
                    reply += bytes(sock.readAll().data())
                sock.disconnectFromServer()
                if reply.startswith(b"ok"):
                    return True
            QThread.msleep(100)
        return False

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()


# ------------------------------------------------------------------ translations
def translations_dirs() -> list[Path]:
    """Where our .qm files may be: $WMPROXY_GUI_TRANSLATIONS, a frozen bundle, the source tree /
    editable install, or <prefix>/share/wmproxy-gui/translations for a regular pip install."""
    dirs: list[Path] = []
    env = os.environ.get("WMPROXY_GUI_TRANSLATIONS")
    if env:
        dirs.append(Path(env))
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        dirs.append(Path(frozen) / "resources" / "translations")
    dirs.append(Path(__file__).resolve().parent.parent / "resources" / "translations")
    dirs.append(Path(sys.prefix) / "share" / APP_NAME / "translations")  # a wheel's data files
    return dirs


def install_translators(app: QApplication, language: str) -> list[QTranslator]:
    """Load our translation and Qt's own (standard dialog buttons...) for ``language``."""
    installed: list[QTranslator] = []
    if language == "en":
        return installed
    ours = QTranslator(app)
    for d in translations_dirs():
        if ours.load(f"wmproxy_gui_{language}", str(d)):
            app.installTranslator(ours)
            installed.append(ours)
            break
    else:
        log.warning("no translation for %s found in %s", language, ", ".join(map(str, translations_dirs())))
    qt_dirs = [QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)]
    try:
        import PySide6

        qt_dirs.append(str(Path(PySide6.__file__).parent / "Qt" / "translations"))
    except (ImportError, TypeError):
        pass
    qt = QTranslator(app)
    for d in qt_dirs:
        if qt.load(f"qtbase_{language}", d):
            app.installTranslator(qt)
            installed.append(qt)
            break
    return installed


def system_language() -> str:
    return "zh_CN" if QLocale.system().name().startswith("zh") else "en"


# ------------------------------------------------------------------ the application
class Application(QObject):
    """Tray + window + controller, wired together; ``await run()`` until the user quits."""

    def __init__(self, qapp: QApplication, *, settings_store: Any, settings: Any, store: Any,
                 log_sink: Any, minimized: bool = False, stats: Any = None,
                 running_language: str | None = None, warnings: list[str] | None = None,
                 smoke_test: bool = False) -> None:
        super().__init__()
        self.smoke_test = smoke_test
        from .controller import TunnelController
        from .main_window import MainWindow
        from .tray import TrayIcon

        self.qapp = qapp
        self.settings_store = settings_store
        self.settings = settings
        self.minimized = minimized
        self.warnings = list(warnings or [])
        self.controller = TunnelController(store, stats)
        self.tray = TrayIcon(self.controller, settings_store, settings)
        self.window = MainWindow(self.controller, settings_store, settings, log_sink, tray=self.tray,
                                 running_language=running_language)
        self.tray.open_window_requested.connect(self.window.show_and_raise)
        self.tray.quit_requested.connect(self.request_quit)
        self.window.quit_requested.connect(self.request_quit)
        self._quit: asyncio.Event | None = None
        self._quit_early = False

    def start(self) -> None:
        """Show the tray (if the desktop has one) and the window (unless minimized into a tray)."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()
            log.info("tray icon shown")
        else:
            log.warning("no system tray on this desktop: closing the window will quit")
        if not self.minimized or not self.tray.isVisible():
            self.window.show_and_raise()
        for w in self.warnings:
            self._warn(w)

    def _warn(self, text: str) -> None:
        if self.window.isVisible() or not self.tray.isVisible():
            box = QMessageBox(QMessageBox.Icon.Warning, "wmproxy-gui", text, QMessageBox.StandardButton.Ok,
                              self.window)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        else:
            self.tray.showMessage("wmproxy-gui", text, QSystemTrayIcon.MessageIcon.Warning, 10000)

    def auto_connect(self) -> list[str]:
        """Connect the profiles marked auto_connect (if the user wants that at start)."""
        if not self.settings.connect_on_start:
            return []
        try:
            ids = [p.id for p in self.controller.store.profiles() if p.auto_connect]
        except WmproxyError as e:
            self._warn(str(e))
            return []
        for pid in ids:
            self.controller.toggle(pid)
        return ids

    def handle_message(self, message: str) -> None:
        if message == "show":
            self.window.show_and_raise()
            log.info("window shown for another launch")
        elif message == "quit":
            self.request_quit()

    def request_quit(self) -> None:
        if self._quit is None:
            self._quit_early = True
        else:
            self._quit.set()

    async def run(self) -> int:
        self._quit = asyncio.Event()
        if self._quit_early:
            self._quit.set()
        self.start()
        if self.smoke_test:  # installers' check: the window came up, the loop ran; now leave
            await asyncio.sleep(0.2)
            shown = self.window.isVisible()
            log.info("smoke test: main window %s", "shown" if shown else "NOT shown")
            await asyncio.wait_for(self.controller.shutdown(), SHUTDOWN_TIMEOUT)
            return 0 if shown else 1
        await self.controller.start_services(inspector_api=self.settings.inspector_api)
        self.auto_connect()
        await self._quit.wait()
        log.info("quitting")
        if self.window.isVisible():
            self.window.save_geometry()
        self.window.hide()
        try:
            await asyncio.wait_for(self.controller.shutdown(), SHUTDOWN_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("shutdown took longer than %.0f s; exiting anyway", SHUTDOWN_TIMEOUT)
        self.tray.hide()
        return 0


def apply_color_scheme(qapp: QApplication) -> None:
    """Follow the OS's light/dark choice: styles that keep a light palette in dark mode (the old
    Windows style) give way to Fusion, which draws with the palette Qt derives from the OS."""
    from PySide6.QtCore import Qt as _Qt

    hints = qapp.styleHints()
    dark = hints.colorScheme() == _Qt.ColorScheme.Dark
    if dark and qapp.style().name().lower() in ("windowsvista", "windows"):
        qapp.setStyle("Fusion")
    log.info("colour scheme: %s", "dark" if dark else "light")


def finish_without_qt(qapp: QApplication, loop: asyncio.AbstractEventLoop, application: Application,
                      task: asyncio.Future) -> int:
    """Run ``application``'s quit path after Qt's exec() returned: pump Qt events by hand, with the
    qasync loop marked running, until the shutdown is done (or SHUTDOWN_TIMEOUT passed)."""
    import time as _time

    from PySide6.QtCore import QEventLoop

    application.request_quit()
    deadline = _time.monotonic() + SHUTDOWN_TIMEOUT + 2
    asyncio.events._set_running_loop(loop)
    try:
        while not task.done() and _time.monotonic() < deadline:
            qapp.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            _time.sleep(0.005)
    finally:
        asyncio.events._set_running_loop(None)
    if not task.done():
        log.warning("shutdown without a display did not finish within %.0f s", SHUTDOWN_TIMEOUT)
        return 1
    if task.exception() is not None:
        log.error("shutdown without a display failed", exc_info=task.exception())
        return 1
    log.info("tunnels closed after the display went away")
    return 0


def no_display_problem() -> str | None:
    """Why the tray app cannot start here (no display at all), or None.

    Checked before Qt loads its platform plugin, which would abort with a misleading message
    about missing xcb libraries instead."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs...: the user chose a platform that needs no display
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: the tray app needs a desktop session (DISPLAY or WAYLAND_DISPLAY is not set); "
            "on a server run wmproxy-gui --headless-server, or wmproxy-gui --headless-client -c FILE")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=APP_NAME, description="Tray app for wmproxy-compatible tunnels.")
    p.add_argument("--minimized", action="store_true", help="start in the tray, without opening the window")
    p.add_argument("--quit", action="store_true", help="ask the running instance to quit, then exit")
    p.add_argument("--smoke-test", action="store_true",
                   help="start, show the main window, then quit (exit 0 only if the window was shown)")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args, _rest = p.parse_known_args(argv)  # the rest is Qt's (-platform, -style...) or the CLI's (-c ...)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``argv`` without the program name (as wmproxy_gui.cli passes it); None = ``sys.argv[1:]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    problem = no_display_problem() if QApplication.instance() is None else None
    if problem:
        print(f"{APP_NAME}: error: {problem}", file=sys.stderr, flush=True)
        return 2
    QApplication.setApplicationName(APP_NAME)
    QApplication.setOrganizationName(APP_NAME)
    QApplication.setApplicationVersion(core.__version__)
    QApplication.setDesktopFileName(APP_NAME)
    qapp = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME, *argv])
    assert isinstance(qapp, QApplication)
    qapp.setQuitOnLastWindowClosed(False)

    # Signals first: a SIGTERM during startup must still end in a clean shutdown.
    stopping: dict[str, Any] = {"requested": False, "app": None, "loop": None}

    def on_signal(*_: object) -> None:
        if stopping["app"] is None:
            stopping["requested"] = True
        else:
            stopping["loop"].call_soon_threadsafe(stopping["app"].request_quit)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    instance = SingleInstance()
    if not instance.acquire():
        delivered = instance.send("quit" if args.quit else "show")
        if not delivered:
            print(f"{APP_NAME}: another instance holds the lock but did not answer", file=sys.stderr)
        return 0
    if args.quit:
        instance.release()
        return 0  # nothing running: nothing to quit

    from . import icons
    from .logview import setup_logging
    from .profiles import ProfileStore
    from .settings import SettingsStore

    qapp.setWindowIcon(icons.app_icon())
    apply_color_scheme(qapp)
    sink = setup_logging(level=getattr(logging, args.log_level))
    log.info("wmproxy-gui %s starting (pid %d)", core.__version__, os.getpid())
    log.debug("options: %s", vars(args))
    if instance.error:
        log.warning("other launches cannot reach this one: %s", instance.error)
    else:
        log.info("listening for other launches on %s", instance.server.fullServerName() if instance.server else "?")
    settings_store = SettingsStore()
    settings = settings_store.load()
    if settings_store.first_run:
        settings.language = system_language()
        try:
            settings_store.save(settings)
        except OSError as e:
            log.warning("cannot save settings: %s", e)
    translators = install_translators(qapp, settings.language)

    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    application = Application(qapp, settings_store=settings_store, settings=settings, store=ProfileStore(),
                              log_sink=sink, minimized=args.minimized, running_language=settings.language,
                              warnings=settings_store.warnings, smoke_test=args.smoke_test)
    instance.message_received.connect(application.handle_message)
    # Qt's own loop ending (session logout, the X server gone) is handled after it ended, below:
    # a coroutine woken from aboutToQuit would run outside any running loop
    qapp.aboutToQuit.connect(lambda: log.info("Qt is quitting (session end, or the display went away)"))
    stopping.update(app=application, loop=loop)
    if stopping["requested"]:
        application.request_quit()
    heartbeat = QTimer()  # lets Python run its signal handlers while Qt sits in C++
    heartbeat.start(300)
    heartbeat.timeout.connect(lambda: None)
    try:
        with loop:
            task = asyncio.ensure_future(application.run(), loop=loop)
            try:
                rc = loop.run_until_complete(task)
            except RuntimeError:
                if task.done():
                    raise
                # Qt's event loop ended under us (the display went away, or the session ended):
                # the tunnels still need their clean shutdown, driven by hand
                log.warning("the desktop session or display went away: closing the tunnels")
                rc = finish_without_qt(qapp, loop, application, task)
    finally:
        heartbeat.stop()
        instance.release()
        del translators
    log.info("exited cleanly")
    return rc


if __name__ == "__main__":
    sys.exit(main())
