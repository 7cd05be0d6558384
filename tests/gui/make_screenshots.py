#!/usr/bin/env python3
"""Screenshots of every page (and the main dialogs) in English and 简体中文 at 100 % and 200 % scale.

    python tests/gui/make_screenshots.py [OUT_DIR]        # default: ./screenshots

For people to look at (clipped labels, overlaps, untranslated text), not a test. Each
language/scale pair runs in its own process (QT_SCALE_FACTOR must be set before Qt starts)
on the offscreen platform with the system's fonts (Noto CJK for Chinese, see tests/setup.sh),
against real CenterServers on loopback: a connected profile with mappings and two servers (one
link up, the other's server stopped: its link down with its error and countdown), a running server
with its link and QR code, live and closed connections on the Traffic page, the tray menu. The
window is rendered at its minimum size too, where layouts are tightest; the profile and mapping
dialogs are shown with validation errors.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIZES = {"normal": (1040, 680), "minimum": (760, 480)}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        return child(Path(argv[1]), argv[2], float(argv[3]))
    out = Path(argv[0] if argv else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    rc = 0
    for lang in ("en", "zh_CN"):
        for scale in (1.0, 2.0):
            with tempfile.TemporaryDirectory() as home:
                env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=str(scale), HOME=home,
                           XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
                           XDG_STATE_HOME=f"{home}/state", XDG_CACHE_HOME=f"{home}/cache",
                           XDG_RUNTIME_DIR=home, PYTHONPATH=str(REPO))
                r = subprocess.run([sys.executable, __file__, "--child", str(out), lang, str(scale)], env=env,
                                   timeout=300)
                rc = rc or r.returncode
    print(f"screenshots in {out}")
    return rc


def child(out: Path, lang: str, scale: float) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from core.config import ClientConfig, MappingConfig, ProxyListenerConfig, ServerConfig
    from core.server import CenterServer
    from core.stats import Stats
    from wmproxy_gui.app import Application, install_translators
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.main_window import PAGE_ORDER
    from wmproxy_gui.profiles import Profile, ProfileStore, new_id
    from wmproxy_gui.settings import SettingsStore

    qapp = QApplication(["screens"])
    translators = install_translators(qapp, lang)  # noqa: F841  (kept alive)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    tag = f"{lang}-{int(scale * 100)}"
    shots: list[Path] = []

    async def save(widget, name: str) -> None:
        # let the loop deliver Qt's pending layout and paint events: qapp.processEvents() here, inside a
        # running task, could run another task's step re-entrantly (asyncio refuses it, that task hangs)
        await asyncio.sleep(0.05)
        path = out / f"{tag}-{name}.png"
        widget.grab().save(str(path))
        shots.append(path)

    async def run() -> None:
        echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
        echo_addr = "127.0.0.1:%d" % echo.sockets[0].getsockname()[1]
        stats = Stats()
        remote = CenterServer(ServerConfig(bind="127.0.0.1:0", map_tcp_bind="127.0.0.1:0",
                                           map_http_bind="127.0.0.1:0"))
        await remote.start()
        store = ProfileStore()
        settings_store = SettingsStore()
        settings = settings_store.load()
        settings.language = lang
        empty = Application(qapp, settings_store=settings_store, settings=settings, store=store,
                            log_sink=LogSink(), stats=stats, running_language=lang)
        w = empty.window
        w.resize(*SIZES["normal"])
        w.show()
        for key in ("profiles", "mappings", "traffic"):  # the empty states a new user sees first
            w.show_page(key)
            await save(w, f"empty-{key}")
        w.pages["profiles"].new_profile()
        dlg = w.pages["profiles"].dialog
        dlg.adjustSize()
        await save(dlg, "dialog-new-profile")
        dlg.reject()
        w.hide()

        busy = await asyncio.start_server(_echo, "0.0.0.0", 0)
        busy_port = busy.sockets[0].getsockname()[1]
        # a second server on another address: connected first, then stopped (its link down)
        second = CenterServer(ServerConfig(bind="127.0.0.2:0", map_tcp_bind="127.0.0.2:0",
                                           map_http_bind="127.0.0.2:0"))
        await second.start()
        p = store.upsert(Profile(new_id(), "Home lab" if lang == "en" else "家里", ClientConfig(
            server=["127.0.0.1:%d" % remote.addresses["center"][1],
                    "127.0.0.2:%d" % second.addresses["center"][1]], reconnect_min=4, reconnect_max=30,
            mappings=[MappingConfig("web", "http", "127.0.0.1:8080", domain="web.example.com"),
                      MappingConfig("echo", "tcp", echo_addr),
                      MappingConfig("busy", "tcp", echo_addr, remote_port=busy_port)],
            proxies=[ProxyListenerConfig("mixed", bind="127.0.0.1:0", protocols=("http", "socks5"))])))
        ctl = empty.controller
        assert await ctl.connect_profile(p.id)
        for _ in range(100):
            if sum(len(st) for _s, _u, st in ctl.server_mapping_status(p.id)) == 6:
                break
            await asyncio.sleep(0.05)
        await second.stop()
        for _ in range(100):
            if any(l.retry_in() is not None for l in ctl.links(p.id)):
                break
            await asyncio.sleep(0.05)
        await ctl.start_server(ServerConfig(bind="127.0.0.1:0", tls=True))
        conns = []
        for _ in range(3):
            r, wr = await asyncio.open_connection(*remote.addresses["tcp"])
            wr.write(b"x" * 50_000)
            conns.append((r, wr))
        await asyncio.sleep(1.2)
        ctl.close_channel(next(iter(stats.channels)))  # one closed connection for the Closed tab
        await asyncio.sleep(2.2)
        ctl._tick()
        for size_name, size in SIZES.items():
            w.resize(*size)
            w.show()
            for key in PAGE_ORDER:
                page = w.show_page(key)
                if key == "mappings":
                    page.select_profile(p.id)
                    page.refresh_live()
                if key == "profiles":
                    page.select(p.id)
                if key == "traffic":
                    page.model.refresh()
                await save(w, f"{size_name}-{key}")
            if size_name == "normal":
                traffic = w.show_page("traffic")
                traffic.tabs.setCurrentIndex(1)
                await save(w, "normal-traffic-closed")
                traffic.tabs.setCurrentIndex(0)
        tray = empty.tray
        tray.rebuild_menu()
        tray.menu.ensurePolished()
        tray.menu.resize(tray.menu.sizeHint())
        await save(tray.menu, "tray-menu")
        maps = w.show_page("mappings")
        maps.add("mapping")
        maps.dialog.adjustSize()
        await save(maps.dialog, "dialog-add-mapping")
        dm = maps.dialog
        dm.name.setText("web")  # taken
        dm.local_addr.setText("127.0.0.1:99999")
        dm.headers.setPlainText("+ x-ok 1\n'unclosed")
        dm.adjustSize()
        await save(dm, "dialog-mapping-errors")
        maps.dialog.reject()
        w.show_page("profiles").edit_selected()
        d3 = w.pages["profiles"].dialog
        d3.servers.add_server("localhost")
        d3.adjustSize()
        await save(d3, "dialog-profile-servers")
        d3.reject()
        w.show_page("profiles").new_profile()
        d2 = w.pages["profiles"].dialog
        d2.tls.setCurrentIndex(d2.tls.findData("pin"))
        d2.adjustSize()
        await save(d2, "dialog-profile-pin")
        d2.reject()
        for _r, wr in conns:
            wr.close()
        await ctl.shutdown()
        await remote.stop()
        await second.stop()
        busy.close()
        echo.close()

    with loop:
        loop.run_until_complete(run())
    for s in shots:
        print(s)
    return 0


async def _echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
