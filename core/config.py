"""Configuration model: the dataclasses every part of the product shares.

The native file format is TOML (``[server]``, ``[client]``,
``[[client.mappings]]``, ``[[client.proxy]]``); upstream wmproxy TOML/YAML
files are imported into the same model (see ``core/upstream.py``).
Loading, validation and atomic saving live further down in this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .frames import HeaderRule

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
    enabled: bool = True


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
class ClientConfig:
    server: str = f"127.0.0.1:{DEFAULT_CENTER_PORT}"
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
    window: int = 1 << 20  # per-channel flow-control window, bytes
    max_frame: int = (1 << 24) - 1


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
    window: int = 1 << 20
    max_frame: int = (1 << 24) - 1


@dataclass
class Config:
    server: ServerConfig | None = None
    client: ClientConfig | None = None
    source: str | None = None  # file it was loaded from, for error messages
