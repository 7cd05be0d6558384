"""The Inspector page over real traffic: a CenterServer on loopback, the controller connecting a profile
with an http mapping to a recording local service, real curl requests (a webhook-style JSON POST among
them); the page lists them, filters, shows details, replays and edits-and-replays."""
from __future__ import annotations

import json
import subprocess

import pytest
from conftest import wait_until  # tests/gui/conftest.py

from _servers import HttpTarget
from core.config import ClientConfig, MappingConfig
from wmproxy_gui.pages.inspector_model import RequestTableModel
from wmproxy_gui.pages.inspector_page import InspectorPage
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(120)

HOOK = {"action": "opened", "number": 7}


def curl(*args: str) -> str:
    r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_inspector_lists_filters_details_replays(controller, profile_store, center_server, qrun, qtbot):
    srv = center_server()
    with HttpTarget() as service:
        p = profile_store.upsert(Profile(new_id(), "Dev", ClientConfig(
            server="%s:%d" % srv.addresses["center"], reconnect_min=0.1, reconnect_max=0.5,
            mappings=[MappingConfig("hooks", "http", service.authority, domain="hooks.test"),
                      MappingConfig("private", "http", service.authority, domain="private.test", inspect=False)])))
        page = InspectorPage(controller)
        qtbot.addWidget(page)
        page.resize(1100, 700)
        page.show()
        host, port = srv.addresses["http"]
        base = f"http://{host}:{port}"

        async def scenario() -> None:
            await controller.start_services(inspector_api=True)
            assert await controller.connect_profile(p.id)
            await wait_until(lambda: controller.state(p.id) == "connected", 15, "connected")
            await wait_until(lambda: srv.router.for_host("http", "private.test") is not None, 10, "routed")
            loop = __import__("asyncio").get_running_loop()

            def traffic() -> None:
                curl("-H", "Host: hooks.test", f"{base}/status/404")
                curl("-H", "Host: hooks.test", "-H", "Content-Type: application/json", "-H", "X-Signature: s1",
                     "--data-binary", json.dumps(HOOK), f"{base}/webhook?attempt=1")
                curl("-H", "Host: hooks.test", "-H", "Content-Type: application/json", "--data-binary",
                     '{"broken": tru}', f"{base}/bad")
                curl("-H", "Host: private.test", "-d", "password=hunter2", f"{base}/login")

            await loop.run_in_executor(None, traffic)
            await wait_until(lambda: page.model.rowCount() == 3, 10, "three rows (private not captured)")
            assert {page.model.exchange(i).tunnel_name for i in range(3)} == {"hooks"}
            assert page.list_stack.currentWidget() is page.table
            # newest first; filters by method, status class, path and mapping
            first = page.proxy.index(0, RequestTableModel.PATH).data()
            assert first == "/bad"
            page.method_filter.setCurrentIndex(page.method_filter.findData("POST"))
            assert page.proxy.rowCount() == 2
            page.status_filter.setCurrentIndex(page.status_filter.findData("4xx"))
            assert page.proxy.rowCount() == 0
            page.method_filter.setCurrentIndex(0)
            assert page.proxy.rowCount() == 1  # the 404
            page.status_filter.setCurrentIndex(0)
            page.path_filter.setText("webhook")
            assert page.proxy.rowCount() == 1
            assert page.mapping_filter.findData("hooks") > 0 and page.mapping_filter.findData("private") < 0
            # detail of the webhook
            page.table.selectRow(0)
            ex = page.current
            assert ex is not None and ex.uri == "/webhook?attempt=1"
            assert page.title.text() == "POST http://hooks.test/webhook?attempt=1"
            assert json.loads(page.req_body.text.toPlainText()) == HOOK
            assert page.req_body.text.toPlainText().startswith("{\n  ")
            assert "X-Signature: s1" in page.req_headers.toPlainText()
            assert page.query.toPlainText() == "attempt = 1"
            assert "200 OK" in page.summary.text() and "hooks" in page.summary.text()
            assert json.loads(page.resp_body.text.toPlainText()) == HOOK  # the service echoes it
            # replay -> the service sees the same request again; a new row marked replay
            orig = next(r for r in service.requests if r.path == "/webhook?attempt=1")
            await page.replay()
            await wait_until(lambda: page.status.text().startswith("Replayed: 200"), 5, "replay reported")
            again = service.requests[-1]
            assert (again.method, again.path, again.headers, again.body) == \
                   (orig.method, orig.path, orig.headers, orig.body)
            page.path_filter.clear()
            page.model.refresh()
            assert page.model.rowCount() == 4
            newest = page.proxy.index(0, RequestTableModel.PATH).data()
            assert newest.startswith("/webhook?attempt=1") and "replay" in newest
            # edit and replay through the dialog
            page.select(ex.id)
            page.edit_and_replay()
            await wait_until(lambda: page.dialog is not None and page.dialog.isVisible(), 5, "dialog")
            dlg = page.dialog
            dlg.method.setCurrentText("PUT")
            dlg.path.setText("/webhook?attempt=2")
            dlg.headers.setPlainText(dlg.headers.toPlainText().replace("X-Signature: s1", "X-Signature: edited"))
            dlg.body.setPlainText('{"action": "closed"}')
            dlg.ok.click()
            await wait_until(lambda: service.requests[-1].path == "/webhook?attempt=2", 10, "edited replay")
            got = service.requests[-1]
            assert got.method == "PUT" and got.header("X-Signature") == "edited"
            assert got.body == b'{"action": "closed"}' and got.header("Content-Length") == "20"
            # invalid JSON is marked
            page.path_filter.setText("/bad")
            page.table.selectRow(0)
            assert not page.req_body.error.isHidden() and "line 1 column" in page.req_body.error.text()
            assert page.req_body.text.extraSelections()
            # copy as curl
            page.copy_curl()
            from PySide6.QtGui import QGuiApplication

            assert QGuiApplication.clipboard().text().startswith("curl -X POST")
            # the API is served, and the page says where
            assert controller.inspector_api is not None and controller.inspector_api.url in page.api_label.text()
            page.clear()
            assert page.model.rowCount() == 0 and page.list_stack.currentWidget() is page.empty

        qrun(scenario(), timeout=90)
