"""Helpers for tests that run ``wmproxy-gui`` as a real subprocess.

``Proc`` reads the child's stdout on a thread so tests can wait for a status
line (``center listening on ...``) with a timeout, then stop the child with
SIGTERM and collect its exit code. ``qt_poison_dir`` makes PySide6, qasync and
keyring unimportable in the child: the headless paths must run without them.
"""
from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0

_POISON = 'raise ImportError("{name} must not be imported by the headless paths")\n'


def qt_poison_dir(tmp: Path) -> Path:
    """A directory that, first on PYTHONPATH, makes the GUI-only packages fail to import."""
    d = tmp / "no-gui-packages"
    for name in ("PySide6", "qasync", "keyring", "shiboken6"):
        pkg = d / name
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(_POISON.format(name=name))
    return d


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a child: private HOME/XDG dirs under ``tmp``, repo importable, GUI packages poisoned."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WMPROXY_GUI_"))}
    env.update(
        HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
        XDG_DATA_HOME=str(tmp / "xdg-data"),
        XDG_STATE_HOME=str(tmp / "xdg-state"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),
        PYTHONPATH=os.pathsep.join([str(qt_poison_dir(tmp)), str(REPO)]),
        PYTHONUNBUFFERED="1",
    )
    (tmp / "home").mkdir(exist_ok=True)
    env.update(extra)
    return env


class Proc:
    """A running ``python -m wmproxy_gui.cli ...`` with line-by-line access to its stdout."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.args = args
        self.p = subprocess.Popen([sys.executable, "-m", "wmproxy_gui.cli", *args], env=env, cwd=cwd or REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.p.stdout, self._q), daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    @staticmethod
    def _pump(stream, q: queue.Queue[str | None]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def _pump_err(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = LINE_TIMEOUT) -> re.Match[str]:
        """The first stdout line (from now on, or already seen) matching ``pattern``."""
        rx = re.compile(pattern)
        for line in self.lines:
            m = rx.search(line)
            if m:
                return m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; "
                                     f"stdout={self.lines} stderr={self.stderr_lines[-15:]}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.p.wait(EXIT_TIMEOUT)
                raise AssertionError(f"process exited ({self.p.returncode}) before printing {pattern!r}; "
                                     f"stdout={self.lines} stderr={self.stderr_lines[-15:]}")
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def drain(self) -> None:
        """Collect whatever stdout is left (after the process exited)."""
        while True:
            try:
                line = self._q.get(timeout=5)
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit code (kills after EXIT_TIMEOUT and fails)."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            code = self.p.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(EXIT_TIMEOUT)
            raise AssertionError(f"{self.args} did not exit within {EXIT_TIMEOUT:.0f} s of signal {sig}")
        self.drain()
        return code

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(EXIT_TIMEOUT)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for --check / --version / errors)."""
    return subprocess.run([sys.executable, "-m", "wmproxy_gui.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``port`` and a server could bind it again (SO_REUSEADDR, as servers do)."""
    with socket.socket() as c:
        c.settimeout(5)
        if c.connect_ex((host, port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen()
        except OSError:
            return False
    return True


def free_port_block(count: int, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port such that base .. base+count-1 were all free a moment ago.

    Picked below Linux's ephemeral range (32768+), so outgoing connections of
    other tests do not grab one of them before the server binds; probed with
    SO_REUSEADDR like the server itself binds (TIME_WAIT leftovers do not count).
    """
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20000, 32700)
        socks = []
        try:
            for p in range(base, base + count):
                t = socket.socket()
                socks.append(t)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((host, p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError(f"no block of {count} free ports found")
