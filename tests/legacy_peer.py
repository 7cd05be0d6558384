"""An asyncio model of upstream wmproxy's center client and center server, for interop tests.

It speaks only what upstream speaks (frame kinds 0-4) and behaves the way upstream's Rust
code does (``src/streams/center_client.rs``, ``center_server.rs``, ``trans_stream.rs``,
``virtual_stream.rs``, ``prot/*.rs``), quirks included, so a test can point our engine at it:

* Its codec is written here, independently of ``core.frames`` (a shared bug would hide itself):
  no frame-size limit, unknown flag bits read as flag 0 (``ProtFlag::new``), lossy UTF-8,
  trailing payload bytes ignored, a short field is an error that drops the link.
* A frame kind outside 0..4 is a panic (``ProtKind::Unregistered => todo!()``), and so is a
  Token at the client (``ProtFrame::Token(_) => todo!()``) and a Token at a server that has
  already verified the link (``unreachable!()``; a server without credentials starts verified).
  The unknown kind panics only once its whole frame has arrived, as upstream's decoder does.
  A panic is recorded in ``peer.panics`` and the link is closed; tests assert ``panics == []``.
* No half-close: a channel ends with a plain Close. A channel relaying a local socket
  (upstream ``TransStream``) sends Close when either side ends, even in answer to the peer's
  Close. A channel served by a proxy handler (upstream ``VirtualStream``) never sends Close.
* The server checks the Token as upstream does (each configured field must match) and answers
  anything else on an unverified link with ``Close(0, "not verify so close")``, then drops it.
  Its proxy channels (a Create without a mapping) handle HTTP CONNECT, plain HTTP proxying and
  SOCKS5 CONNECT, demanding proxy auth (Basic / user-pass) when it has credentials, like upstream.
* Not modelled: upstream's reconnect loop, its per-channel queue of 10 frames (the client drops
  Data beyond it with ``try_send``), header rewriting in proxy-mode mappings, UDP.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import ssl as ssl_mod
import struct
from collections.abc import Iterable

from core.config import MappingConfig
from core.frames import Close, Create, Data, HeaderOp, HeaderRule, Mapping, MappingEntry, Token
from core.streams import READ_CHUNK, format_addr

LegacyFrame = Data | Create | Close | Mapping | Token

HEADER_LEN = 12
UPSTREAM_FLAG_BITS = 0x0F  # ACK | CREATE | CLOSE | DATA: all ProtFlag knows
LOCAL_READ = 20480  # TransStream's read buffer: Data frames it sends are at most this big
DIAL_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 30.0
MAX_REQUEST_HEAD = 64 * 1024
NOT_VERIFIED = "not verify so close"
DEFAULT_TLS_NAME = "soft.wm-proxy.com"  # upstream client's SNI when no domain is configured


class UpstreamPanic(Exception):
    """Upstream would panic here (todo!/unreachable!); the process's task dies with the link."""


class UpstreamError(Exception):
    """Upstream's decoder returns Err here: the link is dropped without a panic."""


# ------------------------------------------------------------------ codec (sans-io)

class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise UpstreamError("TooShort")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def short(self) -> str:
        return self.take(self.u8()).decode("utf-8", "replace")  # String::from_utf8_lossy


def parse_payload(kind: int, flag: int, sock_map: int, server_id: int, payload: bytes) -> LegacyFrame:
    """One frame from its payload, as upstream's ``ProtFrame::parse`` reads it."""
    r = _Reader(payload)
    if kind == 0:
        return Data(sock_map=sock_map, data=payload, flag=flag, server_id=server_id)
    if kind == 1:
        return Create(sock_map=sock_map, domain=r.short() or None, flag=flag, server_id=server_id)
    if kind == 2:
        return Close(sock_map=sock_map, reason=r.short(), flag=flag, server_id=server_id)
    if kind == 3:
        entries = []
        for _ in range(r.u16()):
            name, mode, domain = r.short(), r.short(), r.short()
            headers = []
            for _ in range(r.u16()):
                is_proxy, op = r.u8() != 0, r.u8()
                oper = HeaderOp(op) if op in (1, 2, 3, 4) else HeaderOp.REPLACE
                headers.append(HeaderRule(is_proxy, oper, r.short(), r.short()))
            entries.append(MappingEntry(name, mode, domain, tuple(headers)))
        return Mapping(mappings=tuple(entries), sock_map=sock_map, flag=flag, server_id=server_id)
    if kind == 4:
        return Token(username=r.short(), password=r.short(), flag=flag, sock_map=sock_map, server_id=server_id)
    raise UpstreamPanic(f"frame kind {kind} on sock_map {sock_map}: todo!() (ProtKind::Unregistered)")


class LegacyDecoder:
    """Upstream's ``Helper::decode_frame`` loop: whole frames only, no size limit."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.raw_flags: set[int] = set()  # flag bytes as sent, before upstream masks them

    def push(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> LegacyFrame | None:
        buf = self._buf
        if len(buf) < HEADER_LEN:
            return None
        length = int.from_bytes(buf[0:3], "big")
        if len(buf) < HEADER_LEN + length:
            return None
        kind, flag = buf[3], buf[4]
        sock_map = int.from_bytes(buf[5:8], "big")
        server_id = int.from_bytes(buf[8:12], "big")
        payload = bytes(buf[HEADER_LEN:HEADER_LEN + length])
        del buf[:HEADER_LEN + length]
        self.raw_flags.add(flag)
        known = flag if flag & ~UPSTREAM_FLAG_BITS == 0 else 0  # ProtFlag::new
        return parse_payload(kind, known, sock_map, server_id, payload)


def _short(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise ValueError("short string over 255 bytes")
    return bytes((len(b),)) + b


def legacy_encode(frame: LegacyFrame) -> bytes:
    """Frame bytes as upstream writes them: flag always 0, Token on sock_map 0."""
    sock_map, server_id = frame.sock_map, frame.server_id
    if isinstance(frame, Data):
        kind, payload = 0, bytes(frame.data)
    elif isinstance(frame, Create):
        kind, payload = 1, _short(frame.domain or "")
    elif isinstance(frame, Close):
        kind, payload = 2, _short(frame.reason)
    elif isinstance(frame, Mapping):
        parts = [struct.pack(">H", len(frame.mappings))]
        for m in frame.mappings:
            parts += [_short(m.name), _short(m.mode), _short(m.domain), struct.pack(">H", len(m.headers))]
            for h in m.headers:
                parts += [bytes((1 if h.is_proxy else 0, int(h.oper))), _short(h.key), _short(h.val)]
        kind, payload = 3, b"".join(parts)
    elif isinstance(frame, Token):
        kind, payload, sock_map = 4, _short(frame.username) + _short(frame.password), 0
    else:
        raise TypeError(f"upstream cannot send {type(frame).__name__}")
    return (len(payload).to_bytes(3, "big") + bytes((kind, 0)) + (sock_map & 0xFFFFFF).to_bytes(3, "big")
            + struct.pack(">I", server_id) + payload)


# ------------------------------------------------------------------ channels

class LegacyChannel:
    """One multiplexed channel; a ``core.streams.ByteStream``.

    ``relays_socket`` channels behave like upstream's TransStream (ending them sends Close, and
    write_eof() ends them: there is no half-close); others like its VirtualStream (never Close).
    """

    def __init__(self, link: "_Link", sock_map: int, *, relays_socket: bool) -> None:
        self.link = link
        self.sock_map = sock_map
        self.peer = f"{link.peer}#{sock_map}"
        self.relays_socket = relays_socket
        self._buf = bytearray()
        self._pushback = b""
        self._wake = asyncio.Event()
        self.peer_closed = False  # Close received (or the link died)
        self.closed = False  # ended on our side
        self._done = asyncio.Event()

    # events from the link
    def _on_data(self, data: bytes) -> None:
        if not self.peer_closed:
            self._buf += data
            self._wake.set()

    def _on_close(self) -> None:
        self.peer_closed = True
        self._wake.set()
        self._done.set()

    # ByteStream
    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        if self._pushback:
            data, self._pushback = self._pushback[:max_bytes], self._pushback[max_bytes:]
            return data
        while not self._buf and not self.peer_closed and not self.closed:
            self._wake.clear()
            await self._wake.wait()
        data = bytes(self._buf[:max_bytes])
        del self._buf[:max_bytes]
        return data

    def unread(self, data: bytes) -> None:
        self._pushback = bytes(data) + self._pushback

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed or self.peer_closed:
            return  # upstream drops writes to a finished channel
        view = memoryview(bytes(data))
        for i in range(0, len(view), 65536):
            self.link.send(Data(sock_map=self.sock_map, data=bytes(view[i:i + 65536])))

    async def drain(self) -> None:
        await self.link.drain()

    def write_eof(self) -> None:
        if self.relays_socket:
            self.close()  # TransStream: local EOF ends the channel with a Close

    def close(self, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        self._done.set()
        if self.relays_socket:
            self.link.send(Close(sock_map=self.sock_map))  # upstream's Close carries no reason
        self.link.channels.pop(self.sock_map, None)

    def abort(self, reason: str = "reset") -> None:
        self.close(reason)  # upstream has no reset: a Close is all it can say

    async def wait_closed(self) -> None:
        await self._done.wait()

    async def read_exactly(self, n: int) -> bytes:
        """Test helper: ``n`` bytes, or fewer if the channel ends first."""
        out = bytearray()
        while len(out) < n:
            chunk = await self.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)


# ------------------------------------------------------------------ link

class _Link:
    """One center connection: frame I/O plus the channel table."""

    def __init__(self, owner: "_Peer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 first_id: int) -> None:
        self.owner = owner
        self.reader, self.writer = reader, writer
        self.peer = format_addr(writer.get_extra_info("peername"))
        self.decoder = LegacyDecoder()
        self.channels: dict[int, LegacyChannel] = {}
        self.next_id = first_id
        self.verified = False
        self.mappings: tuple[MappingEntry, ...] = ()
        self.got_mapping = asyncio.Event()
        self.ended = asyncio.Event()

    def alloc_id(self) -> int:
        i = self.next_id
        self.next_id += 2
        return i

    def send(self, frame: LegacyFrame) -> None:
        self.send_raw(legacy_encode(frame))

    def send_raw(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError, RuntimeError):
            pass

    def close(self) -> None:
        self.writer.close()

    async def serve(self) -> None:
        owner = self.owner
        try:
            while True:
                frame = self.decoder.next_frame()
                if frame is None:
                    data = await self.reader.read(4096)
                    if not data:
                        return
                    self.decoder.push(data)
                    continue
                owner.kinds_seen[int(frame.kind)] += 1
                if await owner._on_frame(self, frame) is False:
                    return
        except UpstreamPanic as e:
            owner.panics.append(f"{owner.role}: {e}")
        except UpstreamError as e:
            owner.errors.append(f"{owner.role}: malformed frame from {self.peer}: {e}")
        except (ConnectionError, OSError, ssl_mod.SSLError):
            pass
        finally:
            owner.flags_seen |= self.decoder.raw_flags
            for ch in list(self.channels.values()):
                ch._on_close()  # upstream: is_closed -> Close to every channel
            self.channels.clear()
            self.writer.close()
            self.ended.set()


# ------------------------------------------------------------------ peers

def _split_addr(addr: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(addr, tuple):
        return addr[0], int(addr[1])
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class _Peer:
    role = "peer"

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username = username
        self.password = password
        self.panics: list[str] = []
        self.errors: list[str] = []
        self.kinds_seen: collections.Counter[int] = collections.Counter()
        self.flags_seen: set[int] = set()
        self._tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _on_frame(self, link: _Link, frame: LegacyFrame) -> bool | None:
        raise NotImplementedError

    def _route(self, link: _Link, frame: LegacyFrame) -> None:
        ch = link.channels.get(frame.sock_map)
        if ch is None:
            return  # upstream ignores frames for unknown channels
        if isinstance(frame, Data):
            ch._on_data(bytes(frame.data))
        else:
            ch._on_close()
            link.channels.pop(frame.sock_map, None)

    async def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


class LegacyClient(_Peer):
    """Upstream's center client: Token (if both credentials), Mapping (if any), then serve."""

    role = "client"

    def __init__(self, server_addr: str | tuple[str, int], username: str | None = None,
                 password: str | None = None, mappings: Iterable[MappingConfig] = (),
                 ssl: ssl_mod.SSLContext | None = None, server_hostname: str | None = None,
                 connect_timeout: float = DIAL_TIMEOUT) -> None:
        super().__init__(username, password)
        self.server_addr = _split_addr(server_addr)
        self.mappings = list(mappings)
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        self.closed_reason: str | None = None
        self.link: _Link | None = None
        self._next_id = 1  # client ids: odd, from 1

    async def start(self) -> "LegacyClient":
        host, port = self.server_addr
        kw: dict = {}
        if self.ssl is not None:
            kw = {"ssl": self.ssl, "server_hostname": self.server_hostname or DEFAULT_TLS_NAME}
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, **kw), self.connect_timeout)
        self.link = link = _Link(self, reader, writer, first_id=1)
        if self.username is not None and self.password is not None:
            link.send(Token(username=self.username, password=self.password))
        if self.mappings:
            link.send(Mapping(mappings=tuple(
                MappingEntry(m.name, m.mode, m.domain, tuple(m.headers)) for m in self.mappings)))
        self._spawn(link.serve())
        return self

    async def __aenter__(self) -> "LegacyClient":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self.link is not None and not self.link.ended.is_set()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Until the server drops the link."""
        assert self.link is not None, "not started"
        await asyncio.wait_for(self.link.ended.wait(), timeout)

    def send_raw(self, data: bytes) -> None:
        """Test hook: put arbitrary bytes on the link."""
        assert self.link is not None, "not started"
        self.link.send_raw(data)

    async def open_channel(self) -> LegacyChannel:
        """What upstream's local proxy listener does per connection: Create(no domain), then raw bytes."""
        link = self.link
        if link is None or link.ended.is_set():
            raise ConnectionError("legacy client is not connected")
        sock_map = self._next_id
        self._next_id += 2
        ch = LegacyChannel(link, sock_map, relays_socket=True)
        link.channels[sock_map] = ch
        link.send(Create(sock_map=sock_map))
        await link.drain()
        return ch

    async def close(self) -> None:
        if self.link is not None:
            for ch in list(self.link.channels.values()):
                ch._on_close()
            self.link.close()
        await self._cancel_tasks()

    async def _on_frame(self, link: _Link, frame: LegacyFrame) -> bool | None:
        if isinstance(frame, Create):
            self._on_create(link, frame)
        elif isinstance(frame, Close) and frame.sock_map == 0:
            self.closed_reason = frame.reason  # upstream logs it and waits for the server to hang up
        elif isinstance(frame, (Data, Close)):
            self._route(link, frame)
        elif isinstance(frame, Token):
            raise UpstreamPanic("Token frame received: todo!() (center_client ProtFrame::Token)")
        return None  # Mapping: ignored

    def _on_create(self, link: _Link, frame: Create) -> None:
        domain = frame.domain or ""
        mapping = None
        for m in self.mappings:  # no break: the last match wins, as upstream
            if m.domain == domain or m.name == domain:
                mapping = m
        if mapping is None:
            link.send(Close(sock_map=frame.sock_map))
            return
        is_proxy = mapping.mode == "proxy"
        ch = LegacyChannel(link, frame.sock_map, relays_socket=not is_proxy)
        link.channels[frame.sock_map] = ch
        if is_proxy:
            self._spawn(serve_proxy(ch, self.username, self.password))
        elif mapping.local_addr:
            self._spawn(_dial_and_relay(ch, mapping.local_addr))
        # else: upstream logs "local addr is none" and leaves the channel unanswered


async def _dial_and_relay(ch: LegacyChannel, local_addr: str) -> None:
    host, port = _split_addr(local_addr)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), DIAL_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        ch.close()  # Close(sock_map)
        return
    await _trans_relay(ch, reader, writer)


async def _trans_relay(ch: LegacyChannel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Upstream TransStream.copy_wait: stop at the first end on either side, then send Close."""

    async def up() -> None:
        while data := await reader.read(LOCAL_READ):
            ch.write(data)
            await ch.drain()

    async def down() -> None:
        while data := await ch.read():
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        ch.close()


class LegacyServer(_Peer):
    """Upstream's center server: verifies the Token, stores mappings, proxies client channels."""

    role = "server"

    def __init__(self, bind: str | tuple[str, int] = "127.0.0.1:0", username: str | None = None,
                 password: str | None = None, ssl: ssl_mod.SSLContext | None = None) -> None:
        super().__init__(username, password)
        self.bind = _split_addr(bind)
        self.ssl = ssl
        self.links: list[_Link] = []
        self.refused = 0  # links dropped with "not verify so close"
        self._server: asyncio.base_events.Server | None = None
        self._link_event = asyncio.Event()

    async def start(self) -> "LegacyServer":
        self._server = await asyncio.start_server(self._accept, self.bind[0], self.bind[1], ssl=self.ssl)
        return self

    async def __aenter__(self) -> "LegacyServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def mappings(self) -> tuple[MappingEntry, ...]:
        """Mappings of the most recent live link that announced any."""
        for link in reversed(self.links):
            if link.got_mapping.is_set() and not link.ended.is_set():
                return link.mappings
        return ()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(self, reader, writer, first_id=2)
        link.verified = self.username is None and self.password is None
        self.links.append(link)
        self._link_event.set()
        await link.serve()  # ends when close() closes the link; never cancelled (asyncio would log it)

    def live_links(self) -> list[_Link]:
        return [ln for ln in self.links if not ln.ended.is_set()]

    async def wait_link(self, timeout: float = 10.0, *, verified: bool = True) -> _Link:
        """The first live link (verified, unless told otherwise) to appear."""
        async def waiter() -> _Link:
            while True:
                for ln in self.live_links():
                    if ln.verified or not verified:
                        return ln
                self._link_event.clear()
                await self._link_event.wait()
        return await asyncio.wait_for(waiter(), timeout)

    async def wait_mappings(self, timeout: float = 10.0) -> tuple[MappingEntry, ...]:
        """Mappings of the first link that sends a Mapping frame."""
        async def waiter() -> tuple[MappingEntry, ...]:
            while True:
                for ln in self.live_links():
                    if ln.got_mapping.is_set():
                        return ln.mappings
                self._link_event.clear()
                await self._link_event.wait()
        return await asyncio.wait_for(waiter(), timeout)

    def send_raw(self, data: bytes, link: _Link | None = None) -> None:
        """Test hook: put arbitrary bytes on a link (default: every live link)."""
        for ln in [link] if link else self.live_links():
            ln.send_raw(data)

    async def open_channel(self, domain: str, timeout: float = 10.0) -> LegacyChannel:
        """What upstream's http/tcp mapping listeners do: Create(domain) to the client, then relay."""
        link = await self.wait_link(timeout)
        for ln in self.live_links():
            if ln.verified and any(domain in (m.domain, m.name) for m in ln.mappings):
                link = ln
                break
        sock_map = link.alloc_id()
        ch = LegacyChannel(link, sock_map, relays_socket=True)
        link.channels[sock_map] = ch
        link.send(Create(sock_map=sock_map, domain=domain))
        await link.drain()
        return ch

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self.links:
            for ch in list(link.channels.values()):
                ch._on_close()
            link.close()
        await self._cancel_tasks()
        ends = [asyncio.ensure_future(ln.ended.wait()) for ln in self.links]
        if ends:
            _, pending = await asyncio.wait(ends, timeout=5)
            for t in pending:
                t.cancel()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass

    def _token_ok(self, t: Token) -> bool:
        # ProtToken::is_check_succ: each configured field must match
        if self.username is not None and self.username != t.username:
            return False
        if self.password is not None and self.password != t.password:
            return False
        return True

    async def _on_frame(self, link: _Link, frame: LegacyFrame) -> bool | None:
        if isinstance(frame, Token) and not link.verified and self._token_ok(frame):
            link.verified = True
            self._link_event.set()
            return None
        if not link.verified:
            link.send(Close(sock_map=0, reason=NOT_VERIFIED))
            self.refused += 1
            await link.drain()
            return False  # drop the link
        if isinstance(frame, Create):
            ch = LegacyChannel(link, frame.sock_map, relays_socket=False)
            link.channels[frame.sock_map] = ch
            self._spawn(serve_proxy(ch, self.username, self.password))
        elif isinstance(frame, (Data, Close)):
            self._route(link, frame)
        elif isinstance(frame, Mapping):
            link.mappings = frame.mappings
            link.got_mapping.set()
            self._link_event.set()
        elif isinstance(frame, Token):
            raise UpstreamPanic("Token frame on a verified link: unreachable!() (center_server)")
        return None


# ------------------------------------------------------------------ proxy handler (upstream ProxyServer)

async def serve_proxy(ch: LegacyChannel, username: str | None, password: str | None) -> None:
    """HTTP CONNECT, plain HTTP proxy or SOCKS5 CONNECT over a channel, relaying like
    tokio's copy_bidirectional over a VirtualStream (which never sends Close)."""
    try:
        first = await asyncio.wait_for(ch.read(), HANDSHAKE_TIMEOUT)
        if not first:
            return
        if first[0] == 5:
            ch.unread(first)
            target = await asyncio.wait_for(_socks5_handshake(ch, username, password), HANDSHAKE_TIMEOUT)
        else:
            ch.unread(first)
            target = await asyncio.wait_for(_http_handshake(ch, username, password), HANDSHAKE_TIMEOUT)
        if target is None:
            return
        reader, writer = target
        await _virtual_relay(ch, reader, writer)
    except (asyncio.TimeoutError, ConnectionError, OSError, ValueError, IndexError):
        return


async def _read_head(ch: LegacyChannel) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_REQUEST_HEAD:
            return None
        chunk = await ch.read()
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if rest:
        ch.unread(rest)
    return head


def _basic_ok(value: str, username: str | None, password: str | None) -> bool:
    # Upstream's check_basic_auth accepts if the user OR the password matches (sic).
    parts = value.split()
    if len(parts) < 2:
        return False
    try:
        user, _, pw = base64.b64decode(parts[1]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user == username or pw == password


async def _dial(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), DIAL_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return None


def _host_port(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = authority.rpartition(":")
    if not sep:
        return authority, default_port
    return host, int(port)


async def _http_handshake(ch: LegacyChannel, username: str | None, password: str | None):
    head = await _read_head(ch)
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = [ln.split(":", 1) for ln in lines[1:] if ":" in ln]
    hmap = {k.strip().lower(): v.strip() for k, v in headers}
    connect = method.upper() == "CONNECT"
    if connect:
        host, port = _host_port(target, 443)
    else:
        if not target.lower().startswith("http://"):
            ch.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return None
        authority, _, path = target[7:].partition("/")
        host, port = _host_port(authority, 80)
        target = "/" + path
    dialed = await _dial(host, port)  # upstream dials before it checks auth
    if dialed is None:
        ch.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        return None
    if username is not None and password is not None and not _basic_ok(
            hmap.get("proxy-authorization", ""), username, password):
        dialed[1].close()
        ch.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        return None
    if connect:
        ch.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    else:
        kept = [f"{k}:{v}" for k, v in headers if k.strip().lower() not in ("proxy-authorization", "proxy-connection")]
        dialed[1].write(("\r\n".join([f"{method} {target} {version}", *kept]) + "\r\n\r\n").encode("latin-1"))
    return dialed


async def _read_n(ch: LegacyChannel, n: int) -> bytes:
    data = await ch.read_exactly(n)
    if len(data) < n:
        raise ConnectionError("channel ended during the SOCKS5 handshake")
    return data


async def _socks5_handshake(ch: LegacyChannel, username: str | None, password: str | None):
    ver, n = await _read_n(ch, 2)
    methods = await _read_n(ch, n)
    need_auth = username is not None and password is not None
    method = (2 if 2 in methods else 0xFF) if need_auth else 0
    ch.write(bytes((5, method)))
    if method == 0xFF:
        return None
    if method == 2:
        if (await _read_n(ch, 1))[0] != 1:
            return None
        user = await _read_n(ch, (await _read_n(ch, 1))[0])
        pw = await _read_n(ch, (await _read_n(ch, 1))[0])
        if user != username.encode() or pw != password.encode():
            ch.write(b"\x01\x01")
            return None
        ch.write(b"\x01\x00")
    ver, cmd, _rsv, atyp = await _read_n(ch, 4)
    if atyp == 1:
        host = ".".join(str(b) for b in await _read_n(ch, 4))
    elif atyp == 3:
        host = (await _read_n(ch, (await _read_n(ch, 1))[0])).decode("utf-8", "replace")
    elif atyp == 4:
        raw = await _read_n(ch, 16)
        host = ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))
    else:
        return None
    port = struct.unpack(">H", await _read_n(ch, 2))[0]
    if cmd != 1:
        return None  # upstream: BIND unsupported, UDP needs udp_bind
    dialed = await _dial(host, port)
    ch.write(bytes((5, 0 if dialed else 1, 0, 1, 0, 0, 0, 0, 0, 0)))
    return dialed


async def _virtual_relay(ch: LegacyChannel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """copy_bidirectional: both directions run to EOF; the channel side never gets a Close."""

    async def up() -> None:  # target -> channel; at EOF VirtualStream.shutdown() is a no-op
        while data := await reader.read(8192):
            ch.write(data)
            await ch.drain()

    async def down() -> None:  # channel -> target
        while data := await ch.read():
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    try:
        await asyncio.gather(up(), down())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        ch.close()  # VirtualStream dropped: nothing is sent
