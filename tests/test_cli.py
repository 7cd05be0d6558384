"""wmproxy_gui/cli.py and core/headless.py: flags, one-line errors, Qt-free headless runs end to end."""
from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from _cli_util import REPO, Proc, cli_env, free_port_block, port_is_free, run_cli
from core import __version__, headless, tls
from core.config import load_config
from core.errors import ConfigError
from wmproxy_gui import cli

pytestmark = pytest.mark.timeout(120)

UPSTREAM = Path(__file__).resolve().parent / "data" / "upstream"
ROUND_TRIPS = 8  # echo exchanges through the tunnel in the end-to-end test


@pytest.fixture(autouse=True)
def _quiet_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process main() must not attach handlers to pytest's captured stderr."""
    monkeypatch.setattr(headless, "setup_logging", lambda level="info": None)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("wmproxy-gui: error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------- in-process: flags and messages

def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"wmproxy-gui {__version__}\n"


def test_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path / "c.toml", '[client]\nserver = "h:1"\n[[client.mappings]]\nname = "t"\nmode = "tcp"\n'
                                     'local_addr = "127.0.0.1:22"\n')
    assert cli.main(["--check", "-c", str(cfg)]) == 0
    out = capsys.readouterr()
    assert out.out == f"wmproxy-gui: {cfg}: ok (client to h:1, 1 mapping(s), 0 proxy listener(s))\n"
    assert out.err == ""
    assert cli.main(["--headless-client", "--check", "--config", str(cfg)]) == 0


@pytest.mark.parametrize("text, key, problem", [
    ('[[client.mappings]]\nname = "w"\nmode = "htp"\nlocal_addr = "h:1"\n', "client.mappings[0].mode",
     "'htp' is not one of http, https, tcp, proxy"),
    ('[server]\nbind = "0.0.0.0:99999"\n', "server.bind", "'0.0.0.0:99999': port 99999 is out of range 0-65535"),
    ('[client]\nwindow = 0\n', "client.window", "must be greater than 0, got 0"),
    ('[client]\nsurprise = 1\n', "client.surprise", "unknown key"),
])
@pytest.mark.parametrize("mode", [[], ["--headless-client"]])
def test_bad_config_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str,
                                   problem: str, mode: list[str]) -> None:
    cfg = write(tmp_path / "bad.toml", text)
    assert cli.main([*mode, "--check", "-c", str(cfg)]) == 2
    out = capsys.readouterr()
    line = one_error_line(out.err)
    assert line.startswith(f"wmproxy-gui: error: {cfg}: {key}: {problem}"), line
    assert out.out == ""


def test_bad_config_also_refused_when_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path / "bad.toml", '[server]\nbind = "127.0.0.1:1"\nwindow = -1\n')
    assert cli.main(["--headless-server", "-c", str(cfg)]) == 2
    assert one_error_line(capsys.readouterr().err) == f"wmproxy-gui: error: {cfg}: server.window: must be greater than 0, got -1"


def test_engine_refusal_at_start_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Problems only found when starting (unreadable TLS files) still end as one line, exit 2."""
    (tmp_path / "junk.crt").write_text("not a certificate")
    (tmp_path / "junk.key").write_text("not a key")
    cfg = write(tmp_path / "s.toml", '[server]\nbind = "127.0.0.1:0"\ntls = true\ncert_file = "junk.crt"\n'
                                     'key_file = "junk.key"\n')
    assert cli.main(["--headless-server", "-c", str(cfg)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cannot load certificate" in line and str(tmp_path / "junk.crt") in line


def test_missing_file_and_missing_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--headless-client", "-c", str(tmp_path / "none.toml")]) == 2
    assert one_error_line(capsys.readouterr().err) == f"wmproxy-gui: error: {tmp_path / 'none.toml'}: no such file"
    cfg = write(tmp_path / "s.toml", '[server]\nbind = "127.0.0.1:1"\n')
    assert cli.main(["--headless-client", "--check", "-c", str(cfg)]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"wmproxy-gui: error: {cfg}: client: no [client] table: this file has no client settings")


def test_headless_needs_passwords_in_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path / "s.toml", '[server]\nbind = "127.0.0.1:1"\nusername = "u"\n')
    assert cli.main(["--check", "-c", str(cfg)]) == 0  # fine for the GUI (keyring), ...
    capsys.readouterr()
    assert cli.main(["--headless-server", "--check", "-c", str(cfg)]) == 2  # ... not for a headless run
    assert "server.password: missing" in one_error_line(capsys.readouterr().err)
    assert cli.main(["--headless-server", "-c", str(cfg)]) == 2
    assert "server.password: missing" in one_error_line(capsys.readouterr().err)


def test_check_loads_tls_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_pem, key_pem = tls.generate_cert("srv", ["localhost"], [])
    other_cert, _ = tls.generate_cert("other", ["localhost"], [])
    tls.write_cert(tmp_path / "s.crt", cert_pem)
    tls.write_cert(tmp_path / "o.crt", other_cert)
    tls.write_private_key(tmp_path / "s.key", key_pem)
    good = write(tmp_path / "good.toml", '[server]\nbind = "127.0.0.1:1"\ntls = true\ncert_file = "s.crt"\n'
                                         'key_file = "s.key"\n')
    assert cli.main(["--headless-server", "--check", "-c", str(good)]) == 0
    capsys.readouterr()
    bad = write(tmp_path / "bad.toml", '[server]\nbind = "127.0.0.1:1"\ntls = true\ncert_file = "o.crt"\n'
                                       'key_file = "s.key"\n')
    assert cli.main(["--headless-server", "--check", "-c", str(bad)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cannot load certificate" in line and "PRIVATE KEY" not in line


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["--headless-server", "--headless-client"]) == 2
    assert "not allowed with argument" in one_error_line(capsys.readouterr().err)
    assert cli.main(["--check", "--nonsense", "-c", str(tmp_path / "x.toml")]) == 2
    assert one_error_line(capsys.readouterr().err) == "wmproxy-gui: error: unrecognized arguments: --nonsense"
    assert cli.main(["--log-level", "loud", "--check"]) == 2
    assert "invalid choice" in one_error_line(capsys.readouterr().err)


def test_without_headless_flags_the_gui_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GUI is reached through a lazy import of wmproxy_gui.app, with the original argv."""
    seen: list[object] = []
    fake = types.ModuleType("wmproxy_gui.app")
    fake.main = lambda argv=None: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wmproxy_gui.app", fake)
    assert cli.main(["-c", "profile.toml", "--minimized"]) == 7
    assert seen == [["-c", "profile.toml", "--minimized"]]
    assert cli.main([]) == 7 and seen[-1] == []


# ---------------------------------------------------------------- first-run default config (direct)

def test_write_default_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(headless.ENV_PORT_BASE, raising=False)
    monkeypatch.delenv(headless.ENV_HOST, raising=False)
    path = tmp_path / "cfg" / "config.toml"
    cfg, summary = headless.write_default_server_config(path, tmp_path / "data")
    s = cfg.server
    assert s is not None
    assert (s.bind, s.map_http_bind, s.map_tcp_bind, s.map_https_bind) == (
        "0.0.0.0:8091", "0.0.0.0:8001", "0.0.0.0:8002", "0.0.0.0:8003")
    assert s.tls and s.username == "wmproxy" and s.password and len(s.password) >= 24
    assert Path(s.cert_file or "") == tmp_path / "data" / "tls" / "server.crt"
    fp = tls.cert_file_info(tmp_path / "data" / "tls" / "server.crt").fingerprint
    assert f"password:    {s.password}" in summary and f"SHA-256 {tls.format_fingerprint(fp)}" in summary and "0.0.0.0:8091" in summary
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "data" / "tls" / "server.key").stat().st_mode) == 0o600
    loaded = load_config(path)
    assert loaded.server == s  # what was printed is what was saved
    # the tray app's way in: a wmproxy:// link with the pinned fingerprint and no password
    from wmproxy_gui.profiles import ProfileStore, tls_mode

    links = [ln.strip() for ln in summary.splitlines() if ln.strip().startswith("wmproxy://")]
    assert links and all(s.password not in ln for ln in links)
    prof = ProfileStore(tmp_path / "p.toml").parse_link(links[0])
    assert prof.client.username == "wmproxy" and prof.client.server.endswith(":8091")
    assert tls_mode(prof.client.tls) == "pin" and tls.normalize_fingerprint(prof.client.tls.fingerprint or "") == fp
    assert s.password[0].isalnum() and s.password.isalnum()
    with pytest.raises(ConfigError, match="already exists"):
        headless.write_default_server_config(path, tmp_path / "data")
    other, _ = headless.write_default_server_config(tmp_path / "second.toml", tmp_path / "data")
    assert other.server is not None and other.server.password != s.password  # random each time
    assert other.server.cert_file == s.cert_file  # the generated cert is reused


def test_default_config_env_knobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(headless.ENV_PORT_BASE, "20000")
    monkeypatch.setenv(headless.ENV_HOST, "127.0.0.1")
    cfg, _ = headless.write_default_server_config(tmp_path / "c.toml", tmp_path / "d")
    assert cfg.server is not None
    assert (cfg.server.bind, cfg.server.map_http_bind, cfg.server.map_tcp_bind, cfg.server.map_https_bind) == (
        "127.0.0.1:20000", "127.0.0.1:20001", "127.0.0.1:20002", "127.0.0.1:20003")
    monkeypatch.setenv(headless.ENV_PORT_BASE, "65534")
    with pytest.raises(ConfigError, match="WMPROXY_GUI_DEFAULT_PORT_BASE"):
        headless.write_default_server_config(tmp_path / "x.toml", tmp_path / "d")
    assert not (tmp_path / "x.toml").exists()


# ---------------------------------------------------------------- subprocess: no Qt on the headless paths

def test_headless_modules_do_not_import_qt(tmp_path: Path) -> None:
    code = ("import sys\n"
            "import wmproxy_gui, wmproxy_gui.cli, core.headless, core.server, core.client, core.upstream, core.tls\n"
            "bad = [m for m in ('PySide6', 'qasync', 'keyring', 'shiboken6') if m in sys.modules]\n"
            "print('loaded:', bad)\n"
            "sys.exit(1 if bad else 0)\n")
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(REPO)  # the real PySide6 is importable here: it just must not be imported
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "loaded: []"


def test_check_runs_with_pyside6_unimportable(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import PySide6"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert probe.returncode != 0 and "must not be imported" in probe.stderr  # the poison works
    r = run_cli(["--headless-server", "--check", "-c", str(UPSTREAM / "server.toml")], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"wmproxy-gui: {UPSTREAM / 'server.toml'}: ok (server on 0.0.0.0:8091 (tls)")
    r = run_cli(["--version"], env)
    assert (r.returncode, r.stdout) == (0, f"wmproxy-gui {__version__}\n")
    bad = write(tmp_path / "bad.toml", '[client]\nserver = "nowhere"\n')
    r = run_cli(["--headless-client", "--check", "-c", str(bad)], env)
    assert r.returncode == 2 and r.stdout == ""
    assert one_error_line(r.stderr) == f"wmproxy-gui: error: {bad}: client.server: 'nowhere' is not HOST:PORT"


# ---------------------------------------------------------------- subprocess: real server + client

def _echo_through(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_server_and_client_tunnel_tcp_then_stop_cleanly(tmp_path: Path, echo_server: tuple[str, int]) -> None:
    env = cli_env(tmp_path)
    server_cfg = write(tmp_path / "server.toml", """
[server]
bind = "127.0.0.1:0"
username = "alice"
password = "correct horse"
tls = true
map_tcp_bind = "127.0.0.1:0"
""")
    srv = Proc(["--headless-server", "-c", str(server_cfg)], env)
    cli_proc = None
    try:
        center_port = int(srv.wait_line(r"center listening on 127\.0\.0\.1:(\d+) \(tls\)$").group(1))
        tcp_port = int(srv.wait_line(r"tcp mapping listening on 127\.0\.0\.1:(\d+)$").group(1))
        fp = srv.wait_line(r"center certificate SHA-256 ([0-9A-F]{2}(?::[0-9A-F]{2}){31})$").group(1)
        assert center_port != 0 and tcp_port != 0

        client_cfg = write(tmp_path / "client.toml", f"""
[client]
server = "127.0.0.1:{center_port}"
username = "alice"
password = "correct horse"
[client.tls]
enabled = true
[[client.mappings]]
name = "echo"
mode = "tcp"
local_addr = "{echo_server[0]}:{echo_server[1]}"
""")
        cli_proc = Proc(["--headless-client", "-c", str(client_cfg)], env)
        cli_proc.wait_line(rf"connected to 127\.0\.0\.1:{center_port} \(certificate SHA-256 {fp}\)$")

        # TOFU recorded the server in the per-user known_hosts (XDG_DATA_HOME)
        known = (tmp_path / "xdg-data" / "wmproxy-gui" / "known_hosts").read_text()
        assert any(ln.startswith(f"127.0.0.1:{center_port} {fp} ") for ln in known.splitlines()), known

        for i in range(ROUND_TRIPS):
            payload = os.urandom(1000 + i * 40000)
            got = b""
            for _attempt in range(20):  # the mapping may reach the server a moment after "connected"
                got = _echo_through(tcp_port, payload)
                if got:
                    break
            assert got == payload, f"round trip {i}: sent {len(payload)} bytes, got {len(got)}"

        assert cli_proc.stop(signal.SIGINT) == 0
        assert cli_proc.lines[-1] == "wmproxy-gui: stopped"
        assert srv.stop(signal.SIGTERM) == 0
        assert srv.lines[-1] == "wmproxy-gui: stopped"
        assert port_is_free(center_port) and port_is_free(tcp_port)
        assert not any("Traceback" in ln for ln in srv.stderr_lines + cli_proc.stderr_lines)
        # passwords never reach the logs
        assert not any("correct horse" in ln for ln in srv.stderr_lines + cli_proc.stderr_lines + srv.lines)
    finally:
        for p in (cli_proc, srv):
            if p is not None:
                p.kill()


def test_client_refuses_changed_server_certificate(tmp_path: Path) -> None:
    """TOFU end to end: a known_hosts entry that does not match keeps the client out, with advice."""
    env = cli_env(tmp_path)
    server_cfg = write(tmp_path / "server.toml", '[server]\nbind = "127.0.0.1:0"\nusername = "u"\npassword = "p"\n'
                                                 'tls = true\n')
    srv = Proc(["--headless-server", "-c", str(server_cfg)], env)
    cli_proc = None
    try:
        port = int(srv.wait_line(r"center listening on 127\.0\.0\.1:(\d+) \(tls\)$").group(1))
        real = srv.wait_line(r"center certificate SHA-256 ([0-9A-F]{2}(?::[0-9A-F]{2}){31})$").group(1)
        known = tmp_path / "kh"
        known.write_text(f"127.0.0.1:{port} {'ab' * 32}\n")
        client_cfg = write(tmp_path / "client.toml", f'[client]\nserver = "127.0.0.1:{port}"\nusername = "u"\n'
                                                     f'password = "p"\n[client.tls]\nenabled = true\n'
                                                     f'known_hosts = "{known}"\n')
        cli_proc = Proc(["--headless-client", "-c", str(client_cfg)], env)
        line = cli_proc.wait_line(r"link error: .*").group(0)
        assert line == (f"link error: the certificate of 127.0.0.1:{port} changed from {'AB:' * 31}AB to {real}; "
                        f"if this is expected remove the line from {known}")
        assert cli_proc.stop() == 0
        assert not any(ln.startswith("wmproxy-gui: connected") for ln in cli_proc.lines)
        assert srv.stop() == 0
    finally:
        for p in (cli_proc, srv):
            if p is not None:
                p.kill()


def test_address_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = write(tmp_path / "s.toml", f'[server]\nbind = "127.0.0.1:{port}"\n')
        r = run_cli(["--headless-server", "-c", str(cfg)], env)
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("wmproxy-gui: error:")]
    assert errors == [f"wmproxy-gui: error: cannot listen on 127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in r.stderr


def test_first_run_writes_default_config_that_works(tmp_path: Path) -> None:
    base = free_port_block(4)
    env = cli_env(tmp_path, WMPROXY_GUI_DEFAULT_PORT_BASE=str(base), WMPROXY_GUI_DEFAULT_HOST="127.0.0.1")
    config_path = tmp_path / "xdg-config" / "wmproxy-gui" / "config.toml"
    assert not config_path.exists()
    srv = Proc(["--headless-server"], env)
    cli_proc = None
    try:
        srv.wait_line(rf"wrote a new server config to {re.escape(str(config_path))}$")
        password = srv.wait_line(r"^  password: +(\S+)$").group(1)
        fp = srv.wait_line(r"^  certificate: SHA-256 ([0-9A-F]{2}(?::[0-9A-F]{2}){31})$").group(1)
        srv.wait_line(rf"center listening on 127\.0\.0\.1:{base} \(tls\)$")
        srv.wait_line(rf"http mapping listening on 127\.0\.0\.1:{base + 1}$")
        srv.wait_line(rf"tcp mapping listening on 127\.0\.0\.1:{base + 2}$")
        srv.wait_line(rf"https mapping listening on 127\.0\.0\.1:{base + 3} \(tls\)$")
        assert srv.wait_line(r"center certificate SHA-256 (\S+)$").group(1) == fp

        saved = load_config(config_path).server
        assert saved is not None and saved.password == password and saved.username == "wmproxy"
        if os.name == "posix":
            assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        assert password not in "\n".join(srv.stderr_lines)  # printed to the terminal, never logged

        # a client given only what the summary printed gets in (pinned fingerprint)
        client_cfg = write(tmp_path / "client.toml", f'[client]\nserver = "127.0.0.1:{base}"\nusername = "wmproxy"\n'
                                                     f'password = "{password}"\n[client.tls]\nenabled = true\n'
                                                     f'fingerprint = "{tls.format_fingerprint(fp)}"\n')
        cli_proc = Proc(["--headless-client", "-c", str(client_cfg)], env)
        cli_proc.wait_line(rf"connected to 127\.0\.0\.1:{base}")
        assert cli_proc.stop() == 0
        assert srv.stop() == 0

        # second run: the same config and certificate, no new password printed
        again = Proc(["--headless-server"], env)
        try:
            again.wait_line(rf"center certificate SHA-256 {fp}$")
            assert again.stop() == 0
        finally:
            again.kill()
        assert not any("password" in ln for ln in again.lines)
        assert load_config(config_path).server == saved
    finally:
        for p in (cli_proc, srv):
            if p is not None:
                p.kill()


def test_stop_signals_without_add_signal_handler(tmp_path: Path) -> None:
    """The Windows path (no loop.add_signal_handler): a plain signal handler still stops cleanly."""
    code = (
        "import asyncio, os, signal\n"
        "from core import headless\n"
        "async def main():\n"
        "    loop = asyncio.get_running_loop()\n"
        "    def refuse(*a, **k):\n"
        "        raise NotImplementedError\n"
        "    loop.add_signal_handler = refuse\n"
        "    with headless._StopSignals() as stop:\n"
        "        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)\n"
        "        print('got', await asyncio.wait_for(stop.wait(), 20))\n"
        "    print('restored', signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)\n"
        "asyncio.run(main())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=cli_env(tmp_path), cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "got SIGTERM\nrestored True\n"), r.stderr


def test_gui_without_the_gui_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """A headless-only install (no PySide6) asked for the tray app: one line, exit 2, no traceback."""
    p = subprocess.run([sys.executable, "-m", "wmproxy_gui.cli"], env=cli_env(tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'wmproxy-gui[gui]'" in lines[0], p.stderr


# ---------------------------------------------------------------- errors users can act on

def test_check_names_a_missing_certificate_file_and_its_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    cfg = write(tmp_path / "s.toml", '[server]\nbind = "127.0.0.1:0"\nusername = "u"\npassword = "p"\n'
                                     'tls = true\ncert_file = "missing.crt"\nkey_file = "missing.key"\n')
    for args in (["--check"], []):
        r = run_cli(["--headless-server", *args, "-c", str(cfg)], env)
        assert r.returncode == 2
        assert one_error_line(r.stderr) == (f"wmproxy-gui: error: {cfg}: server.cert_file: file not found: "
                                            f"{tmp_path / 'missing.crt'}")
    up = write(tmp_path / "up.toml", '[proxy]\nmode = "server"\nbind_addr = "127.0.0.1:0"\nusername = "u"\n'
                                     'password = "p"\ntc = true\ncert = "c.pem"\nkey = "k.pem"\n')
    r = run_cli(["--headless-server", "--check", "-c", str(up)], env)
    assert r.returncode == 2 and f"{up}: proxy.cert: file not found: {tmp_path / 'c.pem'}" in r.stderr


def test_an_empty_config_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    empty = write(tmp_path / "empty.toml", "# nothing here yet\n")
    for args in (["--check", "-c", str(empty)], ["--headless-server", "-c", str(empty)],
                 ["--headless-client", "--check", "-c", str(empty)]):
        r = run_cli(args, env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert one_error_line(r.stderr) == f"wmproxy-gui: error: {empty}: empty: no [server] or [client] table " \
                                           "(nothing to run)"
