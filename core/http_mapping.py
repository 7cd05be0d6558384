"""Public connections of the server's http and https mapping listeners.

Every request on a keep-alive connection is routed by its own Host (a
reverse proxy or CDN in front keeps one upstream connection for many sites):
``PublicHttp`` reads each request head (``core/http_scan.py``), picks the
mapping, and forwards the head and its body to that mapping's channel; each
response is tracked to its end on the way back, so the next request can go
to another mapping, an upgrade (101) turns the connection into a raw splice,
and any other answer to an upgrade request leaves it usable. Heads are
rewritten only for mappings with header rules; otherwise the bytes pass as
they came. Responses keep request order: a request for another mapping (or
an error answered here) waits until the answers before it are complete.

The listener is an internet edge: heads are size-, count- and time-limited
(slowloris), framing that could smuggle a request past us is refused with 400
before anything is forwarded, a connection idle between requests is closed,
and every path that ends a connection releases the public socket and every
channel it opened (a reset on either side is passed on as a reset).

An HTTPS connection whose client chose HTTP/2 (ALPN ``h2``, offered only for
mappings that declare ``http2``) is routed by its SNI as a whole and spliced
to the local service, which speaks h2c.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import http1
from .channel import Channel
from .http1 import CLOSE, NONE, BodyReader, HttpError
from .http_scan import (RequestInfo, binds_connection, scan_request, scan_response, with_connection_close,
                        without_connection_close)
from .streams import format_addr, reset_transport

if TYPE_CHECKING:
    from .idle_channels import IdleChannels
    from .mapping import MappingListeners
    from .router import Route

log = logging.getLogger("wmproxy.mapping")

# request side states
HEAD, BODY, UPGRADE_WAIT, TUNNEL, DONE = "head", "body", "upgrade-wait", "tunnel", "done"
MAX_PIPELINED = 16  # requests forwarded ahead of their answers before reading pauses
MAX_CHANNELS = 8  # channels one public connection keeps open (one per mapping it used)
RESENDABLE = frozenset(("GET", "HEAD", "OPTIONS"))  # without a body: may go again on a new channel


@dataclass(frozen=True)
class HttpLimits:
    """Bounds of one public HTTP connection (``[server]`` keys ``http_*``)."""

    head_timeout: float = 15.0  # a request head must be complete this long after it began
    keepalive_timeout: float = 60.0  # idle between requests
    body_timeout: float = 60.0  # between two reads of a request body
    max_head: int = http1.MAX_HEAD
    max_headers: int = 100


def host_of(authority: str) -> str:
    """``Host`` value -> lower-case host name without port and trailing dot ("" when malformed)."""
    try:
        return http1.split_authority(authority, 80)[0].lower().rstrip(".")
    except ValueError:
        return ""


def open_http_channel(route: "Route", peer: str, dest: str) -> Channel:
    """A channel to the client serving ``route``; a domain-less mapping is named, as tcp ones are."""
    return route.link.open_channel(route.entry.domain or route.entry.name, kind="mapping",
                                   name=route.entry.name, peer=peer, target=route.link.peer,
                                   mode=route.entry.mode, dest=dest)


class Upstream:
    """The channel one public connection uses for one mapping: the answers' side.

    Implements the channel ``Endpoint`` protocol. Tracks each response to its
    end (``scan_response`` + ``BodyReader``), rewriting heads when the mapping
    has rules, and reports each completed exchange to its ``PublicHttp``.
    Between public connections it may be kept (``conn`` is None meanwhile,
    ``core/idle_channels.py``) and taken again by another one.
    """

    __slots__ = ("conn", "route", "entry", "channel", "rules", "pending", "rbuf", "state", "body", "started", "closed",
                 "out", "final", "spent", "replay", "parked_at", "pool")

    def __init__(self, conn: "PublicHttp", route: "Route") -> None:
        self.conn: PublicHttp | None = conn
        self.route = route
        self.entry = route.entry  # the mapping as it was when the channel opened (its client connected for it)
        self.spent = False  # a request asked the service to close after its answer: never kept
        self.replay: bytes | None = None  # the first request on a kept channel, until its answer begins
        self.parked_at = 0.0
        self.pool: IdleChannels | None = None  # while kept
        self.rules = route.entry.headers
        # (method, asked to upgrade, its answer must say Connection: close: the request's was not passed on)
        self.pending: collections.deque[tuple[str, bool, bool]] = collections.deque()
        self.rbuf = bytearray()
        self.state = HEAD
        self.body: BodyReader | None = None
        self.started = False  # bytes of the current answer reached the client
        self.closed = False
        self.out: list[bytes | memoryview] = []  # what one delivery forwards: written at once (one syscall)
        self.final = False  # the current answer ends the public connection (Connection: close, or no length)
        self.channel = open_http_channel(route, conn.peer, conn.dest)
        self.channel.attach(self)

    # ---- Endpoint (called by the channel)
    def deliver(self, data: bytes | memoryview) -> None:
        if self.closed:
            return
        if self.conn is None:  # kept between connections: nobody asked
            log.info("http mapping %r: the local service sent %d bytes to a kept connection; closing",
                     self.route.entry.name, len(data))
            self.discard("unasked bytes", reset=True)
            return
        self.replay = None
        n = len(data)
        if self.state == HEAD and not self.rbuf and self.pending and not self.rules and type(data) is bytes:
            # the usual delivery: exactly one whole answer, forwarded as it came, in one write
            method, _, say_close = self.pending[0]
            try:
                info = scan_response(data, method, self.conn.limits.max_head, self.conn.limits.max_headers)
            except HttpError:
                info = None  # the general path below says why
            if info is not None and method != "CONNECT" and info.whole_in(n):
                self.final = not info.keep_alive
                self.pending.popleft()
                if info.status == 401 and binds_connection(data[:info.head_len]):
                    self.spent = True  # NTLM / Negotiate: the login would hold for the next caller too
                if say_close and info.keep_alive:
                    data = with_connection_close(data[:info.head_len]) + data[info.head_len:]
                self.conn.write(data)
                self.channel.consumed(n)
                self.conn.answered(self)
                return
        if self.state == TUNNEL:
            self.conn.write(data)
        elif self.state == BODY and not self.rbuf:
            self._body(data)
        else:
            self.rbuf += data
            self._answers()
        self.flush()
        if not self.closed:
            self.channel.consumed(n)

    def flush(self) -> None:
        """Write what this delivery forwarded in one go (a head and its body: one syscall, not two)."""
        out = self.out
        if out:
            self.conn.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def deliver_eof(self) -> None:
        tunnel = self.state == TUNNEL
        self._ended(reset=False)
        if not tunnel:  # (an upgraded connection passes the half-close on; HTTP is done both ways)
            self.channel.close("the local service closed the connection")

    def shutdown(self, reason: str, reset: bool = False) -> None:
        self._ended(reset=reset, reason=reason)

    def pause_source(self) -> None:
        if self.conn is not None:
            self.conn.pause("channel")

    def resume_source(self) -> None:
        if self.conn is not None:
            self.conn.resume("channel")

    # ---- answers
    def _body(self, data: bytes | memoryview) -> None:
        body = self.body
        assert body is not None
        n = body.feed(data)
        self.out.append(data if n == len(data) else data[:n])
        if body.done:
            self._answered()
            if n < len(data) and not self.closed:
                self.rbuf += data[n:]
                self._answers()

    def _answers(self) -> None:
        """Parse and forward what ``rbuf`` holds: heads, bodies, the next answer..."""
        conn = self.conn
        while self.rbuf and not self.closed:
            if self.state == TUNNEL:
                self.out.append(bytes(self.rbuf))
                self.rbuf.clear()
                return
            if self.state == BODY:
                assert self.body is not None
                n = self.body.feed(self.rbuf)
                if n:
                    self.out.append(bytes(self.rbuf[:n]))
                    del self.rbuf[:n]
                if self.body.done:
                    self._answered()
                    continue
                return
            if not self.pending:
                log.info("http mapping %r: the local service sent %d bytes nobody asked for; closing",
                         self.route.entry.name, len(self.rbuf))
                self.close(reset=True)
                return
            method, upgrade, say_close = self.pending[0]
            try:
                info = scan_response(self.rbuf, method, conn.limits.max_head, conn.limits.max_headers)
            except HttpError as e:
                self._bad_answer(e.message)
                return
            if info is None:
                return
            if self.rules:
                try:
                    head = http1.parse_response_head(self.rbuf, method, conn.limits.max_head)
                except HttpError as e:
                    self._bad_answer(e.message)
                    return
                assert head is not None
                http1.apply_header_rules(head, self.rules, conn.variables)
                raw = head.serialize()
            else:
                raw = bytes(self.rbuf[:info.head_len])
            if say_close and info.keep_alive and info.status >= 200:
                raw = with_connection_close(raw)
            if info.status == 401 and binds_connection(raw):
                self.spent = True  # NTLM / Negotiate: the login would hold for the next caller too
            del self.rbuf[:info.head_len]
            self.out.append(raw)
            self.started = True
            if info.status == 101:
                if not upgrade:
                    self._bad_answer("101 Switching Protocols to a request that did not ask to upgrade")
                    return
                self.state = TUNNEL
                self.flush()
                conn.tunnel(self)
                continue
            if 100 <= info.status < 200:
                continue  # interim (100 Continue, 103 Early Hints): the final answer follows
            if method == "CONNECT" and 200 <= info.status < 300:
                self.state = TUNNEL
                self.flush()
                conn.tunnel(self)
                continue
            self.body = BodyReader(info.body, info.length)
            # the client was told (or will see) that this answer ends the connection: requests it
            # pipelined after it get no answer here, it sends them again
            self.final = not info.keep_alive or info.body == CLOSE
            if self.body.done:
                self._answered()
            else:
                self.state = BODY

    def _answered(self) -> None:
        self.pending.popleft()
        self.state = HEAD
        self.body = None
        self.started = False
        self.flush()  # before the connection moves on (the next answer may be one of its own)
        self.conn.answered(self)

    def _bad_answer(self, why: str) -> None:
        log.info("http mapping %r (%s): bad answer from the local service: %s", self.route.entry.name,
                 self.conn.peer, why)
        if self.started:
            self.out.clear()
            self.conn.abort()  # mid-answer: a reset, never a clean-looking end
        else:
            self.flush()
            self.conn.fail(502, "the local service sent an invalid answer")
        self.close(reset=True)

    def _ended(self, reset: bool, reason: str = "") -> None:
        """The channel ended (local service closed or reset, link lost)."""
        if self.closed:
            return
        self.closed = True
        conn = self.conn
        if conn is None:  # a kept channel ended (the service's idle timeout, the link): nothing lost
            if self.pool is not None:
                self.pool.drop(self)
            return
        conn.forget(self)
        self.flush()
        if self.replay is not None and len(self.pending) == 1 and not self.started and conn.resend(self, self.replay):
            return  # a kept channel was gone before its first answer: the request went on a new one
        if self.state == TUNNEL:
            if reset:
                conn.abort()
            else:
                conn.write_eof_or_close()
            return
        if self.state == BODY and self.body is not None and self.body.kind == CLOSE and not reset:
            self.body.done = True
            self.pending.popleft()
            self.final = True
            conn.answered(self)
            return
        if not self.pending:
            return  # an idle channel went away: nothing was lost
        if self.started:
            conn.abort()  # a cut answer must not look complete
        elif reason.startswith("cannot connect"):  # the client could not reach it (its address stays private)
            conn.fail(502, "the mapping's local service is not reachable")
        else:
            conn.fail(502, "the local service closed the connection without answering")

    def close(self, reset: bool = False) -> None:
        if not self.closed:
            self.closed = True
            if self.conn is not None:
                self.conn.forget(self)
            self.channel.close("public connection closed", reset=reset)

    # ---- kept between public connections
    def keepable(self) -> bool:
        """At a request boundary, with the service still expecting more: the channel may be kept."""
        conn = self.conn
        ch = self.channel
        return (not self.closed and not self.spent and not self.final and self.state == HEAD and not self.pending
                and not self.rbuf and not self.out and "reuse" in self.route.options
                and self.entry is self.route.entry and self.route.link.alive
                and not (ch.closed or ch.eof_received or ch.eof_sent)
                and conn is not None and not (conn.cur is self and conn.state in (BODY, UPGRADE_WAIT, TUNNEL)))

    def park(self, pool: "IdleChannels") -> None:
        assert self.conn is not None
        self.conn.forget(self)
        self.conn = None
        self.pool = pool
        self.channel.local_backlogged(False)  # the credit the public socket held back goes to the peer

    def rebind(self, conn: "PublicHttp") -> None:
        """Taken again by ``conn``: its answers go there from now on."""
        self.conn = conn
        self.pool = None
        self.final = False
        e = self.route.entry
        self.route.link.send_again(self.channel, e.domain or e.name, e.mode, conn.peer, conn.dest)
        if self.channel.source_paused:
            conn.pause("channel")

    def discard(self, why: str, reset: bool = False) -> None:
        """Close a kept channel (idle too long, its mapping changed, the server stops)."""
        if self.pool is not None:
            self.pool.drop(self)
            self.pool = None
        if not self.closed:
            self.closed = True
            self.channel.close(why, reset=reset)

    # ---- requests (called by PublicHttp)
    def send(self, data: bytes | memoryview) -> None:
        self.channel.send(bytes(data) if type(data) is not bytes else data)


class PublicHttp(asyncio.Protocol):
    """One public connection on an http/https mapping listener (see the module docstring)."""

    def __init__(self, listeners: "MappingListeners", scheme: str) -> None:
        self.listeners = listeners
        self.scheme = scheme
        self.limits: HttpLimits = listeners.http_limits
        self.transport: asyncio.Transport | None = None
        self.peer = self.dest = "?"
        self.sni = ""
        self.variables: dict[str, str] = {}
        self.buf = bytearray()
        self.state = HEAD
        self.body: BodyReader | None = None
        self.after_body = HEAD
        self.cur: Upstream | None = None  # the channel with answers outstanding (or last used)
        self.upstreams: dict[int, Upstream] = {}  # id(route) -> its channel on this connection
        self.outstanding = 0
        self.closing_after_answer = False  # the client said Connection: close: end after the last answer
        self.client_eof = False
        self._pauses: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._last_rx = 0.0
        self._scanned = 0
        self._closed = False
        self._pend: list[bytes | memoryview] = []  # request bytes of one read for ...
        self._pend_up: Upstream | None = None  # ... this channel: sent as one frame
        # (Host as sent, router version, host name, its route): a keep-alive connection's usual lookup
        self._route_cache: tuple[str, int, str, "Route"] | None = None

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.listeners.admit(self, transport):
            self._closed = True
            return
        self.transport = transport  # type: ignore[assignment]
        self.peer = format_addr(transport.get_extra_info("peername"))
        self.dest = format_addr(transport.get_extra_info("sockname"))
        ssl_obj = transport.get_extra_info("ssl_object")
        if ssl_obj is not None:
            self.sni = (getattr(ssl_obj, "wm_sni", None) or "").lower().rstrip(".")
            if ssl_obj.selected_alpn_protocol() == "h2":
                self._splice_h2(transport)  # type: ignore[arg-type]
                return
        self.variables = {"client_ip": self.peer.rsplit(":", 1)[0].strip("[]"), "scheme": self.scheme}
        self._arm(self.limits.head_timeout)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._last_rx = time.monotonic()
        state = self.state
        if state == TUNNEL:
            assert self.cur is not None
            self.cur.send(data)
            return
        if state == BODY and not self.buf:
            assert self.body is not None and self.cur is not None
            n = self.body.feed(data)
            self._to(self.cur, data if n == len(data) else memoryview(data)[:n])
            if not self.body.done:
                self._flush_up()
                return
            self._body_done()
            if n == len(data):
                self._requests()
                return
            data = data[n:]
        if self.state == DONE:
            self._flush_up()
            return  # the client said Connection: close: anything after that request is ignored
        self.buf += data
        self._requests()

    def _to(self, up: Upstream, data: bytes | memoryview) -> None:
        """Queue request bytes for ``up``; what one read brings for one channel leaves as one frame."""
        if self._pend_up is not up:
            self._flush_up()
            self._pend_up = up
        self._pend.append(data)

    def _flush_up(self) -> None:
        pend, up = self._pend, self._pend_up
        if pend and up is not None:
            up.send(pend[0] if len(pend) == 1 else b"".join(pend))
        pend.clear()

    def eof_received(self) -> bool:
        if self.state == TUNNEL and self.cur is not None:
            self.cur.channel.send_eof()  # half-close passes through an upgraded connection
            return True
        self.client_eof = True
        if self.state == BODY:  # the request body was cut short
            self.abort()
            return False
        if self.outstanding:
            self.state = DONE
            return True  # answer what was asked, then close
        self.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self.transport is None:
            return  # never admitted
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
        for up in list(self.upstreams.values()):
            if exc is not None:
                up.close(reset=True)
            else:
                self._release(up)
        self.upstreams.clear()
        self.listeners.forget_conn(self)

    def pause_writing(self) -> None:
        for up in self.upstreams.values():
            up.channel.local_backlogged(True)

    def resume_writing(self) -> None:
        for up in list(self.upstreams.values()):
            up.channel.local_backlogged(False)

    # ------------------------------------------------------------ requests
    def _requests(self) -> None:
        """Route and forward the requests ``buf`` holds, as far as order and flow allow."""
        try:
            self._parse()
        finally:
            self._flush_up()

    def _parse(self) -> None:
        while self.buf and not self._closed and "hold" not in self._pauses:
            state = self.state
            if state == BODY:
                assert self.body is not None and self.cur is not None
                n = self.body.feed(self.buf)
                if n:
                    self._to(self.cur, bytes(self.buf[:n]))
                    del self.buf[:n]
                if not self.body.done:
                    return
                self._body_done()
                continue
            if state == TUNNEL:
                assert self.cur is not None
                data = bytes(self.buf)
                self.buf.clear()
                self._to(self.cur, data)
                return
            if state != HEAD:  # UPGRADE_WAIT: the answer decides; DONE: ignored
                if state == UPGRADE_WAIT and len(self.buf) > self.limits.max_head:
                    self.pause("upgrade")
                return
            if self.outstanding >= MAX_PIPELINED:
                self.pause("pipeline")
                return
            try:
                info = scan_request(self.buf, self.limits.max_head, self.limits.max_headers, self._scanned)
            except HttpError as e:
                self.fail(e.status, e.message)
                return
            if info is None:  # a head in pieces: from its first byte on it has head_timeout to finish
                if self._deadline_kind != "head":
                    self._arm(self.limits.head_timeout, "head")
                self._scanned = len(self.buf)
                return
            self._scanned = 0
            if not self._route(info):
                return

    def _route(self, info: RequestInfo) -> bool:
        """Forward one request head (True), or hold it / answer it here (False)."""
        if info.method == "CONNECT":
            return self._local(405, "CONNECT is not served on a mapping port")
        router = self.listeners.server.router
        cached = self._route_cache
        if cached is not None and cached[0] == info.host and cached[1] == router.version and cached[3].link.alive:
            host, route = cached[2], cached[3]  # the usual keep-alive connection: the same Host again
        else:
            host = host_of(info.host)
            if self.sni and host != self.sni:
                return self._local(421, f"this connection is for {self.sni}, not for {host or '(no host)'}")
            route = router.for_host(self.scheme, host)
            if route is None:
                return self._local(404, f"no mapping serves host {host or '(none)'}")
            self._route_cache = (info.host, router.version, host, route)
        up = self.upstreams.get(id(route))
        if up is not None and up.route is not route:
            up = None
        if self.outstanding and up is not self.cur:
            self._hold()  # answers of another mapping are still on their way: keep the order
            return False
        kept = False
        reuse = "reuse" in route.options
        if up is None:
            if len(self.upstreams) >= MAX_CHANNELS:
                self._release(next(iter(self.upstreams.values())))
            if reuse and info.body == NONE and info.method in RESENDABLE:
                up = self.listeners.idle.take(route)
            if up is not None:
                up.rebind(self)
                kept = True
            else:
                up = Upstream(self, route)
            self.upstreams[id(route)] = up
        self.cur = up
        if up.rules:
            try:
                head = http1.parse_request_head(self.buf, self.limits.max_head)
            except HttpError as e:
                self.fail(e.status, e.message)
                return False
            assert head is not None
            self.variables["host"] = host
            http1.apply_header_rules(head, up.rules, {**self.variables, "url": head.target})
            raw: bytes = head.serialize()
        else:
            raw = bytes(self.buf[info.skip:info.head_len])
        say_close = False
        if reuse and binds_connection(raw):
            up.spent = True  # a connection-bound login (NTLM, Negotiate): this channel is its caller's only
        if not info.keep_alive and reuse:
            # Connection: close is this hop's business (we close after the answer and say so in it),
            # not the service's
            kept_head = without_connection_close(raw) if info.version == (1, 1) else None
            if kept_head is not None:
                raw, say_close = kept_head, True
            else:
                up.spent = True
        if kept:
            up.replay = raw
        del self.buf[:info.head_len]
        up.pending.append((info.method, info.upgrade, say_close))
        self.outstanding += 1
        self._to(up, raw)
        if not info.keep_alive:
            self.closing_after_answer = True
        nxt = DONE if not info.keep_alive else (UPGRADE_WAIT if info.upgrade else HEAD)
        if info.body != NONE:
            self.body = BodyReader(info.body, info.length)
            self.after_body = nxt
            self.state = BODY
            self._arm(self.limits.body_timeout, "body")
        else:
            self._enter(nxt)
        return True

    def _body_done(self) -> None:
        self.body = None
        self._enter(self.after_body)

    def _enter(self, state: str) -> None:
        self.state = state
        if state == HEAD:
            if self.buf:
                self._arm(self.limits.head_timeout, "head")
            elif not self.outstanding:
                self._arm(self.limits.keepalive_timeout, "idle")
            else:
                self._disarm()  # waiting for answers: the service's time, not the client's
        else:
            self._disarm()

    def _hold(self) -> None:
        self.pause("hold")

    def _local(self, status: int, text: str) -> bool:
        """Answer ``status`` here (after the answers before it), then close."""
        if self.outstanding:
            self._hold()
            return False
        self.fail(status, text)
        return False

    # ------------------------------------------------------------ answers (called by Upstream)
    def write(self, data: bytes | memoryview) -> None:
        t = self.transport
        if t is not None and not self._closed:
            t.write(data)

    def answered(self, up: Upstream) -> None:
        self.outstanding -= 1
        if up.final or (self.closing_after_answer and not self.outstanding):
            self.close()
            return
        if self.state == UPGRADE_WAIT and not up.pending:
            self._enter(HEAD)  # not upgraded: the connection goes on with the next request
            self.resume("upgrade")
        if not self.outstanding:
            if self.state == DONE or (self.client_eof and not self.buf):
                self.close()
                return
            if self.state == HEAD and not self.buf:
                self._arm(self.limits.keepalive_timeout, "idle")
            if self._pauses:
                self.resume("hold")
        if self._pauses:
            self.resume("pipeline")
        if self.buf and not self._pauses:
            self._requests()

    def tunnel(self, up: Upstream) -> None:
        """101 (or CONNECT 2xx): raw bytes both ways from now on."""
        self.state = TUNNEL
        self.outstanding = 0
        self._disarm()
        for other in list(self.upstreams.values()):
            if other is not up:
                other.close()
        self.resume("upgrade")
        self._flush_up()
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            up.send(data)

    def forget(self, up: Upstream) -> None:
        if self.upstreams.get(id(up.route)) is up:
            del self.upstreams[id(up.route)]

    def resend(self, old: Upstream, head: bytes) -> bool:
        """``old`` was a kept channel that closed before answering its first request (``head``,
        which has no body): send it on a new channel. False when the mapping's client is gone."""
        if self._closed or not old.route.link.alive:
            return False
        log.debug("http mapping %r: a kept channel was closed by the service; sending the request again",
                  old.route.entry.name)
        up = Upstream(self, old.route)
        up.pending = old.pending
        up.spent = old.spent
        self.upstreams[id(up.route)] = up
        if self.cur is old:
            self.cur = up
        if self._pend_up is old:
            self._pend_up = up
        up.send(head)
        return True

    def _release(self, up: Upstream) -> None:
        """This connection is done with ``up``: keep it for the next connection, or close it."""
        if up.keepable() and self.listeners.idle.park(up):
            up.park(self.listeners.idle)
        else:
            up.close()

    # ------------------------------------------------------------ flow and lifetime
    def pause(self, why: str) -> None:
        if not self._pauses and self.transport is not None:
            self.transport.pause_reading()
        self._pauses.add(why)

    def resume(self, why: str) -> None:
        if why in self._pauses:
            self._pauses.discard(why)
            if not self._pauses and self.transport is not None and not self._closed:
                self.transport.resume_reading()

    def _arm(self, seconds: float, kind: str = "head") -> None:
        """Set the connection's one deadline. Its timer is kept across requests: only a deadline
        earlier than the timer's moment makes a new one (no timer object per request)."""
        now = time.monotonic()
        self._deadline_kind = kind
        self._deadline = now + seconds
        self._last_rx = now
        t = self._timer
        if t is None or self._timer_due > now + seconds + 0.5:
            if t is not None:
                t.cancel()
            # (the due time is kept here: qasync's call_later handles have no when())
            self._timer = asyncio.get_running_loop().call_later(seconds, self._expired)
            self._timer_due = now + seconds

    def _disarm(self) -> None:
        self._deadline_kind = ""  # a pending timer finds nothing to do

    _deadline_kind = ""
    _timer_due = 0.0

    def _stop_timer(self) -> None:
        self._deadline_kind = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        kind = self._deadline_kind
        if not kind or self._closed:
            return  # disarmed: the next _arm makes a timer again
        now = time.monotonic()
        deadline = self._last_rx + self.limits.body_timeout if kind == "body" else self._deadline
        if now < deadline:  # moved on since (a body read, a new deadline): wait for the rest
            self._timer = asyncio.get_running_loop().call_later(deadline - now, self._expired)
            self._timer_due = deadline
            return
        if kind == "idle":
            self.close()
        else:
            log.info("http mapping %s: request %s not complete within %g s; closing", self.peer, kind,
                     self.limits.head_timeout if kind == "head" else self.limits.body_timeout)
            if kind == "head" and not self.outstanding:
                self.fail(408, "request head not complete in time")
            else:
                self.abort()

    def fail(self, status: int, text: str) -> None:
        """Answer ``status`` (plain text, Connection: close) and close: nothing more is read."""
        if self._closed:
            return
        if status >= 500 or status in (400, 408, 431):
            log.info("http mapping %s: %d %s", self.peer, status, text)
        self.write(http1.make_response(status, text + "\n"))
        self.state = DONE
        self.close()

    def write_eof_or_close(self) -> None:
        t = self.transport
        if t is not None and not self._closed and t.can_write_eof():
            try:
                t.write_eof()
                return
            except (OSError, RuntimeError):
                pass
        self.close()

    def close(self) -> None:
        """Flush what is queued, then close; every channel of this connection goes too."""
        if self._closed:
            return
        self._closed = True
        self._stop_timer()
        self._flush_up()
        for up in list(self.upstreams.values()):
            self._release(up)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Reset the public connection (the other end failed): never a clean-looking end."""
        if self._closed and self.transport is None:
            return
        self._closed = True
        self._stop_timer()
        for up in list(self.upstreams.values()):
            up.close(reset=True)
        if self.transport is not None:
            reset_transport(self.transport)

    # ------------------------------------------------------------ HTTP/2
    def _splice_h2(self, transport: asyncio.Transport) -> None:
        """ALPN chose h2: the whole connection goes to the mapping its SNI names, bytes as they are."""
        route = self.listeners.server.router.for_host("https", self.sni)
        if route is None or "h2" not in route.options:
            log.info("https mapping %s: no HTTP/2 mapping serves %s; closing", self.peer, self.sni or "(no SNI)")
            transport.abort()
            return
        from .mapping import CountedEndpoint

        ep = CountedEndpoint(self.listeners, open_http_channel(route, self.peer, self.dest))
        self.listeners.handover(self, ep)
        self._closed = True
        self.transport = None
        transport.set_protocol(ep)
        ep.connection_made(transport)
