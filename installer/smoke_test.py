#!/usr/bin/env python3
"""Smoke-test a built wmproxy-gui: the PyInstaller bundle (any OS) or an installed CLI.

What it proves, with real processes and sockets on 127.0.0.1 only:
  1. `--version` prints core.__version__;
  2. `--headless-server --check` accepts a good config and rejects a broken one with a
     one-line "FILE: KEY: problem" message;
  3. a headless center server and a headless client (both from the bundle) carry bytes:
     a TCP mapping (server map_tcp_bind -> client -> local echo server) echoes random data
     byte for byte on several concurrent connections; then both stop on SIGTERM (Windows:
     CTRL_BREAK) within a bounded time;
  4. the GUI starts offscreen and quits by itself (`--smoke-test`: quit once the main window
     is shown, exit 0).

Usage:
  smoke_test.py --bundle dist/wmproxy-gui          # Linux/Windows one-folder bundle
  smoke_test.py --bundle dist/wmproxy-gui.app      # macOS app bundle
  smoke_test.py --cli wmproxy-gui-cli --no-gui     # a pip install without the gui extra
Every wait is bounded; the whole run takes a few seconds when things work.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from version import version  # noqa: E402 - installer/version.py

IS_WIN = sys.platform == "win32"
SERVER_FLAG, CLIENT_FLAG, CHECK_FLAG, GUI_SMOKE_FLAG = "--headless-server", "--headless-client", "--check", "--smoke-test"
USER, PASSWORD = "smoke", "smoke-test-password"
CONNECTIONS, PAYLOAD = 4, 256 * 1024
READY_TIMEOUT, STOP_TIMEOUT, GUI_TIMEOUT, CMD_TIMEOUT = 45.0, 15.0, 60.0, 60.0


class SmokeError(Exception):
    """A step failed; the message says which and why."""


def step(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


# ------------------------------------------------------------------ locating executables
def find_executables(bundle: Path) -> tuple[Path, Path]:
    """(gui executable, console executable) inside a bundle."""
    if bundle.suffix == ".app":
        exe = bundle / "Contents" / "MacOS" / "wmproxy-gui"
        return exe, exe
    if IS_WIN:
        return bundle / "wmproxy-gui.exe", bundle / "wmproxy-gui-cli.exe"
    exe = bundle / "wmproxy-gui"
    return exe, exe


# ------------------------------------------------------------------ helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(30)
        while data := self.request.recv(65536):
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def isolated_env(home: Path) -> dict[str, str]:
    """Keep the app away from the user's real config, keyring and single-instance socket."""
    env = dict(os.environ)
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run"),
                     ("TMPDIR", "tmp"), ("APPDATA", "appdata"), ("LOCALAPPDATA", "localappdata")):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(path)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # never touch a real keyring
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SmokeError(f"{' '.join(cmd)}: no exit within {timeout:.0f} s") from None


def tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return "(no output)"
    return "\n".join("    " + ln for ln in lines) or "    (no output)"


# ------------------------------------------------------------------ steps
def check_version(cli: Path, env: dict[str, str]) -> None:
    res = run([str(cli), "--version"], env)
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0 or version() not in out:
        raise SmokeError(f"--version: exit {res.returncode}, printed {out!r}; expected {version()!r} in it")
    step(f"--version ok: {out.splitlines()[0]}")


def write_configs(tmp: Path, center: int, public: int, echo: int) -> tuple[Path, Path]:
    server = tmp / "server.toml"
    server.write_text(
        "[server]\n"
        f'bind = "127.0.0.1:{center}"\n'
        f'username = "{USER}"\npassword = "{PASSWORD}"\n'
        f'map_tcp_bind = "127.0.0.1:{public}"\n', encoding="utf-8")
    client = tmp / "client.toml"
    client.write_text(
        "[client]\n"
        f'server = "127.0.0.1:{center}"\n'
        f'username = "{USER}"\npassword = "{PASSWORD}"\n'
        "reconnect_min = 0.2\nreconnect_max = 1.0\n"
        "[[client.mappings]]\n"
        'name = "smoke-echo"\nmode = "tcp"\n'
        f'local_addr = "127.0.0.1:{echo}"\n', encoding="utf-8")
    for p in (server, client):
        if not IS_WIN:
            p.chmod(0o600)
    return server, client


def check_config_check(cli: Path, env: dict[str, str], good: Path, tmp: Path) -> None:
    res = run([str(cli), SERVER_FLAG, CHECK_FLAG, "-c", str(good)], env)
    if res.returncode != 0:
        raise SmokeError(f"{CHECK_FLAG} rejected a good config: exit {res.returncode}: "
                         f"{(res.stderr or res.stdout).strip()}")
    bad = tmp / "broken.toml"
    bad.write_text('[server]\nbind = "127.0.0.1:notaport"\n', encoding="utf-8")
    res = run([str(cli), SERVER_FLAG, CHECK_FLAG, "-c", str(bad)], env)
    msg = (res.stderr or res.stdout).strip()
    if res.returncode == 0:
        raise SmokeError(f"{CHECK_FLAG} accepted a broken config (server.bind = 127.0.0.1:notaport)")
    if "broken.toml" not in msg or "bind" not in msg or "Traceback" in msg:
        raise SmokeError(f"{CHECK_FLAG} on a broken config should name the file and key in one line, got: {msg!r}")
    if PASSWORD in res.stdout + res.stderr:
        raise SmokeError(f"{CHECK_FLAG} printed the password")
    step(f"{CHECK_FLAG} ok: good config accepted, broken one rejected: {msg.splitlines()[-1]}")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if IS_WIN else 0
    with open(log, "wb") as fh:  # the child keeps its own handle
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, creationflags=flags)


def echo_once(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        def send() -> None:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the tunnel is not up yet and dropped us: the caller sees a short reply and retries

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = bytearray()
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.join(timeout)
        return bytes(got)


def wait_for_tunnel(port: int, procs: dict[str, subprocess.Popen], logs: dict[str, Path]) -> float:
    """Until the mapping echoes a probe (the client must have connected and announced it)."""
    t0 = time.monotonic()
    probe = b"wmproxy-gui smoke probe\n"
    last = "nothing tried"
    while time.monotonic() - t0 < READY_TIMEOUT:
        for name, p in procs.items():
            if p.poll() is not None:
                raise SmokeError(f"headless {name} exited early with {p.returncode}:\n{tail(logs[name])}")
        try:
            if echo_once(port, probe, timeout=3) == probe:
                return time.monotonic() - t0
            last = "connection closed before the echo (mapping not announced yet?)"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise SmokeError(f"tunnel not ready after {READY_TIMEOUT:.0f} s ({last})\n"
                     + "\n".join(f"  {n} log:\n{tail(logs[n])}" for n in procs))


def stop(name: str, p: subprocess.Popen, log: Path) -> str:
    if p.poll() is not None:
        raise SmokeError(f"headless {name} died before SIGTERM with {p.returncode}:\n{tail(log)}")
    if IS_WIN:
        p.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        raise SmokeError(f"headless {name} ignored {'CTRL_BREAK' if IS_WIN else 'SIGTERM'} "
                         f"for {STOP_TIMEOUT:.0f} s (killed):\n{tail(log)}") from None
    # 0 = handled the signal and shut down cleanly; -15/143 = default SIGTERM action (systemd
    # treats both as a clean stop). Windows has no signals worth the name: any exit is a stop.
    if not IS_WIN and code not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
        raise SmokeError(f"headless {name} exited with {code} on SIGTERM:\n{tail(log)}")
    return f"{name} exit {code}"


def check_tunnel(cli: Path, env: dict[str, str], tmp: Path) -> None:
    echo = EchoServer(("127.0.0.1", 0), EchoHandler)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    center, public = free_port(), free_port()
    server_cfg, client_cfg = write_configs(tmp, center, public, echo.server_address[1])
    check_config_check(cli, env, server_cfg, tmp)
    logs = {"server": tmp / "server.log", "client": tmp / "client.log"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["server"] = start([str(cli), SERVER_FLAG, "-c", str(server_cfg)], env, logs["server"])
        procs["client"] = start([str(cli), CLIENT_FLAG, "-c", str(client_cfg)], env, logs["client"])
        ready = wait_for_tunnel(public, procs, logs)
        step(f"tunnel up after {ready:.1f} s (server 127.0.0.1:{center}, mapping 127.0.0.1:{public} "
             f"-> echo 127.0.0.1:{echo.server_address[1]})")
        blobs = [os.urandom(PAYLOAD) for _ in range(CONNECTIONS)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            results = list(pool.map(lambda b: echo_once(public, b, timeout=30), blobs))
        took = time.monotonic() - t0
        for i, (sent, got) in enumerate(zip(blobs, results)):
            if got != sent:
                raise SmokeError(f"connection {i}: sent {len(sent)} bytes, got {len(got)} back "
                                 f"({'different bytes' if len(got) == len(sent) else 'short'})")
        step(f"bytes ok: {CONNECTIONS} concurrent connections x {PAYLOAD // 1024} KiB echoed "
             f"byte for byte through the tunnel in {took:.2f} s")
        for name, log in logs.items():
            if PASSWORD in log.read_text(errors="replace"):
                raise SmokeError(f"headless {name} logged the password")
        codes = [stop("client", procs.pop("client"), logs["client"]),
                 stop("server", procs.pop("server"), logs["server"])]
        step("stopped on " + ("CTRL_BREAK" if IS_WIN else "SIGTERM") + ": " + ", ".join(codes))
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)
        echo.shutdown()
        echo.server_close()


def check_gui(gui: Path, env: dict[str, str]) -> None:
    """Start the GUI offscreen with --smoke-test: it must show its window, quit by itself, exit 0."""
    env = dict(env, QT_QPA_PLATFORM="offscreen")
    t0 = time.monotonic()
    log = Path(env["TMPDIR"]) / "gui.log"
    p = start([str(gui), GUI_SMOKE_FLAG], env, log)
    try:
        code = p.wait(GUI_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        raise SmokeError(f"GUI did not quit by itself within {GUI_TIMEOUT:.0f} s of {GUI_SMOKE_FLAG}:\n"
                         f"{tail(log, 30)}") from None
    out = log.read_text(errors="replace")
    if "Traceback" in out:
        raise SmokeError(f"GUI printed a traceback:\n{tail(log, 30)}")
    if code != 0:
        raise SmokeError(f"GUI {GUI_SMOKE_FLAG}: exit {code}:\n{tail(log, 30)}")
    step(f"GUI ok: started offscreen, showed its window and quit by itself in {time.monotonic() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Smoke-test a wmproxy-gui build")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bundle", type=Path, help="PyInstaller output: dist/wmproxy-gui or dist/wmproxy-gui.app")
    where.add_argument("--cli", help="an installed console entry point (e.g. a venv's wmproxy-gui-cli)")
    ap.add_argument("--gui", help="with --cli: the GUI entry point to test too")
    ap.add_argument("--no-gui", action="store_true", help="skip the GUI step (server installs)")
    args = ap.parse_args(argv)

    if args.bundle:
        gui, cli = find_executables(args.bundle)
    else:
        cli = Path(shutil.which(args.cli) or args.cli)
        gui = Path(shutil.which(args.gui) or args.gui) if args.gui else None
    t0 = time.monotonic()
    try:
        for exe in (cli, gui):
            if exe is not None and not exe.is_file():
                raise SmokeError(f"{exe}: not found")
        with tempfile.TemporaryDirectory(prefix="wmproxy-smoke-") as tmp_s:
            tmp = Path(tmp_s)
            env = isolated_env(tmp / "home")
            check_version(cli, env)
            check_tunnel(cli, env, tmp)
            if args.no_gui or gui is None:
                step("GUI step skipped")
            else:
                check_gui(gui, env)
    except SmokeError as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    step(f"all passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
