"""Import upstream wmproxy configuration files (TOML or YAML) into our Config.

Upstream keeps everything in one ``[proxy]`` table whose meaning depends on
the role: a client has ``server`` (where the center is), a server has
``mode = "server"`` and/or ``map_*_bind``. The key mapping is documented in
docs/configuration.md; keys we have no use for (``control``, ``mode``,
``default_level``, ``udp_bind``...) are reported once per file at WARNING, naming the key.
Errors name the upstream key (``proxy.bind_addr``), not ours.
"""
from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .config import (
    PROXY_PROTOCOLS,
    ClientConfig,
    ClientTls,
    Config,
    MappingConfig,
    ProxyListenerConfig,
    ServerConfig,
    header_rule_from_words,
    is_loopback_host,
    loads_config,
    parse_addr,
    parse_header_rule,
    read_text,
    resolve_paths,
    validate_config,
)
from .errors import ConfigError

log = logging.getLogger("wmproxy.upstream")

ROLES = ("client", "server")
UPSTREAM_DEFAULT_BIND = "127.0.0.1:8090"  # upstream's bind_addr default
_FLAG_BITS = {1: "http", 2: "https", 4: "socks5"}

# [proxy] keys read per role; anything else is reported (WARNING) and ignored
_CLIENT_KEYS = frozenset({"server", "username", "password", "ts", "domain", "cert", "key", "two_way_tls",
                          "mappings", "bind", "bind_addr", "flag"})
_SERVER_KEYS = frozenset({"center_addr", "bind_addr", "bind", "username", "password", "tc", "cert", "key", "two_way_tls",
                          "map_http_bind", "map_https_bind", "map_tcp_bind", "map_proxy_bind", "map_cert",
                          "map_key", "flag", "allow_targets", "deny_targets", "allow_anonymous", "client_ca"})
_MAPPING_KEYS = frozenset({"name", "mode", "local_addr", "domain", "headers", "remote_port"})
# read for role detection only: never reported as unsupported
_ROLE_KEYS = frozenset({"mode"})


def is_upstream(data: Any) -> bool:
    """A parsed document is upstream's when its top level has a ``proxy`` table."""
    return isinstance(data, dict) and "proxy" in data


def detect_role(proxy: dict[str, Any]) -> str:
    """client if it names a ``server``; server if ``mode = "server"`` or it binds mapping ports.

    Anything else is upstream's "end proxy": a client whose proxy listener
    dials targets itself (our ``direct`` mode).
    """
    if proxy.get("server"):
        return "client"
    mode = str(proxy.get("mode") or "").lower()
    if mode == "server" or any(proxy.get(k) for k in ("map_http_bind", "map_https_bind", "map_tcp_bind",
                                                      "map_proxy_bind", "center_addr")):
        return "server"
    return "client"


class _Reader:
    """Typed access to the ``[proxy]`` table with errors naming upstream keys."""

    def __init__(self, table: dict[str, Any], source: str | None, prefix: str = "proxy") -> None:
        self.t = table
        self.source = source
        self.prefix = prefix

    def err(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, file=self.source, key=f"{self.prefix}.{key}")

    def opt_str(self, key: str) -> str | None:
        v = self.t.get(key)
        if v is None or v == "":
            return None  # YAML "map_cert:" is an empty value: absent
        if isinstance(v, bool) or isinstance(v, (dict, list)):
            raise self.err(key, f"expected a string, got {type(v).__name__}")
        return str(v)  # YAML may read "8091" or a bare number as int

    def bool(self, key: str, default: bool = False) -> bool:
        v = self.t.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise self.err(key, f"expected true or false, got {v!r}"[:80])

    def str_list(self, key: str) -> list[str]:
        v = self.t.get(key)
        if v is None:
            return []
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.err(key, "expected a list of strings")
        return list(v)


def parse_flag(value: Any, reader: _Reader, key: str = "flag") -> tuple[str, ...]:
    """Upstream ``flag``: ``"http https socks5"`` (TOML), a bitmask ``7`` (YAML), or a list."""
    if value is None:
        return PROXY_PROTOCOLS
    if isinstance(value, bool):
        raise reader.err(key, "expected protocol names or a number, got a boolean")
    if isinstance(value, int):
        if not 1 <= value <= 7:
            raise reader.err(key, f"bitmask {value} is out of range 1-7 (1 http, 2 https, 4 socks5)")
        return tuple(name for bit, name in _FLAG_BITS.items() if value & bit)
    words = value if isinstance(value, list) else re.split(r"[\s,|]+", str(value).strip())
    out: list[str] = []
    for w in words:
        name = str(w).lower()
        if not name:
            continue
        if name not in PROXY_PROTOCOLS:
            raise reader.err(key, f"{w!r} is not one of {', '.join(PROXY_PROTOCOLS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise reader.err(key, f"names no protocol (use {' '.join(PROXY_PROTOCOLS)})")
    return tuple(out)


def _ignored(table: dict[str, Any], used: frozenset[str], prefix: str, source: str | None) -> None:
    """One WARNING per key of ``table`` that wmproxy-gui does not support (it is ignored)."""
    for key in table:
        if key not in used and key not in _ROLE_KEYS:
            log.warning("%s: upstream key %s.%s is not supported by wmproxy-gui; ignored",
                        source or "config", prefix, key)


def _headers(value: Any, reader: _Reader, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise reader.err(key, "expected a list of header rules")
    rules = []
    for i, item in enumerate(value):
        try:
            if isinstance(item, str):
                rules.append(parse_header_rule(item))
            elif isinstance(item, list):
                rules.append(header_rule_from_words(item))
            else:
                raise ConfigError(f"expected a rule like \"+ name value\" or [+, name, value], "
                                  f"got {type(item).__name__}")
        except ConfigError as e:
            raise reader.err(f"{key}[{i}]", e.problem) from None
    return rules


def _mappings(value: Any, reader: _Reader) -> list[MappingConfig]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise reader.err("mappings", "expected a list of mappings")
    out = []
    for i, m in enumerate(value):
        mk = f"mappings[{i}]"
        if not isinstance(m, dict):
            raise reader.err(mk, "expected a table with name, mode, local_addr, domain, headers")
        r = _Reader(m, reader.source, f"{reader.prefix}.{mk}")
        _ignored(m, _MAPPING_KEYS, r.prefix, reader.source)
        name = r.opt_str("name")
        if name is None:
            raise r.err("name", "missing (this key is required)")
        remote_port = m.get("remote_port")
        if remote_port is not None and (not isinstance(remote_port, int) or isinstance(remote_port, bool)):
            raise r.err("remote_port", "expected an integer")
        out.append(MappingConfig(
            name=name,
            mode=(r.opt_str("mode") or "http").lower(),
            local_addr=r.opt_str("local_addr") or "",
            domain=r.opt_str("domain") or "",
            headers=_headers(m.get("headers"), r, "headers"),
            remote_port=remote_port,
        ))
    return out


def _client(proxy: dict[str, Any], r: _Reader) -> tuple[ClientConfig, dict[str, str]]:
    _ignored(proxy, _CLIENT_KEYS, "proxy", r.source)
    # upstream's current key is "bind"; its example files use the older "bind_addr"
    bind_key = "bind" if r.opt_str("bind") else "bind_addr"
    if bind_key == "bind" and r.opt_str("bind_addr"):
        log.warning("%s: both proxy.bind and proxy.bind_addr are set; using proxy.bind", r.source)
    names: dict[str, str] = {"client.server": "proxy.server", "client.username": "proxy.username",
                             "client.password": "proxy.password", "client.tls.server_name": "proxy.domain",
                             "client.tls.cert_file": "proxy.cert", "client.tls.key_file": "proxy.key",
                             "client.proxy[0].bind": f"proxy.{bind_key}", "client.proxy[0].protocols": "proxy.flag",
                             "client.proxy[0].username": "proxy.username",
                             "client.proxy[0].password": "proxy.password"}
    server = r.opt_str("server")
    direct = server is None
    tls = ClientTls(enabled=r.bool("ts"), server_name=r.opt_str("domain"))
    cert, key = r.opt_str("cert"), r.opt_str("key")
    if cert and key:
        # upstream presents cert/key when two_way_tls and also trusts cert as a root; we present it,
        # and verify the server by pin / TOFU (set client.tls.ca_file to verify against a CA).
        tls.cert_file, tls.key_file = cert, key
    elif r.bool("two_way_tls") and tls.enabled:
        log.warning("%s: two_way_tls is set without cert/key; upstream uses its built-in certificate, "
                    "which wmproxy-gui does not have: no client certificate will be presented", r.source)
    listener = ProxyListenerConfig(
        name="proxy",
        bind=r.opt_str(bind_key) or UPSTREAM_DEFAULT_BIND,
        protocols=parse_flag(proxy.get("flag"), r),
    )
    if _addr_ok(listener.bind) and not is_loopback_host(parse_addr(listener.bind, listen=True)[0]):
        log.warning("%s: proxy.%s %s lets other machines use this proxy", r.source, bind_key, listener.bind)
    username, password = r.opt_str("username"), r.opt_str("password")
    cfg = ClientConfig(tls=tls, mappings=_mappings(proxy.get("mappings"), r), proxies=[listener], direct=direct)
    if server is not None:
        cfg.server = server
    if direct:  # upstream's end proxy: the credentials guard the local proxy listener
        listener.username, listener.password = username, password
    else:
        cfg.username, cfg.password = username, password
    return cfg, names


def _server(proxy: dict[str, Any], r: _Reader) -> tuple[ServerConfig, dict[str, str]]:
    _ignored(proxy, _SERVER_KEYS, "proxy", r.source)
    center_key = "center_addr" if r.opt_str("center_addr") else "bind_addr"
    for key in ("bind_addr", "bind"):
        if key != center_key and r.opt_str(key):
            log.warning("%s: upstream key proxy.%s (a local proxy listener on the server) is not supported "
                        "by wmproxy-gui; ignored", r.source, key)
    names = {"server.bind": f"proxy.{center_key}", "server.username": "proxy.username",
             "server.password": "proxy.password", "server.tls": "proxy.tc", "server.cert_file": "proxy.cert",
             "server.key_file": "proxy.key", "server.client_ca": "proxy.client_ca",
             "server.two_way_tls": "proxy.two_way_tls", "server.proxy_protocols": "proxy.flag"}
    for k in ("map_http_bind", "map_https_bind", "map_tcp_bind", "map_proxy_bind", "map_cert", "map_key",
              "allow_targets", "deny_targets", "allow_anonymous"):
        names[f"server.{k}"] = f"proxy.{k}"
    cfg = ServerConfig(
        username=r.opt_str("username"),
        password=r.opt_str("password"),
        allow_anonymous=r.bool("allow_anonymous"),
        tls=r.bool("tc"),
        cert_file=r.opt_str("cert"),
        key_file=r.opt_str("key"),
        map_http_bind=r.opt_str("map_http_bind"),
        map_https_bind=r.opt_str("map_https_bind"),
        map_tcp_bind=r.opt_str("map_tcp_bind"),
        map_proxy_bind=r.opt_str("map_proxy_bind"),
        map_cert=r.opt_str("map_cert"),
        map_key=r.opt_str("map_key"),
        proxy_protocols=parse_flag(proxy.get("flag"), r),
        allow_targets=r.str_list("allow_targets"),
        deny_targets=r.str_list("deny_targets"),
    )
    bind = r.opt_str(center_key)
    if bind is not None:
        cfg.bind = bind
    if r.bool("two_way_tls"):
        # Upstream (src/option.rs get_tls_accept) trusts client certificates against the server's own
        # `cert` chain, and without `cert` against its built-in certificate, which we do not ship.
        # Mutual TLS is a security option: enforce it or refuse to start, never run without it.
        if not cfg.tls:
            raise r.err("two_way_tls", "needs tc = true (client certificates are checked in the TLS handshake)")
        client_ca = r.opt_str("client_ca") or cfg.cert_file
        if not client_ca:
            raise r.err("two_way_tls", "set cert and key (client certificates are then checked against that "
                                       "certificate, as upstream does) or client_ca; upstream's built-in "
                                       "certificate is not available in wmproxy-gui")
        cfg.two_way_tls, cfg.client_ca = True, client_ca
    return cfg, names


def _addr_ok(text: str) -> bool:
    try:
        parse_addr(text, listen=True)
    except ConfigError:
        return False  # reported with its key by validation
    return True


def _renamer(names: dict[str, str]) -> Callable[[str], str]:
    table = {**names, "client.mappings": "proxy.mappings"}
    prefixes = sorted(table, key=len, reverse=True)

    def rename(key: str) -> str:
        for prefix in prefixes:  # longest first: "server.allow_targets" + "[0]"
            if key == prefix or (key.startswith(prefix) and key[len(prefix)] in "[."):
                return table[prefix] + key[len(prefix):]
        return key

    return rename


def upstream_from_dict(data: dict[str, Any], source: str | None = None, role: str | None = None,
                       base_dir: str | os.PathLike[str] | None = None) -> Config:
    """A parsed upstream document -> validated Config with one role filled in."""
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    for key in data:
        if key != "proxy":
            log.warning("%s: upstream key %s is not supported by wmproxy-gui; ignored", source or "config", key)
    proxy = data.get("proxy")
    if not isinstance(proxy, dict):
        raise ConfigError("expected a table of settings", file=source, key="proxy")
    r = _Reader(proxy, source)
    role = role or detect_role(proxy)
    cfg = Config(source=source)
    if role == "client":
        cfg.client, names = _client(proxy, r)
    else:
        cfg.server, names = _server(proxy, r)
    resolve_paths(cfg, Path(base_dir) if base_dir is not None else None)
    cfg.rename = _renamer(names)
    validate_config(cfg, source=source, rename=cfg.rename)
    return cfg


def _parse(text: str, path: Path, source: str) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
            problem = getattr(e, "problem", None) or "syntax error"
            raise ConfigError(f"not valid YAML: {problem}{at}", file=source) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", file=source) from None


def load_upstream(path: str | os.PathLike[str], role: str | None = None) -> Config:
    """Load an upstream wmproxy TOML/YAML file; ``role`` forces client or server, else it is detected."""
    p = Path(path)
    source = str(path)
    data = _parse(read_text(p), p, source)
    if not is_upstream(data):
        raise ConfigError("not an upstream wmproxy config (no [proxy] table)", file=source)
    return upstream_from_dict(data, source, role, base_dir=p.expanduser().resolve().parent)


def load_any(path: str | os.PathLike[str], role: str | None = None) -> Config:
    """Load our native TOML or an upstream TOML/YAML file, whichever ``path`` is."""
    p = Path(path)
    source = str(path)
    text = read_text(p)
    data = _parse(text, p, source)
    if is_upstream(data):
        return upstream_from_dict(data, source, role, base_dir=p.expanduser().resolve().parent)
    if p.suffix.lower() in (".yaml", ".yml"):
        raise ConfigError("a YAML file must be an upstream wmproxy config (with a proxy: table)", file=source)
    return loads_config(text, source, base_dir=p.expanduser().resolve().parent)
