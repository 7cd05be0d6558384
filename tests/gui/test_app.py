"""The app shell: single instance (real processes), main window pages, tray menu/icon/tooltip,
close-to-tray, quit, warnings, translations. Everything runs against a real CenterServer."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until  # tests/gui/conftest.py

from core.config import ClientConfig, MappingConfig
from core.stats import Stats
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ single instance (subprocesses)
def app_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(root / sub)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def log_text(root: Path) -> str:
    f = root / "state" / "wmproxy-gui" / "log" / "wmproxy-gui.log"
    return f.read_text("utf-8") if f.exists() else ""


def wait_log(root: Path, text: str, count: int = 1, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = log_text(root)
        if log.count(text) >= count:
            return log
        time.sleep(0.1)
    raise AssertionError(f"log never showed {text!r} x{count}:\n{log_text(root)}")


def launch(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "wmproxy_gui.app", *args], env=app_env(root), cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_app(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "wmproxy_gui.app", *args], env=app_env(root), cwd=root,
                          capture_output=True, timeout=60)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_second_launch_shows_the_first_window_and_exits_0(tmp_path: Path):
    first = launch(tmp_path, "--minimized")
    try:
        wait_log(tmp_path, "listening for other launches")
        second = run_app(tmp_path)
        assert second.returncode == 0, second.stderr.decode()
        assert b"did not answer" not in second.stderr
        log = wait_log(tmp_path, "window shown for another launch")
        assert log.count("starting (pid") == 1  # the second launch never started a second app
        assert first.poll() is None
        quit_ = run_app(tmp_path, "--quit")
        assert quit_.returncode == 0, quit_.stderr.decode()
        assert first.wait(30) == 0
        assert "exited cleanly" in log_text(tmp_path)
        assert b"Fatal Python error" not in first.stderr.read()  # type: ignore[union-attr]
    finally:
        stop(first)


def test_a_crashed_instance_does_not_block_the_next_launch(tmp_path: Path):
    first = launch(tmp_path)
    try:
        wait_log(tmp_path, "listening for other launches")
        first.kill()  # no cleanup: stale lock file and socket stay behind
        first.wait(10)
        second = launch(tmp_path)
        try:
            wait_log(tmp_path, "listening for other launches", count=2)
            assert run_app(tmp_path, "--quit").returncode == 0
            assert second.wait(30) == 0
        finally:
            stop(second)
    finally:
        stop(first)


def test_the_cli_entry_point_starts_the_gui_with_its_options(tmp_path: Path):
    """`wmproxy-gui` is wmproxy_gui.cli:main, which hands GUI launches (argv without the program name,
    lower-case log levels) to wmproxy_gui.app.main."""
    entry = "import sys; from wmproxy_gui.cli import main; sys.exit(main())"
    first = subprocess.Popen([sys.executable, "-c", entry, "--minimized", "--log-level", "debug"],
                             env=app_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        log = wait_log(tmp_path, "listening for other launches")
        assert "DEBUG wmproxy_gui.app: options:" in log and "'minimized': True" in log
        r = subprocess.run([sys.executable, "-c", entry, "--quit"], env=app_env(tmp_path), cwd=tmp_path,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        assert first.wait(30) == 0
    finally:
        stop(first)


def test_quit_with_nothing_running_is_a_no_op(tmp_path: Path):
    r = run_app(tmp_path, "--quit")
    assert r.returncode == 0 and "starting" not in log_text(tmp_path)


# ------------------------------------------------------------------ the app in-process
@pytest.fixture
def app(qapp, qasync_loop, tmp_path: Path, profile_store) -> Any:
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.settings import SettingsStore

    settings_store = SettingsStore(tmp_path / "settings.toml")
    application = Application(qapp, settings_store=settings_store, settings=settings_store.load(),
                              store=profile_store, log_sink=LogSink(), stats=Stats())
    yield application
    qasync_loop.run_until_complete(asyncio.wait_for(application.controller.shutdown(), 30))
    application.tray.hide()
    application.window.hide()
    application.window.deleteLater()
    application.tray.deleteLater()


def add_profile(store: Any, srv: Any, name: str, **kw: Any) -> Profile:
    host, port = srv.addresses["center"]
    mappings = kw.pop("mappings", [])
    return store.upsert(Profile(new_id(), name, ClientConfig(server=f"{host}:{port}", mappings=mappings,
                                                             reconnect_min=0.1, reconnect_max=0.5), **kw))


def test_main_window_hosts_every_page(app, qtbot):
    from wmproxy_gui.logview import LogsPage
    from wmproxy_gui.main_window import PAGE_ORDER, PlaceholderPage
    from wmproxy_gui.settings_page import SettingsPage

    w = app.window
    assert list(w.pages) == list(PAGE_ORDER)
    expected = {"profiles": "ProfilesPage", "mappings": "MappingsPage", "certificates": "CertificatesPage",
                "traffic": "TrafficPage", "inspector": "InspectorPage", "history": "HistoryPage",
                "server": "ServerPage"}
    for key, cls in expected.items():
        assert not isinstance(w.pages[key], PlaceholderPage), f"{key} page missing"
        assert type(w.pages[key]).__name__ == cls
    assert isinstance(w.pages["logs"], LogsPage) and isinstance(w.pages["settings"], SettingsPage)
    w.show()
    qtbot.waitExposed(w)
    for i, key in enumerate(PAGE_ORDER):
        w.nav.setCurrentRow(i)
        assert w.stack.currentWidget() is w.pages[key]
        assert w.page_title.text() == w.nav.item(i).text()
    assert w.show_page("traffic") is w.pages["traffic"] and w.current_page_key() == "traffic"


def test_tray_menu_toggles_profiles_icon_and_tooltip_follow(app, qtbot, center_server, echo_server, qrun,
                                                           profile_store):
    from PySide6.QtWidgets import QSystemTrayIcon

    from wmproxy_gui import icons

    srv = center_server()
    p = add_profile(profile_store, srv, "Home",
                    mappings=[MappingConfig("echo", "tcp", f"{echo_server[0]}:{echo_server[1]}")])
    tray, ctl = app.tray, app.controller

    def icon_is(state: str) -> bool:
        return tray.icon().pixmap(32, 32).toImage() == icons.state_icon(state).pixmap(32, 32).toImage()

    tray.rebuild_menu()
    names = [a.objectName() for a in tray.menu.actions() if a.objectName()]
    assert names == ["header", f"profile:{p.id}", f"mappings:{p.id}", "open", "quit"]
    assert icon_is("stopped") and not icon_is("connected")
    assert "Home: Stopped" in tray.toolTip()

    async def scenario() -> None:
        tray.action(f"profile:{p.id}").trigger()
        await wait_until(lambda: ctl.state(p.id) == "connected", 15, "connected")
        assert icon_is("connected")
        tray.rebuild_menu()
        act = tray.action(f"profile:{p.id}")
        assert act.isChecked() and "Connected" in act.text()
        await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mapping announced")
        ctl._tick()  # baseline for the rates
        r, w = await asyncio.open_connection(*srv.addresses["tcp"])
        w.write(b"x" * (1 << 20))
        await asyncio.wait_for(r.readexactly(1 << 20), 20)
        w.close()
        await asyncio.sleep(0.05)
        ctl._tick()
        tip = tray.toolTip()
        assert "Home: Connected" in tip
        up_line = [line for line in tip.splitlines() if line.startswith("↑")][0]
        assert "0 B/s" not in up_line and ("KiB/s" in up_line or "MiB/s" in up_line), tip
        act.trigger()  # the same entry disconnects
        await wait_until(lambda: ctl.state(p.id) == "stopped", 15, "stopped")
        assert icon_is("stopped")

    qrun(scenario())
    opened: list[bool] = []
    tray.open_window_requested.connect(lambda: opened.append(True))
    tray.rebuild_menu()
    tray.action("open").trigger()
    assert opened == [True]
    tray.activated.emit(QSystemTrayIcon.ActivationReason.MiddleClick)
    assert opened == [True, True]


def test_click_toggles_the_default_profile(app, center_server, qrun, profile_store):
    from PySide6.QtWidgets import QSystemTrayIcon

    srv = center_server()
    first = add_profile(profile_store, srv, "First")
    second = add_profile(profile_store, srv, "Second")
    app.settings_store.update(app.settings, default_profile=second.id)
    ctl = app.controller

    async def scenario() -> None:
        app.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)  # a left click
        await wait_until(lambda: ctl.state(second.id) == "connected", 15, "connected")
        assert ctl.state(first.id) == "stopped"
        app.tray.click()
        await wait_until(lambda: ctl.state(second.id) == "stopped", 15, "stopped")
        app.settings.default_profile = "deleted-profile"  # falls back to the first profile
        app.tray.click()
        await wait_until(lambda: ctl.state(first.id) == "connected", 15, "first connected")

    qrun(scenario())


def test_click_without_profiles_opens_the_window(app):
    opened: list[bool] = []
    app.tray.open_window_requested.connect(lambda: opened.append(True))
    app.tray.click()
    assert opened == [True]
    assert app.tray.default_profile_id() is None


def test_closing_the_window_keeps_the_app_in_the_tray_and_says_so_once(app, qtbot):
    from wmproxy_gui.settings import SettingsStore

    quits: list[bool] = []
    app.window.quit_requested.connect(lambda: quits.append(True))
    app.tray.show()  # offscreen reports a visible tray once shown
    app.window.show()
    qtbot.waitExposed(app.window)
    assert app.window.close() is False  # close event ignored: hidden, not closed
    assert not app.window.isVisible() and quits == []
    assert SettingsStore(app.settings_store.path).load().notified_tray_hint is True
    assert app.tray.show_hint_once() is False  # only once, remembered
    app.window.show_and_raise()
    assert app.window.isVisible()


def test_closing_the_window_without_a_tray_quits(app, qtbot):
    quits: list[bool] = []
    app.window.quit_requested.connect(lambda: quits.append(True))
    app.tray.hide()
    app.window.show()
    qtbot.waitExposed(app.window)
    app.window.close()
    assert quits == [True]


def test_run_auto_connects_then_quit_from_the_tray_stops_everything(app, center_server, qrun, profile_store):
    srv = center_server()
    auto = add_profile(profile_store, srv, "Auto", auto_connect=True)
    manual = add_profile(profile_store, srv, "Manual")
    ctl = app.controller

    async def user() -> None:
        await wait_until(lambda: ctl.state(auto.id) == "connected", 15, "auto-connected")
        assert ctl.state(manual.id) == "stopped"
        app.tray.rebuild_menu()
        app.tray.action("quit").trigger()

    async def scenario() -> int:
        helper = asyncio.ensure_future(user())
        rc = await app.run()
        await helper
        return rc

    assert qrun(scenario()) == 0
    assert ctl.state(auto.id) == "stopped" and ctl.client(auto.id) is None
    assert not app.window.isVisible()


def test_connect_on_start_off_connects_nothing(app, center_server, profile_store):
    srv = center_server()
    add_profile(profile_store, srv, "Auto", auto_connect=True)
    app.settings.connect_on_start = False
    assert app.auto_connect() == []


def test_settings_warning_is_shown_to_the_user(app, qtbot):
    from PySide6.QtWidgets import QMessageBox

    app.warnings = ["settings.toml: not valid TOML. The file was moved to settings.toml.corrupt-1."]
    app.start()
    boxes = [b for b in app.window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and "corrupt-1" in boxes[0].text()
    boxes[0].accept()


def test_quit_message_from_another_launch(app, qrun):
    async def scenario() -> int:
        asyncio.get_running_loop().call_later(0.1, app.handle_message, "quit")
        return await app.run()

    assert qrun(scenario()) == 0


# ------------------------------------------------------------------ translations
SHELL_CONTEXTS = ("MainWindow", "TrayIcon", "LogsPage", "SettingsPage", "TunnelController")


def test_translation_files_are_complete_and_compiled():
    """Shell strings must all be translated; every translation keeps its placeholders; the .qm is the
    compiled .ts. (Fix: python resources/translations/update_translations.py, translate, commit both.)"""
    sys.path.insert(0, str(REPO / "resources" / "translations"))
    try:
        import update_translations as ut
    finally:
        sys.path.pop(0)
    found = ut.problems("zh_CN")
    blocking = [p for p in found if any(f"[{c}]" in p for c in SHELL_CONTEXTS)
                or "placeholders differ" in p or ".qm" in p or "missing" in p]
    pages = [p for p in found if p not in blocking]
    if pages:
        print("page strings still to translate:\n" + "\n".join(pages))
    assert blocking == []
    messages = ut.read_ts(ut.ts_path("zh_CN"))
    assert sum(1 for m in messages if m.context in SHELL_CONTEXTS) >= 60


def test_the_ui_speaks_chinese(qapp, qasync_loop, tmp_path: Path, profile_store, center_server):
    from wmproxy_gui.app import Application, install_translators
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.settings import SettingsStore

    add_profile(profile_store, center_server(), "家里")
    translators = install_translators(qapp, "zh_CN")
    try:
        assert len(translators) == 2  # ours and Qt's own (standard dialogs)
        store = SettingsStore(tmp_path / "settings.toml")
        a = Application(qapp, settings_store=store, settings=store.load(), store=profile_store, log_sink=LogSink())
        nav = [a.window.nav.item(i).text() for i in range(a.window.nav.count())]
        assert nav == ["配置", "映射", "证书", "流量", "请求检查", "流量历史", "服务端", "日志", "设置"]
        a.tray.rebuild_menu()
        texts = [act.text() for act in a.tray.menu.actions()]
        assert "退出" in texts and "打开 wmproxy-gui" in texts and any("已停止" in t for t in texts)
        assert "已停止" in a.tray.toolTip()
        a.window.deleteLater()
        a.tray.deleteLater()
    finally:
        for t in translators:
            qapp.removeTranslator(t)


# ------------------------------------------------------------------ logs
@pytest.fixture
def logs(tmp_path: Path):
    import logging

    from wmproxy_gui.logview import setup_logging, teardown_logging

    root = logging.getLogger()
    level = root.level
    made = []

    def setup(**kw: Any) -> Any:
        sink = setup_logging(tmp_path / "log", **kw)
        made.append(sink)
        return sink

    yield setup
    teardown_logging()
    root.setLevel(level)


def test_logs_rotate_in_the_log_dir(logs, tmp_path: Path):
    import logging

    logs(max_bytes=20_000, backup_count=2)
    log = logging.getLogger("wmproxy.test")
    for i in range(1500):
        log.info("record %05d %s", i, "x" * 40)
    files = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert files == ["wmproxy-gui.log", "wmproxy-gui.log.1", "wmproxy-gui.log.2"]  # bounded: oldest dropped
    assert all((tmp_path / "log" / f).stat().st_size <= 20_000 for f in files)
    assert "record 01499" in (tmp_path / "log" / "wmproxy-gui.log").read_text()


def test_logs_page_filters_by_level_and_search_and_shows_the_previous_run(logs, qtbot, tmp_path: Path):
    import logging

    from wmproxy_gui.logview import LogsPage

    logs()
    logging.getLogger("wmproxy.client").warning("from the previous run: link to 10.0.0.1:8091 lost")
    sink = logs()  # a restart: the view starts with the tail of the file
    assert any("previous run" in e.message for e in sink.entries)
    page = LogsPage(sink)
    qtbot.addWidget(page)
    logging.getLogger("wmproxy.server").debug("debug detail")
    logging.getLogger("wmproxy.server").info("center listening on 127.0.0.1:8091")
    logging.getLogger("wmproxy_gui.tray").error("cannot read profiles")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("wmproxy.mapping").exception("relay failed")
    page.model.flush()

    def shown() -> list[str]:
        return [page.proxy.index(r, 3).data() for r in range(page.proxy.rowCount())]

    assert logging.getLogger().level == logging.INFO  # debug records are not even produced by default
    assert shown() == ["from the previous run: link to 10.0.0.1:8091 lost", "center listening on 127.0.0.1:8091",
                       "cannot read profiles", "relay failed"]
    page.level.setCurrentIndex(page.level.findData(logging.ERROR))
    assert shown() == ["cannot read profiles", "relay failed"]
    tip = page.proxy.index(1, 3).data(0x03)  # ToolTipRole: the full record, traceback included
    assert "ValueError: boom" in tip
    page.level.setCurrentIndex(page.level.findData(logging.INFO))
    page.search.setText("LISTENING")  # case-insensitive
    assert shown() == ["center listening on 127.0.0.1:8091"]
    page.search.setText("wmproxy.client")  # the source column is searched too
    assert shown() == ["from the previous run: link to 10.0.0.1:8091 lost"]
    page.search.clear()
    page.model.clear()
    assert shown() == [] and (tmp_path / "log" / "wmproxy-gui.log").stat().st_size > 0  # files kept


# ------------------------------------------------------------------ more shell behaviour
def test_first_run_picks_the_language_from_the_system_locale(tmp_path: Path):
    env = app_env(tmp_path)
    env.update(LANG="zh_CN.UTF-8", LC_ALL="zh_CN.UTF-8", LANGUAGE="zh_CN")
    first = subprocess.Popen([sys.executable, "-m", "wmproxy_gui.app", "--minimized"], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_log(tmp_path, "listening for other launches")
        assert subprocess.run([sys.executable, "-m", "wmproxy_gui.app", "--quit"], env=env, cwd=tmp_path,
                              capture_output=True, timeout=60).returncode == 0
        assert first.wait(30) == 0
    finally:
        stop(first)
    settings = (tmp_path / "config" / "wmproxy-gui" / "settings.toml").read_text()
    assert 'language = "zh_CN"' in settings
    # later runs keep the user's choice whatever the locale says
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", LANGUAGE="")
    again = subprocess.Popen([sys.executable, "-m", "wmproxy_gui.app", "--minimized"], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_log(tmp_path, "listening for other launches", count=2)
        subprocess.run([sys.executable, "-m", "wmproxy_gui.app", "--quit"], env=env, cwd=tmp_path, timeout=60)
        assert again.wait(30) == 0
    finally:
        stop(again)
    assert 'language = "zh_CN"' in (tmp_path / "config" / "wmproxy-gui" / "settings.toml").read_text()


def test_tray_shows_a_running_server_and_stops_it(app, qrun):
    from core.config import ServerConfig
    from wmproxy_gui import icons

    async def scenario() -> None:
        assert await app.controller.start_server(ServerConfig(bind="127.0.0.1:0"))
        app.tray.rebuild_menu()
        assert app.tray.icon().pixmap(32).toImage() == icons.state_icon("connected").pixmap(32).toImage()
        assert "Server: Running" in app.tray.toolTip()
        assert "server on" in app.window.status_text.text()
        app.tray.action("stop-server").trigger()
        await wait_until(lambda: app.controller.server is None, 10, "server stopped")

    qrun(scenario())
    app.tray.rebuild_menu()
    assert app.tray.action("stop-server") is None
    assert app.controller.server_state == "stopped"


def test_connection_errors_show_in_the_status_bar(secret_service, app, center_server, qrun, profile_store):
    srv = center_server(username="alice", password="correct-pw-1")
    p = add_profile(profile_store, srv, "Office")
    p.client.username = "alice"
    profile_store.upsert(p)
    profile_store.set_password(p.id, "not-the-pw")

    async def scenario() -> None:
        await app.controller.connect_profile(p.id)
        await wait_until(lambda: app.controller.state(p.id) == "error", 15, "error")

    qrun(scenario())
    msg = app.window.statusBar().currentMessage()
    assert msg.startswith("Office: ") and "refused the username or password" in msg
    assert "not-the-pw" not in msg


def test_window_geometry_is_remembered(app, qtbot, tmp_path: Path, profile_store):
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.main_window import MainWindow
    from wmproxy_gui.settings import SettingsStore

    w = app.window
    w.show()
    qtbot.waitExposed(w)
    w.resize(780, 520)  # the offscreen screen is 800x600: restoreGeometry keeps windows on screen
    w.save_geometry()
    saved = SettingsStore(app.settings_store.path).load()
    assert saved.window_geometry
    again = MainWindow(app.controller, app.settings_store, saved, LogSink())
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (780, 520)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_shuts_down_cleanly(tmp_path: Path):
    import signal

    first = launch(tmp_path, "--minimized")
    try:
        wait_log(tmp_path, "listening for other launches")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert "exited cleanly" in log_text(tmp_path)
        # and nothing is left behind that would block the next start
        second = launch(tmp_path, "--minimized")
        try:
            wait_log(tmp_path, "listening for other launches", count=2)
            second.send_signal(signal.SIGINT)
            assert second.wait(30) == 0
        finally:
            stop(second)
    finally:
        stop(first)
