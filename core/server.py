"""The center server: accepts client links, authenticates them, routes public
connections to the client that announced the matching mapping, and serves
proxy requests that clients forward through the tunnel."""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import ssl
from dataclasses import dataclass, field

from . import frames as F
from .channel import ChannelStream
from .config import ServerConfig, addr_of
from .errors import ConfigError, WmproxyError
from .http_proxy import credentials_match
from .link import EXT_FEATURES, Link, ext_ack
from .stats import Stats

log = logging.getLogger("wmproxy.server")

AUTH_TIMEOUT = 10.0
REASON_AUTH_FAILED = "authentication failed: wrong username or password"
REASON_AUTH_REQUIRED = "authentication required: send a Token first"


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


@dataclass
class Route:
    link: "ServerLink"
    entry: F.MappingEntry


@dataclass
class Router:
    """Which client link serves which mapping. Newest announcement wins."""

    by_domain: dict[str, Route] = field(default_factory=dict)
    by_mode: dict[str, list[Route]] = field(default_factory=dict)

    def update(self, link: "ServerLink", entries: tuple[F.MappingEntry, ...]) -> None:
        self.remove(link)
        for e in entries:
            r = Route(link, e)
            if e.mode in ("http", "https") and e.domain:
                self.by_domain[e.domain.lower()] = r
            self.by_mode.setdefault(e.mode, []).append(r)

    def remove(self, link: "ServerLink") -> None:
        self.by_domain = {d: r for d, r in self.by_domain.items() if r.link is not link}
        for mode, routes in self.by_mode.items():
            routes[:] = [r for r in routes if r.link is not link]

    def for_host(self, host: str) -> Route | None:
        host = host.lower().rstrip(".")
        r = self.by_domain.get(host)
        if r is None:  # "*.example.com" wildcards
            parts = host.split(".")
            for i in range(1, len(parts)):
                r = self.by_domain.get("*." + ".".join(parts[i:]))
                if r is not None:
                    break
        if r is None:  # an http/https mapping with no domain takes any host
            for mode in ("http", "https"):
                r = next((c for c in reversed(self.by_mode.get(mode, ())) if not c.entry.domain and c.link.alive), None)
                if r is not None:
                    break
        return r if r is not None and r.link.alive else None

    def for_mode(self, mode: str, name: str | None = None) -> Route | None:
        for r in reversed(self.by_mode.get(mode, ())):
            if r.link.alive and (name is None or r.entry.name == name):
                return r
        return None


class ServerLink(Link):
    role = "server"

    def __init__(self, server: "CenterServer") -> None:
        super().__init__(server.stats, server.cfg)
        self.server = server
        self.authed = not server.auth_required
        self.alive = False
        self.username = ""
        self._auth_timer: asyncio.TimerHandle | None = None

    def link_made(self) -> None:
        self.alive = True
        self.server.links.add(self)
        if not self.authed:
            self._auth_timer = self.loop.call_later(AUTH_TIMEOUT, self._refuse, REASON_AUTH_REQUIRED)
        else:
            self.set_connected()
        log.info("client link %s from %s", self.id, self.peer)

    def link_lost(self, reason: str) -> None:
        self.alive = False
        if self._auth_timer:
            self._auth_timer.cancel()
        self.server.links.discard(self)
        self.server.mappings_changed(self, ())
        log.info("client link %s from %s closed: %s", self.id, self.peer, reason)

    def _refuse(self, reason: str) -> None:
        log.warning("refusing client %s: %s", self.peer, reason)
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
            self.server.mappings_changed(self, fr.mappings, dict(fr.ports))
            if self.record is not None:
                self.stats.update_link(self.record, mappings=tuple(f"{m.name} ({m.mode})" for m in fr.mappings))
        elif isinstance(fr, F.Close):  # channel 0: the client says goodbye
            self.close(fr.reason or "client closed the link")

    def _on_token(self, tok: F.Token) -> None:
        cfg = self.server.cfg
        if self.server.auth_required and not self.authed:
            # compare both fields, always, in constant time
            ok = credentials_match(tok.username, tok.password, cfg.username or "", cfg.password or "")
            if not ok:
                self._refuse(REASON_AUTH_FAILED)
                return
        if self._auth_timer:
            self._auth_timer.cancel()
            self._auth_timer = None
        self.authed = True
        self.username = tok.username
        self.set_connected(username=tok.username)
        if tok.flag & F.Flag.EXT:
            self._hello()

    def _hello(self) -> None:
        """The client flagged EXT on its Token or Mapping: acknowledge once, switch extensions on."""
        if self.peer_ext or not self.authed:
            return
        self.peer_ext = True
        self.send(ext_ack())
        self.start_heartbeat()
        self.set_connected(extensions=EXT_FEATURES)

    def on_create(self, fr: F.Create) -> None:
        """A client forwards a local proxy connection: parse it here and dial the target."""
        ch = self.accept_channel(fr, kind="proxy", name=fr.domain or "proxy", peer=self.peer, target="")
        stream = ChannelStream(ch, self.peer)
        self.server.spawn(self.server.serve_proxy_channel(stream, ch))


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
        self._proxy_opts = None

    @property
    def auth_required(self) -> bool:
        return bool(self.cfg.username or self.cfg.password)

    # ------------------------------------------------------------ lifecycle
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
                srv = await loop.create_server(lambda: ServerLink(self), host, port, ssl=ctx,
                                               ssl_handshake_timeout=15 if ctx else None)
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

    def spawn(self, coro) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # ------------------------------------------------------------ routing
    def mappings_changed(self, link: ServerLink, entries: tuple[F.MappingEntry, ...],
                         ports: dict[str, int] | None = None) -> None:
        self.router.update(link, entries) if entries else self.router.remove(link)
        if self._mapping is not None:
            self._mapping.update_ports(link, entries, ports or {})

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
