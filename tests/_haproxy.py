"""A real HAProxy started by a test: its own config in a temp dir, loopback only, foreground.

    with HAProxy(tmp_path, config_text) as h:   # {port:NAME} placeholders become free ports;
        h.port("front")                          # names starting "front" are waited for
"""
from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

from _nginx import need
from _util import listening, stop_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HAProxy:
    def __init__(self, tmp: Path, config: str) -> None:
        self.root = tmp / "haproxy"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports: dict[str, int] = {}

        def port(m: re.Match[str]) -> str:
            return str(self.ports.setdefault(m.group(1), _free_port()))

        self.cfg = self.root / "haproxy.cfg"
        self.cfg.write_text(re.sub(r"\{port:(\w+)\}", port, config))
        self.proc: subprocess.Popen | None = None

    def port(self, name: str) -> int:
        return self.ports[name]

    def __enter__(self) -> "HAProxy":
        binary = need("haproxy")
        check = subprocess.run([binary, "-c", "-f", str(self.cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"bad haproxy config: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen([binary, "-db", "-f", str(self.cfg)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        for name, p in self.ports.items():
            if not name.startswith("front"):
                continue
            while not listening(p):  # without connecting: a probe would reach the backends
                if self.proc.poll() is not None:
                    raise RuntimeError(f"haproxy exited: {self.proc.stdout.read()[-2000:]}")  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise RuntimeError(f"haproxy did not listen on {p} within 10 s")
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)
