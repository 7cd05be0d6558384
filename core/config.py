"""Configuration model: the dataclasses every part of the product shares.

The native file format is TOML (``[server]``, ``[client]``,
``[[client.mappings]]``, ``[[client.proxy]]``); upstream wmproxy TOML/YAML
files are imported into the same model (see ``core/upstream.py``).
Loading, validation and atomic saving live further down in this module.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shlex
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .errors import ConfigError
from .frames import MAX_PAYLOAD, HeaderOp, HeaderRule

DEFAULT_CENTER_PORT = 8091
MAPPING_MODES = ("http", "https", "tcp", "proxy")
PROXY_PROTOCOLS = ("http", "https", "socks5")


@dataclass
class ClientTls:
    """How a client secures and verifies its center link."""

    enabled: bool = False
    server_name: str | None = None  # SNI and verification name (upstream "domain")
    ca_file: str | None = None  # verify the server against this CA bundle
    fingerprint: str | None = None  # pin: SHA-256 of the server cert (hex, ':' optional)
    tofu: bool = True  # with neither CA nor pin: trust on first use, refuse a changed cert
    known_hosts: str | None = None  # TOFU store; default: <data dir>/known_hosts
    cert_file: str | None = None  # client certificate for mutual TLS
    key_file: str | None = None


@dataclass
class MappingConfig:
    """One intranet-penetration mapping, announced to the server."""

    name: str
    mode: str = "http"  # http | https | tcp | proxy
    local_addr: str = ""  # host:port of the local service (empty for mode "proxy")
    domain: str = ""  # Host routed to this mapping (http/https)
    headers: list[HeaderRule] = field(default_factory=list)
    remote_port: int | None = None  # extension: a public TCP port of its own on the server
    http2: bool = False  # https: offer HTTP/2 (ALPN h2); the local service speaks h2c (prior knowledge)
    proxy_protocol: str | None = None  # tcp/http: "v1" or "v2": a PROXY header to the local service first
    # proxy mappings: who may use the public proxy port, and where it may lead on the client's network
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_targets: list[str] = field(default_factory=list)
    deny_targets: list[str] = field(default_factory=list)
    enabled: bool = True
    inspect: bool = True  # http/https: requests show in the inspector (when one is running)


@dataclass
class ProxyListenerConfig:
    """A local proxy listener on the client (upstream ``bind_addr`` + ``flag``)."""

    name: str = "proxy"
    bind: str = "127.0.0.1:8090"
    protocols: tuple[str, ...] = PROXY_PROTOCOLS
    username: str | None = None  # local proxy auth (direct mode)
    password: str | None = field(default=None, repr=False)
    enabled: bool = True


@dataclass
class InspectConfig:
    """The request inspector's local API and capture limits (``[client.inspect]``).

    A headless client serves the API only when ``bind`` is set; the GUI serves it on
    loopback with a free port. Anywhere but loopback needs ``token``.
    """

    bind: str | None = None  # e.g. "127.0.0.1:4040"
    token: str | None = field(default=None, repr=False)  # Bearer token / Basic password for the API
    body_limit: int = 64 * 1024  # first bytes kept of each request and response body
    max_requests: int = 1000  # ring size
    max_bytes: int = 32 * 1024 * 1024  # ring byte budget (heads + body prefixes)


@dataclass
class ClientConfig:
    # the center server, or several: one link to each at once (a multi-homed client)
    server: str | list[str] = f"127.0.0.1:{DEFAULT_CENTER_PORT}"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ClientTls = field(default_factory=ClientTls)
    mappings: list[MappingConfig] = field(default_factory=list)
    proxies: list[ProxyListenerConfig] = field(default_factory=list)
    direct: bool = False  # proxies dial targets locally; no center server needed
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 30.0  # a silent link is dead after this long
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    window: int = 4 << 20  # per-channel flow-control window, bytes (what a stalled channel may buffer)
    max_frame: int = (1 << 24) - 1
    inspect: InspectConfig = field(default_factory=InspectConfig)

    @property
    def servers(self) -> list[str]:
        """``server`` as a list (a single string is a list of one)."""
        return [self.server] if isinstance(self.server, str) else list(self.server)


@dataclass
class ServerConfig:
    bind: str = f"0.0.0.0:{DEFAULT_CENTER_PORT}"  # center listener
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_anonymous: bool = False  # needed for an unauthenticated non-loopback center
    tls: bool = False  # upstream "tc": clients connect with TLS
    cert_file: str | None = None  # center TLS cert; generated into the data dir when None
    key_file: str | None = None
    client_ca: str | None = None  # upstream "two_way_tls": require client certs signed by this CA
    two_way_tls: bool = False
    map_http_bind: str | None = None
    map_https_bind: str | None = None
    map_tcp_bind: str | None = None
    map_proxy_bind: str | None = None
    map_cert: str | None = None
    map_key: str | None = None
    proxy_protocols: tuple[str, ...] = PROXY_PROTOCOLS  # what clients may proxy through us
    allow_targets: list[str] = field(default_factory=list)
    deny_targets: list[str] = field(default_factory=list)
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 30.0
    window: int = 4 << 20
    max_frame: int = (1 << 24) - 1
    # the public edge (core/http_mapping.py, core/server.py): deadlines and caps
    http_head_timeout: float = 15.0  # a request head must be complete this long after it began
    http_keepalive_timeout: float = 60.0  # idle keep-alive connections are closed after this long
    http_body_timeout: float = 60.0  # longest pause inside a request body
    http_max_head: int = 64 * 1024  # bytes of one request head
    http_max_headers: int = 100  # header lines of one request head
    max_conns_per_source: int = 1024  # public connections (all mapping ports) from one address
    auth_timeout: float = 10.0  # TLS handshake + Token of a client link, from the TCP accept
    max_unauth_per_source: int = 16  # client links not logged in yet, from one address
    max_unauth: int = 512  # client links not logged in yet, in all
    # load balancers in front of the public ports whose PROXY protocol headers are believed
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass
class Config:
    server: ServerConfig | None = None
    client: ClientConfig | None = None
    source: str | None = None  # file it was loaded from, for error messages
    # our key -> the key as the file spells it (an upstream file says proxy.cert, not server.cert_file)
    rename: Callable[[str], str] | None = field(default=None, repr=False, compare=False)


# =====================================================================
# Everything below is behaviour over the dataclasses above: address and
# header-rule syntax, TOML loading, validation and atomic saving.
# =====================================================================

SHORT_MAX = 255  # a wire "short string" holds at most 255 UTF-8 bytes
MIN_FRAME = 1024
MAX_WINDOW = (1 << 32) - 1

# TOML names that differ from the dataclass field names (toml name -> field name)
_TOML_ALIASES: dict[type, dict[str, str]] = {ClientConfig: {"proxy": "proxies"}}
# fields holding secrets: never echoed in errors, left out by dump_config(secrets=False)
_SECRET_FIELDS = frozenset({"password", "token"})
# fields holding file paths: ``~`` expanded, relative paths taken from the config's directory
_PATH_FIELDS: dict[type, tuple[str, ...]] = {
    ClientTls: ("ca_file", "known_hosts", "cert_file", "key_file"),
    ServerConfig: ("cert_file", "key_file", "client_ca", "map_cert", "map_key"),
}


# ---------------------------------------------------------------- addresses

_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def addr_of(text: str, key: str, *, listen: bool = False) -> tuple[str, int]:
    """``parse_addr`` naming the config key in its error (for the engine's own checks)."""
    try:
        return parse_addr(text, listen=listen)
    except ConfigError as e:
        raise ConfigError(e.problem, key=key) from None


def parse_addr(text: str, *, listen: bool = False) -> tuple[str, int]:
    """``host:port`` -> ``(host, port)``; IPv6 must be bracketed (``[::1]:80``).

    Ports are 1-65535; a listener (``listen=True``) may also use 0, meaning
    "any free port" (the bound port is reported by the engine). Raises
    ConfigError (without file/key: callers add them) on bad syntax.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("expected HOST:PORT, got an empty value")
    t = text.strip()
    if t.startswith("["):
        close = t.find("]")
        if close < 0 or not t[close + 1 :].startswith(":"):
            raise ConfigError(f"{text!r} is not HOST:PORT (IPv6 is written [::1]:80)")
        host, port_s = t[1:close], t[close + 2 :]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ConfigError(f"{text!r}: {host!r} in brackets is not an IPv6 address") from None
    else:
        if t.count(":") != 1:
            hint = " (IPv6 is written [::1]:80)" if t.count(":") > 1 else ""
            raise ConfigError(f"{text!r} is not HOST:PORT{hint}")
        host, port_s = t.split(":")
        if not _HOSTNAME_RE.match(host):
            raise ConfigError(f"{text!r}: {host!r} is not a host name or IPv4 address")
    if not port_s.isdigit():
        raise ConfigError(f"{text!r}: port {port_s!r} is not a number")
    port = int(port_s)
    low = 0 if listen else 1
    if not low <= port <= 65535:
        raise ConfigError(f"{text!r}: port {port} is out of range {low}-65535")
    return host, port


def format_addr(host: str, port: int) -> str:
    """Inverse of parse_addr: brackets around IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IPs: a listener there is reachable from this machine only."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- header rules

_SIGNS = {"+": HeaderOp.ADD, "-": HeaderOp.DEL, "?": HeaderOp.DEFAULT}
_SIGN_OF = {op: sign for sign, op in _SIGNS.items()}
_HEADER_NAME_RE = re.compile(r"^[!#$%&*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token, minus the quote "'"


def _split_words(text: str) -> list[str]:
    """Whitespace split honouring '...' and "..." (no backslash escapes, like upstream)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    try:
        return list(lexer)
    except ValueError:
        raise ConfigError(f"header rule {text!r}: unbalanced quote") from None


def header_rule_from_words(words: Sequence[object]) -> HeaderRule:
    """``["proxy", "+", "from", "$url"]`` -> HeaderRule (the YAML list form)."""
    toks = ["" if w is None else str(w) for w in words]
    shown = " ".join(toks)
    is_proxy = False
    if len(toks) >= 3 and toks[0] == "proxy":
        is_proxy, toks = True, toks[1:]
    op = HeaderOp.REPLACE
    if toks and toks[0] in _SIGNS:
        op, toks = _SIGNS[toks[0]], toks[1:]
    want = 1 if op is HeaderOp.DEL else 2
    if len(toks) != want:
        form = "[proxy] - NAME" if op is HeaderOp.DEL else "[proxy] [+|?] NAME VALUE"
        raise ConfigError(f"header rule {shown!r} is not {form!r} (quote values with spaces)")
    key = toks[0]
    val = toks[1] if want == 2 else ""
    if not _HEADER_NAME_RE.match(key) or key in _SIGNS:
        raise ConfigError(f"header rule {shown!r}: {key!r} is not a header name")
    if any(c in val for c in "\r\n\0"):
        raise ConfigError(f"header rule {shown!r}: value contains a line break or NUL")
    for part, what in ((key, "name"), (val, "value")):
        if len(part.encode()) > SHORT_MAX:
            raise ConfigError(f"header rule {shown[:40]!r}...: {what} is longer than {SHORT_MAX} bytes")
    return HeaderRule(is_proxy, op, key, val)


def parse_header_rule(text: str) -> HeaderRule:
    """Upstream's text form -> HeaderRule.

    ``[proxy] [+|-|?] NAME [VALUE]``: ``proxy`` = apply to the request going
    to the local service (else to the response); ``+`` add, ``-`` delete,
    ``?`` set if missing, no sign = replace. Quotes around values are removed:
    ``"+ last-modified 'from proxy'"``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("empty header rule")
    return header_rule_from_words(_split_words(text))


def _quote(value: str) -> str:
    if value and not re.search(r"[\s'\"]", value):
        return value
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ConfigError(f"header value {value[:40]!r} contains both ' and \" and cannot be written")


def format_header_rule(rule: HeaderRule) -> str:
    """HeaderRule -> text that parse_header_rule reads back to the same rule."""
    words = ["proxy"] if rule.is_proxy else []
    if rule.oper in _SIGN_OF:
        words.append(_SIGN_OF[rule.oper])
    words.append(rule.key)
    if rule.oper is not HeaderOp.DEL:
        words.append(_quote(rule.val))
    return " ".join(words)


# ---------------------------------------------------------------- TOML -> dataclasses

def _type_name(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def _got(value: object, key: str) -> str:
    """How to show a wrong value: never the value itself for a secret."""
    if key.rsplit(".", 1)[-1] in _SECRET_FIELDS or isinstance(value, (dict, list)):
        return _type_name(value)
    return f"{_type_name(value)} {value!r}"[:80]


class _Ctx:
    """Error context: the file, and how to print a key path (upstream renames them)."""

    def __init__(self, source: str | None, rename: Callable[[str], str] | None = None) -> None:
        self.source = source
        self.rename = rename or (lambda k: k)

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, file=self.source, key=self.rename(key))

    def rewrap(self, key: str, err: ConfigError) -> ConfigError:
        return self.error(key, err.problem)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_inner(tp: Any) -> Any | None:
    """``X | None`` -> X; anything else -> None."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(tp):
            return args[0]
    return None


def _convert(value: Any, tp: Any, key: str, ctx: _Ctx) -> Any:
    """One TOML value -> the field's Python type, or ConfigError naming ``key``."""
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else _convert(value, inner, key, ctx)
    if typing.get_origin(tp) in (types.UnionType, typing.Union):  # str | list[str]: whichever it is
        args = typing.get_args(tp)
        for a in args:
            if (a is str and isinstance(value, str)) or (typing.get_origin(a) is list and isinstance(value, list)):
                return _convert(value, a, key, ctx)
        raise ctx.error(key, f"expected a string or an array of strings, got {_got(value, key)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ctx.error(key, f"expected true or false, got {_got(value, key)}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ctx.error(key, f"expected an integer, got {_got(value, key)}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ctx.error(key, f"expected a number, got {_got(value, key)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ctx.error(key, f"expected a string, got {_got(value, key)}")
        return value
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ctx.error(key, f"expected an array, got {_got(value, key)}")
        elem = typing.get_args(tp)[0]
        items = [_convert(v, elem, f"{key}[{i}]", ctx) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is HeaderRule:
        try:
            if isinstance(value, str):
                return parse_header_rule(value)
            if isinstance(value, list):
                return header_rule_from_words(value)
        except ConfigError as e:
            raise ctx.rewrap(key, e) from None
        raise ctx.error(key, f"expected a header rule string like \"+ name value\", got {_got(value, key)}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, ctx)
    raise TypeError(f"config field type {tp!r} not handled")  # a bug in this module, not user input


def _build(cls: type, table: Any, key: str, ctx: _Ctx) -> Any:
    """A TOML table -> dataclass ``cls``; unknown keys and missing required keys are errors."""
    if not isinstance(table, dict):
        raise ctx.error(key, f"expected a table, got {_got(table, key)}")
    hints = _hints(cls)
    toml_of = {fld: toml for toml, fld in _TOML_ALIASES.get(cls, {}).items()}
    toml_names = {toml_of.get(f.name, f.name): f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        sub = f"{key}.{name}" if key else name
        f = toml_names.get(name)
        if f is None:
            known = ", ".join(toml_names)
            raise ctx.error(sub, f"unknown key (known keys: {known})")
        kwargs[f.name] = _convert(value, hints[f.name], sub, ctx)
    for f in dataclasses.fields(cls):
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            name = next(n for n, g in toml_names.items() if g is f)
            raise ctx.error(f"{key}.{name}" if key else name, "missing (this key is required)")
    if cls is MappingConfig and isinstance(kwargs.get("mode"), str):
        kwargs["mode"] = kwargs["mode"].lower()
    return cls(**kwargs)


def resolve_paths(cfg: Config, base_dir: Path | None) -> None:
    """Expand ``~`` and make relative file paths relative to the config file's directory."""

    def fix(obj: Any) -> None:
        for name in _PATH_FIELDS.get(type(obj), ()):
            value = getattr(obj, name)
            if not value:
                continue
            p = Path(value).expanduser()
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            setattr(obj, name, str(p))

    if cfg.server is not None:
        fix(cfg.server)
    if cfg.client is not None:
        fix(cfg.client.tls)


def config_from_dict(data: dict[str, Any], source: str | None = None,
                     base_dir: str | os.PathLike[str] | None = None, *, validate: bool = True) -> Config:
    """A parsed native TOML document -> validated Config."""
    ctx = _Ctx(source)
    if not isinstance(data, dict):
        raise ctx.error("", "expected a TOML document with [server] and/or [client] tables")
    for name in data:
        if name not in ("server", "client"):
            hint = " (an upstream wmproxy file? import it with load_any)" if name == "proxy" else ""
            raise ctx.error(name, f"unknown key (known keys: server, client){hint}")
    cfg = Config(source=source)
    if "server" in data:
        cfg.server = _build(ServerConfig, data["server"], "server", ctx)
    if "client" in data:
        cfg.client = _build(ClientConfig, data["client"], "client", ctx)
    resolve_paths(cfg, Path(base_dir) if base_dir is not None else None)
    if validate:
        validate_config(cfg, source=source)
    return cfg


def loads_config(text: str, source: str | None = None,
                 base_dir: str | os.PathLike[str] | None = None) -> Config:
    """Parse native TOML text; ``source`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", file=source) from None
    return config_from_dict(data, source, base_dir)


def check_files(cfg: Config) -> None:
    """Every certificate, key and CA file the config names exists: a ConfigError naming the file and
    the key otherwise (TLS would fail later with less to go on). Also refuses a config with no role."""
    if cfg.server is None and cfg.client is None:
        raise ConfigError("empty: no [server] or [client] table (nothing to run)", file=cfg.source)
    rename = cfg.rename or (lambda k: k)
    pairs: list[tuple[str, str | None]] = []
    s = cfg.server
    if s is not None:
        if s.tls:
            pairs += [("server.cert_file", s.cert_file), ("server.key_file", s.key_file)]
        if s.two_way_tls:
            pairs.append(("server.client_ca", s.client_ca))
        if s.map_https_bind:
            pairs += [("server.map_cert", s.map_cert), ("server.map_key", s.map_key)]
    c = cfg.client
    if c is not None and c.tls.enabled:
        pairs += [("client.tls.ca_file", c.tls.ca_file), ("client.tls.cert_file", c.tls.cert_file),
                  ("client.tls.key_file", c.tls.key_file)]
    for key, path in pairs:
        if path and not Path(path).is_file():
            why = "is a directory" if Path(path).is_dir() else "file not found"
            raise ConfigError(f"{why}: {path}", file=cfg.source, key=rename(key))


def read_text(path: str | os.PathLike[str]) -> str:
    """A config file's text, with OS errors turned into one-line ConfigErrors."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", file=str(path)) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load a native TOML config file (relative paths inside are relative to its directory)."""
    p = Path(path)
    return loads_config(read_text(p), str(path), base_dir=p.expanduser().resolve().parent)


# ---------------------------------------------------------------- validation

def _check_types(obj: Any, key: str, ctx: _Ctx) -> None:
    """Dataclasses built in code (the GUI) get the same type errors as a TOML file."""
    hints = _hints(type(obj))
    aliases = _TOML_ALIASES.get(type(obj), {})
    rev = {v: k for k, v in aliases.items()}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        sub = f"{key}.{rev.get(f.name, f.name)}"
        _check_value(value, hints[f.name], sub, ctx)


def _check_value(value: Any, tp: Any, key: str, ctx: _Ctx) -> None:
    inner = _optional_inner(tp)
    if inner is not None:
        if value is not None:
            _check_value(value, inner, key, ctx)
        return
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):  # str | list[str]
        for a in typing.get_args(tp):
            if (a is str and isinstance(value, str)) or (typing.get_origin(a) is list and isinstance(value, list)):
                _check_value(value, a, key, ctx)
                return
        raise ctx.error(key, f"expected a string or an array of strings, got {_got(value, key)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ctx.error(key, f"expected an array, got {_got(value, key)}")
        elem = typing.get_args(tp)[0]
        for i, v in enumerate(value):
            _check_value(v, elem, f"{key}[{i}]", ctx)
        return
    if tp is HeaderRule:
        if not isinstance(value, HeaderRule):
            raise ctx.error(key, f"expected a header rule, got {_got(value, key)}")
        try:  # the same checks as a rule read from a file, via its text form
            header_rule_from_words(_split_words(format_header_rule(value)))
        except ConfigError as e:
            raise ctx.rewrap(key, e) from None
        return
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ctx.error(key, f"expected a {tp.__name__}, got {_type_name(value)}")
        _check_types(value, key, ctx)
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }[tp](value)
    if not ok:
        want = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[tp]
        raise ctx.error(key, f"expected {want}, got {_got(value, key)}")


def _one_of(value: str, allowed: Iterable[str]) -> str:
    return f"{value!r} is not one of {', '.join(allowed)}"


def _check_addr(value: str, key: str, ctx: _Ctx, *, listen: bool) -> tuple[str, int]:
    try:
        return parse_addr(value, listen=listen)
    except ConfigError as e:
        raise ctx.rewrap(key, e) from None


def _check_pair(obj: Any, a: str, b: str, key: str, ctx: _Ctx) -> None:
    """Two settings that only make sense together (username/password, cert/key)."""
    va, vb = getattr(obj, a), getattr(obj, b)
    for name, v in ((a, va), (b, vb)):
        if v is not None and v == "":
            raise ctx.error(f"{key}.{name}", "must not be empty (leave it out instead)")
    if (va is None) != (vb is None):
        have, missing = (a, b) if vb is None else (b, a)
        raise ctx.error(f"{key}.{missing}", f"missing: {have} is set, so {missing} is needed too")


def _check_credentials(obj: Any, key: str, ctx: _Ctx) -> None:
    """A password needs a username. A username without password is allowed: the app keeps
    passwords in the system keyring and fills them in at run time (see ``missing_secrets``)."""
    for name in ("username", "password"):
        if getattr(obj, name) == "":
            raise ctx.error(f"{key}.{name}", "must not be empty (leave it out instead)")
    if obj.password is not None and obj.username is None:
        raise ctx.error(f"{key}.username", "missing: password is set, so username is needed too")


def missing_secrets(cfg: Config) -> list[str]:
    """Key paths of passwords a run needs but the config leaves out (username set, password not)."""
    out = []
    if cfg.server is not None and cfg.server.username is not None and cfg.server.password is None:
        out.append("server.password")
    if cfg.client is not None:
        c = cfg.client
        if c.username is not None and c.password is None and not c.direct:
            out.append("client.password")
        out += [f"client.proxy[{i}].password" for i, p in enumerate(c.proxies)
                if p.enabled and p.username is not None and p.password is None]
    return out


def _check_positive(obj: Any, names: Iterable[str], key: str, ctx: _Ctx) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ctx.error(f"{key}.{name}", f"must be greater than 0, got {getattr(obj, name)}")


def _check_link_tuning(obj: ServerConfig | ClientConfig, key: str, ctx: _Ctx) -> None:
    _check_positive(obj, ("heartbeat_interval", "heartbeat_timeout", "window"), key, ctx)
    if obj.heartbeat_timeout <= obj.heartbeat_interval:
        raise ctx.error(f"{key}.heartbeat_timeout",
                        f"must be longer than heartbeat_interval ({obj.heartbeat_interval:g} s), "
                        f"got {obj.heartbeat_timeout:g} s")
    if obj.window > MAX_WINDOW:
        raise ctx.error(f"{key}.window", f"must be at most {MAX_WINDOW}, got {obj.window}")
    if not MIN_FRAME <= obj.max_frame <= MAX_PAYLOAD:
        raise ctx.error(f"{key}.max_frame", f"must be {MIN_FRAME}-{MAX_PAYLOAD}, got {obj.max_frame}")


def _check_protocols(protocols: Sequence[str], key: str, ctx: _Ctx, *, allow_empty: bool) -> None:
    if not protocols and not allow_empty:
        raise ctx.error(key, f"must name at least one of {', '.join(PROXY_PROTOCOLS)}")
    seen: set[str] = set()
    for i, p in enumerate(protocols):
        if p not in PROXY_PROTOCOLS:
            raise ctx.error(f"{key}[{i}]", _one_of(p, PROXY_PROTOCOLS))
        if p in seen:
            raise ctx.error(f"{key}[{i}]", f"{p!r} is listed twice")
        seen.add(p)


def check_target_rule(text: str) -> None:
    """Syntax-check one allow_targets/deny_targets entry (CIDR, optional :PORT or :LOW-HIGH)."""
    from .policy import parse_rule  # the engine's own parser: one syntax, one implementation

    if not isinstance(text, str):
        raise ConfigError(f"expected a string, got {_type_name(text)}")
    parse_rule(text)


def check_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint in any common spelling -> 64 lowercase hex digits."""
    t = re.sub(r"[\s:]", "", text).lower()
    if t.startswith("sha256"):
        t = t[6:].lstrip("/=")
    if not re.fullmatch(r"[0-9a-f]{64}", t):
        raise ConfigError(f"{text[:80]!r} is not a SHA-256 fingerprint (64 hex digits, ':' allowed)")
    return t


def _check_listeners(addrs: list[tuple[str, str]], ctx: _Ctx) -> None:
    """Two listeners on one address: the second bind would fail at start; say so now."""
    seen: dict[tuple[str, int], str] = {}
    for key, text in addrs:
        host, port = parse_addr(text, listen=True)
        if port == 0:
            continue
        ident = (host.lower(), port)
        if ident in seen:
            raise ctx.error(key, f"{text} is already used by {ctx.rename(seen[ident])}")
        seen[ident] = key


def _validate_server(s: ServerConfig, ctx: _Ctx) -> None:
    k = "server"
    host, _ = _check_addr(s.bind, f"{k}.bind", ctx, listen=True)
    listeners = [(f"{k}.bind", s.bind)]
    for name in ("map_http_bind", "map_https_bind", "map_tcp_bind", "map_proxy_bind"):
        value = getattr(s, name)
        if value is not None:
            _check_addr(value, f"{k}.{name}", ctx, listen=True)
            listeners.append((f"{k}.{name}", value))
    _check_listeners(listeners, ctx)
    _check_credentials(s, k, ctx)
    if s.username is None and not s.allow_anonymous and not is_loopback_host(host):
        raise ctx.error(f"{k}.username",
                        f"a center listening on {s.bind} without username and password lets anyone in; "
                        "set username and password, or allow_anonymous = true")
    _check_pair(s, "cert_file", "key_file", k, ctx)
    _check_pair(s, "map_cert", "map_key", k, ctx)
    if s.two_way_tls and not s.tls:
        raise ctx.error(f"{k}.two_way_tls", "needs tls = true (client certificates are a TLS feature)")
    if s.client_ca == "":
        raise ctx.error(f"{k}.client_ca", "must not be empty (leave it out instead)")
    if s.client_ca is not None and not s.two_way_tls:
        raise ctx.error(f"{k}.client_ca", "is only used with two_way_tls = true; set it, or remove client_ca")
    if s.two_way_tls and s.client_ca is None:
        raise ctx.error(f"{k}.client_ca", "missing: two_way_tls = true needs the CA file that signs "
                                          "client certificates")
    _check_protocols(s.proxy_protocols, f"{k}.proxy_protocols", ctx, allow_empty=True)
    for list_name in ("allow_targets", "deny_targets"):
        for i, rule in enumerate(getattr(s, list_name)):
            try:
                check_target_rule(rule)
            except ConfigError as e:
                raise ctx.rewrap(f"{k}.{list_name}[{i}]", e) from None
    _check_link_tuning(s, k, ctx)
    _check_positive(s, ("http_head_timeout", "http_keepalive_timeout", "http_body_timeout", "auth_timeout",
                        "max_conns_per_source", "max_unauth_per_source", "max_unauth", "http_max_headers"), k, ctx)
    for i, rule in enumerate(s.trusted_proxies):
        from .proxy_gate import parse_networks

        try:
            parse_networks([rule])
        except ValueError as e:
            raise ctx.error(f"{k}.trusted_proxies[{i}]", str(e)) from None
    if not 1024 <= s.http_max_head <= 1 << 20:
        raise ctx.error(f"{k}.http_max_head", f"must be 1024-1048576 bytes, got {s.http_max_head}")


MAX_BODY_LIMIT = 16 * 1024 * 1024
MAX_RING_REQUESTS = 100_000


def _validate_inspect(i: InspectConfig, key: str, ctx: _Ctx) -> None:
    """The inspector API refuses to start where it cannot be kept private (no silent downgrade)."""
    if i.token is not None and not i.token.strip():
        raise ctx.error(f"{key}.token", "must not be empty (leave it out instead)")
    if i.bind is not None:
        host, _ = _check_addr(i.bind, f"{key}.bind", ctx, listen=True)
        if i.token is None and not is_loopback_host(host):
            raise ctx.error(f"{key}.token",
                            f"missing: an inspector API on {i.bind} shows captured requests to the network; "
                            "set token, or bind to 127.0.0.1")
    if not 0 <= i.body_limit <= MAX_BODY_LIMIT:
        raise ctx.error(f"{key}.body_limit", f"must be 0-{MAX_BODY_LIMIT} bytes, got {i.body_limit}")
    if not 1 <= i.max_requests <= MAX_RING_REQUESTS:
        raise ctx.error(f"{key}.max_requests", f"must be 1-{MAX_RING_REQUESTS}, got {i.max_requests}")
    if i.max_bytes < 64 * 1024:
        raise ctx.error(f"{key}.max_bytes", f"must be at least 65536 bytes, got {i.max_bytes}")


def _validate_client(c: ClientConfig, ctx: _Ctx) -> None:
    k = "client"
    if isinstance(c.server, str):
        _check_addr(c.server, f"{k}.server", ctx, listen=False)
    else:
        if not c.server:
            raise ctx.error(f"{k}.server", "is an empty list: name at least one server")
        seen: dict[str, int] = {}
        for i, srv in enumerate(c.server):
            _check_addr(srv, f"{k}.server[{i}]", ctx, listen=False)
            if srv.lower() in seen:
                raise ctx.error(f"{k}.server[{i}]", f"{srv} is already server[{seen[srv.lower()]}]")
            seen[srv.lower()] = i
    _check_credentials(c, k, ctx)
    t = c.tls
    if t.fingerprint is not None:
        try:
            check_fingerprint(t.fingerprint)
        except ConfigError as e:
            raise ctx.rewrap(f"{k}.tls.fingerprint", e) from None
    _check_pair(t, "cert_file", "key_file", f"{k}.tls", ctx)
    for name in ("server_name", "ca_file", "known_hosts"):
        if getattr(t, name) == "":
            raise ctx.error(f"{k}.tls.{name}", "must not be empty (leave it out instead)")
    if t.server_name is not None and not _HOSTNAME_RE.match(t.server_name):
        raise ctx.error(f"{k}.tls.server_name", f"{t.server_name!r} is not a host name")
    if t.enabled and not (t.ca_file or t.fingerprint or t.tofu):
        raise ctx.error(f"{k}.tls.tofu",
                        "with tofu = false the server cannot be verified: set ca_file or fingerprint, "
                        "or tofu = true")
    _validate_inspect(c.inspect, f"{k}.inspect", ctx)
    _check_positive(c, ("reconnect_min", "reconnect_max"), k, ctx)
    if c.reconnect_max < c.reconnect_min:
        raise ctx.error(f"{k}.reconnect_max",
                        f"must be at least reconnect_min ({c.reconnect_min:g} s), got {c.reconnect_max:g} s")
    _check_link_tuning(c, k, ctx)

    names: dict[str, int] = {}
    domains: dict[tuple[str, str], int] = {}
    ports: dict[int, int] = {}
    for i, m in enumerate(c.mappings):
        mk = f"{k}.mappings[{i}]"
        if not m.name.strip():
            raise ctx.error(f"{mk}.name", "must not be empty")
        if len(m.name.encode()) > SHORT_MAX:
            raise ctx.error(f"{mk}.name", f"is longer than {SHORT_MAX} bytes")
        if m.name in names:
            raise ctx.error(f"{mk}.name", f"{m.name!r} is already the name of mappings[{names[m.name]}]")
        names[m.name] = i
        if m.mode not in MAPPING_MODES:
            raise ctx.error(f"{mk}.mode", _one_of(m.mode, MAPPING_MODES))
        if m.mode != "proxy":
            if not m.local_addr:
                raise ctx.error(f"{mk}.local_addr",
                                f"missing: a {m.mode} mapping forwards to a local HOST:PORT")
            _check_addr(m.local_addr, f"{mk}.local_addr", ctx, listen=False)
        elif m.local_addr:
            _check_addr(m.local_addr, f"{mk}.local_addr", ctx, listen=False)
        if len(m.domain.encode()) > SHORT_MAX or re.search(r"\s", m.domain):
            raise ctx.error(f"{mk}.domain", f"{m.domain[:80]!r} is not a domain name")
        if m.mode in ("http", "https"):
            ident = (m.mode, m.domain.lower().rstrip("."))
            if ident in domains:
                what = f"domain {m.domain!r}" if m.domain else "the catch-all (empty) domain"
                raise ctx.error(f"{mk}.domain",
                                f"{what} is already routed to {m.mode} mapping "
                                f"{c.mappings[domains[ident]].name!r}")
            domains[ident] = i
        if m.proxy_protocol is not None:
            if m.proxy_protocol not in ("v1", "v2"):
                raise ctx.error(f"{mk}.proxy_protocol", _one_of(m.proxy_protocol, ("v1", "v2")))
            if m.mode not in ("tcp", "http", "https"):
                raise ctx.error(f"{mk}.proxy_protocol", "is only for tcp, http and https mappings")
        if m.http2 and m.mode != "https":
            raise ctx.error(f"{mk}.http2", "is only for https mappings (HTTP/2 is negotiated in TLS)")
        if m.mode != "proxy":
            for name in ("username", "password", "allow_targets", "deny_targets"):
                if getattr(m, name):
                    raise ctx.error(f"{mk}.{name}", "is only for proxy mappings")
        else:
            if bool(m.username) != bool(m.password):
                missing = "password" if m.username else "username"
                raise ctx.error(f"{mk}.{missing}", "missing: a proxy mapping's credentials need both "
                                                   "username and password")
            for list_name in ("allow_targets", "deny_targets"):
                for j, rule in enumerate(getattr(m, list_name)):
                    try:
                        check_target_rule(rule)
                    except ConfigError as e:
                        raise ctx.rewrap(f"{mk}.{list_name}[{j}]", e) from None
        if m.remote_port is not None:
            if m.mode not in ("tcp", "proxy"):
                raise ctx.error(f"{mk}.remote_port", "is only for tcp and proxy mappings")
            if not 1 <= m.remote_port <= 65535:
                raise ctx.error(f"{mk}.remote_port", f"port {m.remote_port} is out of range 1-65535")
            if m.remote_port in ports:
                raise ctx.error(f"{mk}.remote_port",
                                f"port {m.remote_port} is already used by mappings[{ports[m.remote_port]}]")
            ports[m.remote_port] = i

    pnames: dict[str, int] = {}
    listeners = []
    for i, p in enumerate(c.proxies):
        pk = f"{k}.proxy[{i}]"
        if not p.name.strip():
            raise ctx.error(f"{pk}.name", "must not be empty")
        if p.name in pnames:
            raise ctx.error(f"{pk}.name", f"{p.name!r} is already the name of proxy[{pnames[p.name]}]")
        pnames[p.name] = i
        _check_addr(p.bind, f"{pk}.bind", ctx, listen=True)
        _check_protocols(p.protocols, f"{pk}.protocols", ctx, allow_empty=False)
        _check_credentials(p, pk, ctx)
        if p.enabled:
            listeners.append((f"{pk}.bind", p.bind))
    _check_listeners(listeners, ctx)


def validate_config(cfg: Config, *, source: str | None = None,
                    rename: Callable[[str], str] | None = None) -> None:
    """Raise ConfigError (``FILE: KEY: problem``) for the first problem in ``cfg``.

    Works on dataclasses however they were made (TOML, upstream import, GUI
    form). ``rename`` maps our key paths to the names used in the file (the
    upstream importer reports ``proxy.bind_addr`` rather than ``server.bind``).
    """
    ctx = _Ctx(source if source is not None else cfg.source, rename)
    for section, cls in (("server", ServerConfig), ("client", ClientConfig)):
        value = getattr(cfg, section)
        if value is not None:
            if not isinstance(value, cls):
                raise ctx.error(section, f"expected a {cls.__name__}, got {_type_name(value)}")
            _check_types(value, section, ctx)
    if cfg.server is not None:
        _validate_server(cfg.server, ctx)
    if cfg.client is not None:
        _validate_client(cfg.client, ctx)


# ---------------------------------------------------------------- dataclasses -> TOML

def _to_toml(obj: Any, secrets: bool) -> dict[str, Any]:
    aliases = {v: k for k, v in _TOML_ALIASES.get(type(obj), {}).items()}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None or (f.name in _SECRET_FIELDS and not secrets):
            continue
        name = aliases.get(f.name, f.name)
        if f.name == "inspect" and value == (f.default if f.default is not dataclasses.MISSING
                                             else f.default_factory()):  # type: ignore[misc]
            continue  # the defaults: files written before the inspector existed stay unchanged
        if dataclasses.is_dataclass(value):
            out[name] = _to_toml(value, secrets)
        elif isinstance(value, (list, tuple)):
            if value and dataclasses.is_dataclass(value[0]) and not isinstance(value[0], HeaderRule):
                out[name] = [_to_toml(v, secrets) for v in value]
            elif value and isinstance(value[0], HeaderRule):
                out[name] = [format_header_rule(v) for v in value]
            elif value or f.default_factory is not list:  # an empty list that is the default: left out
                out[name] = list(value)
        else:
            out[name] = value
    return out


def config_to_dict(cfg: Config, *, secrets: bool = True) -> dict[str, Any]:
    """Config -> the native TOML document as a dict (None values are left out: TOML has no null)."""
    doc: dict[str, Any] = {}
    if cfg.server is not None:
        doc["server"] = _to_toml(cfg.server, secrets)
    if cfg.client is not None:
        doc["client"] = _to_toml(cfg.client, secrets)
    return doc


_HEADER_COMMENT = (
    "# wmproxy-gui configuration (native format; see docs/configuration.md).\n"
    "# Rewritten whole when saved from the app: comments are not kept.\n"
)


def dump_config(cfg: Config, *, secrets: bool = True) -> str:
    """Config -> native TOML text. ``secrets=False`` leaves passwords out (the GUI keeps them in the keyring)."""
    try:
        body = tomli_w.dumps(config_to_dict(cfg, secrets=secrets))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"cannot be written as TOML: {e}", file=cfg.source) from None
    return _HEADER_COMMENT + "\n" + body


def save_config(cfg: Config, path: str | os.PathLike[str], *, secrets: bool = True,
                validate: bool = True) -> None:
    """Validate, serialize, then atomically replace ``path`` (mode 0600: it may hold a password).

    Nothing touches the old file until the new text exists in full, so a bad
    value or a failed write leaves the previous config as it was.
    """
    from .paths import atomic_write

    if validate:
        validate_config(cfg, source=str(path))
    text = dump_config(cfg, secrets=secrets)
    try:
        atomic_write(path, text.encode("utf-8"), mode=0o600)
    except OSError as e:
        raise ConfigError(f"cannot save: {e.strerror or e}", file=str(path)) from None
