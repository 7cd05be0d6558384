"""Screenshots of the Inspector, History and Settings pages with real traffic, in one language and scale.

    python tests/gui/_shoot_pages.py OUT_DIR LANG SCALE

Run as a subprocess (QT_SCALE_FACTOR must be set before Qt starts) with private XDG dirs; writes
inspector-LANG-SCALEx.png, history-LANG-SCALEx.png and settings-LANG-SCALEx.png into OUT_DIR.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

out_dir, lang, scale = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
os.environ["QT_SCALE_FACTOR"] = scale
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for _servers

from PySide6.QtWidgets import QApplication  # noqa: E402

from _servers import HttpTarget  # noqa: E402
from core.config import ClientConfig, MappingConfig, ServerConfig  # noqa: E402
from core.server import CenterServer  # noqa: E402


def curl(*args: str) -> None:
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "20", *args], check=True, timeout=30)


async def main(qapp: QApplication) -> None:
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.profiles import Profile, ProfileStore, new_id
    from wmproxy_gui.settings import SettingsStore

    tmp = Path(os.environ["XDG_CONFIG_HOME"])
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", map_http_bind="127.0.0.1:0"))
    await srv.start()
    with HttpTarget() as service:
        store = ProfileStore(tmp / "profiles.toml", keyring_service_prefix=f"shoot-{os.getpid()}")
        p = store.upsert(Profile(new_id(), "Dev", ClientConfig(
            server="%s:%d" % srv.addresses["center"],
            mappings=[MappingConfig("hooks", "http", service.authority, domain="hooks.test"),
                      MappingConfig("shop", "http", service.authority, domain="shop.test")])))
        settings_store = SettingsStore(tmp / "settings.toml")
        settings = settings_store.load()
        settings.language = lang
        app = Application(qapp, settings_store=settings_store, settings=settings, store=store, log_sink=LogSink())
        ctl, window = app.controller, app.window
        await ctl.start_services(True)
        assert await ctl.connect_profile(p.id)
        for _ in range(500):
            if srv.router.for_host("http", "shop.test"):
                break
            await asyncio.sleep(0.02)
        host, port = srv.addresses["http"]
        base = f"http://{host}:{port}"
        loop = asyncio.get_running_loop()

        def traffic() -> None:
            hook = {"action": "opened", "number": 7, "repository": {"full_name": "octo/hello"}}
            for i in range(3):
                curl("-H", "Host: shop.test", f"{base}/products?page={i}")
            curl("-H", "Host: shop.test", f"{base}/bytes/250000")
            curl("-H", "Host: shop.test", f"{base}/status/404")
            curl("-H", "Host: hooks.test", "-H", "Content-Type: application/json", "-H",
                 "X-Hub-Signature-256: sha256=4f1c9e0a", "--data-binary", json.dumps(hook), f"{base}/webhook?source=gh")
            curl("-H", "Host: shop.test", "-d", "user=ana&remember=1", f"{base}/login")

        await loop.run_in_executor(None, traffic)
        window.resize(1180, 740)
        window.show()
        page = window.show_page("inspector")
        for _ in range(200):
            page.model.refresh()
            if page.model.rowCount() >= 7:
                break
            await asyncio.sleep(0.05)
        hook = next(e for e in ctl.capture.items() if e.uri.startswith("/webhook"))
        page.select(hook.id)
        page.tabs.setCurrentIndex(1)
        await asyncio.sleep(0.3)
        window.grab().save(str(out_dir / f"inspector-{lang}-{scale}x.png"))
        hist = window.show_page("history")
        await asyncio.sleep(0.1)
        task = hist.refresh()
        if task is not None:
            await task
        await asyncio.sleep(0.3)
        window.grab().save(str(out_dir / f"history-{lang}-{scale}x.png"))
        window.show_page("settings")
        await asyncio.sleep(0.3)
        window.grab().save(str(out_dir / f"settings-{lang}-{scale}x.png"))
        await ctl.shutdown()
        window.hide()
    await srv.stop()


if __name__ == "__main__":
    import qasync

    from wmproxy_gui.app import install_translators

    qapp = QApplication([sys.argv[0]])
    translators = install_translators(qapp, lang)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    started = time.monotonic()
    with loop:
        loop.run_until_complete(asyncio.wait_for(main(qapp), 90))
    print(f"shots in {out_dir} ({time.monotonic() - started:.1f} s)")
