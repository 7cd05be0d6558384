"""Channels: one multiplexed connection inside a center link, and its local ends.

A ``Channel`` sits between the link and an *endpoint*:

* ``SocketEndpoint`` - an asyncio Protocol on a local socket (the fast path:
  mapping traffic and proxy targets; no coroutine per chunk);
* ``ChannelStream`` - a ``ByteStream`` for protocol handlers that must parse
  what arrives (proxy requests, HTTP routing) before relaying.

Flow control (extension channels only): the sender may have at most
``credit`` unacknowledged bytes in flight; the receiver returns credit with
``Window`` frames once its local side has taken the bytes. A slow reader
therefore stalls only its own channel, and memory per channel is bounded by
the window plus the local socket's write buffer. Legacy channels have no
credit: a backlogged local writer pauses the whole link instead (bounded
memory, at the cost of head-of-line blocking, which is the best a legacy
peer allows).
"""
from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Protocol

from .read_arena import arena
from .stats import OPEN, ChannelRecord
from .streams import READ_CHUNK, format_addr, reset_transport

if TYPE_CHECKING:
    from .link import Link

log = logging.getLogger("wmproxy.channel")

INITIAL_WINDOW = 256 * 1024  # protocol constant of extension v1 (core/PROTOCOL.md)
LEGACY_BUFFER_LIMIT = 4 * 1024 * 1024  # local backlog that pauses a legacy link
CLOSE_FLUSH_TIMEOUT = 5.0  # a closed socket may flush its buffer this long, then it is aborted


class Endpoint(Protocol):
    def deliver(self, data: bytes | memoryview) -> None: ...
    def deliver_eof(self) -> None: ...
    def shutdown(self, reason: str, reset: bool = False) -> None: ...
    def pause_source(self) -> None: ...
    def resume_source(self) -> None: ...


class Channel:
    """State of one channel on a link; created by ``Link.open_channel`` / ``Link.accept_channel``."""

    __slots__ = (
        "link", "id", "record", "endpoint", "ext", "credit", "unacked", "pending", "pending_eof",
        "eof_sent", "eof_received", "closed", "_paused_credit", "_paused_link", "_backlogged", "window",
        "__weakref__",
    )

    def __init__(self, link: "Link", id: int, record: ChannelRecord, ext: bool, window: int) -> None:
        self.link = link
        self.id = id
        self.record = record
        self.endpoint: Endpoint | None = None
        self.ext = ext  # flow control + half-close negotiated for this channel
        self.credit = INITIAL_WINDOW  # bytes we may still send
        self.window = window  # our receive window (what we grant the peer)
        self.unacked = 0  # bytes received and consumed locally but not yet granted back
        self.pending: list[bytes] | None = []  # data that arrived before the endpoint
        self.pending_eof = False
        self.eof_sent = False
        self.eof_received = False
        self.closed = False
        self._paused_credit = False
        self._paused_link = False
        self._backlogged = False

    @property
    def source_paused(self) -> bool:
        """The endpoint is told to stop reading (no credit left, or the link's buffer is full)."""
        return self._paused_credit or self._paused_link

    # ------------------------------------------------------------ endpoint side
    def attach(self, endpoint: Endpoint) -> None:
        """Connect the local end; flush what arrived meanwhile."""
        self.endpoint = endpoint
        self.record.state = OPEN
        pending, self.pending = self.pending, None
        for data in pending or ():
            endpoint.deliver(data)
        if self.pending_eof:
            endpoint.deliver_eof()
        if self._paused_credit or self._paused_link:
            endpoint.pause_source()

    def send(self, data: bytes | memoryview) -> None:
        """Local bytes -> peer (a memoryview only over a link that ``copies_writes``)."""
        if self.closed or self.eof_sent:
            return
        n = len(data)
        self.record.up += n
        self.link.send_data(self.id, data)
        if self.ext:
            self.credit -= n
            if self.credit <= 0 and not self._paused_credit:
                self._paused_credit = True
                if self.endpoint is not None:
                    self.endpoint.pause_source()

    def send_eof(self) -> None:
        """Local side finished sending. Legacy peers only know full close."""
        if self.closed or self.eof_sent:
            return
        self.eof_sent = True
        if not self.ext or self.eof_received:
            self.close("")
        else:
            self.link.send_close(self.id, "", eof=True)

    def consumed(self, n: int) -> None:
        """The local side took ``n`` bytes: return credit in batches."""
        if not self.ext or self.closed:
            return
        self.unacked += n
        if self.unacked >= self.window >> 2 and not self._backlogged:
            self.link.send_window(self.id, self.unacked)
            self.unacked = 0

    def local_backlogged(self, backlogged: bool) -> None:
        """The local writer's buffer crossed its high (True) or low (False) mark."""
        self._backlogged = backlogged
        if self.ext:
            if not backlogged and self.unacked and not self.closed:
                self.link.send_window(self.id, self.unacked)
                self.unacked = 0
        else:
            self.link.set_channel_blocking(self, backlogged)

    def close(self, reason: str = "", *, notify_peer: bool = True, reset: bool = False) -> None:
        """Close the whole channel (both directions), telling the peer unless it told us.

        ``reset``: one end failed (a TCP reset, an error, a cut transfer): the other end is
        aborted too, so nobody takes a truncated stream for a complete one (extension ``rst``).
        """
        if self.closed:
            return
        self.closed = True
        if notify_peer:
            self.link.send_close(self.id, reason, rst=reset)
        self.link.forget(self, reason)
        ep = self.endpoint
        if ep is not None:
            ep.shutdown(reason, reset)

    # ------------------------------------------------------------ link side
    def on_data(self, data: bytes | memoryview) -> None:
        """Bytes from the peer; a memoryview slices the link's receive chunk (never modified)."""
        self.record.down += len(data)
        if self.endpoint is None:
            assert self.pending is not None
            self.pending.append(bytes(data))  # exact size: a slice would keep its whole chunk alive
        else:
            self.endpoint.deliver(data)

    def on_eof(self) -> None:
        self.eof_received = True
        if self.endpoint is None:
            self.pending_eof = True
        else:
            self.endpoint.deliver_eof()
        if self.eof_sent:
            self.close("")

    def on_window(self, increment: int) -> None:
        self.credit += increment
        if self.credit > 0 and self._paused_credit:
            self._paused_credit = False
            if self.endpoint is not None and not self._paused_link:
                self.endpoint.resume_source()

    def on_link_paused(self, paused: bool) -> None:
        """The link's own write buffer is full (True) or drained (False)."""
        if paused == self._paused_link:
            return
        self._paused_link = paused
        ep = self.endpoint
        if ep is None:
            return
        if paused:
            ep.pause_source()
        elif not self._paused_credit:
            ep.resume_source()


class SocketEndpoint(asyncio.BufferedProtocol):
    """Bridges a local socket to a channel without any coroutine on the data path.

    Reads go straight into this thread's ``ReadArena``. Over a TLS link the slice itself goes
    into the link's write queue (the TLS layer copies it when it encrypts, within the loop
    iteration); over a plain TCP link it is copied first, because a socket's write buffer
    would keep the slice, and with it its whole arena, for as long as the peer is slow.
    Subclasses that override ``data_received`` get ``bytes``, as a plain Protocol would."""

    __slots__ = ("channel", "transport", "_on_connect", "_closed", "_abort_timer", "preamble")
    _takes_views = True  # data_received is ours: slices may go to the channel as they are

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls._takes_views = cls.data_received is SocketEndpoint.data_received

    def __init__(self, channel: Channel | None = None, preamble: bytes = b"") -> None:
        self.channel = channel
        self.transport: asyncio.Transport | None = None
        self._closed = False
        self._abort_timer: asyncio.TimerHandle | None = None
        self.preamble = preamble  # written to the local socket before anything else (a PROXY header)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        hw = LEGACY_BUFFER_LIMIT if self.channel is not None and not self.channel.ext else 256 * 1024
        transport.set_write_buffer_limits(high=hw)  # type: ignore[attr-defined]
        if self.channel is not None:
            if self.channel.closed:  # the peer gave up while we were still connecting
                self.channel = None
                transport.close()
                return
            if self.preamble:
                transport.write(self.preamble)
            self.channel.attach(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return arena().space()

    def buffer_updated(self, nbytes: int) -> None:
        piece = arena().take(nbytes)
        ch = self.channel
        if self._takes_views:
            if ch is not None:
                ch.send(piece if ch.link.copies_writes else bytes(piece))
        else:
            self.data_received(bytes(piece))

    def data_received(self, data: bytes) -> None:
        if self.channel is not None:
            self.channel.send(data)

    def eof_received(self) -> bool:
        if self.channel is not None:
            self.channel.send_eof()
        return True  # keep our write side open for half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.transport = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        if self.channel is not None:
            # an error or reset here (not a clean FIN) is passed on as a reset
            self.channel.close(f"local connection lost: {exc}" if exc else "", reset=exc is not None)

    def pause_writing(self) -> None:
        if self.channel is not None:
            self.channel.local_backlogged(True)

    def resume_writing(self) -> None:
        if self.channel is not None:
            self.channel.local_backlogged(False)

    # Endpoint
    def deliver(self, data: bytes | memoryview) -> None:
        t = self.transport
        if t is not None and not self._closed:
            if type(data) is not bytes and t.get_write_buffer_size():
                data = bytes(data)  # it will wait in the buffer: a slice would pin its whole read buffer
            t.write(data)
            self.channel.consumed(len(data))  # type: ignore[union-attr]

    def deliver_eof(self) -> None:
        t = self.transport
        if t is not None and not self._closed and t.can_write_eof():
            try:
                t.write_eof()
            except (OSError, RuntimeError):
                pass

    def shutdown(self, reason: str, reset: bool = False) -> None:
        self.channel = None  # no more callbacks into a closed channel
        t = self.transport
        if t is None or self._closed:
            return
        self._closed = True
        if reset:
            reset_transport(t)
            return
        t.close()  # flushes what is buffered first ...
        if t.get_write_buffer_size():  # ... but a peer that never reads must not pin the socket
            self._abort_timer = asyncio.get_running_loop().call_later(CLOSE_FLUSH_TIMEOUT, reset_transport, t)

    def pause_source(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def resume_source(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.resume_reading()

    @property
    def peer(self) -> str:
        return format_addr(self.transport.get_extra_info("peername")) if self.transport else "?"


class ChannelStream:
    """``ByteStream`` over a channel, for handlers that parse before relaying."""

    def __init__(self, channel: Channel, peer: str) -> None:
        self.channel = channel
        self.peer = peer
        self._chunks: collections.deque[bytes] = collections.deque()
        self._eof = False
        self._closed = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._buffered = 0
        self._reset = False
        channel.attach(self)

    # Endpoint (called by the channel)
    def deliver(self, data: bytes | memoryview) -> None:
        if type(data) is not bytes:
            data = bytes(data)  # readers parse and slice: they get bytes, sized exactly
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()
        if not self.channel.ext and self._buffered > LEGACY_BUFFER_LIMIT:
            self.channel.local_backlogged(True)

    def deliver_eof(self) -> None:
        self._eof = True
        self._readable.set()

    def shutdown(self, reason: str, reset: bool = False) -> None:
        self._closed = True
        self._eof = True
        self._reset = reset
        self._readable.set()
        self._writable.set()

    def pause_source(self) -> None:
        self._writable.clear()

    def resume_source(self) -> None:
        self._writable.set()

    # ByteStream
    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        while not self._chunks:
            if self._reset:
                raise ConnectionResetError(f"channel to {self.peer} was reset")
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._chunks.popleft()
        if len(data) > max_bytes:
            self._chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self._buffered -= len(data)
        if self.channel.ext:
            self.channel.consumed(len(data))
        elif self.channel._backlogged and self._buffered < LEGACY_BUFFER_LIMIT // 2:
            self.channel.local_backlogged(False)
        return data

    def unread(self, data: bytes) -> None:
        if data:
            self._chunks.appendleft(bytes(data))
            self._buffered += len(data)
            if self.channel.ext:  # already granted when first read: do not count twice
                self.channel.unacked -= len(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closed and data:
            self.channel.send(bytes(data))

    async def drain(self) -> None:
        while not self._writable.is_set() and not self._closed:
            await self._writable.wait()

    def write_eof(self) -> None:
        if not self._closed:
            self.channel.send_eof()

    def close(self, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            self.channel.close(reason)

    def abort(self, reason: str = "reset") -> None:
        """Close with a reset: the other end of the channel is aborted, not closed cleanly."""
        if not self._closed:
            self._closed = True
            self.channel.close(reason, reset=True)

    async def wait_closed(self) -> None:
        return None

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._chunks
