"""The History page over real traffic (controller + CenterServer + curl through an http mapping), CSV
export, and screenshots of the Inspector / History / Settings pages in English at 100 % and 简体中文 at 200 %
(a subprocess each: QT_SCALE_FACTOR must be set before Qt starts). PNGs go to the test's tmp dir and, when
$WMPROXY_GUI_SCREENSHOTS is set, there too."""
from __future__ import annotations

import asyncio
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_until  # tests/gui/conftest.py

from _servers import HttpTarget
from core.config import ClientConfig, MappingConfig
from core.history import HistoryRecorder
from wmproxy_gui.pages.history_model import HistoryTotalsModel
from wmproxy_gui.pages.history_page import HistoryPage
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(150)
HERE = Path(__file__).resolve().parent


def test_history_page_shows_recorded_traffic_and_exports_csv(controller, profile_store, center_server, qrun, qtbot,
                                                            tmp_path):
    srv = center_server()
    with HttpTarget() as service:
        p = profile_store.upsert(Profile(new_id(), "Dev", ClientConfig(
            server="%s:%d" % srv.addresses["center"],
            mappings=[MappingConfig("site", "http", service.authority, domain="site.test")])))
        controller.history = HistoryRecorder(controller.stats, tmp_path / "history.sqlite3", flush_interval=3600)
        page = HistoryPage(controller)
        qtbot.addWidget(page)
        page.show()

        async def scenario() -> None:
            assert await controller.history.start()
            assert await controller.connect_profile(p.id)
            await wait_until(lambda: srv.router.for_host("http", "site.test") is not None, 15, "routed")
            host, port = srv.addresses["http"]

            def traffic() -> None:
                for _ in range(3):
                    subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", "Host: site.test",
                                    f"http://{host}:{port}/bytes/100000"], check=True, timeout=30)

            await asyncio.get_running_loop().run_in_executor(None, traffic)
            await wait_until(lambda: not controller.stats.channels, 10, "channels closed")
            await page.refresh()  # flushes the recorder, then reads in an executor
            assert page.totals.rowCount() == 1
            assert page.totals.index(0, HistoryTotalsModel.NAME).data() == "site"
            assert page.totals.index(0, HistoryTotalsModel.CONNS).data() == "3"
            assert page.snapshot.day[("client", "mapping", "site")].up >= 300_000
            assert sum(pt.up for pt in page.snapshot.hourly) >= 300_000 and len(page.snapshot.hourly) == 24
            assert len(page.snapshot.daily) == 30 and page.daily.peak() >= 300_000
            assert page.which.findData("client\x1fmapping\x1fsite") > 0
            page.show_key(("client", "mapping", "site"))
            await page.refresh()
            assert sum(pt.up for pt in page.snapshot.hourly) >= 300_000
            await page.export_to(tmp_path / "out.csv")
            rows = list(csv.reader(open(tmp_path / "out.csv", encoding="utf-8")))
            assert rows[0][:4] == ["day", "role", "kind", "name"] and rows[1][1:4] == ["client", "mapping", "site"]
            assert int(rows[1][4]) >= 300_000 and rows[1][6] == "3"
            assert "Exported 1 rows" in page.note.text()

        qrun(scenario(), timeout=90)


@pytest.mark.parametrize("lang,scale", [("en", "1"), ("zh_CN", "2")])
def test_page_screenshots(lang: str, scale: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    for d in ("cfg", "data", "home"):
        (tmp_path / d).mkdir()
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"),
               QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, str(HERE / "_shoot_pages.py"), str(tmp_path), lang, scale], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    from test_screenshot import image_variance

    out = os.environ.get("WMPROXY_GUI_SCREENSHOTS")
    for page in ("inspector", "history", "settings"):
        shot = tmp_path / f"{page}-{lang}-{scale}x.png"
        assert shot.stat().st_size > 10_000 and image_variance(shot) > 100
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(out) / shot.name)
