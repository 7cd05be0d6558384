"""Process plumbing for the benchmark: spawn, wait for a port, stop, measure memory.

Every process the harness starts gets its own session (process group) so it
can be stopped with everything it forked, and nothing else.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: its helpers
from _util import listening  # noqa: E402  (read from /proc: no probe connection)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1", interval: float = 0.002) -> float:
    """Seconds until ``host:port`` accepts a connection; TimeoutError after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return time.monotonic() - start
        except OSError:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"nothing accepted on {host}:{port} within {timeout:.0f} s") from None
            time.sleep(interval)


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Until ``port`` listens, without connecting: a probe connection through a tunnel would
    reach the service behind it (iperf3 -s takes a bare connect for a failed test)."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")
        time.sleep(0.01)


class Proc:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, argv: list[str], log: Path, *, env: dict[str, str] | None = None,
                 stdout_pipe: bool = False) -> None:
        self.argv = argv
        self.log = log
        self._logf = open(log, "ab")
        self.p = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._logf, stderr=self._logf,
            env={**os.environ, **(env or {})}, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def ready_line(self, prefix: str = "READY", timeout: float = 30.0) -> str:
        """The first stdout line starting with ``prefix`` (stdout_pipe=True)."""
        assert self.p.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.p.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = os.read(self.p.stdout.fileno(), 65536)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                break
            if chunk:
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith(prefix):
                        return line[len(prefix):].strip()
            if self.p.poll() is not None and not chunk:
                break
            time.sleep(0.01)
        raise RuntimeError(f"{self.argv[0]} never said {prefix} (exit {self.p.poll()}); see {self.log}:\n"
                           + self.tail())

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL what is left."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)  # forked children (socat, sshd sessions)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(2)
        except subprocess.TimeoutExpired:
            pass
        if self.p.stdout is not None:
            self.p.stdout.close()
        self._logf.close()


# ---------------------------------------------------------------- memory

def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pids: list[int]) -> list[int]:
    """``pids`` and all their descendants."""
    kids = _children_map()
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size (RSS with shared pages split among sharers): fair across forked peers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kib(roots: list[int]) -> int:
    return sum(pss_kib(p) for p in tree(roots))


def _cpu_ticks(pid: int, with_children: bool) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(b")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # reaped children (socat's per-connection forks)
    return ticks


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time used so far by ``roots`` (with their reaped children) and their live descendants."""
    ticks = sum(_cpu_ticks(p, True) for p in roots)
    ticks += sum(_cpu_ticks(p, False) for p in tree(roots) if p not in roots)
    return ticks / os.sysconf("SC_CLK_TCK")
