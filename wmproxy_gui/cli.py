"""``wmproxy-gui`` / ``wmproxy-gui-cli``: start the tray app, or run headless.

    wmproxy-gui                          the GUI (Qt is imported only on this path)
    wmproxy-gui --headless-server [-c F] a center server; first run writes a default config
    wmproxy-gui --headless-client -c F   a client
    wmproxy-gui [--headless-*] --check   validate the config, print one line, exit 0 or 2
    wmproxy-gui --stats [-c F]           per-mapping traffic totals from the history (F: only its names)
    wmproxy-gui --version

Errors are one line on stderr, ``wmproxy-gui: error: FILE: KEY: problem``,
exit code 2 (1 for runtime failures such as a port already in use).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core import __version__
from core.errors import ConfigError, TlsError, WmproxyError
from core.headless import LOG_LEVELS, PROG, error_line, say


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as our one-line error (exit 2) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="wmproxy-compatible tunnel: tray app, headless server and client.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--headless-server", action="store_true", help="run a center server without the GUI")
    mode.add_argument("--headless-client", action="store_true", help="run a client without the GUI")
    mode.add_argument("--stats", action="store_true",
                      help="print per-mapping traffic totals (24 hours, 365 days) from the traffic history; "
                           "with -c, only the mappings and listeners of that config")
    p.add_argument("-c", "--config", metavar="FILE", type=Path,
                   help="config file: native TOML or an upstream wmproxy TOML/YAML file "
                        "(default: the per-user config.toml)")
    p.add_argument("--check", action="store_true", help="validate the config and exit (0 ok, 2 problem)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="log detail on stderr (default info)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of both console scripts; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(args_list)
    except _UsageError as e:
        error_line(str(e))
        return 2
    if args.version:
        print(f"{PROG} {__version__}", flush=True)
        return 0
    if args.stats:
        if rest:
            error_line(f"unrecognized arguments: {' '.join(rest)}")
            return 2
        try:
            return _stats(args)
        except (ConfigError, WmproxyError) as e:
            error_line(str(e))
            return 2
    if not (args.headless_server or args.headless_client or args.check):
        try:
            from wmproxy_gui.app import main as gui_main  # Qt lives behind this import only
        except ImportError as e:
            missing = e.name or "PySide6"
            error_line(f"the tray app needs {missing}, which is not installed: pip install 'wmproxy-gui[gui]' "
                       "(the headless modes need nothing more)")
            return 2
        return gui_main(argv)
    if rest:
        error_line(f"unrecognized arguments: {' '.join(rest)}")
        return 2
    try:
        return _headless(args)
    except (ConfigError, TlsError) as e:
        error_line(str(e))
        return 2
    except WmproxyError as e:
        error_line(str(e))
        return 1


def _headless(args: argparse.Namespace) -> int:
    from core import headless, paths
    from core.upstream import load_any

    headless.setup_logging(args.log_level)  # importer warnings get the same format as the run's logs
    role = "server" if args.headless_server else "client" if args.headless_client else None
    path: Path = args.config if args.config is not None else paths.default_config_path()
    if args.headless_server and args.config is None and not path.exists() and not args.check:
        _cfg, summary = headless.write_default_server_config(path, paths.data_dir())
        print(summary, flush=True)
    elif not path.exists() and args.config is None:
        hint = " (run wmproxy-gui --headless-server once to create one)" if args.headless_server else ""
        raise ConfigError(f"no such file{hint}", file=str(path))
    cfg = load_any(path, role=role)
    if args.check:
        return _check(cfg, role)
    if role == "server":
        return headless.run_server(cfg, log_level=args.log_level)
    return headless.run_client(cfg, log_level=args.log_level)


def _stats(args: argparse.Namespace) -> int:
    """The history's totals per (role, kind, name): last 24 hours (minute rows) and last 365 days."""
    from core.history import HistoryReader, format_table, human_bytes

    reader = HistoryReader()
    keep = None
    if args.config is not None:
        from core.upstream import load_any

        cfg = load_any(args.config)
        keep = set()
        if cfg.server is not None:
            keep.add(("server", None))
        if cfg.client is not None:
            keep |= {("client", m.name) for m in cfg.client.mappings}
            keep |= {("client", p.name) for p in cfg.client.proxies}
            keep.add(("client", "tunnel"))  # the client's own proxy-through-server channels

    def wanted(t) -> bool:
        return keep is None or (t.role, None) in keep or (t.role, t.name) in keep

    day = {(t.role, t.kind, t.name): t for t in reader.totals(minutes=24 * 60) if wanted(t)}
    year = {(t.role, t.kind, t.name): t for t in reader.totals(days=365) if wanted(t)}
    say(f"traffic history in {reader.path}" + ("" if reader.path.exists() else " (none recorded yet)"))
    if not year:
        return 0
    rows = []
    for key in sorted(year):
        d, y = day.get(key), year[key]
        rows.append((*key, human_bytes(d.up if d else 0), human_bytes(d.down if d else 0), str(d.conns if d else 0),
                     human_bytes(y.up), human_bytes(y.down), str(y.conns)))
    print(format_table(rows, ("role", "kind", "name", "24h up", "24h down", "24h conns",
                              "365d up", "365d down", "365d conns")), flush=True)
    return 0


def _check(cfg, role: str | None) -> int:
    """Beyond syntax: the sections a role needs, passwords present, TLS files loadable."""
    from core import tls
    from core.config import check_files, missing_secrets

    check_files(cfg)
    if role is not None and getattr(cfg, role) is None:
        raise ConfigError(f"no [{role}] table: this file has no {role} settings", file=cfg.source, key=role)
    sections = [role] if role else [s for s in ("server", "client") if getattr(cfg, s) is not None]
    if role is not None:
        missing = [k for k in missing_secrets(cfg) if k.startswith(role)]
        if missing:
            raise ConfigError("missing: the headless runner has no keyring; put the password in the file",
                              file=cfg.source, key=missing[0])
    parts = []
    if "server" in sections:
        s = cfg.server
        if s.tls and s.cert_file and s.key_file:
            tls.server_context(s.cert_file, s.key_file, s.client_ca if s.two_way_tls else None)
        if s.map_cert and s.map_key:
            tls.server_context(s.map_cert, s.map_key)
        maps = [f"{n} {getattr(s, f'map_{n}_bind')}" for n in ("http", "https", "tcp", "proxy")
                if getattr(s, f"map_{n}_bind")]
        parts.append(f"server on {s.bind}{' (tls)' if s.tls else ''}" + (f", mappings {', '.join(maps)}" if maps
                                                                           else ""))
    if "client" in sections:
        c = cfg.client
        if c.tls.enabled:
            tls.client_context(c.tls)
        target = "direct" if c.direct else f"to {', '.join(c.servers)}{' (tls)' if c.tls.enabled else ''}"
        parts.append(f"client {target}, {len(c.mappings)} mapping(s), {len(c.proxies)} proxy listener(s)")
    say(f"{cfg.source}: ok" + (f" ({'; '.join(parts)})" if parts else " (empty)"))
    return 0


if __name__ == "__main__":  # python -m wmproxy_gui.cli
    sys.exit(main())
