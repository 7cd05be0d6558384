"""The center link: frames over one TCP/TLS connection, channels multiplexed.

``Link`` is an asyncio Protocol shared by both roles; ``ServerLink`` and
``ClientLink`` (in server.py / client.py) add what differs: authentication,
mappings, and what a ``Create`` from the peer means.

Writes are batched: frames queued during one loop iteration leave in a single
``writelines`` call. Fairness comes from the event loop's round-robin over
readable sockets plus a small link write buffer: when it fills, every channel
source pauses, and each resumes to send at most one chunk per iteration.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time

from . import frames as F
from .channel import INITIAL_WINDOW, Channel
from .config import ClientConfig, ServerConfig
from .errors import ProtocolError
from .read_arena import arena
from .stats import CONNECTED, LinkRecord, Stats

log = logging.getLogger("wmproxy.link")

EXT_NAME = "wmproxy-gui"
EXT_VERSION = 2
# version 1: every extension-aware peer has these (the hello bit says so)
V1_FEATURES = ("hb", "fc", "eof", "ports")
# version 2: used only when both sides list them (the server in its ack, the client in its answer)
EXT_FEATURES = (*V1_FEATURES, "meta", "rst", "status", "opts")
LINK_WRITE_HIGH = 1024 * 1024
MAX_CHANNELS = 16384  # open channels per link; a Create beyond is answered with a Close
PRE_AUTH_READ = 4096  # read buffer of a link that has not logged in yet (a stranger's bytes)
PRE_AUTH_MAX_FRAME = 1024  # largest frame before login: a Token is at most 524 bytes
# TCP keepalive on every link socket: a peer that vanished (NAT dropped, host off) is noticed in
# about a minute even when the peer runs no heartbeat (a legacy peer)
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 10, 3
JOIN_SMALL = 4096  # a Data payload up to this size leaves in one piece with its header
JOIN_FLUSH = 64 * 1024  # a flush up to this size is joined into one write (one TLS record run, one syscall)
# queued this much, the link writes at once instead of at the end of the loop iteration: a bulk
# sender's reads (the loop may make 32 in a row) then never pile up, nor pin their read arenas
FLUSH_AT = 256 * 1024
_ids = itertools.count(1)


class Link(asyncio.BufferedProtocol):
    """One center link. Subclasses implement ``on_control`` and ``on_create``.

    Reads land in a buffer that is only ever appended to, never rewritten
    (a full one is dropped for a fresh one), so the Data pieces the decoder
    slices from it stay valid while channels hold them: over TLS the record
    layer decrypts straight into it, with no per-read allocation or copy.
    """

    role = "link"

    def __init__(self, stats: Stats, cfg: ServerConfig | ClientConfig) -> None:
        """``cfg`` supplies the link settings both roles share (window, max_frame, heartbeat)."""
        self.stats = stats
        self.window = max(cfg.window, INITIAL_WINDOW)
        self.decoder = F.StreamDecoder(cfg.max_frame)  # Data payloads pass through uncopied
        self.hb_interval = cfg.heartbeat_interval
        self.hb_timeout = cfg.heartbeat_timeout
        self.id = f"{self.role}-{next(_ids)}"
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.channels: dict[int, Channel] = {}
        self.peer_ext = False  # peer speaks our extensions (version 1 at least): we may send kinds 5/6
        self.features: frozenset[str] = frozenset()  # extensions both sides listed
        self.record: LinkRecord | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.copies_writes = False  # set when the transport is known to copy what it is given at once
        self._wbuf: list[bytes | memoryview] = []
        self._wsize = 0  # bytes in _wbuf
        self._flush_handle: asyncio.Handle | None = None
        self._write_paused = False
        self._blocking: set[int] = set()  # legacy channels whose local side is backlogged
        self._last_rx = time.monotonic()
        self._hb_handle: asyncio.TimerHandle | None = None
        self._next_id = 1 if self.role == "client" else 2
        self._nonce = 0
        self.max_frame = cfg.max_frame
        self.preauth = False  # a stranger until it logs in: small buffers, small frames, one frame at a time
        self.holding = False  # a decision on the last frame is pending: decode nothing more yet
        self._preauth_view = memoryview(b"")

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=LINK_WRITE_HIGH)  # type: ignore[attr-defined]
        set_keepalive(transport.get_extra_info("socket"))
        from .streams import format_addr
        self.peer = format_addr(transport.get_extra_info("peername"))
        tls = transport.get_extra_info("ssl_object") is not None
        self.copies_writes = tls  # TLS encrypts what it is given at once: queued slices need no copy
        self.record = self.stats.open_link(self.id, self.role, self.peer, tls=tls)
        self.link_made()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.preauth:
            self._preauth_view = memoryview(bytearray(PRE_AUTH_READ))
            return self._preauth_view
        # after login: the thread's shared arena (core/read_arena.py); Data payloads are slices
        # of it, valid for as long as they live, and an idle link holds no buffer at all
        return arena().space()

    def buffer_updated(self, nbytes: int) -> None:
        if self.preauth:  # get_buffer gave a fresh small buffer: that is what arrived
            self._received(self._preauth_view[:nbytes], True)
            return
        self._received(arena().take(nbytes), True)

    def data_received(self, data: bytes) -> None:
        """For callers that have bytes (the transports call get_buffer/buffer_updated)."""
        self._received(data, False)

    def _received(self, data: bytes | memoryview, stable: bool) -> None:
        self._last_rx = time.monotonic()
        while not self.holding:
            preauth = self.preauth
            try:
                frames = self.decoder.feed(data, stable=stable, max_frames=1 if preauth else None)
            except ProtocolError as e:
                self.abort(f"protocol error from {self.peer}: {e}")
                return
            for fr in frames:
                if self.transport is None:
                    return
                try:
                    self.dispatch(fr)
                except ProtocolError as e:
                    self.abort(f"protocol error from {self.peer}: {e}")
                    return
            if not self.decoder.parked or self.transport is None or (preauth and not frames):
                return
            data = b""  # go on with what the one-frame-at-a-time decoding parked
        if data:
            self.decoder.parked += bytes(data)  # held back until the pending decision is made

    def release(self) -> None:
        """The pending decision is made (``holding`` was set): go on with what was held back."""
        self.holding = False
        if self.transport is not None:
            self.transport.resume_reading()
            if self.decoder.parked:
                self._received(b"", True)

    def set_preauth(self, on: bool) -> None:
        """Stranger limits (small read buffer, PRE_AUTH_MAX_FRAME) until the peer has logged in."""
        self.preauth = on
        self.decoder.max_payload = PRE_AUTH_MAX_FRAME if on else self.max_frame

    def eof_received(self) -> bool:
        return False  # the peer is gone: close

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.close_reason or (f"link lost: {exc}" if exc else "link closed by peer")
        self.close_reason = reason
        self.transport = None
        if self._hb_handle:
            self._hb_handle.cancel()
        if self._flush_handle:
            self._flush_handle.cancel()
        for ch in list(self.channels.values()):
            ch.close("center link closed", notify_peer=False, reset=True)  # cut: never a clean end
        if self.record is not None:
            self.stats.close_link(self.record, "" if reason == "closed" else reason)
        self.closed.set()
        self.link_lost(reason)

    def pause_writing(self) -> None:
        self._write_paused = True
        for ch in self.channels.values():
            ch.on_link_paused(True)

    def resume_writing(self) -> None:
        self._write_paused = False
        for ch in list(self.channels.values()):
            ch.on_link_paused(False)

    # ------------------------------------------------------------ hooks for subclasses
    def link_made(self) -> None: ...

    def link_lost(self, reason: str) -> None: ...

    def on_control(self, frame: F.Frame) -> None:
        """Token / Mapping / Close on channel 0."""

    def on_create(self, frame: F.Create) -> None:
        """The peer opened channel ``frame.sock_map``."""

    # ------------------------------------------------------------ dispatch
    def dispatch(self, fr: F.Frame) -> None:
        kind = fr.kind
        if kind == F.Kind.DATA:
            ch = self.channels.get(fr.sock_map)  # type: ignore[union-attr]
            if ch is not None:
                ch.on_data(fr.data)  # type: ignore[union-attr,arg-type]
            return
        if kind == F.Kind.CLOSE:
            if fr.sock_map == 0:
                self.on_control(fr)
                return
            ch = self.channels.get(fr.sock_map)
            if ch is not None:
                if fr.flag & F.Flag.EOF and ch.ext:
                    ch.on_eof()
                else:  # RST: the peer's end failed; ours is aborted, not closed cleanly
                    ch.close(fr.reason, notify_peer=False, reset=bool(fr.flag & F.Flag.RST))  # type: ignore[union-attr]
            return
        if kind == F.Kind.WINDOW:
            ch = self.channels.get(fr.sock_map)
            if ch is not None:
                ch.on_window(fr.increment)  # type: ignore[union-attr]
            return
        if kind == F.Kind.PING:
            if not fr.flag & F.Flag.ACK and self.peer_ext:
                self.send(F.Ping(fr.nonce, F.Flag.ACK))  # type: ignore[union-attr]
            return
        if kind == F.Kind.CREATE:
            if fr.flag & F.Flag.AGAIN:
                self.on_again(fr)  # type: ignore[arg-type]
                return
            if fr.sock_map == 0 or fr.sock_map in self.channels:
                raise ProtocolError(f"Create for channel {fr.sock_map}, which is reserved or in use")
            if (fr.sock_map & 1) == (self._next_id & 1):
                raise ProtocolError(f"Create for channel {fr.sock_map}, which is ours to open")
            if len(self.channels) >= MAX_CHANNELS:  # bounded memory per link, whoever the peer is
                self.send_close(fr.sock_map, f"too many open channels on this link (at most {MAX_CHANNELS})")
                return
            self.on_create(fr)  # type: ignore[arg-type]
            return
        self.on_control(fr)

    # ------------------------------------------------------------ writing
    def has(self, feature: str) -> bool:
        """Both sides negotiated ``feature`` (core/PROTOCOL.md)."""
        return feature in self.features

    def send(self, frame: F.Frame) -> None:
        self._queue(F.encode(frame))

    def send_data(self, sock_map: int, data: bytes | memoryview) -> None:
        n = len(data)
        hdr = F.header(n, 0, 0, sock_map) if n <= F.MAX_PAYLOAD else None
        if hdr is None:  # larger than one frame can say: split
            for i in range(0, n, F.MAX_PAYLOAD):
                self.send_data(sock_map, data[i:i + F.MAX_PAYLOAD])
            return
        wbuf = self._wbuf
        if n <= JOIN_SMALL:
            wbuf.append(hdr + data)  # over TLS a lone 12-byte header would be a record of its own
        else:
            wbuf.append(hdr)
            wbuf.append(data)
        self._wsize += n + F.HEADER_LEN
        if self._wsize >= FLUSH_AT:
            self.flush_now()
        elif self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def send_close(self, sock_map: int, reason: str, *, eof: bool = False, rst: bool = False) -> None:
        flag = F.Flag.EOF if eof else (F.Flag.RST if rst and self.has("rst") else 0)
        self.send(F.Close(sock_map, F.cut_short(reason), flag))

    def send_window(self, sock_map: int, increment: int) -> None:
        if self.peer_ext:
            self.send(F.Window(sock_map, increment))

    def _queue(self, data: bytes) -> None:
        self._wbuf.append(data)
        self._wsize += len(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        buf, self._wbuf = self._wbuf, []
        size, self._wsize = self._wsize, 0
        t = self.transport
        if t is None or not buf or t.is_closing():
            return
        if len(buf) == 1:
            t.write(buf[0])
        elif size <= JOIN_FLUSH:
            t.write(b"".join(buf))  # small frames of one loop iteration: one write, not one per frame
        else:
            t.writelines(buf)

    def flush_now(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()

    # ------------------------------------------------------------ channels
    def close_channel_by_key(self, key: int, reason: str) -> bool:
        """Close the live channel whose ``ChannelRecord.key`` is ``key`` (the user closed it in a
        traffic view); False if this link has none."""
        for ch in list(self.channels.values()):
            if ch.record.key == key:
                ch.close(reason)
                return True
        return False

    def allocate_id(self) -> int:
        """Next free id of our parity (client odd from 1, server even from 2), wrapping at 2^24."""
        for _ in range(1 << 23):
            cid = self._next_id
            self._next_id += 2
            if self._next_id >= 1 << 24:
                self._next_id = 1 if self.role == "client" else 2
            if cid not in self.channels:
                return cid
        raise ProtocolError("no free channel id on this link")

    def open_channel(self, domain: str | None, *, kind: str, name: str, peer: str, target: str,
                     mode: str = "", dest: str = "") -> Channel:
        """Open a channel to the peer (sends Create now). ``mode``/``peer``/``dest`` travel in the
        Create when the peer negotiated ``meta``: the mapping mode and the public addresses."""
        cid = self.allocate_id()
        ext = self.peer_ext
        flag = F.Flag.EXT if ext else 0
        if mode and self.has("meta"):
            self.send(F.Create(cid, domain, flag | F.Flag.META, 0, mode, F.cut_short(peer), F.cut_short(dest)))
        else:
            self.send(F.Create(cid, domain, flag))  # before the channel's Window grant
        return self._new_channel(cid, ext, kind, name, peer, target)

    def send_again(self, ch: Channel, domain: str | None, mode: str, peer: str, dest: str) -> None:
        """Tell the peer that open channel ``ch`` now carries a new public connection (``Create``
        flagged ``AGAIN``; only to a client that offered mapping option ``reuse``)."""
        self.stats.channel_again(ch.record, peer)
        if self.has("meta"):
            self.send(F.Create(ch.id, domain, F.Flag.EXT | F.Flag.META | F.Flag.AGAIN, 0, mode,
                               F.cut_short(peer), F.cut_short(dest)))

    def on_again(self, fr: F.Create) -> None:
        """A ``Create`` flagged ``AGAIN``: only a server sends it, for a channel it opened."""
        raise ProtocolError(f"Create flagged AGAIN for channel {fr.sock_map}: only a server sends it")

    def accept_channel(self, frame: F.Create, *, kind: str, name: str, peer: str, target: str) -> Channel:
        """Register a channel the peer opened."""
        ext = bool(frame.flag & F.Flag.EXT) and self.peer_ext
        return self._new_channel(frame.sock_map, ext, kind, name, peer, target)

    def _new_channel(self, cid: int, ext: bool, kind: str, name: str, peer: str, target: str) -> Channel:
        rec = self.stats.open_channel(cid, kind, name, peer, target, self.id)
        ch = Channel(self, cid, rec, ext, self.window)
        self.channels[cid] = ch
        if ext and self.window > INITIAL_WINDOW:
            # raise the peer's credit from INITIAL_WINDOW to our window; queued after the Create
            # (a Window for a channel the peer does not know yet is dropped, and the channel would
            # then stall at INITIAL_WINDOW, below the window/4 batch at which credit comes back)
            self.send_window(cid, self.window - INITIAL_WINDOW)
        if self._write_paused:
            ch.on_link_paused(True)
        return ch

    def forget(self, ch: Channel, reason: str) -> None:
        if self.channels.get(ch.id) is ch:
            del self.channels[ch.id]
        if ch.id in self._blocking:
            self.set_channel_blocking(ch, False)
        self.stats.close_channel(ch.record, reason)

    def set_channel_blocking(self, ch: Channel, blocking: bool) -> None:
        """Legacy channels: pause reading the link while any local side is backlogged."""
        was = bool(self._blocking)
        if blocking:
            self._blocking.add(ch.id)
        else:
            self._blocking.discard(ch.id)
        now = bool(self._blocking)
        t = self.transport
        if t is not None and was != now:
            (t.pause_reading if now else t.resume_reading)()

    # ------------------------------------------------------------ heartbeat
    def start_heartbeat(self) -> None:
        """Only once the peer is known to speak the extensions."""
        if self._hb_handle is None and self.hb_interval > 0:
            self._hb_handle = self.loop.call_later(self.hb_interval, self._heartbeat)

    def _heartbeat(self) -> None:
        self._hb_handle = None
        if self.transport is None:
            return
        idle = time.monotonic() - self._last_rx
        if idle > self.hb_timeout:
            self.abort(f"no heartbeat from {self.peer} for {idle:.0f} s")
            return
        self._nonce += 1
        self.send(F.Ping(self._nonce))
        self._hb_handle = self.loop.call_later(min(self.hb_interval, self.hb_timeout / 2), self._heartbeat)

    # ------------------------------------------------------------ closing
    def close(self, reason: str = "closed") -> None:
        """Flush queued frames, then close the connection."""
        if not self.close_reason:
            self.close_reason = reason
        self.flush_now()
        if self.transport is not None:
            self.transport.close()

    def abort(self, reason: str, *, expected: bool = False) -> None:
        """Drop the connection now (unsent frames are lost): for errors and shutdown."""
        log.log(logging.INFO if expected else logging.WARNING, "closing link %s: %s", self.id, reason)
        if not self.close_reason:
            self.close_reason = reason
        if self.record is not None:
            self.record.error = reason
        if self.transport is not None:
            self.transport.abort()

    def set_connected(self, **changes: object) -> None:
        if self.record is not None:
            self.stats.update_link(self.record, state=CONNECTED, **changes)


def set_keepalive(sock) -> None:  # type: ignore[no-untyped-def]
    """TCP keepalive with short timers on a link socket (where the platform has them)."""
    import socket

    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                            ("TCP_KEEPCNT", KEEPALIVE_COUNT)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError:
        pass  # not a TCP socket (tests with socketpairs): nothing to tune


def ext_token(extra: tuple[str, ...] = ()) -> F.Token:
    """Our extension announcement, flagged ``EXT | ACK``: ``wmproxy-gui/2`` in the username field,
    comma-separated features (then ``key=value`` parameters) in the password field. The server sends
    it to acknowledge a hello (never to a legacy client); a version-2 client answers with its own."""
    return F.Token(f"{EXT_NAME}/{EXT_VERSION}", ",".join((*EXT_FEATURES, *extra)), F.Flag.EXT | F.Flag.ACK)


def parse_ext_token(tok: F.Token) -> tuple[int, frozenset[str], dict[str, str]]:
    """(version, features, parameters) of a peer's extension announcement; version 0 if it is none."""
    name, _, ver = tok.username.partition("/")
    version = int(ver) if name == EXT_NAME and ver.isdigit() else 0
    feats: set[str] = set()
    params: dict[str, str] = {}
    for item in tok.password.split(","):
        key, eq, value = item.strip().partition("=")
        if eq:
            params[key] = value
        elif key:
            feats.add(key)
    return version, frozenset(feats), params
