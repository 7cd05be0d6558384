"""Server-side public listeners of intranet penetration.

* ``tcp``   - upstream's single shared port (the newest tcp mapping wins),
              plus, as an extension, one port per mapping with ``remote_port``;
* ``proxy`` - a public port whose connections the client serves as a proxy;
* ``http``  - routed by the Host header to the mapping with that domain;
* ``https`` - TLS terminated here with the mapping certificate, then as http.

TCP and proxy connections use the protocol-level fast path (no coroutine per
chunk). HTTP connections read the first request head to route; with header
rules every message head is rewritten, otherwise bytes are spliced as-is:
``PublicHttpEndpoint`` reads that head in a Protocol and, for a routable
request without rules, turns the connection into a ``SocketEndpoint`` on a
new channel (no coroutine, no stream objects); anything else (rules, errors,
no route) is handed to the stream-based ``serve_http_mapping``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from . import frames as F
from .channel import Channel, ChannelStream, SocketEndpoint
from .config import addr_of
from .streams import TcpStream, format_addr, relay

if TYPE_CHECKING:
    from .router import Route
    from .server import CenterServer, ServerLink

log = logging.getLogger("wmproxy.mapping")

MIN_REMOTE_PORT = 1024


class PublicTcpEndpoint(SocketEndpoint):
    """A public TCP connection: opens a channel to the client that ``resolve()`` names."""

    def __init__(self, mode: str, resolve: Callable[[], "Route | None"], what: str) -> None:
        super().__init__(None)
        self.mode = mode
        self.resolve = resolve
        self.what = what  # for the log line when nobody serves it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = format_addr(transport.get_extra_info("peername"))
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


class PublicHttpEndpoint(asyncio.Protocol):
    """A public HTTP(S) connection until its first request head is routed."""

    def __init__(self, listeners: "MappingListeners", scheme: str) -> None:
        self.listeners = listeners
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        from . import http1

        buf = self.buf
        buf += data
        if buf[0] in (0x0D, 0x0A):  # stray empty lines first: the general path deals with them
            self._hand_over()
            return
        try:
            head = http1.parse_request_head(buf)
        except http1.HttpError:
            self._hand_over()  # it answers with the error
            return
        if head is None:
            return
        route = self.listeners.server.router.for_host(self.scheme, request_host(head))
        if route is None or route.entry.headers:
            self._hand_over()
            return
        t = self.transport
        assert t is not None
        peer = format_addr(t.get_extra_info("peername"))
        ch = open_http_channel(route, peer, format_addr(t.get_extra_info("sockname")))
        ep = SocketEndpoint(ch)
        t.set_protocol(ep)
        ep.connection_made(t)
        ch.send(bytes(buf))

    def eof_received(self) -> bool:
        if not self.buf:
            return False  # nothing was asked: close quietly
        return self._hand_over(eof=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _hand_over(self, eof: bool = False) -> bool:
        """Continue on StreamReader/StreamWriter with ``serve_http_mapping`` (it re-reads the head)."""
        t = self.transport
        assert t is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 16, loop=loop)
        proto = asyncio.StreamReaderProtocol(reader, loop=loop)
        t.set_protocol(proto)
        proto.connection_made(t)
        reader.feed_data(bytes(self.buf))
        keep_open = bool(proto.eof_received()) if eof else True
        writer = asyncio.StreamWriter(t, proto, reader, loop)
        task = loop.create_task(self.listeners._http_conn(reader, writer, self.scheme))
        self.listeners._tasks.add(task)
        task.add_done_callback(self.listeners._tasks.discard)
        return keep_open


class MappingListeners:
    """Owns every public listener of a CenterServer."""

    def __init__(self, server: "CenterServer") -> None:
        self.server = server
        self._servers: dict[str, asyncio.AbstractServer] = {}
        # public port -> (owning link, mapping name, addresses key, listener)
        self._port_servers: dict[int, tuple["ServerLink", str, str, asyncio.AbstractServer]] = {}
        self._port_errors: dict[tuple["ServerLink", int], str] = {}  # why a link's remote_port is not open
        self._tasks: set[asyncio.Task] = set()
        self._tcp_host = "0.0.0.0"

    async def start(self) -> None:
        cfg = self.server.cfg
        loop = asyncio.get_running_loop()
        if cfg.map_tcp_bind:
            host, port = addr_of(cfg.map_tcp_bind, "server.map_tcp_bind", listen=True)
            self._tcp_host = host
            await self._listen("tcp", cfg.map_tcp_bind,
                               loop.create_server(lambda: self._shared_endpoint("tcp"), host, port))
        if cfg.map_proxy_bind:
            host, port = addr_of(cfg.map_proxy_bind, "server.map_proxy_bind", listen=True)
            await self._listen("proxy", cfg.map_proxy_bind,
                               loop.create_server(lambda: self._shared_endpoint("proxy"), host, port))
        if cfg.map_http_bind:
            host, port = addr_of(cfg.map_http_bind, "server.map_http_bind", listen=True)
            await self._listen("http", cfg.map_http_bind,
                               loop.create_server(lambda: PublicHttpEndpoint(self, "http"), host, port))
        if cfg.map_https_bind:
            host, port = addr_of(cfg.map_https_bind, "server.map_https_bind", listen=True)
            ctx = self._https_context()
            await self._listen("https", cfg.map_https_bind,
                               loop.create_server(lambda: PublicHttpEndpoint(self, "https"), host, port, ssl=ctx,
                                                  ssl_handshake_timeout=15))

    def _shared_endpoint(self, mode: str) -> PublicTcpEndpoint:
        router = self.server.router
        return PublicTcpEndpoint(mode, lambda: router.for_mode(mode), f"the shared {mode} port")

    async def _listen(self, name: str, addr: str, coro) -> None:
        from .server import listen_error

        try:
            srv = await coro
        except OSError as e:
            raise listen_error(addr, e) from None
        self._servers[name] = srv
        self.server.addresses[name] = srv.sockets[0].getsockname()[:2]
        log.info("%s mapping listening on %s:%s", name, *self.server.addresses[name])

    def _https_context(self):
        from . import paths, tls

        cfg = self.server.cfg
        cert, key = tls.ensure_server_cert(cfg.map_cert, cfg.map_key, paths.data_dir(), stem="mapping")
        return tls.server_context(cert, key)

    async def stop(self) -> None:
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
            srv = await loop.create_server(lambda: PublicTcpEndpoint(mode, route, f"{mode} mapping {name!r}"),
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

    # ------------------------------------------------------------ http / https
    async def _http_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         scheme: str = "http") -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        client = TcpStream(reader, writer)
        try:
            await serve_http_mapping(self.server, client, scheme)
        except asyncio.CancelledError:
            pass  # server stopping; ending quietly keeps asyncio from logging the cancelled handler
        except Exception:
            log.exception("http mapping connection from %s failed", client.peer)
        finally:
            client.close()
            if task is not None:
                self._tasks.discard(task)


def request_host(head) -> str:
    """The Host a request is routed by, without its port ("" when absent or malformed)."""
    from . import http1

    try:
        return http1.split_authority(head.get("host") or "", 80)[0]
    except ValueError:
        return ""


def open_http_channel(route: "Route", peer: str, dest: str) -> Channel:
    """A channel to the client serving ``route``; a domain-less mapping is named, as tcp ones are."""
    return route.link.open_channel(route.entry.domain or route.entry.name, kind="mapping",
                                   name=route.entry.name, peer=peer, target=route.link.peer,
                                   mode=route.entry.mode, dest=dest)


async def serve_http_mapping(server: "CenterServer", client: TcpStream, scheme: str) -> None:
    """Route one public HTTP connection by its first request's Host."""
    from . import http1
    from .http_proxy import read_head

    buf = bytearray()
    try:
        head = await read_head(client, buf, http1.parse_request_head)
    except http1.HttpError as e:
        client.write(http1.make_response(e.status, e.message))
        await client.drain()
        return
    if head is None:
        return
    host = request_host(head)
    route = server.router.for_host(scheme, host)
    if route is None:
        client.write(http1.make_response(404, f"no mapping serves host {host or '(none)'}"))
        await client.drain()
        return
    ch = open_http_channel(route, client.peer, client.local)
    upstream = ChannelStream(ch, route.link.peer)
    if not route.entry.headers:
        client.unread(bytes(buf))
        await relay(client, upstream)
        return
    variables = {"client_ip": client.peer.rsplit(":", 1)[0].strip("[]"), "scheme": scheme, "host": host}
    try:
        await relay_with_rules(client, upstream, route.entry.headers, variables, buf)
    finally:
        upstream.close()


async def relay_with_rules(client: TcpStream, upstream: ChannelStream, rules: tuple[F.HeaderRule, ...],
                           variables: dict[str, str], buf: bytearray) -> None:
    """Forward HTTP/1.x both ways, rewriting every request and response head by the mapping's rules.

    Bodies are forwarded as they are (chunked stays chunked). A protocol
    upgrade (101) or a malformed message ends rewriting: the rest is spliced.
    """
    from . import http1
    from .http_proxy import forward_body, read_head

    methods: asyncio.Queue[str | None] = asyncio.Queue()
    upgraded = asyncio.Event()

    async def requests() -> None:
        while not upgraded.is_set():
            head = await read_head(client, buf, http1.parse_request_head)
            if head is None:
                upstream.write_eof()
                await methods.put(None)
                return
            del buf[:head.head_len]
            http1.apply_header_rules(head, rules, {**variables, "url": head.target})
            upstream.write(head.serialize())
            await methods.put(head.method)
            if head.method == "CONNECT" or head.has("upgrade"):
                await upgraded.wait()
                break
            await forward_body(client, upstream, http1.BodyReader(*http1.request_body_kind(head)), buf)
        if buf:
            upstream.write(bytes(buf))
        while data := await client.read():
            upstream.write(data)
            await upstream.drain()
        upstream.write_eof()

    async def responses() -> None:
        rbuf = bytearray()
        while True:
            method = await methods.get()
            if method is None:
                break
            while True:
                head = await read_head(upstream, rbuf, lambda b: http1.parse_response_head(b, method))
                if head is None:
                    return
                del rbuf[:head.head_len]
                http1.apply_header_rules(head, rules, variables)
                client.write(head.serialize())
                if head.status == 101 or (method == "CONNECT" and 200 <= head.status < 300):
                    upgraded.set()
                    if rbuf:
                        client.write(bytes(rbuf))
                    while data := await upstream.read():
                        client.write(data)
                        await client.drain()
                    return
                if 100 <= head.status < 200:
                    continue  # interim response: the final one follows
                kind, length = http1.response_body_kind(head, method)
                await forward_body(upstream, client, http1.BodyReader(kind, length), rbuf)
                if kind == http1.CLOSE or not head.keep_alive:
                    return
                break
        client.write_eof()

    try:
        req = asyncio.ensure_future(requests())
        resp = asyncio.ensure_future(responses())
        done, pending = await asyncio.wait({req, resp}, return_when=asyncio.FIRST_COMPLETED)
        if resp in done:  # the response side ended the exchange: stop reading requests
            req.cancel()
        await asyncio.gather(req, resp, return_exceptions=True)
        for t in (req, resp):
            if not t.cancelled() and t.exception() and not isinstance(t.exception(), (ConnectionError, OSError)):
                err = t.exception()
                if isinstance(err, http1.HttpError):
                    log.info("http mapping %s: %s", client.peer, err)
                else:
                    raise err
    finally:
        client.close()
