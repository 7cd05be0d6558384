"""The center client: keeps one link to the server alive, serves the mappings
the server routes to it, and forwards local proxy connections through it."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from typing import TYPE_CHECKING

from . import frames as F
from .channel import ChannelStream, SocketEndpoint
from .config import ClientConfig, MappingConfig, ProxyListenerConfig, addr_of
from .errors import AuthError, TlsError, WmproxyError
from .link import EXT_FEATURES, V1_FEATURES, Link, ext_token, parse_ext_token
from .liveness import LinkWatch
from .uplink import Uplink
from .ratelog import sanitize
from .stats import CONNECTED, CONNECTING, ERROR, STOPPED, Stats
from .streams import format_addr

if TYPE_CHECKING:
    from .inspect.ring import CaptureRing

log = logging.getLogger("wmproxy.client")



def wire_mappings(mappings: list[MappingConfig]) -> tuple[tuple[F.MappingEntry, ...], tuple[tuple[str, int], ...]]:
    live = [m for m in mappings if m.enabled]
    entries = tuple(F.MappingEntry(m.name, m.mode, m.domain or "", tuple(m.headers)) for m in live)
    ports = tuple((m.name, m.remote_port) for m in live if m.remote_port and m.mode in ("tcp", "proxy"))
    return entries, ports


def wire_options(mappings: list[MappingConfig]) -> tuple[tuple[str, str], ...]:
    """Per-mapping options the server needs (extension ``opts``).

    ``h2``: an HTTP/2 https mapping. ``reuse``: an http/https mapping whose channel (and our
    connection to its local service) may carry the next public connection's requests after a
    complete answer (``core/idle_channels.py``; each new public client is announced with a
    ``Create`` flagged ``AGAIN``). Not offered with a PROXY header, which only the first public
    client of a connection could have, nor for h2c services (their connections are spliced).
    """
    out = []
    for m in mappings:
        if not m.enabled or m.mode not in ("http", "https"):
            continue
        opts = []
        if m.http2 and m.mode == "https":
            opts.append("h2")
        if not m.proxy_protocol and not m.http2:
            opts.append("reuse")
        if opts:
            out.append((m.name, ",".join(opts)))
    return tuple(out)


class ClientLink(Link):
    role = "client"

    def __init__(self, client: "CenterClient", uplink: "Uplink") -> None:
        super().__init__(client.stats, client.cfg)
        self.client = client
        self.uplink = uplink
        self.accepted = asyncio.Event()
        self.refused: str | None = None
        self.sent_token = False
        # without a heartbeat (legacy or silent server) user channels are watched for answers
        self.watch = LinkWatch(self, lambda why: self.abort(why))

    @property
    def has_heartbeat(self) -> bool:
        return self.peer_ext and self.hb_interval > 0

    def watch_channel(self, ch, fail) -> None:  # type: ignore[no-untyped-def]
        """A user's channel on this link: on a link without heartbeat, make sure it gets an answer."""
        if not self.has_heartbeat:
            self.watch.opened(ch, fail)

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
        """Send the mappings (a later Mapping replaces the earlier set on the server). To an
        extension server, one frame with the ports (and options) block, so an edit never closes
        and reopens a remote_port in between."""
        if self.peer_ext and not hello:
            self.announce_ports(always=True)
            return
        entries, _ = wire_mappings(self.client.cfg.mappings)
        self.send(F.Mapping(entries, flag=F.Flag.EXT if hello else 0))

    def link_lost(self, reason: str) -> None:
        self.watch.stop()
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
                self.client.ext_servers.add(self.uplink.server)
                self.accepted.set()
            return  # anything else: ignore (a legacy client would have panicked)
        if isinstance(fr, F.Status):
            self.uplink.on_mapping_status(fr.mappings)
            return
        if isinstance(fr, F.Close):  # channel 0: the server refuses or closes us
            if fr.flag & F.Flag.EXT:  # an extension server's refusal
                self.client.ext_servers.add(self.uplink.server)
            reason = fr.reason or "closed by server"
            if self.sent_token and not self.accepted.is_set() and "authentication" not in reason:
                # upstream refuses a bad Token with "not verify so close"
                reason = f"authentication failed: the server refused the credentials ({reason})"
            self.refused = sanitize(reason)
            log.warning("server closed the link: %s", self.refused)
            self.close(self.refused)
            self.accepted.set()

    def announce_ports(self, always: bool = False) -> None:
        """The per-mapping public ports and options, to an extension-aware server only."""
        entries, ports = wire_mappings(self.client.cfg.mappings)
        options = wire_options(self.client.cfg.mappings) if self.has("opts") else ()
        if self.peer_ext and (ports or options or always):
            flag = F.Flag.PORTS | (F.Flag.OPTS if options else 0)
            self.send(F.Mapping(entries, ports, flag=flag, options=options))

    def on_again(self, fr: F.Create) -> None:
        """The server carries a new public connection over an open mapping channel (option reuse):
        the channel's traffic row and its inspector name the new public client from now on."""
        ch = self.channels.get(fr.sock_map)
        if ch is None or fr.sock_map & 1 == self._next_id & 1:
            return  # closed meanwhile (its Close is on the way to the server), or not the server's
        self.stats.channel_again(ch.record, fr.peer or "unknown")
        again = getattr(ch.endpoint, "again", None)
        if again is not None:
            again(ch.record.peer)

    def on_create(self, fr: F.Create) -> None:
        """The server routes a public connection to us: find the mapping, dial it."""
        m = self.client.find_mapping(fr.domain or "", fr.mode)
        if m is None:
            self.send_close(fr.sock_map, f"no mapping named or serving {fr.domain!r} on this client")
            return
        peer = fr.peer or "unknown"  # the public client's address (extension "meta"; a legacy server never says)
        if m.mode == "proxy":
            ch = self.accept_channel(fr, kind="mapping", name=m.name, peer=peer, target="(proxy)")
            self.client.spawn(self.client.serve_proxy_mapping(ChannelStream(ch, peer), ch, m))
            return
        ch = self.accept_channel(fr, kind="mapping", name=m.name, peer=peer, target=m.local_addr)
        preamble = b""
        if m.proxy_protocol:  # the local service learns the real client (UNKNOWN/LOCAL behind a legacy server)
            from . import proxy_protocol

            preamble = proxy_protocol.encode(int(m.proxy_protocol[1]), fr.peer, fr.dest)
        self.client.spawn(self.client.connect_local(ch, m.local_addr, preamble, self.client.endpoint_factory(m, ch)))


class ForwardEndpoint(SocketEndpoint):
    """A local proxy connection forwarded raw: the server parses the proxy protocol."""

    def __init__(self, client: "CenterClient", listener: ProxyListenerConfig) -> None:
        super().__init__(None)
        self.client = client
        self.listener = listener
        self.first = b""  # the first byte the user sent: which protocol to fail in

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        link = self.client.link
        peer = format_addr(transport.get_extra_info("peername"))
        if link is None or not link.accepted.is_set() or link.refused:
            log.info("proxy %s: no center link; closing %s", self.listener.name, peer)
            transport.close()
            return
        self.channel = link.open_channel(None, kind="proxy", name=self.listener.name, peer=peer, target="")
        super().connection_made(transport)
        link.watch_channel(self.channel, self.fail)

    def data_received(self, data: bytes) -> None:
        ch = self.channel
        if ch is not None and not ch.record.target and ch.record.up < 4096:
            ch.record.target = sniff_target(data)
        if not self.first:
            self.first = data[:1]
        super().data_received(data)

    def fail(self) -> None:
        """The server never answered: tell the user in its own protocol, then close."""
        t = self.transport
        if t is None or t.is_closing():
            return
        if self.first == b"\x05":
            t.write(b"\x05\xff")  # SOCKS5: no acceptable method (the server never chose one)
        elif self.first:
            from .http1 import make_response

            t.write(make_response(504, "the wmproxy server does not answer\n"))
        ch = self.channel
        if ch is not None:
            ch.close("the server does not answer")


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
    """Run with ``await start()``; keeps a link to every listed server, reconnecting each by
    itself, until ``await stop()``. The first server whose link is up carries the local proxy
    listeners' traffic; every link serves the mappings."""

    def __init__(self, cfg: ClientConfig, stats: Stats | None = None, capture: "CaptureRing | None" = None) -> None:
        self.cfg = cfg
        self.stats = stats if stats is not None else Stats()
        # the request inspector's store: http/https mappings with inspect = true are captured into it
        # (None: no inspector is running, nothing is captured)
        self.capture = capture
        self.state = STOPPED
        self.last_error = ""
        self.last_exception: Exception | None = None
        self.uplinks: list[Uplink] = []
        self.addresses: dict[str, tuple[str, int]] = {}
        self.client_id = secrets.token_hex(8)  # one per client, sent to version-2 servers (domain ownership)
        # servers (as configured) that have shown they speak the extensions: an acknowledgement or a
        # refusal flagged EXT. They always answer a login, if only late (a throttled wrong password),
        # so their silence is not taken for a legacy server's after one second.
        self.ext_servers: set[str] = set()
        self._listeners: dict[str, object] = {}
        self._tasks: set[asyncio.Task] = set()
        self._state_changed = asyncio.Event()
        self.on_state: list = []  # callbacks(state, error): the client as a whole
        self.on_uplink: list = []  # callbacks(uplink): one server's link changed state or status
        # TOFU: record an unknown server's fingerprint (headless), or fail with
        # tls.UnknownServerError so the GUI can ask the user first
        self.tofu_accept_new = True

    # ------------------------------------------------------------ the links, as one
    @property
    def primary(self) -> Uplink | None:
        """The first listed server whose link is up (it carries the proxy listeners' traffic)."""
        return next((u for u in self.uplinks if u.connected), None)

    @property
    def link(self) -> ClientLink | None:
        """The primary link (with a single server: its link while it is up or connecting)."""
        p = self.primary
        if p is not None:
            return p.link
        return self.uplinks[0].link if len(self.uplinks) == 1 else None

    @property
    def server_fingerprint(self) -> str | None:
        u = self.primary or (self.uplinks[0] if self.uplinks else None)
        return u.server_fingerprint if u is not None else None

    @property
    def next_attempt_at(self) -> float | None:
        """While no link is up: when the next attempt to connect is (time.time()); else None."""
        if self.primary is not None:
            return None
        times = [u.next_attempt_at for u in self.uplinks if u.next_attempt_at is not None]
        return min(times) if times else None

    @property
    def mapping_status(self) -> dict[str, F.MappingState]:
        """The primary server's verdict on each mapping (each uplink has its own)."""
        u = self.primary or (self.uplinks[0] if self.uplinks else None)
        return u.mapping_status if u is not None else {}

    def uplink_changed(self, uplink: Uplink) -> None:
        """An uplink's state or status changed: recompute the client's state, tell viewers."""
        for cb in list(self.on_uplink):
            try:
                cb(uplink)
            except Exception:
                log.exception("uplink callback failed")
        if self._stopping:
            return
        ups = self.uplinks
        if any(u.state == CONNECTED for u in ups):
            self._set_state(CONNECTED)
            return
        failed = [u for u in ups if u.last_error]
        if failed:
            self.last_exception = failed[0].last_exception
        # an error only once no link is still on its first try: one server refusing while
        # another is connecting is not (yet) a failure of the client as a whole
        first_try = any(u.state == CONNECTING and not u.last_error for u in ups)
        if failed and not first_try and any(u.state == ERROR for u in ups):
            self._set_state(ERROR, failed[0].last_error)
        elif any(u.state in (CONNECTING, ERROR) for u in ups):
            self._set_state(CONNECTING, failed[0].last_error if failed else "")

    # ------------------------------------------------------------ lifecycle
    _stopping = False

    async def start(self) -> None:
        self._stopping = False
        for lc in self.cfg.proxies:
            if lc.enabled:
                await self._start_listener(lc)
        if not self.cfg.direct:
            self.uplinks = [Uplink(self, server, i) for i, server in enumerate(self.cfg.servers)]
            for u in self.uplinks:
                u.start()
        else:
            self._set_state(CONNECTED)

    async def stop(self) -> None:
        self._stopping = True
        for name in list(self._listeners):
            await self._stop_listener(name)
        await asyncio.gather(*(u.stop() for u in self.uplinks), return_exceptions=True)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._set_state(STOPPED)

    def reconnect_now(self) -> None:
        """Skip the rest of the wait before the next connect attempt, on every link that waits."""
        for u in self.uplinks:
            u.reconnect_now()

    def close_channel(self, key: int, reason: str = "closed by the user") -> bool:
        """Close the live channel whose ``ChannelRecord.key`` is ``key``; False if there is none."""
        return any(u.link is not None and u.link.close_channel_by_key(key, reason) for u in self.uplinks)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Until a link is accepted. Raises AuthError/TlsError at once (retrying will not help),
        or TimeoutError naming the last problem (refused, unreachable...)."""
        deadline = time.monotonic() + timeout
        while self.state != CONNECTED:
            finals = [u for u in self.uplinks if u.state == ERROR and isinstance(u.last_exception, (AuthError, TlsError))]
            if finals and len(finals) == len(self.uplinks):
                raise type(finals[0].last_exception)(finals[0].last_error)  # type: ignore[misc]
            left = deadline - time.monotonic()
            if left <= 0:
                why = f": {self.last_error}" if self.last_error else ""
                raise asyncio.TimeoutError(f"not connected to {', '.join(self.cfg.servers)} within "
                                           f"{timeout:.0f} s{why}")
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
        if old.mappings != cfg.mappings:
            for u in self.uplinks:
                if u.link is not None and u.link.transport is not None:
                    u.link.announce()
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

    def endpoint_factory(self, m: MappingConfig, ch):
        """``preamble -> Protocol`` for a mapping channel's local end: capturing for inspected
        http/https mappings (HTTP/1 to the local service; h2c ones are not inspected)."""
        ring = self.capture
        if ring is not None and m.inspect and m.mode in ("http", "https") and not m.http2:
            from .inspect.endpoint import InspectingEndpoint

            return lambda preamble: InspectingEndpoint(ch, ring, tunnel_name=m.name, remote_addr=ch.record.peer,
                                                       target=m.local_addr, preamble=preamble)
        return lambda preamble: SocketEndpoint(ch, preamble)

    async def connect_local(self, ch, local_addr: str, preamble: bytes = b"", factory=None) -> None:
        loop = asyncio.get_running_loop()
        make = factory or (lambda pre: SocketEndpoint(ch, pre))
        try:
            host, port = addr_of(local_addr, "local_addr")
            async with asyncio.timeout(10):  # (wait_for would wrap the connect in a task of its own)
                await loop.create_connection(lambda: make(preamble), host, port)
        except (OSError, asyncio.TimeoutError, WmproxyError) as e:
            reason = f"cannot connect to {local_addr}: {getattr(e, 'strerror', None) or e or 'timed out'}"
            log.info("channel %s: %s", ch.id, reason)
            # a reset, not a clean end: the public client of a tcp mapping must see a failure
            # (a local service that accepts and resets at once fails the connect itself, too)
            ch.close(reason, reset=True)

    async def serve_proxy_mapping(self, stream: ChannelStream, ch, m: MappingConfig) -> None:
        """A public connection to a proxy mapping: anyone who reaches the server's proxy port.
        The same target policy as the server's proxy applies (this machine's loopback, link-local
        and unspecified addresses are refused unless the mapping's allow_targets names them), and
        the mapping's credentials, when set."""
        from .policy import TargetPolicy
        from .proxy import ProxyOptions, serve_proxy

        def on_target(t: str) -> None:
            ch.record.target = t

        opts = ProxyOptions(username=m.username, password=m.password,
                            policy=TargetPolicy(list(m.allow_targets), list(m.deny_targets)))
        try:
            await serve_proxy(stream, opts, on_target=on_target)
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
            raise DialError(f"no center link to {', '.join(self.cfg.servers)}", "network")
        ch = link.open_channel(None, kind="proxy", name="tunnel", peer="local", target=f"{host}:{port}")
        stream = ChannelStream(ch, "server")
        auth = (self.cfg.username, self.cfg.password) if self.cfg.username and self.cfg.password else None
        try:
            await connect_via_http_proxy(stream, host, port, auth)
        except BaseException:
            stream.close()
            raise
        return stream
