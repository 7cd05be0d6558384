"""Shared setup for the GUI tests (both GUI engineers' tests rely on it).

Environment (set when this file is imported, before any test creates a QApplication):
  * ``QT_QPA_PLATFORM=offscreen`` - no display needed (tests that want a real X server start
    their own Xvfb and run a subprocess with ``QT_QPA_PLATFORM=xcb``, see test_tray_x11.py);
  * ``HOME``, ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME``, ``XDG_CACHE_HOME`` point at
    one temporary directory per test session, so core.paths / platformdirs never touch the real
    user's files (``XDG_RUNTIME_DIR`` too, when the environment has none).

Fixtures (all generic):
  * ``gui_dirs`` (session)       -> GuiDirs: home, config_home, data_home, state_home, cache_home.
  * ``qasync_loop``              -> a qasync.QEventLoop on pytest-qt's ``qapp``, set as the current
                                    asyncio loop for the test and closed afterwards.
  * ``qrun``                     -> ``qrun(coro, timeout=30)``: run a coroutine to completion on that
                                    loop (Qt events and signals are processed meanwhile).
  * ``wait_until`` (plain helper, importable) -> ``await wait_until(pred, timeout, what)``.
  * ``secret_service`` (session) -> makes the ``keyring`` library work: uses the Secret Service of
                                    the environment (CI runs under dbus-run-session with
                                    gnome-keyring) or starts a private dbus-daemon +
                                    gnome-keyring-daemon for the session. Fails when CI=true and
                                    none can be had, skips otherwise.
  * ``profile_store``            -> a ProfileStore in tmp_path with a unique keyring prefix (its
                                    keyring entries are deleted after the test). Request
                                    ``secret_service`` too when the test stores passwords.
  * ``center_server``            -> factory ``start(cfg=None, **overrides) -> CenterServer``: a real
                                    server on 127.0.0.1:0 (mapping listeners on :0 too by default),
                                    run on ``qasync_loop``, stopped after the test.
  * ``controller``               -> a TunnelController over ``profile_store``, shut down afterwards.
The root tests/conftest.py adds ``echo_server``, ``run`` and ``free_port``.
"""
from __future__ import annotations

import gc
import os
import shutil
import subprocess
import tempfile
import time
import uuid

_ROOT = tempfile.mkdtemp(prefix="wmproxy-gui-tests-")
os.environ["QT_QPA_PLATFORM"] = "offscreen"
for _var, _sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                   ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
    os.makedirs(os.path.join(_ROOT, _sub), mode=0o700, exist_ok=True)
    os.environ[_var] = os.path.join(_ROOT, _sub)
if not os.environ.get("XDG_RUNTIME_DIR"):
    os.makedirs(os.path.join(_ROOT, "runtime"), mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = os.path.join(_ROOT, "runtime")

import asyncio  # noqa: E402  (the environment above must be set first)
from collections.abc import Callable, Coroutine, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import pytest  # noqa: E402
from _util import stop_process  # noqa: E402  (tests/_util.py)

T = TypeVar("T")


@dataclass(frozen=True)
class GuiDirs:
    root: Path
    home: Path
    config_home: Path
    data_home: Path
    state_home: Path
    cache_home: Path


@pytest.fixture(scope="session")
def gui_dirs() -> GuiDirs:
    r = Path(_ROOT)
    return GuiDirs(r, r / "home", r / "config", r / "data", r / "state", r / "cache")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_ROOT, ignore_errors=True)


# ------------------------------------------------------------------ asyncio on Qt
@pytest.fixture
def qasync_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync
    import shiboken6

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.close()
        asyncio.set_event_loop(None)
        # qasync's timer QObject keeps its Qt timers registered after close(). Left to the garbage
        # collector it may be destroyed at a random moment *inside* Qt's timer dispatch of a later
        # test, which segfaults (QTimerInfoList::activateTimers -> deleted object). Destroy it here,
        # outside any event loop.
        timer = getattr(loop, "_timer", None)
        if timer is not None:
            shiboken6.delete(timer)
        gc.collect()


@pytest.fixture
def qrun(qasync_loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    def qrun(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return qasync_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    return qrun


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ keyring
def _keyring_works() -> bool:
    import keyring
    import keyring.backend
    import keyring.core

    # Re-detect: the bus address may have just changed, and keyring caches which backends are viable.
    reset = getattr(keyring.backend.get_all_keyring, "reset", None)
    if reset is not None:
        reset()
    keyring.core.init_backend()
    try:
        keyring.get_password("wmproxy-gui-test-probe", "probe")
        return True
    except Exception:  # NoKeyringError, dbus errors, locked collection...
        return False


@pytest.fixture(scope="session")
def secret_service() -> Iterator[None]:
    if _keyring_works():
        yield
        return
    procs: list[subprocess.Popen[bytes]] = []
    saved = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    try:
        if shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon"):
            bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            procs.append(bus)
            assert bus.stdout is not None
            addr = bus.stdout.readline().decode().strip()
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = addr
            kr = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(kr)
            assert kr.stdin is not None
            kr.stdin.write(b"test-keyring-pw")
            kr.stdin.close()
            deadline = time.monotonic() + 15
            while not _keyring_works() and time.monotonic() < deadline:
                time.sleep(0.2)
        if not _keyring_works():
            msg = "no Secret Service keyring reachable (and dbus-daemon/gnome-keyring-daemon could not provide one)"
            if os.environ.get("CI") == "true":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        yield
    finally:
        for p in reversed(procs):
            stop_process(p, grace=5)
        if procs:
            if saved is None:
                os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved


# ------------------------------------------------------------------ app objects
@pytest.fixture
def profile_store(tmp_path: Path) -> Iterator[Any]:
    from wmproxy_gui.profiles import ProfileStore

    store = ProfileStore(tmp_path / "profiles.toml", keyring_service_prefix=f"wmproxy-gui-test-{uuid.uuid4().hex[:8]}")
    yield store
    try:
        for p in store.profiles():
            store.delete(p.id)
    except Exception:  # no keyring in this test: nothing was stored there
        pass


@pytest.fixture
def center_server(qrun: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    from core.config import ServerConfig
    from core.server import CenterServer

    started: list[Any] = []

    def start(cfg: ServerConfig | None = None, stats: Any = None, **overrides: Any) -> CenterServer:
        if cfg is None:
            cfg = ServerConfig(bind="127.0.0.1:0", map_tcp_bind="127.0.0.1:0", map_http_bind="127.0.0.1:0")
        for k, v in overrides.items():
            setattr(cfg, k, v)
        srv = CenterServer(cfg, stats)
        qrun(srv.start())
        started.append(srv)
        return srv

    yield start
    for srv in started:
        qrun(srv.stop())


@pytest.fixture
def controller(profile_store: Any, qasync_loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    from wmproxy_gui.controller import TunnelController

    ctl = TunnelController(profile_store)
    yield ctl
    qasync_loop.run_until_complete(asyncio.wait_for(ctl.shutdown(), 30))
    ctl.deleteLater()
