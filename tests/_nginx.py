"""A real nginx started by a test: its own config and files in a temp dir, loopback only.

    with Nginx(tmp_path, http_block) as n:   # http_block: the inside of nginx's http { }
        ...                                  # n.port(name) gives a port reserved as {port:name}

Placeholders ``{port:NAME}`` in the block are replaced by free loopback ports,
``{root}`` by the temp dir. nginx runs in the foreground without a master
process (no user switch, no pid games), and is stopped at exit.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from _util import stop_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(program: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    if path is None:
        pytest.fail(f"{program} is not installed: run tests/setup.sh", pytrace=False)
    return path


class Nginx:
    def __init__(self, tmp: Path, http_block: str) -> None:
        self.root = tmp / "nginx"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports: dict[str, int] = {}

        def port(m: re.Match[str]) -> str:
            return str(self.ports.setdefault(m.group(1), _free_port()))

        block = re.sub(r"\{port:(\w+)\}", port, http_block).replace("{root}", str(self.root))
        temps = "\n".join(f"  {k}_temp_path {self.root}/{k};" for k in ("client_body", "proxy", "fastcgi",
                                                                        "uwsgi", "scgi"))
        self.conf = self.root / "nginx.conf"
        self.conf.write_text(
            f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {self.root}/nginx.pid;\n"
            f"error_log {self.root}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log off;\n{temps}\n{block}\n}}\n")
        self.proc: subprocess.Popen | None = None

    def port(self, name: str) -> int:
        return self.ports[name]

    def __enter__(self) -> "Nginx":
        binary = need("nginx")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf), "-p", str(self.root)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        for p in self.ports.values():
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()[-2000:]}"
                                       f"{(self.root / 'error.log').read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", p), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"nginx did not listen on {p} within 10 s")
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)

    def errors(self) -> str:
        p = self.root / "error.log"
        return p.read_text() if p.exists() else ""
