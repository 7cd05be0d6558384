"""The center client: keeps one link to the server alive, serves the mappings
the server routes to it, and forwards local proxy connections through it."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import secrets
import ssl
import time
from typing import TYPE_CHECKING

from . import frames as F
from .channel import ChannelStream, SocketEndpoint
from .config import ClientConfig, MappingConfig, ProxyListenerConfig, addr_of
from .errors import AuthError, TlsError, WmproxyError
from .link import EXT_FEATURES, V1_FEATURES, Link, ext_token, parse_ext_token
from .stats import CONNECTED, CONNECTING, ERROR, STOPPED, Stats
from .streams import format_addr

if TYPE_CHECKING:
    from .inspect.ring import CaptureRing

log = logging.getLogger("wmproxy.client")

LEGACY_GRACE = 1.0  # a legacy server never acknowledges: assume success after this long
STABLE_AFTER = 10.0  # a link that lived this long resets the reconnect backoff


def wire_mappings(mappings: list[MappingConfig]) -> tuple[tuple[F.MappingEntry, ...], tuple[tuple[str, int], ...]]:
    live = [m for m in mappings if m.enabled]
    entries = tuple(F.MappingEntry(m.name, m.mode, m.domain or "", tuple(m.headers)) for m in live)
    ports = tuple((m.name, m.remote_port) for m in live if m.remote_port and m.mode in ("tcp", "proxy"))
    return entries, ports


class ClientLink(Link):
    role = "client"

    def __init__(self, client: "CenterClient") -> None:
        super().__init__(client.stats, client.cfg)
        self.client = client
        self.accepted = asyncio.Event()
        self.refused: str | None = None
        self.sent_token = False

    def link_made(self) -> None:
        cfg = self.client.cfg
        # As upstream: a Token only with credentials (upstream's credential-less server
        # cannot take one). Both frames carry the EXT hello bit, which a legacy server
        # drops; the Mapping is always sent so a credential-less link can say hello too.
        self.sent_token = bool(cfg.username and cfg.password)
        if self.sent_token:
            self.send(F.Token(cfg.username or "", cfg.password or "", F.Flag.EXT))
        self.announce(hello=True)

    def announce(self, hello: bool = False) -> None:
        """Send the mappings (a later Mapping replaces the earlier set on the server)."""
        entries, _ = wire_mappings(self.client.cfg.mappings)
        self.send(F.Mapping(entries, flag=F.Flag.EXT if hello else 0))
        self.announce_ports()

    def link_lost(self, reason: str) -> None:
        self.accepted.set()

    def on_control(self, fr: F.Frame) -> None:
        if isinstance(fr, F.Token):
            if fr.flag & F.Flag.EXT and fr.flag & F.Flag.ACK and not self.peer_ext:
                version, feats, _ = parse_ext_token(fr)
                self.peer_ext = True
                self.features = frozenset(EXT_FEATURES) & (feats | set(V1_FEATURES))
                log.info("server speaks extensions (%s: %s)", fr.username, ",".join(sorted(feats)))
                self.announce_ports()
                if version >= 2:  # it waits for our list (and our id) before routing our mappings,
                    # so the ports block above is in place before anything is routed
                    self.send(ext_token((f"id={self.client.client_id}",)))
                self.start_heartbeat()
                self.set_connected(extensions=tuple(sorted(self.features)))
                self.accepted.set()
            return  # anything else: ignore (a legacy client would have panicked)
        if isinstance(fr, F.Status):
            self.client.on_mapping_status(fr.mappings)
            return
        if isinstance(fr, F.Close):  # channel 0: the server refuses or closes us
            reason = fr.reason or "closed by server"
            if self.sent_token and not self.accepted.is_set() and "authentication" not in reason:
                # upstream refuses a bad Token with "not verify so close"
                reason = f"authentication failed: the server refused the credentials ({reason})"
            self.refused = reason
            log.warning("server closed the link: %s", self.refused)
            self.close(self.refused)
            self.accepted.set()

    def announce_ports(self) -> None:
        """The per-mapping public ports, to an extension-aware server only."""
        entries, ports = wire_mappings(self.client.cfg.mappings)
        if self.peer_ext and ports:
            self.send(F.Mapping(entries, ports, flag=F.Flag.PORTS))

    def on_create(self, fr: F.Create) -> None:
        """The server routes a public connection to us: find the mapping, dial it."""
        m = self.client.find_mapping(fr.domain or "", fr.mode)
        if m is None:
            self.send_close(fr.sock_map, f"no mapping named or serving {fr.domain!r} on this client")
            return
        peer = fr.peer or "unknown"  # the public client's address (extension "meta"; a legacy server never says)
        if m.mode == "proxy":
            ch = self.accept_channel(fr, kind="mapping", name=m.name, peer=peer, target="(proxy)")
            self.client.spawn(self.client.serve_proxy_mapping(ChannelStream(ch, peer), ch))
            return
        ch = self.accept_channel(fr, kind="mapping", name=m.name, peer=peer, target=m.local_addr)
        self.client.spawn(self.client.connect_local(ch, m.local_addr, self.client.endpoint_factory(m, ch)))


class ForwardEndpoint(SocketEndpoint):
    """A local proxy connection forwarded raw: the server parses the proxy protocol."""

    def __init__(self, client: "CenterClient", listener: ProxyListenerConfig) -> None:
        super().__init__(None)
        self.client = client
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        link = self.client.link
        peer = format_addr(transport.get_extra_info("peername"))
        if link is None or not link.accepted.is_set() or link.refused:
            log.info("proxy %s: no center link; closing %s", self.listener.name, peer)
            transport.close()
            return
        self.channel = link.open_channel(None, kind="proxy", name=self.listener.name, peer=peer, target="")
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        ch = self.channel
        if ch is not None and not ch.record.target and ch.record.up < 4096:
            ch.record.target = sniff_target(data)
        super().data_received(data)


def sniff_target(data: bytes) -> str:
    """Best-effort host:port of a proxy request (for the traffic view only)."""
    if data[:8].upper().startswith(b"CONNECT "):
        return data[8:].split(b" ", 1)[0].decode("ascii", "replace")
    if len(data) > 7 and data[0] == 5 and data[1] == 1 and data[2] == 0:  # SOCKS5 request
        atyp = data[3]
        if atyp == 1 and len(data) >= 10:
            return f"{'.'.join(map(str, data[4:8]))}:{int.from_bytes(data[8:10], 'big')}"
        if atyp == 3 and len(data) >= 5 + data[4] + 2:
            n = data[4]
            return f"{data[5:5 + n].decode('ascii', 'replace')}:{int.from_bytes(data[5 + n:7 + n], 'big')}"
        if atyp == 4 and len(data) >= 22:
            return f"[{ipaddress.IPv6Address(data[4:20])}]:{int.from_bytes(data[20:22], 'big')}"
    if b"://" in data[:24]:  # absolute-form HTTP request line: "GET http://host:port/..."
        try:
            url = data.split(b" ", 2)[1].decode("ascii")
            return url.split("://", 1)[1].split("/", 1)[0]
        except (IndexError, UnicodeDecodeError):
            pass
    return ""


class CenterClient:
    """Run with ``await start()``; reconnects by itself until ``await stop()``."""

    def __init__(self, cfg: ClientConfig, stats: Stats | None = None, capture: "CaptureRing | None" = None) -> None:
        self.cfg = cfg
        self.stats = stats if stats is not None else Stats()
        # the request inspector's store: http/https mappings with inspect = true are captured into it
        # (None: no inspector is running, nothing is captured)
        self.capture = capture
        self.state = STOPPED
        self.last_error = ""
        self.last_exception: Exception | None = None
        self.link: ClientLink | None = None
        self.addresses: dict[str, tuple[str, int]] = {}
        self.server_fingerprint: str | None = None
        self.client_id = secrets.token_hex(8)  # one per client, sent to version-2 servers (domain ownership)
        # what the server made of each mapping (extension "status"): name -> MappingState
        self.mapping_status: dict[str, F.MappingState] = {}
        self._listeners: dict[str, object] = {}
        self._run_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._state_changed = asyncio.Event()
        self._stopping = False
        self._wake = asyncio.Event()  # cuts the wait before the next connect attempt short
        self.next_attempt_at: float | None = None  # time.time() of the next attempt while waiting for it
        self.on_state: list = []  # callbacks(state, error)
        # TOFU: record an unknown server's fingerprint (headless), or fail with
        # tls.UnknownServerError so the GUI can ask the user first
        self.tofu_accept_new = True

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        for lc in self.cfg.proxies:
            if lc.enabled:
                await self._start_listener(lc)
        if not self.cfg.direct:
            self._run_task = asyncio.get_running_loop().create_task(self._run())
        else:
            self._set_state(CONNECTED)

    async def stop(self) -> None:
        self._stopping = True
        if self._run_task is not None:
            self._run_task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)
            self._run_task = None
        for name in list(self._listeners):
            await self._stop_listener(name)
        if self.link is not None:
            self.link.close("client stopping")
            try:
                await asyncio.wait_for(self.link.closed.wait(), 5)
            except asyncio.TimeoutError:
                if self.link.transport is not None:
                    self.link.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._set_state(STOPPED)

    def reconnect_now(self) -> None:
        """Skip the rest of the wait before the next connect attempt (no-op while connected)."""
        self._wake.set()

    def close_channel(self, key: int, reason: str = "closed by the user") -> bool:
        """Close the live channel whose ``ChannelRecord.key`` is ``key``; False if there is none."""
        link = self.link
        for ch in list(link.channels.values()) if link is not None else ():
            if ch.record.key == key:
                ch.close(reason)
                return True
        return False

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Until the link is accepted. Raises AuthError/TlsError at once (retrying will not help),
        or TimeoutError naming the last problem (refused, unreachable...)."""
        deadline = time.monotonic() + timeout
        while self.state != CONNECTED:
            if self.state == ERROR and isinstance(self.last_exception, (AuthError, TlsError)):
                raise type(self.last_exception)(self.last_error)
            left = deadline - time.monotonic()
            if left <= 0:
                why = f": {self.last_error}" if self.last_error else ""
                raise asyncio.TimeoutError(f"not connected to {self.cfg.server} within {timeout:.0f} s{why}")
            self._state_changed.clear()
            try:
                await asyncio.wait_for(self._state_changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def update(self, cfg: ClientConfig) -> None:
        """Apply a changed config: mappings re-announced live, listeners restarted
        individually, a reconnect only when the link settings changed."""
        old, self.cfg = self.cfg, cfg
        link_keys = ("server", "username", "password", "tls", "direct", "window", "max_frame")
        if any(getattr(old, k) != getattr(cfg, k) for k in link_keys):
            await self.stop()
            await self.start()
            return
        if old.mappings != cfg.mappings and self.link is not None and self.link.transport is not None:
            self.link.announce()
        old_l = {lc.name: lc for lc in old.proxies if lc.enabled}
        new_l = {lc.name: lc for lc in cfg.proxies if lc.enabled}
        for name in old_l.keys() - new_l.keys():
            await self._stop_listener(name)
        for name, lc in new_l.items():
            if old_l.get(name) != lc:
                await self._stop_listener(name)
                await self._start_listener(lc)

    def spawn(self, coro) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def _set_state(self, state: str, error: str = "") -> None:
        if state == self.state and error == self.last_error:
            return
        self.state = state
        if error:
            self.last_error = error
        elif state == CONNECTED:
            self.last_error = ""
        self._state_changed.set()
        for cb in list(self.on_state):
            try:
                cb(state, self.last_error)
            except Exception:
                log.exception("state callback failed")

    # ------------------------------------------------------------ the link
    async def _run(self) -> None:
        delay = self.cfg.reconnect_min
        while not self._stopping:
            self._set_state(CONNECTING)
            started = time.monotonic()
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except (OSError, ssl.SSLError, WmproxyError, asyncio.TimeoutError) as e:
                msg = str(e) or type(e).__name__
                if isinstance(e, OSError) and not isinstance(e, ssl.SSLError) and (e.errno or e.strerror):
                    # asyncio's text ("Connect call failed ('h', p)") says less than the errno does
                    why = os.strerror(e.errno).lower() if e.errno else e.strerror
                    msg = f"cannot connect to {self.cfg.server}: {why}"
                elif isinstance(e, asyncio.TimeoutError):
                    msg = f"cannot connect to {self.cfg.server}: timed out"
                log.warning("%s", msg)
                self.last_exception = e
                self._set_state(ERROR, msg)
            if self._stopping:
                break
            if time.monotonic() - started > STABLE_AFTER:
                delay = self.cfg.reconnect_min
            wait = delay * (0.5 + random.random() / 2)  # jitter: spread reconnect storms
            log.info("reconnecting to %s in %.1f s", self.cfg.server, wait)
            self.next_attempt_at = time.time() + wait  # viewers poll it for a countdown
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                delay = self.cfg.reconnect_min  # the user asked: start the backoff over
            except asyncio.TimeoutError:
                delay = min(delay * 2, self.cfg.reconnect_max)
            finally:
                self.next_attempt_at = None

    async def _connect_once(self) -> None:
        cfg = self.cfg
        host, port = addr_of(cfg.server, "client.server")
        loop = asyncio.get_running_loop()
        ctx = None
        server_hostname = None
        if cfg.tls.enabled:
            from . import tls

            ctx = tls.client_context(cfg.tls)
            server_hostname = tls.server_hostname(cfg.tls, host)
        transport, link = await asyncio.wait_for(
            loop.create_connection(lambda: ClientLink(self), host, port, ssl=ctx,
                                   server_hostname=server_hostname,
                                   ssl_handshake_timeout=15 if ctx else None), 20)
        self.link = link
        try:
            if ctx is not None:
                from . import tls

                der = tls.peer_der(transport)
                self.server_fingerprint = tls.fingerprint(der) if der else None
                try:
                    tls.verify_server(cfg.tls, cfg.server, der, accept_new=self.tofu_accept_new)
                except TlsError:
                    link.abort("server certificate refused")
                    raise
            try:
                await asyncio.wait_for(link.accepted.wait(), LEGACY_GRACE)
            except asyncio.TimeoutError:
                link.accepted.set()  # legacy server: no acknowledgement is coming, and no refusal came
            if link.refused:
                raise AuthError(link.refused) if "authentication" in link.refused else WmproxyError(link.refused)
            if link.transport is None:
                raise WmproxyError(f"server closed the link: {link.close_reason}")
            link.set_connected()
            self.last_exception = None
            self._set_state(CONNECTED)
            log.info("connected to %s%s", cfg.server, " (extensions)" if link.peer_ext else " (legacy server)")
            await link.closed.wait()
            if link.refused:
                raise AuthError(link.refused) if "authentication" in link.refused else WmproxyError(link.refused)
            if not self._stopping:
                raise WmproxyError(f"link to {cfg.server} lost: {link.close_reason}")
        finally:
            if link.transport is not None:
                link.abort("client stopping" if self._stopping else "reconnecting", expected=True)
            self.link = None

    # ------------------------------------------------------------ mappings
    def find_mapping(self, domain: str, mode: str = "") -> MappingConfig | None:
        """The mapping a server's Create names. With ``mode`` (our server says which mode it routed)
        by (mode, domain) or (mode, name); without (a legacy server) the first domain match, then
        the name, as upstream's client does."""
        live = [m for m in self.cfg.mappings if m.enabled and (not mode or m.mode == mode)]
        for m in live:
            if domain and m.domain == domain:
                return m
        for m in live:
            if m.name == domain:
                return m
        return None

    def on_mapping_status(self, states: tuple[F.MappingState, ...]) -> None:
        """The server's verdict on our mappings; refusals are logged once per change."""
        new = {s.name: s for s in states}
        for name, st in new.items():
            old = self.mapping_status.get(name)
            if not st.ok and old != st:
                log.warning("server refused mapping %r: %s", name, st.message)
            elif st.ok and old is not None and not old.ok:
                log.info("mapping %r is now served (port %d)", name, st.port)
        self.mapping_status = new

    def endpoint_factory(self, m: MappingConfig, ch):
        """The local end for a mapping channel: capturing for inspected http/https mappings."""
        ring = self.capture
        if ring is not None and m.inspect and m.mode in ("http", "https"):
            from .inspect.endpoint import InspectingEndpoint

            return lambda: InspectingEndpoint(ch, ring, tunnel_name=m.name, remote_addr=ch.record.peer,
                                              target=m.local_addr)
        return lambda: SocketEndpoint(ch)

    async def connect_local(self, ch, local_addr: str, factory=None) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = addr_of(local_addr, "local_addr")
            await asyncio.wait_for(loop.create_connection(factory or (lambda: SocketEndpoint(ch)), host, port), 10)
        except (OSError, asyncio.TimeoutError, WmproxyError) as e:
            reason = f"cannot connect to {local_addr}: {getattr(e, 'strerror', None) or e or 'timed out'}"
            log.info("channel %s: %s", ch.id, reason)
            ch.close(reason)

    async def serve_proxy_mapping(self, stream: ChannelStream, ch) -> None:
        from .proxy import ProxyOptions, serve_proxy

        def on_target(t: str) -> None:
            ch.record.target = t

        try:
            await serve_proxy(stream, ProxyOptions(), on_target=on_target)
        finally:
            stream.close()

    # ------------------------------------------------------------ local proxy listeners
    async def _start_listener(self, lc: ProxyListenerConfig) -> None:
        host, port = addr_of(lc.bind, f"client.proxy[{lc.name}].bind", listen=True)
        loop = asyncio.get_running_loop()
        if self.cfg.direct or lc.username:
            from .proxy import ProxyListener

            listener = ProxyListener(lc, self.stats, None, None if self.cfg.direct else self._tunnel_dial)
            await listener.start()
            self._listeners[lc.name] = listener
            self.addresses[lc.name] = listener.address
        else:
            try:
                srv = await loop.create_server(lambda: ForwardEndpoint(self, lc), host, port)
            except OSError as e:
                from .server import listen_error

                raise listen_error(lc.bind, e) from None
            self._listeners[lc.name] = srv
            self.addresses[lc.name] = srv.sockets[0].getsockname()[:2]
        log.info("proxy %s listening on %s:%s", lc.name, *self.addresses[lc.name])

    async def _stop_listener(self, name: str) -> None:
        lst = self._listeners.pop(name, None)
        self.addresses.pop(name, None)
        if lst is None:
            return
        if hasattr(lst, "stop"):  # a ProxyListener (uvloop's Server is no asyncio.AbstractServer)
            await lst.stop()
        else:
            lst.close()  # type: ignore[attr-defined]

    async def _tunnel_dial(self, host: str, port: int):
        """Reach host:port through the server: a channel carrying an HTTP CONNECT."""
        from .http_proxy import connect_via_http_proxy

        from .policy import DialError

        link = self.link
        if link is None or link.transport is None:
            raise DialError(f"no center link to {self.cfg.server}", "network")
        ch = link.open_channel(None, kind="proxy", name="tunnel", peer="local", target=f"{host}:{port}")
        stream = ChannelStream(ch, "server")
        auth = (self.cfg.username, self.cfg.password) if self.cfg.username and self.cfg.password else None
        try:
            await connect_via_http_proxy(stream, host, port, auth)
        except BaseException:
            stream.close()
            raise
        return stream
