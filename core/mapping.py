"""Server-side public listeners of intranet penetration.

* ``tcp``   - upstream's single shared port (the newest tcp mapping without a
              port of its own), plus, as an extension, one port per mapping
              with ``remote_port``;
* ``proxy`` - a public port whose connections the client serves as a proxy;
* ``http``  - every request routed by its Host (``core/http_mapping.py``);
* ``https`` - TLS terminated here with the mapping certificate (our own TLS
              transport, for half-close), then as http; ALPN ``h2`` for
              mappings that declare HTTP/2.

TCP and proxy connections use the protocol-level fast path (no coroutine per
chunk). Every public connection counts against a per-source cap.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import TYPE_CHECKING, Callable

from . import frames as F
from .channel import SocketEndpoint
from .config import addr_of
from .http_mapping import HttpLimits, PublicHttp
from .idle_channels import IdleChannels
from .proxy_gate import ProxyGate, parse_networks
from .streams import format_addr
from .tls_transport import TlsProtocol

if TYPE_CHECKING:
    from .router import Route
    from .server import CenterServer, ServerLink

log = logging.getLogger("wmproxy.mapping")

MIN_REMOTE_PORT = 1024


class PublicTcpEndpoint(SocketEndpoint):
    """A public TCP connection: opens a channel to the client that ``resolve()`` names."""

    def __init__(self, listeners: "MappingListeners", mode: str, resolve: Callable[[], "Route | None"],
                 what: str) -> None:
        super().__init__(None)
        self.listeners = listeners
        self.mode = mode
        self.resolve = resolve
        self.what = what  # for the log line when nobody serves it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = format_addr(transport.get_extra_info("peername"))
        if not self.listeners.admit(self, transport):
            return
        route = self.resolve()
        if route is None or not route.link.alive:
            log.info("no client serves %s; closing %s", self.what, peer)
            transport.close()
            return
        # upstream's client finds the mapping by domain or name; tcp/proxy send the name
        self.channel = route.link.open_channel(route.entry.name, kind="mapping", name=route.entry.name,
                                               peer=peer, target=route.link.peer, mode=self.mode,
                                               dest=format_addr(transport.get_extra_info("sockname")))
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listeners.forget_conn(self)
        super().connection_lost(exc)


class CountedEndpoint(SocketEndpoint):
    """A spliced public connection that was admitted by ``MappingListeners.admit``."""

    def __init__(self, listeners: "MappingListeners", channel) -> None:
        super().__init__(channel)
        self.listeners = listeners

    def connection_lost(self, exc: Exception | None) -> None:
        self.listeners.forget_conn(self)
        super().connection_lost(exc)


class MappingListeners:
    """Owns every public listener of a CenterServer."""

    def __init__(self, server: "CenterServer") -> None:
        self.server = server
        cfg = server.cfg
        self.http_limits = HttpLimits(cfg.http_head_timeout, cfg.http_keepalive_timeout, cfg.http_body_timeout,
                                      cfg.http_max_head, cfg.http_max_headers)
        self.max_per_source = cfg.max_conns_per_source
        self.trusted = parse_networks(cfg.trusted_proxies)  # balancers whose PROXY headers we believe
        self._per_source: collections.Counter[str] = collections.Counter()
        self._conns: dict[object, str] = {}  # live public connection -> its source address
        self._servers: dict[str, asyncio.AbstractServer] = {}
        # public port -> (owning link, mapping name, addresses key, listener)
        self._port_servers: dict[int, tuple["ServerLink", str, str, asyncio.AbstractServer]] = {}
        self._port_errors: dict[tuple["ServerLink", int], str] = {}  # why a link's remote_port is not open
        self._tasks: set[asyncio.Task] = set()
        self._tcp_host = "0.0.0.0"
        self.idle = IdleChannels()  # http/https mapping channels kept between public connections

    async def start(self) -> None:
        cfg = self.server.cfg
        loop = asyncio.get_running_loop()
        if cfg.map_tcp_bind:
            host, port = addr_of(cfg.map_tcp_bind, "server.map_tcp_bind", listen=True)
            self._tcp_host = host
            await self._listen("tcp", cfg.map_tcp_bind,
                               loop.create_server(self._gated(lambda: self._shared_endpoint("tcp"), "tcp"),
                                                  host, port))
        if cfg.map_proxy_bind:
            host, port = addr_of(cfg.map_proxy_bind, "server.map_proxy_bind", listen=True)
            await self._listen("proxy", cfg.map_proxy_bind,
                               loop.create_server(self._gated(lambda: self._shared_endpoint("proxy"), "proxy"),
                                                  host, port))
        if cfg.map_http_bind:
            host, port = addr_of(cfg.map_http_bind, "server.map_http_bind", listen=True)
            await self._listen("http", cfg.map_http_bind,
                               loop.create_server(self._gated(lambda: self._http("http"), "http"), host, port))
        if cfg.map_https_bind:
            host, port = addr_of(cfg.map_https_bind, "server.map_https_bind", listen=True)
            ctx = self._https_context()
            timeout = cfg.http_head_timeout
            await self._listen("https", cfg.map_https_bind, loop.create_server(self._gated(
                lambda: TlsProtocol(ctx, lambda: self._http("https"), handshake_timeout=timeout, coalesce_writes=True),
                "https"), host, port))

    def _gated(self, factory: Callable[[], asyncio.BaseProtocol], what: str) -> Callable[[], asyncio.BaseProtocol]:
        """The listener's protocol factory, behind a PROXY-protocol gate when balancers are trusted."""
        if not self.trusted:
            return factory
        networks = self.trusted

        def refused(peer: str, why: str) -> None:
            self.server.throttled_log.warning("pp:" + peer, "dropping a connection from balancer %s: %s", peer, why)

        lazy = what in ("tcp", "proxy")
        return lambda: ProxyGate(networks, factory, f"{what} listener", refused, lazy_local=lazy)

    def _http(self, scheme: str) -> asyncio.Protocol:
        return PublicHttp(self, scheme)

    # ------------------------------------------------------------ per-source caps
    def admit(self, conn: object, transport: asyncio.BaseTransport) -> bool:
        """Count ``conn`` against its source's cap; close it (False) when the source is over it."""
        source = format_addr(transport.get_extra_info("peername")).rsplit(":", 1)[0]
        if self._per_source[source] >= self.max_per_source:
            self.server.throttled_log.warning(
                "over-cap:" + source, "public connection from %s refused: it already has %d (max_conns_per_source)",
                source, self.max_per_source)
            transport.abort()
            return False
        self._per_source[source] += 1
        self._conns[conn] = source
        return True

    def handover(self, old: object, new: object) -> None:
        """``new`` carries on ``old``'s connection (and its place in the count)."""
        source = self._conns.pop(old, None)
        if source is not None:
            self._conns[new] = source

    def forget_conn(self, conn: object) -> None:
        source = self._conns.pop(conn, None)
        if source is not None:
            self._per_source[source] -= 1
            if self._per_source[source] <= 0:
                del self._per_source[source]

    def _shared_endpoint(self, mode: str) -> PublicTcpEndpoint:
        router = self.server.router
        return PublicTcpEndpoint(self, mode, lambda: router.for_mode(mode), f"the shared {mode} port")

    async def _listen(self, name: str, addr: str, coro) -> None:
        from .server import listen_error

        try:
            srv = await coro
        except OSError as e:
            raise listen_error(addr, e) from None
        self._servers[name] = srv
        self.server.addresses[name] = srv.sockets[0].getsockname()[:2]
        log.info("%s mapping listening on %s:%s", name, *self.server.addresses[name])

    def _https_context(self) -> ssl.SSLContext:
        """The mapping certificate's context. ALPN offers ``h2`` only on connections whose SNI names
        an https mapping that speaks HTTP/2 (the SNI callback switches to a second context)."""
        from . import paths, tls

        cfg = self.server.cfg
        cert, key = tls.ensure_server_cert(cfg.map_cert, cfg.map_key, paths.data_dir(), stem="mapping")
        h1 = tls.server_context(cert, key)
        h1.set_alpn_protocols(["http/1.1"])
        h2 = tls.server_context(cert, key)
        h2.set_alpn_protocols(["h2", "http/1.1"])
        router = self.server.router

        def on_sni(ssl_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            ssl_obj.wm_sni = name or ""  # type: ignore[attr-defined]  # read back by PublicHttp (421 check)
            if name:
                route = router.for_host("https", name)
                if route is not None and "h2" in route.options:
                    ssl_obj.context = h2

        h1.sni_callback = on_sni
        return h1

    async def stop(self) -> None:
        self.idle.clear()
        for srv in self._servers.values():
            srv.close()
        for *_, srv in self._port_servers.values():
            srv.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._servers.clear()
        self._port_servers.clear()

    # ------------------------------------------------------------ per-mapping ports (extension)
    def update_ports(self, link: "ServerLink", entries: tuple[F.MappingEntry, ...],
                     ports: dict[str, int]) -> "asyncio.Future | None":
        """Open and close ``link``'s per-mapping ports; a future that is done once all are settled."""
        modes = {e.name: e.mode for e in entries if e.mode in ("tcp", "proxy")}
        wanted = {p: n for n, p in ports.items() if n in modes}
        for key in [k for k in self._port_errors if k[0] is link]:
            del self._port_errors[key]
        for port, (owner, name, key, srv) in list(self._port_servers.items()):
            if owner is link and wanted.get(port) != name:
                srv.close()
                del self._port_servers[port]
                self.server.addresses.pop(key, None)
        opening = []
        for port, name in wanted.items():
            held = self._port_servers.get(port)
            if held is not None:
                if held[0] is not link:
                    self._port_errors[(link, port)] = f"remote_port {port} is used by another client's mapping"
                continue
            if port < MIN_REMOTE_PORT:
                why = f"remote_port {port} is below {MIN_REMOTE_PORT}: refused"
                log.warning("client %s, mapping %r: %s", link.peer, name, why)
                self._port_errors[(link, port)] = why
                continue
            t = asyncio.get_running_loop().create_task(self._open_port(link, name, modes[name], port))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
            opening.append(t)
        return asyncio.gather(*opening, return_exceptions=True) if opening else None

    def port_error(self, link: "ServerLink", port: int) -> str | None:
        """Why ``link``'s remote_port is not open (None: it is, or it is still opening)."""
        return self._port_errors.get((link, port))

    async def _open_port(self, link: "ServerLink", name: str, mode: str, port: int) -> None:
        from .server import listen_error

        loop = asyncio.get_running_loop()

        def route() -> "Route | None":
            return next((r for r in self.server.router.routes_of(link) if r.entry.name == name), None)

        try:
            srv = await loop.create_server(
                self._gated(lambda: PublicTcpEndpoint(self, mode, route, f"{mode} mapping {name!r}"), mode),
                self._tcp_host, port)
        except OSError as e:
            why = str(listen_error(f"{self._tcp_host}:{port}", e))
            log.warning("mapping %r of client %s: %s", name, link.peer, why)
            self._port_errors[(link, port)] = why
            return
        if not link.alive or port in self._port_servers:
            srv.close()
            return
        key = f"{mode}:{name}"
        self._port_servers[port] = (link, name, key, srv)
        self.server.addresses[key] = srv.sockets[0].getsockname()[:2]
        log.info("%s mapping %r listening on %s:%d", mode, name, self._tcp_host, port)
