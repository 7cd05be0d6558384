"""Run a center server or client without the GUI (``wmproxy-gui --headless-server``).

One line per bound listener goes to stdout (``wmproxy-gui: center listening
on 127.0.0.1:8091 (tls)``): installers and tests parse those. Logs go to
stderr. SIGINT/SIGTERM stop the engine cleanly (listeners closed, links
told) and the process exits 0. Nothing here imports Qt, qasync or keyring:
a headless server installs and runs without the GUI extra.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .config import Config, ServerConfig, format_addr, missing_secrets, save_config
from .errors import ConfigError, TlsError, WmproxyError
from .history import HistoryRecorder

log = logging.getLogger("wmproxy.headless")

PROG = "wmproxy-gui"
STOP_TIMEOUT = 15.0
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_LEVELS = ("debug", "info", "warning", "error")

# test / ops knobs for the first-run default server config (documented in docs/configuration.md)
ENV_PORT_BASE = "WMPROXY_GUI_DEFAULT_PORT_BASE"  # center = BASE, http = BASE+1, tcp = BASE+2, https = BASE+3
ENV_HOST = "WMPROXY_GUI_DEFAULT_HOST"  # bind host of every default listener (default 0.0.0.0)
DEFAULT_USERNAME = "wmproxy"
DEFAULT_PORTS = {"center": 8091, "http": 8001, "tcp": 8002, "https": 8003}


def say(message: str) -> None:
    """One status line on stdout, flushed (parsed by tests and the installer smoke test)."""
    print(f"{PROG}: {message}", flush=True)


def error_line(message: str) -> None:
    """The one-line error a user sees on stderr."""
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def setup_logging(level: str = "info") -> None:
    """Logs to stderr with time, level and logger name (replaces only a handler we added before)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_wmproxy_headless", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._wmproxy_headless = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


# ---------------------------------------------------------------- first-run default server config

def _default_ports() -> dict[str, int]:
    raw = os.environ.get(ENV_PORT_BASE, "").strip()
    if not raw:
        return dict(DEFAULT_PORTS)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535 - 3:
        raise ConfigError(f"{ENV_PORT_BASE}={raw!r} must be a port number 1-65532")
    base = int(raw)
    return {"center": base, "http": base + 1, "tcp": base + 2, "https": base + 3}


_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"  # no 0/O, 1/l/I, no '-'


def new_password(length: int = 24) -> str:
    """A random password that survives copy and paste: letters and digits only (~137 bits at 24).

    ``token_urlsafe`` may start with ``-``, which a shell or a CLI then takes for an option."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def reachable_hosts(bind_host: str, limit: int = 3) -> list[str]:
    """Addresses clients could use for a server bound to ``bind_host``, best first; [] if unknown.

    A specific bind address is itself the answer. For a wildcard bind: the address of the
    interface the default route leaves by (a UDP ``connect`` sends no packet), then the host's
    other non-loopback addresses. Loopback only counts when the bind is loopback."""
    import ipaddress
    import socket

    def usable(a: str) -> bool:
        try:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
        except ValueError:
            return False
        return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast)

    if bind_host not in ("0.0.0.0", "::", ""):
        return [bind_host]
    found: list[str] = []
    for family, probe in ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9))):
        if family == socket.AF_INET6 and bind_host == "0.0.0.0":
            continue
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(probe)  # picks the outgoing interface; nothing is sent
                a = s.getsockname()[0]
        except OSError:
            continue
        if usable(a) and a not in found:
            found.append(a)
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        infos = []
    for fam, _t, _p, _c, sa in infos:
        a = str(sa[0])
        if (fam == socket.AF_INET or bind_host == "::") and usable(a) and a not in found:
            found.append(a)
    return found[:limit]


def client_link(host: str, port: int, username: str | None, fingerprint: str | None,
                name: str | None = None) -> str:
    """The ``wmproxy://`` link the tray app imports: address, user, pinned certificate (None: a plain
    server); never a password. Same format as the GUI's "Copy wmproxy:// link"
    (wmproxy_gui.profiles.ProfileStore.export_link)."""
    from urllib.parse import quote, urlencode

    addr = format_addr(host, port)
    q = {"name": name or host, "tls": "pin", "fp": fingerprint} if fingerprint else {"name": name or host,
                                                                                       "tls": "off"}
    user = f"{quote(username, safe='')}@" if username else ""
    return f"wmproxy://{user}{addr}?{urlencode(q, quote_via=quote)}"


def write_default_server_config(path: str | os.PathLike[str],
                                data_dir: str | os.PathLike[str] | None = None) -> tuple[Config, str]:
    """Create a working server config at ``path`` (which must not exist) -> (config, summary).

    TLS on with a generated certificate (into ``data_dir/tls``), user
    ``wmproxy`` with a fresh random password, and http/tcp/https mapping
    listeners. The summary shows what a client needs, password included:
    the caller prints it to the terminal this one time. The ``wmproxy://``
    links in it hold everything but the password (the tray app asks for it
    once and keeps it in the OS keyring).
    """
    from . import paths, tls

    target = Path(path)
    if target.exists():
        raise ConfigError("already exists; not overwriting it", file=str(target))
    ports = _default_ports()
    host = os.environ.get(ENV_HOST, "").strip() or "0.0.0.0"
    cert, key = tls.ensure_server_cert(None, None, data_dir if data_dir is not None else paths.data_dir())
    server = ServerConfig(
        bind=format_addr(host, ports["center"]),
        username=DEFAULT_USERNAME,
        password=new_password(),
        tls=True,
        cert_file=str(cert),
        key_file=str(key),
        map_http_bind=format_addr(host, ports["http"]),
        map_tcp_bind=format_addr(host, ports["tcp"]),
        map_https_bind=format_addr(host, ports["https"]),
    )
    cfg = Config(server=server, source=str(target))
    save_config(cfg, target)  # validated, atomic, 0600
    fp = tls.cert_file_info(cert).fingerprint
    shown = tls.format_fingerprint(fp)
    hosts = reachable_hosts(host)
    client_host = hosts[0] if hosts else "THIS-HOST"
    lines = [
        f"{PROG}: wrote a new server config to {target}",
        f"  center:      {server.bind} (TLS)",
        f"  username:    {server.username}",
        f"  password:    {server.password}",
        f"  certificate: SHA-256 {shown}",
        f"  mappings:    http {server.map_http_bind}, tcp {server.map_tcp_bind}, https {server.map_https_bind}",
        "  The password is shown only this once (it is stored in the file above, mode 0600).",
    ]
    if hosts:
        lines.append("  Tray app: paste this link (Profiles > Paste link), then type the password above:")
        lines += [f"    {client_link(h, ports['center'], server.username, fp)}" for h in hosts]
    else:
        lines += ["  Tray app: paste this link (Profiles > Paste link) with THIS-HOST replaced by this",
                  "  machine's address, then type the password above:",
                  f"    {client_link('THIS-HOST', ports['center'], server.username, fp)}"]
    lines += [
        "  A client config for this server:",
        "    [client]",
        f'    server = "{format_addr(client_host, ports["center"])}"',
        f'    username = "{server.username}"',
        '    password = "(the password above)"',
        "    [client.tls]",
        "    enabled = true",
        f'    fingerprint = "{shown}"',
    ]
    return cfg, "\n".join(lines)


# ---------------------------------------------------------------- event loop and signals

def _loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop where available (not on Windows), else asyncio's default loop."""
    if sys.platform != "win32":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop, f"uvloop {getattr(uvloop, '__version__', '')}".strip()
    return None, "asyncio"


class _StopSignals:
    """SIGINT/SIGTERM -> an event. Installed before anything is printed, so a signal
    sent the moment a listener line appears is never lost to the default handler."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.received: list[str] = []
        self._installed: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopSignals":
        loop = asyncio.get_running_loop()
        sigs = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGBREAK"):  # Windows: Ctrl-Break / CTRL_BREAK_EVENT from a service manager
            sigs.append(signal.SIGBREAK)
        for sig in sigs:
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
                continue
            except (NotImplementedError, RuntimeError, ValueError):
                pass
            try:  # Windows loops have no add_signal_handler: a plain handler hands over to the loop
                self._previous[sig] = signal.signal(
                    sig, lambda s, _frame: loop.call_soon_threadsafe(self._on_signal, s))
            except (OSError, ValueError):
                pass  # not the main thread: Ctrl-C still arrives as a cancellation, see wait()
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        for sig, previous in self._previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, previous)

    def _on_signal(self, sig: int) -> None:
        self.received.append(signal.Signals(sig).name)
        self.event.set()

    async def wait(self) -> str:
        """Until a stop signal; returns its name."""
        try:
            await self.event.wait()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.received.append("KeyboardInterrupt")
        return self.received[0] if self.received else "stop"


async def _start(engine: Any, source: str | None) -> int | None:
    """``await engine.start()``; None when running, else the exit code after printing why."""
    try:
        await engine.start()
    except ConfigError as e:
        error_line(str(ConfigError(e.problem, file=e.file or source, key=e.key)))
        return 2
    except TlsError as e:
        error_line(str(e))
        return 2
    except WmproxyError as e:  # e.g. "cannot listen on 0.0.0.0:8091: address already in use"
        error_line(str(e))
        return 1
    except OSError as e:  # the engine names its addresses; anything else still gets one line
        error_line(e.strerror or str(e))
        return 1
    return None


async def _stop(engine: Any, what: str) -> None:
    try:
        await asyncio.wait_for(engine.stop(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        log.warning("%s did not stop within %.0f s", what, STOP_TIMEOUT)


def _run(main: Callable[[], Awaitable[int]]) -> int:
    factory, name = _loop_factory()
    log.info("event loop: %s", name)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


def _check_runnable(cfg: Config, section: str) -> int | None:
    from .config import check_files

    try:
        check_files(cfg)
    except ConfigError as e:
        error_line(str(e))
        return 2
    if getattr(cfg, section) is None:
        error_line(ConfigError(f"no [{section}] table: this file has no {section} settings",
                               file=cfg.source, key=section).__str__())
        return 2
    missing = [k for k in missing_secrets(cfg) if k.startswith(section)]
    if missing:
        error_line(str(ConfigError("missing: the headless runner has no keyring; put the password in the file",
                                   file=cfg.source, key=missing[0])))
        return 2
    return None


# ---------------------------------------------------------------- server

def run_server(cfg: Config, *, log_level: str = "info") -> int:
    """Serve ``cfg.server`` until SIGINT/SIGTERM. 0 after a clean stop, 2 bad config, 1 runtime error."""
    setup_logging(log_level)
    bad = _check_runnable(cfg, "server")
    if bad is not None:
        return bad
    return _run(lambda: _serve(cfg))


async def _serve(cfg: Config) -> int:
    from . import tls
    from .server import CenterServer

    assert cfg.server is not None
    srv = CenterServer(cfg.server)
    history = HistoryRecorder(srv.stats, role="server")
    with _StopSignals() as stop:
        code = await _start(srv, cfg.source)
        if code is not None:
            return code
        await history.start()  # a history that cannot be opened is logged, never fatal
        try:
            for name, (host, port) in list(srv.addresses.items()):
                addr = format_addr(host, port)
                if name == "center":
                    say(f"center listening on {addr}{' (tls)' if cfg.server.tls else ''}")
                elif name in ("http", "https", "tcp", "proxy"):
                    say(f"{name} mapping listening on {addr}{' (tls)' if name == 'https' else ''}")
                else:
                    say(f"{name} listening on {addr}")
            if srv.fingerprint:
                say(f"center certificate SHA-256 {tls.format_fingerprint(srv.fingerprint)}")
            why = await stop.wait()
            log.info("%s received: stopping", why)
        finally:
            await _stop(srv, "server")
            await history.stop()
    say("stopped")
    return 0


# ---------------------------------------------------------------- client

def run_client(cfg: Config, *, log_level: str = "info") -> int:
    """Run ``cfg.client`` (reconnecting) until SIGINT/SIGTERM. Exit codes as run_server."""
    setup_logging(log_level)
    bad = _check_runnable(cfg, "client")
    if bad is not None:
        return bad
    return _run(lambda: _client(cfg))


async def _client(cfg: Config) -> int:
    from .client import CenterClient

    from .inspect import CaptureRing
    from .inspect.api import for_mappings

    c = cfg.client
    assert c is not None
    ins = c.inspect
    ring = CaptureRing(ins.max_requests, ins.max_bytes, ins.body_limit) if ins.bind else None
    cli = CenterClient(c, capture=ring)
    api = (for_mappings(ring, lambda: cli.cfg.mappings, bind=ins.bind, token=ins.token)
           if ring is not None and ins.bind else None)
    history = HistoryRecorder(cli.stats, role="client")
    last: dict[str, tuple[str, str]] = {}  # server -> (state, error) last reported

    def on_uplink(u) -> None:  # type: ignore[no-untyped-def]
        """One line per change of one server's link (each server of a multi-homed client)."""
        seen = (u.state, u.last_error)
        if last.get(u.server) == seen:
            return
        if u.state == "connected":
            fp = u.server_fingerprint
            if fp and c.tls.enabled:
                from .tls import format_fingerprint

                say(f"connected to {u.server} (certificate SHA-256 {format_fingerprint(fp)})")
            else:
                say(f"connected to {u.server}")
        elif u.state == "error" and u.last_error and last.get(u.server, ("", ""))[1] != u.last_error:
            say(f"link error: {u.last_error}")
        last[u.server] = seen

    cli.on_uplink.append(on_uplink)
    with _StopSignals() as stop:
        code = await _start(cli, cfg.source)
        if code is not None:
            return code
        if api is not None:
            code = await _start(api, cfg.source)
            if code is not None:
                await _stop(cli, "client")
                return code
        await history.start()
        try:
            if api is not None:
                say(f"inspector listening on {api.url}{' (token required)' if ins.token else ''}")
            protocols = {p.name: " ".join(p.protocols) for p in c.proxies}
            for name, (host, port) in list(cli.addresses.items()):
                say(f"proxy {name} listening on {format_addr(host, port)} ({protocols.get(name, '')})")
            if not c.direct:
                say(f"connecting to {', '.join(c.servers)}" + (" (tls)" if c.tls.enabled else ""))
            why = await stop.wait()
            log.info("%s received: stopping", why)
        finally:
            with contextlib.suppress(ValueError):
                cli.on_uplink.remove(on_uplink)
            if api is not None:
                await api.stop()
            await _stop(cli, "client")
            await history.stop()
    say("stopped")
    return 0
