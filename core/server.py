"""The center server: accepts client links, authenticates them, routes public
connections to the client that announced the matching mapping, and serves
proxy requests that clients forward through the tunnel."""
from __future__ import annotations

import asyncio
import collections
import errno
import ipaddress
import logging
import ssl
import time

from . import frames as F
from .channel import Channel, ChannelStream
from .config import ServerConfig, addr_of
from .errors import ConfigError, WmproxyError
from .http_proxy import credentials_match
from .idle_channels import IdleChannels
from .ratelog import ThrottledLog, sanitize
from .throttle import AuthThrottle
from .link import EXT_FEATURES, V1_FEATURES, Link, ext_token, parse_ext_token
from .router import Route, Router
from .stats import Stats

log = logging.getLogger("wmproxy.server")

AUTH_TIMEOUT = 10.0  # default of server.auth_timeout
FEATURES_GRACE = 1.0  # a version-1 client never lists its features: apply its mappings after this long
REASON_AUTH_FAILED = "authentication failed: wrong username or password"
REASON_AUTH_REQUIRED = "authentication required: send a Token first"
REASON_AUTH_TIMEOUT = "authentication required: no login within the time allowed"


def listen_error(addr: str, e: OSError) -> WmproxyError:
    """One line a user can act on: which address, and why (``address already in use``)."""
    why = (e.strerror or str(e)).strip()
    if e.errno == errno.EADDRINUSE or "in use" in why.lower():
        why = "address already in use"
    elif e.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied (ports below 1024 need privileges)"
    elif e.errno == errno.EADDRNOTAVAIL:
        why = "this machine has no such address"
    return WmproxyError(f"cannot listen on {addr}: {why}")


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Ticket:
    """A connection that has not logged in yet, counted against the caps until ``release()``."""

    __slots__ = ("server", "source", "deadline", "released")

    def __init__(self, server: "CenterServer", source: str) -> None:
        self.server, self.source = server, source
        self.deadline = time.monotonic() + server.cfg.auth_timeout
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.server.unauth_done(self.source)


class CenterGate(asyncio.Protocol):
    """The center port's doorman: caps the links that have not logged in yet (per source and in
    total) before any TLS work is spent on them, then hands over to TLS and the link."""

    def __init__(self, server: "CenterServer", ctx: ssl.SSLContext | None) -> None:
        self.server, self.ctx = server, ctx

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from .streams import format_addr

        source = format_addr(transport.get_extra_info("peername")).rsplit(":", 1)[0]
        server = self.server
        if not server.unauth_admit(source):
            transport.abort()
            return
        ticket = Ticket(server, source)
        link = ServerLink(server, ticket)
        inner: asyncio.BaseProtocol = link
        if self.ctx is not None:
            from .tls_transport import TlsProtocol

            inner = TlsProtocol(self.ctx, lambda: link, handshake_timeout=server.cfg.auth_timeout,
                                on_lost=ticket.release)
        transport.set_protocol(inner)  # type: ignore[attr-defined]
        inner.connection_made(transport)


class ServerLink(Link):
    role = "server"

    def __init__(self, server: "CenterServer", ticket: Ticket | None = None) -> None:
        super().__init__(server.stats, server.cfg)
        self.server = server
        self.ticket = ticket
        self.authed = not server.auth_required
        if not self.authed:
            self.set_preauth(True)  # from the first read on
        self.alive = False
        self.username = ""
        self.client_id = ""  # sent by version-2 clients: one id for all links of one client
        self._auth_timer: asyncio.TimerHandle | None = None
        # mappings of an extension client wait for its feature list (it may carry its id)
        self._awaiting_features: asyncio.TimerHandle | None = None
        self._pending: tuple[tuple[F.MappingEntry, ...], dict[str, int], dict[str, frozenset[str]]] | None = None
        # proxy channels opened in this read, started together once it is processed; a channel closed
        # meanwhile leaves at once, so a flood of Create+Close holds no closed channel till then
        self._to_start: dict[int, Channel] = {}
        self._start_due = False  # _start_proxies is scheduled

    @property
    def identity(self) -> str:
        """Who this link belongs to, for domain ownership (core/router.py)."""
        if self.client_id:
            return "id:" + self.client_id
        return f"{self.username}@{self.peer.rsplit(':', 1)[0]}"

    @property
    def source(self) -> str:
        return self.peer.rsplit(":", 1)[0]

    def link_made(self) -> None:
        self.alive = True
        self.server.links.add(self)
        if not self.authed:
            self.set_preauth(True)
            deadline = self.ticket.deadline if self.ticket is not None else time.monotonic() + AUTH_TIMEOUT
            self._auth_timer = self.loop.call_at(self.loop.time() + max(0.0, deadline - time.monotonic()),
                                                 self._refuse, REASON_AUTH_TIMEOUT)
            self.server.throttled_log.info("conn:" + self.source, "connection from %s (not logged in yet)",
                                           self.peer)
        else:
            self._logged_in()

    def _logged_in(self) -> None:
        if self.ticket is not None:
            self.ticket.release()
        self.set_connected(username=self.username)
        log.info("client link %s from %s%s", self.id, self.peer,
                 f": logged in as {sanitize(self.username)!r}" if self.server.auth_required else "")

    def link_lost(self, reason: str) -> None:
        self.alive = False
        for h in (self._auth_timer, self._awaiting_features):
            if h is not None:
                h.cancel()
        if self.ticket is not None:
            self.ticket.release()
        self.server.links.discard(self)
        self.server.link_gone(self)
        if self.authed:
            log.info("client link %s from %s closed: %s", self.id, self.peer, sanitize(reason))

    def _refuse(self, reason: str) -> None:
        self.server.throttled_log.warning("refuse:" + self.source, "refusing client %s: %s", self.peer, reason)
        self.send(F.Close(0, reason))
        if self.record is not None:
            self.record.error = reason
        self.close(reason)

    def dispatch(self, fr: F.Frame) -> None:
        if not self.authed and fr.kind != F.Kind.TOKEN:
            self._refuse(REASON_AUTH_REQUIRED)
            return
        super().dispatch(fr)

    def on_control(self, fr: F.Frame) -> None:
        if isinstance(fr, F.Token):
            self._on_token(fr)
        elif isinstance(fr, F.Mapping):
            if fr.flag & F.Flag.EXT:
                self._hello()
            ports = dict(fr.ports)
            options = {n: frozenset(o.split(",")) for n, o in fr.options}
            if self._awaiting_features is not None:
                self._pending = (fr.mappings, ports, options)
            else:
                self.server.mappings_changed(self, fr.mappings, ports, options)
            if self.record is not None:
                self.stats.update_link(self.record, mappings=tuple(f"{m.name} ({m.mode})" for m in fr.mappings))
        elif isinstance(fr, F.Close):  # channel 0: the client says goodbye
            self.close(sanitize(fr.reason) or "client closed the link")

    def _on_token(self, tok: F.Token) -> None:
        if self.authed and self.peer_ext and tok.flag & F.Flag.ACK:
            self._on_features(tok)
            return
        if self.server.auth_required and not self.authed:
            wait = self.server.auth_throttle.delay(self.source)
            if wait > 0:  # this address guessed wrong before: its next guess waits (others never do)
                self.holding = True
                if self.transport is not None:
                    self.transport.pause_reading()
                self.loop.call_later(wait, self._check_token, tok)
                return
            self._check_token(tok)
            return
        self._accept_token(tok)

    def _check_token(self, tok: F.Token) -> None:
        if self.transport is None:
            return
        cfg = self.server.cfg
        # compare both fields, always, in constant time
        if not credentials_match(tok.username, tok.password, cfg.username or "", cfg.password or ""):
            n = self.server.auth_throttle.failed(self.source)
            self.holding = False
            self.server.throttled_log.warning(
                "auth:" + self.source, "wrong username or password from %s (%d in a row from this address)",
                self.peer, n)
            # flagged EXT for a client that said hello: it learns that this server always answers
            # (its next login may be held back by the throttle; it must not mistake us for legacy)
            self.send(F.Close(0, REASON_AUTH_FAILED, F.Flag.EXT if tok.flag & F.Flag.EXT else 0))
            if self.record is not None:
                self.record.error = REASON_AUTH_FAILED
            self.close(REASON_AUTH_FAILED)
            return
        self.server.auth_throttle.succeeded(self.source)
        self._accept_token(tok)
        if self.holding:
            self.release()

    def _accept_token(self, tok: F.Token) -> None:
        if self._auth_timer:
            self._auth_timer.cancel()
            self._auth_timer = None
        first = not self.authed
        self.authed = True
        self.set_preauth(False)
        self.username = tok.username
        if first:
            self._logged_in()
        if tok.flag & F.Flag.EXT:
            self._hello()

    def _hello(self) -> None:
        """The client flagged EXT on its Token or Mapping: acknowledge once, switch extensions on."""
        if self.peer_ext or not self.authed:
            return
        self.peer_ext = True
        self.features = frozenset(V1_FEATURES)  # every extension client has these; more if it lists them
        self.send(ext_token())
        self.start_heartbeat()
        self.set_connected(extensions=V1_FEATURES)
        self._awaiting_features = self.loop.call_later(FEATURES_GRACE, self._features_settled)

    def _on_features(self, tok: F.Token) -> None:
        """A version-2 client's answer to our ack: the features it speaks, and its id."""
        version, feats, params = parse_ext_token(tok)
        if version < 2 or self._awaiting_features is None:
            return
        self.features = frozenset(EXT_FEATURES) & (feats | set(V1_FEATURES))
        self.client_id = params.get("id", "")[:64]
        self.set_connected(extensions=tuple(sorted(self.features)))
        self._features_settled()

    def _features_settled(self) -> None:
        if self._awaiting_features is not None:
            self._awaiting_features.cancel()
            self._awaiting_features = None
        pending, self._pending = self._pending, None
        if pending is not None and self.alive:
            self.server.mappings_changed(self, *pending)

    def send_status(self, states: tuple[F.MappingState, ...]) -> None:
        if self.has("status") and self.transport is not None:
            self.send(F.Status(states))

    def on_create(self, fr: F.Create) -> None:
        """A client forwards a local proxy connection: parse it here and dial the target."""
        # one stats name for every proxy channel: a client must not grow per-name state on the server
        ch = self.accept_channel(fr, kind="proxy", name="proxy", peer=self.peer, target="")
        # the stream and its task start after this read is processed (data meanwhile waits in the
        # channel): a Create closed in the same read costs neither
        if not self._start_due:
            self._start_due = True
            self.loop.call_soon(self._start_proxies)
        self._to_start[ch.id] = ch

    def forget(self, ch: Channel, reason: str) -> None:
        if self._to_start.get(ch.id) is ch:
            del self._to_start[ch.id]
        super().forget(ch, reason)

    def _start_proxies(self) -> None:
        starting, self._to_start, self._start_due = self._to_start, {}, False
        for ch in starting.values():
            if ch.closed:
                continue
            try:
                self._serve_proxy(ch)
            except Exception:  # one channel's failure must not leave the others of its read unstarted
                log.exception("proxy channel %d could not start", ch.id)
                ch.close("internal error", reset=True)

    def _serve_proxy(self, ch: Channel) -> None:
        from .forward_proxy import ForwardProxy

        server = self.server

        def on_target(target: str) -> None:
            ch.record.target = target

        def hand_over(data: bytes) -> None:  # CONNECT / SOCKS: the coroutine handlers go on
            stream = ChannelStream(ch, self.peer)
            if data:
                stream.deliver(data)
            server.spawn(server.serve_proxy_channel(stream, ch))

        # plain HTTP forward proxying at the protocol level (no coroutine per request)
        ForwardProxy(ch, server._proxy_opts, self.peer, hand_over, on_target)


class CenterServer:
    """Run with ``await start()``; ``addresses`` tells where it listens."""

    def __init__(self, cfg: ServerConfig, stats: Stats | None = None) -> None:
        self.cfg = cfg
        self.stats = stats if stats is not None else Stats()
        self.router = Router()
        self.links: set[ServerLink] = set()
        self.addresses: dict[str, tuple[str, int]] = {}
        self.fingerprint: str | None = None
        self._servers: dict[str, asyncio.AbstractServer] = {}
        self._tasks: set[asyncio.Task] = set()
        self._mapping = None  # MappingListeners, created in start()
        self.throttled_log = ThrottledLog(log)
        self.auth_throttle = AuthThrottle()
        self._unauth: collections.Counter[str] = collections.Counter()  # source -> links not logged in
        self._unauth_total = 0
        self._proxy_opts = None

    @property
    def auth_required(self) -> bool:
        return bool(self.cfg.username or self.cfg.password)

    # ------------------------------------------------------------ lifecycle
    @property
    def kept_channels(self) -> "IdleChannels | None":
        """The http/https mapping channels kept between public connections (None before start)."""
        return self._mapping.idle if self._mapping is not None else None

    async def start(self) -> None:
        from .mapping import MappingListeners

        cfg = self.cfg
        host, port = addr_of(cfg.bind, "server.bind", listen=True)
        if not self.auth_required and not is_loopback(host) and not cfg.allow_anonymous:
            raise ConfigError(
                f"refusing to run an unauthenticated center listener on {cfg.bind}: "
                "set username and password, or allow_anonymous = true", key="server.allow_anonymous")
        self._proxy_opts = self._proxy_options()
        ctx = self._center_tls() if cfg.tls else None
        loop = asyncio.get_running_loop()
        try:
            try:
                srv = await loop.create_server(lambda: CenterGate(self, ctx), host, port)
            except OSError as e:
                raise listen_error(cfg.bind, e) from None
            self._servers["center"] = srv
            self.addresses["center"] = srv.sockets[0].getsockname()[:2]
            self._mapping = MappingListeners(self)
            await self._mapping.start()
        except BaseException:
            await self.stop()
            raise
        log.info("center listening on %s:%s%s", *self.addresses["center"], " (tls)" if ctx else "")

    def _proxy_options(self):
        """What clients may proxy through us, and where to (policy errors surface at start)."""
        from .policy import TargetPolicy
        from .proxy import ProxyOptions

        cfg = self.cfg
        return ProxyOptions(protocols=tuple(cfg.proxy_protocols),
                            policy=TargetPolicy(list(cfg.allow_targets), list(cfg.deny_targets)))

    def _center_tls(self) -> ssl.SSLContext:
        from . import paths, tls

        ctx, self.fingerprint = tls.server_context_for(self.cfg, paths.data_dir())
        return ctx

    def close_channel(self, key: int, reason: str = "closed by the server's operator") -> bool:
        """Close the live channel whose ``ChannelRecord.key`` is ``key`` (the client and the public
        end are told); False if there is none."""
        return any(link.close_channel_by_key(key, reason) for link in list(self.links))

    async def stop(self) -> None:
        if self._mapping is not None:
            await self._mapping.stop()
        for srv in self._servers.values():
            srv.close()
        for link in list(self.links):
            link.close("server stopping")
        for t in list(self._tasks):
            t.cancel()
        for srv in self._servers.values():
            try:
                await asyncio.wait_for(srv.wait_closed(), 5)
            except (asyncio.TimeoutError, Exception):
                pass
        self._servers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ strangers
    def unauth_admit(self, source: str) -> bool:
        """May one more not-yet-logged-in link from ``source`` come in (per source and total caps)?"""
        cfg = self.cfg
        if not self.auth_required:
            return True
        if self._unauth[source] >= cfg.max_unauth_per_source or self._unauth_total >= cfg.max_unauth:
            which = "from this address" if self._unauth[source] >= cfg.max_unauth_per_source else "in all"
            self.throttled_log.warning("unauth-cap:" + source, "connection from %s refused: too many links "
                                       "that have not logged in yet %s", source, which)
            return False
        self._unauth[source] += 1
        self._unauth_total += 1
        return True

    def unauth_done(self, source: str) -> None:
        if not self.auth_required:
            return
        self._unauth[source] -= 1
        self._unauth_total -= 1
        if self._unauth[source] <= 0:
            del self._unauth[source]

    def spawn(self, coro) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # ------------------------------------------------------------ routing
    def mappings_changed(self, link: ServerLink, entries: tuple[F.MappingEntry, ...],
                         ports: dict[str, int] | None = None,
                         options: dict[str, frozenset[str]] | None = None) -> None:
        """A link announced its mappings: route them, open their ports, tell the clients concerned."""
        ports = {n: p for n, p in (ports or {}).items() if any(e.name == n and e.mode in ("tcp", "proxy")
                                                               for e in entries)}
        changed = self.router.update(link, entries, ports, options)
        for r in self.router.routes_of(link):
            if not self.router.holds(r):
                log.warning("client %s: %s mapping %r for %s refused: served by another client (%s); "
                            "it takes over when that client disconnects", link.peer, r.entry.mode,
                            r.entry.name, r.entry.domain or "any host", self.router.holder_peer(r))
        opening = self._mapping.update_ports(link, entries, ports) if self._mapping is not None else None
        for other in changed - {link}:
            self.report_status(other)
        if opening is not None:
            opening.add_done_callback(lambda _t: self.report_status(link))
        else:
            self.report_status(link)

    def link_gone(self, link: ServerLink) -> None:
        for other in self.router.remove(link):
            log.info("client %s now serves what %s held (domains or a shared port)", other.peer, link.peer)
            self.report_status(other)
        if self._mapping is not None:
            self._mapping.update_ports(link, (), {})

    def report_status(self, link: ServerLink) -> None:
        """Tell a client (extension ``status``) what became of each of its mappings."""
        if not link.alive or not link.has("status"):
            return
        link.send_status(tuple(self.mapping_state(r) for r in self.router.routes_of(link)))

    def mapping_state(self, r: Route) -> F.MappingState:
        e = r.entry
        mode = e.mode.lower()
        name = e.name
        if mode in ("http", "https"):
            if mode not in self.addresses:
                return F.MappingState(name, False, 0, f"this server has no {mode} listener (map_{mode}_bind)")
            if not self.router.holds(r):
                return F.MappingState(name, False, 0, f"{e.domain or 'the catch-all'} ({mode}) is served by "
                                      f"another client ({self.router.holder_peer(r)}); this mapping takes over "
                                      "when it disconnects")
            return F.MappingState(name, True, self.addresses[mode][1])
        if mode in ("tcp", "proxy"):
            if r.port:
                err = self._mapping.port_error(r.link, r.port) if self._mapping is not None else None
                if err:
                    return F.MappingState(name, False, 0, err)
                return F.MappingState(name, True, r.port)
            if mode not in self.addresses:
                return F.MappingState(name, False, 0, f"this server has no shared {mode} listener "
                                      f"(map_{mode}_bind); give the mapping a remote_port")
            shared = self.router.for_mode(mode)
            if shared is not None and shared is not r:
                return F.MappingState(name, False, 0, f"the shared {mode} port serves the newer mapping "
                                      f"{shared.entry.name!r}; give this one a remote_port")
            return F.MappingState(name, True, self.addresses[mode][1])
        return F.MappingState(name, False, 0, f"unknown mapping mode {e.mode!r}")

    async def serve_proxy_channel(self, stream: ChannelStream, ch) -> None:
        from .proxy import serve_proxy

        def on_target(target: str) -> None:
            ch.record.target = target

        try:
            await serve_proxy(stream, self._proxy_opts, on_target=on_target)
        except Exception:
            log.exception("proxy channel %s failed", ch.id)
        finally:
            stream.close()
