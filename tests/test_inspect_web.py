"""The inspector's web page in real headless Chromium (Debian's package), driven over the DevTools
protocol: the list shows a captured webhook, the detail opens with the pretty JSON, Replay adds a row.
A screenshot is written to the test's tmp dir (and to $WMPROXY_GUI_SCREENSHOTS when set)."""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from _servers import HttpTarget
from _util import curl, run, until
from core.config import MappingConfig
from test_inspect import WEBHOOK, hook_post, tunnel

pytestmark = pytest.mark.timeout(150)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytestmark = [pytestmark, pytest.mark.skipif(os.environ.get("CI") != "true", reason="chromium not installed")]


class DevTools:
    """A minimal DevTools-protocol client over one page's websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self._ids)
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expr: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def until(self, expr: str, what: str, timeout: float = 20) -> Any:
        for _ in range(int(timeout / 0.1)):
            v = await self.js(expr)
            if v:
                return v
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} ({expr})")


async def start_chromium(url: str, profile: Path) -> tuple[asyncio.subprocess.Process, str]:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1400,900", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    for _ in range(300):
        if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
            break
        await asyncio.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("chromium did not open its DevTools port")
    port = int(port_file.read_text().splitlines()[0])
    for _ in range(100):
        code, out, _err = await curl(f"http://127.0.0.1:{port}/json/list")
        pages = [t for t in json.loads(out or "[]") if t.get("type") == "page"] if code == 0 else []
        if pages:
            return proc, pages[0]["webSocketDebuggerUrl"]
        await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("chromium shows no page")


def _connect(url: str):  # type: ignore[no-untyped-def]
    try:
        from websockets.asyncio.client import connect
    except ImportError:  # websockets < 13
        from websockets import connect  # type: ignore[no-redef]
    return connect(url, max_size=None)


def test_web_page_lists_details_and_replays(tmp_path: Path) -> None:
    shot = tmp_path / "inspector-web.png"

    async def main() -> None:
        with HttpTarget() as service:
            m = MappingConfig(name="web", mode="http", local_addr=service.authority, domain="app.test")
            async with tunnel([m]) as t:
                code, out, err = await curl("-H", "Host: app.test", t.public("/status/404"))
                assert code == 0, err
                code, out, err = await curl(*hook_post(t))
                assert code == 0 and json.loads(out) == WEBHOOK, err
                await until(lambda: len(t.ring) == 2, "captured")
                proc, ws_url = await start_chromium(t.api.url, tmp_path / "chromium-profile")
                try:
                    async with _connect(ws_url) as ws:
                        dt = DevTools(ws)
                        await dt.call("Runtime.enable")
                        await dt.until("document.querySelectorAll('#list tbody tr').length === 2", "two rows")
                        cells = await dt.js("[...document.querySelectorAll('#list tbody tr')]"
                                            ".map(r => [...r.cells].map(c => c.textContent))")
                        post, missing = cells
                        assert post[1:5] == ["web", "POST", "/hook?source=gh", "200"]
                        assert missing[2:5] == ["GET", "/status/404", "404"]
                        await dt.js("document.querySelector('#list tbody tr').click()")
                        await dt.until("!document.getElementById('detail-pane').hidden && "
                                       "document.getElementById('d-req-body').textContent.length > 0", "detail")
                        assert await dt.js("document.getElementById('d-title').textContent") == "POST /hook?source=gh"
                        body = await dt.js("document.getElementById('d-req-body').textContent")
                        assert json.loads(body) == WEBHOOK and body.startswith("{\n  ")
                        headers = await dt.js("document.getElementById('d-req-headers').textContent")
                        assert "X-Hub-Signature-256sha256=abc123" in headers
                        before = len(service.requests)
                        await dt.js("document.getElementById('replay').click()")
                        await dt.until("document.querySelectorAll('#list tbody tr').length === 3", "replay row")
                        tag = await dt.js("document.querySelector('#list tbody tr .tag')?.textContent")
                        assert tag == "replay"
                        assert len(service.requests) == before + 1 and service.requests[-1].body == \
                            json.dumps(WEBHOOK).encode()
                        status = await dt.js("document.getElementById('d-status').textContent")
                        assert status.startswith("Replayed")
                        await dt.js("document.querySelector('#list tbody tr').click()")  # open the replay
                        await dt.until("document.getElementById('d-summary').textContent.includes('Replay of')",
                                       "replay detail")
                        png = await dt.call("Page.captureScreenshot", format="png")
                        shot.write_bytes(base64.b64decode(png["data"]))
                finally:
                    proc.kill()
                    await proc.wait()

    run(main(), 120)
    assert shot.stat().st_size > 10_000
    out_dir = os.environ.get("WMPROXY_GUI_SCREENSHOTS")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(out_dir) / shot.name)
