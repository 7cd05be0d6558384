"""The X server goes away under a running tray app: the tunnel is closed cleanly, no traceback, exit 0.

Real parts: Xvfb, the app on xcb in a child process connected (auto-connect) to a headless center
server in another child process. Killing Xvfb ends Qt's event loop; the app must still run its
shutdown (the server sees the link closed by the client, not just vanish) and say so in its log.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import ClientConfig
from wmproxy_gui.profiles import Profile, ProfileStore, new_id

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


def _start_xvfb(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
                            pass_fds=(wfd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(wfd)
    number = b""
    deadline = time.monotonic() + 20
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        number += os.read(rfd, 16)
    os.close(rfd)
    assert number.strip().isdigit(), "Xvfb did not start"
    return xvfb, f":{number.decode().strip()}"


def _wait_for(path: Path, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = path.read_text("utf-8", "replace") if path.exists() else ""
        if text in got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}:\n{got[-3000:]}")


def test_tunnel_closes_cleanly_when_the_display_goes_away(tmp_path: Path):
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb is not installed (tests/setup.sh installs it)", pytrace=False)
        pytest.skip("Xvfb is not installed")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
        (tmp_path / sub).mkdir(mode=0o700)
        env[var] = str(tmp_path / sub)
    server_cfg = tmp_path / "server.toml"
    server_cfg.write_text('[server]\nbind = "127.0.0.1:0"\n')
    server_log = tmp_path / "server.err"
    server = subprocess.Popen([sys.executable, "-m", "wmproxy_gui.cli", "--headless-server", "-c", str(server_cfg)],
                              env=env, stdout=subprocess.PIPE, stderr=open(server_log, "wb"), text=True)
    xvfb = app = None
    try:
        line = server.stdout.readline()  # "wmproxy-gui: center listening on 127.0.0.1:PORT"
        port = int(line.rsplit(":", 1)[1].split()[0])
        ProfileStore(tmp_path / "config" / "wmproxy-gui" / "profiles.toml").upsert(
            Profile(new_id(), "Lab", ClientConfig(server=f"127.0.0.1:{port}"), auto_connect=True))
        xvfb, display = _start_xvfb(tmp_path)
        app = subprocess.Popen([sys.executable, "-m", "wmproxy_gui", "--minimized"],
                               env=dict(env, DISPLAY=display, QT_QPA_PLATFORM="xcb"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log = tmp_path / "state" / "wmproxy-gui" / "log" / "wmproxy-gui.log"
        _wait_for(log, "connected to 127.0.0.1")
        xvfb.kill()  # the display goes away
        xvfb.wait(10)
        rc = app.wait(60)
        stderr = app.stderr.read().decode("utf-8", "replace")
        text = log.read_text("utf-8")
        assert rc == 0, stderr
        assert "Traceback" not in stderr and "no running event loop" not in stderr
        assert "disconnecting profile 'Lab'" in text and "tunnels closed after the display went away" in text
        assert "exited cleanly" in text
    finally:
        for p in (app, xvfb):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
        server.terminate()
        server.wait(10)
