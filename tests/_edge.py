"""A real headless server process to attack, and what the operating system says about it.

    with ServerProcess(tmp_path, {"map_http_bind": "127.0.0.1:0"}) as srv:
        srv.addr("center"), srv.addr("http")      # from its "... listening on" lines
        srv.rss_kib(), srv.fds(), srv.sockets()   # /proc/PID/status, /proc/PID/fd
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import tomli_w

from _cli_util import Proc, cli_env

USER, PASSWORD = "wmproxy", "s3cret-pass"


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_sockets(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def settle(measure, want, timeout: float = 20.0, step: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll ``measure()`` until ``want(value)``; returns the last value either way."""
    deadline = time.monotonic() + timeout
    value = measure()
    while not want(value) and time.monotonic() < deadline:
        time.sleep(step)
        value = measure()
    return value


class ServerProcess:
    """``wmproxy-gui --headless-server`` in a subprocess with a config of the test's own."""

    def __init__(self, tmp: Path, extra: dict[str, Any] | None = None, *, tls: bool = False,
                 log_level: str = "info") -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        server: dict[str, Any] = {"bind": "127.0.0.1:0", "username": USER, "password": PASSWORD, "tls": tls}
        server.update(extra or {})
        self.cfg_path = tmp / "server.toml"
        self.cfg_path.write_text(tomli_w.dumps({"server": server}))
        self.log_level = log_level
        self.proc: Proc | None = None
        self.addrs: dict[str, tuple[str, int]] = {}
        self.fingerprint = ""

    def __enter__(self) -> "ServerProcess":
        env = cli_env(self.tmp)
        self.proc = Proc(["--headless-server", "-c", str(self.cfg_path), "--log-level", self.log_level], env)
        m = self.proc.wait_line(r"center listening on (\S+):(\d+)")
        self.addrs["center"] = (m.group(1), int(m.group(2)))
        for name in ("http", "https", "tcp", "proxy"):
            key = f"map_{name}_bind"
            if key in open(self.cfg_path).read():
                m = self.proc.wait_line(rf"{name} mapping listening on (\S+):(\d+)")
                self.addrs[name] = (m.group(1), int(m.group(2)))
        m = re.search(r"sha256 (\S+)", " ".join(self.proc.lines))
        self.fingerprint = m.group(1) if m else ""
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill() if self.proc.p.poll() is None and exc[0] else self.proc.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.p.pid

    def addr(self, name: str) -> tuple[str, int]:
        return self.addrs[name]

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def fds(self) -> int:
        return proc_fds(self.pid)

    def sockets(self) -> int:
        return proc_sockets(self.pid)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.p.send_signal(signal.SIGKILL)
        self.proc.p.wait(10)

    def restart(self) -> None:
        """Start the same config again (after ``kill9``): the same ports when they were fixed."""
        self.addrs.clear()
        self.__enter__()

    def stderr(self) -> list[str]:
        assert self.proc is not None
        return list(self.proc.stderr_lines)
