"""A screenshot of the main window with live traffic, for humans to look at (and a non-blank check).

Real parts only: a CenterServer on loopback, the app's controller connecting a profile with two TCP
mappings and a local HTTP proxy listener, and clients pushing data through all three while the
Traffic page refreshes from Stats. The PNG lands in the test's tmp dir; its path is printed.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until  # tests/gui/conftest.py

from core.config import ClientConfig, MappingConfig, ProxyListenerConfig
from core.stats import Stats
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(120)
TRAFFIC_SECONDS = 4.0  # how long data flows before the grab (graph history), not an assertion


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunk: int, stop: asyncio.Event) -> int:
    """Write/echo-read ``chunk``-sized blocks until ``stop``; keeps the connection open afterwards."""
    moved = 0
    block = b"w" * chunk
    while not stop.is_set():
        writer.write(block)
        await writer.drain()
        await reader.readexactly(chunk)
        moved += chunk
        await asyncio.sleep(0.01)
    return moved


async def open_via_proxy(proxy: tuple[str, int], target: tuple[str, int]) -> tuple[Any, Any]:
    r, w = await asyncio.open_connection(*proxy)
    w.write(f"CONNECT {target[0]}:{target[1]} HTTP/1.1\r\nHost: {target[0]}:{target[1]}\r\n\r\n".encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    assert b" 200 " in head.split(b"\r\n", 1)[0], head
    return r, w


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_variance(path: Path) -> float:
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert not img.isNull()
    vals = []
    step = max(1, img.width() // 200)
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            c = img.pixelColor(x, y)
            vals.append(0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue())
    mean = sum(vals) / len(vals)
    return sum((v - mean) ** 2 for v in vals) / len(vals)


def test_main_window_with_live_traffic_screenshot(qapp, qasync_loop, qrun, tmp_path: Path, profile_store,
                                                  center_server, echo_server):
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.settings import SettingsStore

    srv = center_server(allow_targets=["127.0.0.1"])
    host, port = srv.addresses["center"]
    echo = f"{echo_server[0]}:{echo_server[1]}"
    files_port = free_port()
    p = profile_store.upsert(Profile(new_id(), "Home lab", ClientConfig(
        server=f"{host}:{port}",
        # the shared TCP port serves the newest TCP mapping (upstream rule): "echo" comes last
        mappings=[MappingConfig("files", "tcp", echo, remote_port=files_port), MappingConfig("echo", "tcp", echo),
                  MappingConfig("web", "http", "127.0.0.1:8080", domain="web.example.test")],
        proxies=[ProxyListenerConfig("mixed", bind="127.0.0.1:0", protocols=("http", "socks5"))])))
    settings_store = SettingsStore(tmp_path / "settings.toml")
    app = Application(qapp, settings_store=settings_store, settings=settings_store.load(), store=profile_store,
                      log_sink=LogSink(), stats=Stats())
    window, ctl = app.window, app.controller
    window.resize(1180, 740)
    window.show()
    window.show_page("traffic")
    shot = tmp_path / "main-window-traffic.png"

    async def scenario() -> int:
        assert await ctl.connect_profile(p.id)
        await wait_until(lambda: ctl.state(p.id) == "connected", 15, "connected")
        await wait_until(lambda: srv.router.for_mode("tcp") is not None, 10, "mappings announced")
        conns = [await asyncio.open_connection(*srv.addresses["tcp"]) for _ in range(2)]
        for _ in range(100):  # the per-mapping port opens once the server processed the announcement
            try:
                conns.append(await asyncio.open_connection("127.0.0.1", files_port))
                break
            except OSError:
                await asyncio.sleep(0.05)
        conns.append(await open_via_proxy(ctl.client(p.id).addresses["mixed"], echo_server))
        stop = asyncio.Event()
        pumps = [asyncio.ensure_future(pump(r, w, size, stop))
                 for (r, w), size in zip(conns, (256 << 10, 64 << 10, 128 << 10, 32 << 10))]
        end = time.monotonic() + TRAFFIC_SECONDS
        while time.monotonic() < end:
            await asyncio.sleep(0.1)
        page = window.pages["traffic"]
        page.model.refresh()
        await asyncio.sleep(0.2)
        rows = page.model.rowCount()
        window.grab().save(str(shot))
        stop.set()
        moved = sum(await asyncio.gather(*pumps))
        assert moved > 0
        for _, w in conns:
            w.close()
        return rows

    rows = qrun(scenario(), timeout=60)
    print(f"\nscreenshot: {shot}")
    assert rows >= 4  # both mappings, the per-port mapping and the proxy channel are listed
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert image_variance(shot) > 100  # not a blank or single-colour image
    qrun(ctl.shutdown())
    window.hide()
    window.deleteLater()
    app.tray.deleteLater()
