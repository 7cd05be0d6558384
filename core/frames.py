"""The wmproxy frame codec: pure functions over bytes, no I/O.

Layout (byte-compatible with upstream wmproxy's Rust encoder):

    header (12 bytes): length u24 BE | kind u8 | flag u8 | sock_map u24 BE | server_id u32 BE
    payload (length bytes), by kind:
      Data    0: raw bytes
      Create  1: u8 len + UTF-8 domain (len 0 = no domain)
      Close   2: short string reason
      Mapping 3: u16 count, per mapping: short name, short mode, short domain,
                 u16 header count, per header: u8 is_proxy, u8 oper, short key, short val
      Token   4: short username, short password
    short string = u8 length + UTF-8 bytes (max 255)

Kinds 5, 6 and 7 are our extensions (see core/PROTOCOL.md); they are only ever
sent to a peer that negotiated them, because upstream panics on unknown kinds.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Union

from .errors import ProtocolError

HEADER_LEN = 12
MAX_PAYLOAD = (1 << 24) - 1  # what a u24 length can say
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_HEADER = struct.Struct(">III")


class Kind(IntEnum):
    DATA = 0
    CREATE = 1
    CLOSE = 2
    MAPPING = 3
    TOKEN = 4
    # extensions, negotiated (never sent to a legacy peer)
    PING = 5
    WINDOW = 6
    STATUS = 7


MAX_KIND = Kind.STATUS
LEGACY_KINDS = frozenset({Kind.DATA, Kind.CREATE, Kind.CLOSE, Kind.MAPPING, Kind.TOKEN})


class Flag(IntFlag):
    NONE = 0
    ACK = 0x1
    CREATE = 0x2
    CLOSE = 0x4
    DATA = 0x8
    # Extension bits. Upstream's ProtFlag::new() maps any byte with an unknown
    # bit to zero, so a legacy peer silently ignores them (core/PROTOCOL.md).
    EOF = 0x40  # on Close: half-close (no more data from the sender)
    RST = 0x20  # on Close: the sender's end failed or was reset; abort yours (no clean end)
    PORTS = 0x40  # on Mapping: a block of per-mapping public ports follows
    OPTS = 0x20  # on Mapping: a block of per-mapping options follows (after the ports block)
    META = 0x40  # on Create: mode, public peer and public destination addresses follow the domain
    AGAIN = 0x20  # on Create (mapping option reuse): this open channel carries a new public connection
    EXT = 0x80  # on Token/Mapping from a client: "I speak the extensions"; on Create: extension channel


class HeaderOp(IntEnum):
    ADD = 1  # "+"
    DEL = 2  # "-"
    DEFAULT = 3  # "?"
    REPLACE = 4  # no sign


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """One header rewrite rule of an HTTP mapping (``[proxy] [+|-|?] key value``)."""

    is_proxy: bool
    oper: HeaderOp
    key: str
    val: str = ""


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """A mapping as it travels on the wire (local_addr stays on the client)."""

    name: str
    mode: str
    domain: str = ""
    headers: tuple[HeaderRule, ...] = ()


@dataclass(slots=True)
class Data:
    sock_map: int
    data: bytes | bytearray | memoryview
    flag: int = 0
    server_id: int = 0
    kind = Kind.DATA


@dataclass(slots=True)
class Create:
    """Open a channel. With flag ``META`` (extension ``meta``) the server also says which
    mapping mode the public connection arrived on and its real addresses (``host:port``)."""

    sock_map: int
    domain: str | None = None
    flag: int = 0
    server_id: int = 0
    mode: str = ""  # META: the public listener's mode (http, https, tcp, proxy)
    peer: str = ""  # META: the public client's address
    dest: str = ""  # META: the public address it connected to
    kind = Kind.CREATE


@dataclass(slots=True)
class Close:
    sock_map: int
    reason: str = ""
    flag: int = 0
    server_id: int = 0
    kind = Kind.CLOSE


@dataclass(slots=True)
class Mapping:
    mappings: tuple[MappingEntry, ...] = ()
    # extension: (mapping name, public port) pairs, encoded only when flag has PORTS
    ports: tuple[tuple[str, int], ...] = ()
    sock_map: int = 0
    flag: int = 0
    server_id: int = 0
    # extension: (mapping name, comma-separated options such as "h2"), encoded only when flag has OPTS
    options: tuple[tuple[str, str], ...] = ()
    kind = Kind.MAPPING


@dataclass(slots=True)
class Token:
    username: str
    password: str = field(repr=False)  # never in logs or exception text
    flag: int = 0
    sock_map: int = 0
    server_id: int = 0
    kind = Kind.TOKEN


@dataclass(slots=True)
class Ping:
    """Heartbeat (extension). ACK flag set = pong echoing ``nonce``."""

    nonce: int = 0
    flag: int = 0
    sock_map: int = 0
    server_id: int = 0
    kind = Kind.PING


@dataclass(slots=True)
class Window:
    """Flow-control credit for one channel (extension): peer may send ``increment`` more bytes."""

    sock_map: int
    increment: int
    flag: int = 0
    server_id: int = 0
    kind = Kind.WINDOW


@dataclass(frozen=True, slots=True)
class MappingState:
    """What the server made of one announced mapping (extension ``status``)."""

    name: str
    ok: bool
    port: int = 0  # the public port it is reachable on (0: none, or not known)
    message: str = ""  # why it was refused, or a note ("waiting for ... to disconnect")


@dataclass(slots=True)
class Status:
    """Server -> client on channel 0 (extension): the outcome of the client's mappings."""

    mappings: tuple[MappingState, ...] = ()
    flag: int = 0
    sock_map: int = 0
    server_id: int = 0
    kind = Kind.STATUS


Frame = Union[Data, Create, Close, Mapping, Token, Ping, Window, Status]


# ---------------------------------------------------------------- encoding

def _short(s: str, what: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise ProtocolError(f"{what} is {len(b)} bytes long; the wire allows at most 255")
    return bytes((len(b),)) + b


def cut_short(s: str) -> str:
    """``s`` cut to what a short string holds (255 UTF-8 bytes, never inside a character)."""
    b = s.encode("utf-8")
    return s if len(b) <= 255 else b[:255].decode("utf-8", "ignore")


def header(length: int, kind: int, flag: int, sock_map: int, server_id: int = 0) -> bytes:
    """The 12-byte frame header. Hot path for Data frames: kept allocation-light."""
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {length} bytes exceeds the 16 MiB frame limit")
    return _HEADER.pack(length << 8 | kind, flag << 24 | (sock_map & 0xFFFFFF), server_id)


def _payload(frame: Frame) -> bytes:
    if isinstance(frame, Create):
        domain = _short(frame.domain or "", "domain")
        if frame.flag & Flag.META:
            return b"".join((domain, _short(frame.mode, "mode"), _short(frame.peer, "peer address"),
                             _short(frame.dest, "destination address")))
        return domain
    if isinstance(frame, Close):
        return _short(frame.reason, "close reason")
    if isinstance(frame, Token):
        return _short(frame.username, "username") + _short(frame.password, "password")
    if isinstance(frame, Mapping):
        out = [_U16.pack(len(frame.mappings))]
        for m in frame.mappings:
            out += [_short(m.name, "mapping name"), _short(m.mode, "mapping mode"),
                    _short(m.domain, "mapping domain"), _U16.pack(len(m.headers))]
            for h in m.headers:
                out += [bytes((1 if h.is_proxy else 0, int(h.oper))),
                        _short(h.key, "header key"), _short(h.val, "header value")]
        if frame.flag & Flag.PORTS:
            out.append(_U16.pack(len(frame.ports)))
            for name, port in frame.ports:
                out += [_short(name, "mapping name"), _U16.pack(port)]
        if frame.flag & Flag.OPTS:
            out.append(_U16.pack(len(frame.options)))
            for name, opts in frame.options:
                out += [_short(name, "mapping name"), _short(opts, "mapping options")]
        return b"".join(out)
    if isinstance(frame, Ping):
        return _U64.pack(frame.nonce)
    if isinstance(frame, Window):
        return _U32.pack(frame.increment)
    if isinstance(frame, Status):
        out = [_U16.pack(len(frame.mappings))]
        for m in frame.mappings:
            out += [_short(m.name, "mapping name"), bytes((1 if m.ok else 0,)), _U16.pack(m.port),
                    _short(cut_short(m.message), "status message")]
        return b"".join(out)
    raise TypeError(f"not a frame: {frame!r}")


def encode(frame: Frame) -> bytes:
    """Encode one frame to bytes."""
    if isinstance(frame, Data):
        return header(len(frame.data), Kind.DATA, frame.flag, frame.sock_map, frame.server_id) + bytes(frame.data)
    payload = _payload(frame)
    return header(len(payload), frame.kind, frame.flag, frame.sock_map, frame.server_id) + payload


# ---------------------------------------------------------------- decoding

class _Reader:
    """Bounds-checked reads inside one payload; a short field is a ProtocolError."""

    __slots__ = ("buf", "pos", "kind")

    def __init__(self, buf: memoryview, kind: str) -> None:
        self.buf, self.pos, self.kind = buf, 0, kind

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > len(self.buf):
            raise ProtocolError(f"truncated {self.kind} frame: {what} needs {n} bytes, {len(self.buf) - self.pos} left")
        out = self.buf[self.pos:end]
        self.pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return _U16.unpack(self.take(2, what))[0]

    def short(self, what: str) -> str:
        raw = self.take(self.u8(what + " length"), what)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.kind} frame: {what} is not valid UTF-8") from None

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError(f"{self.kind} frame has {len(self.buf) - self.pos} trailing bytes")


def parse_header(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int, int, int, int]:
    """(length, kind, flag, sock_map, server_id) of the header at ``offset``."""
    a = int.from_bytes(buf[offset:offset + 4], "big")
    b = int.from_bytes(buf[offset + 4:offset + 8], "big")
    return a >> 8, a & 0xFF, b >> 24, b & 0xFFFFFF, _U32.unpack_from(buf, offset + 8)[0]


def decode_payload(kind: int, flag: int, sock_map: int, server_id: int, payload: memoryview) -> Frame:
    """Build the frame of ``kind`` from its complete payload."""
    if kind == Kind.DATA:
        return Data(sock_map, bytes(payload), flag, server_id)
    try:
        k = Kind(kind)
    except ValueError:
        raise ProtocolError(f"unknown frame kind {kind}") from None
    r = _Reader(payload, k.name.capitalize())
    if k == Kind.CREATE:
        domain = r.short("domain")
        mode = peer = dest = ""
        if flag & Flag.META:
            mode, peer, dest = r.short("mode"), r.short("peer address"), r.short("destination address")
        r.done()
        return Create(sock_map, domain or None, flag, server_id, mode, peer, dest)
    if k == Kind.CLOSE:
        reason = r.short("reason")
        r.done()
        return Close(sock_map, reason, flag, server_id)
    if k == Kind.TOKEN:
        user = r.short("username")
        pw = r.short("password")
        r.done()
        return Token(user, pw, flag, sock_map, server_id)
    if k == Kind.MAPPING:
        mappings = []
        for _ in range(r.u16("mapping count")):
            name, mode, domain = r.short("name"), r.short("mode"), r.short("domain")
            headers = []
            for _ in range(r.u16("header count")):
                is_proxy = r.u8("is_proxy") != 0
                op = r.u8("oper")
                oper = HeaderOp(op) if op in (1, 2, 3, 4) else HeaderOp.REPLACE
                headers.append(HeaderRule(is_proxy, oper, r.short("header key"), r.short("header value")))
            mappings.append(MappingEntry(name, mode, domain, tuple(headers)))
        ports = []
        if flag & Flag.PORTS:
            for _ in range(r.u16("port count")):
                ports.append((r.short("mapping name"), r.u16("port")))
        options = []
        if flag & Flag.OPTS:
            for _ in range(r.u16("options count")):
                options.append((r.short("mapping name"), r.short("mapping options")))
        r.done()
        return Mapping(tuple(mappings), tuple(ports), sock_map, flag, server_id, tuple(options))
    if k == Kind.PING:
        nonce = _U64.unpack(r.take(8, "nonce"))[0]
        r.done()
        return Ping(nonce, flag, sock_map, server_id)
    if k == Kind.STATUS:
        states = []
        for _ in range(r.u16("mapping count")):
            name = r.short("mapping name")
            ok = r.u8("ok") != 0
            states.append(MappingState(name, ok, r.u16("port"), r.short("status message")))
        r.done()
        return Status(tuple(states), flag, sock_map, server_id)
    inc = _U32.unpack(r.take(4, "increment"))[0]
    r.done()
    return Window(sock_map, inc, flag, server_id)


def decode(buf: bytes | bytearray | memoryview, max_payload: int = MAX_PAYLOAD) -> tuple[Frame, int] | None:
    """Decode the first frame in ``buf``.

    Returns ``(frame, bytes_consumed)``, or ``None`` when more bytes are needed.
    Raises ProtocolError for an unknown kind, an over-long length (checked from
    the header alone, before anything is buffered) or a malformed payload.
    """
    if len(buf) < HEADER_LEN:
        return None
    length, kind, flag, sock_map, server_id = parse_header(buf)
    if kind > MAX_KIND:
        raise ProtocolError(f"unknown frame kind {kind}")
    if length > max_payload:
        raise ProtocolError(f"frame of {length} bytes exceeds the {max_payload}-byte limit")
    end = HEADER_LEN + length
    if len(buf) < end:
        return None
    with memoryview(buf) as mv:
        return decode_payload(kind, flag, sock_map, server_id, mv[HEADER_LEN:end]), end


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames out.

    Memory is bounded: at most one partial frame (<= max_payload + 12 bytes)
    is buffered, and a bad header is refused before its payload is awaited.
    """

    __slots__ = ("_buf", "max_payload")

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos = 0
        n = len(buf)
        with memoryview(buf) as mv:
            while n - pos >= HEADER_LEN:
                length, kind, flag, sock_map, server_id = parse_header(mv, pos)
                if kind > MAX_KIND:
                    raise ProtocolError(f"unknown frame kind {kind}")
                if length > self.max_payload:
                    raise ProtocolError(f"frame of {length} bytes exceeds the {self.max_payload}-byte limit")
                end = pos + HEADER_LEN + length
                if end > n:
                    break
                frames.append(decode_payload(kind, flag, sock_map, server_id, mv[pos + HEADER_LEN:end]))
                pos = end
        if pos:
            del buf[:pos]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)


class StreamDecoder:
    """Incremental decoder for the link's hot path: Data payloads pass through as they arrive.

    Same wire, same checks and same bounds as ``FrameDecoder``, but a Data
    frame is not buffered until complete: each received chunk yields a
    ``Data`` piece for the part of the payload it holds (so one frame may come
    out as several pieces, in order; an empty frame as one empty piece).
    Pieces of ``SLICE_MIN`` bytes or more are memoryview slices of what was
    fed; smaller ones are copied (cheaper than a view). A slice keeps its
    whole buffer alive, so whoever holds a piece past the call should keep
    ``bytes(piece)`` instead (core/channel.py does). Only headers and the
    other, small frames are ever buffered.
    """

    SLICE_MIN = 2048

    __slots__ = ("_buf", "_left", "_sock_map", "_flag", "_server_id", "max_payload", "parked")

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()  # a partial header, or a partial non-Data frame (header included)
        self.parked = b""  # bytes after the last frame ``feed(max_frames=...)`` returned
        self._left = 0  # payload bytes of the current Data frame still to come
        self._sock_map = self._flag = self._server_id = 0
        self.max_payload = max_payload

    def _header(self, buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int, int, int, int]:
        h = parse_header(buf, pos)
        if h[1] > MAX_KIND:
            raise ProtocolError(f"unknown frame kind {h[1]}")
        if h[0] > self.max_payload:
            raise ProtocolError(f"frame of {h[0]} bytes exceeds the {self.max_payload}-byte limit")
        return h

    def feed(self, data: bytes | bytearray | memoryview, *, stable: bool = False,
             max_frames: int | None = None) -> list[Frame]:
        """Frames and Data pieces in ``data``. ``stable``: the caller never writes to the memory
        behind ``data`` again, so pieces may slice it (otherwise it is copied first, unless bytes).

        ``max_frames``: stop after that many frames and keep the rest in ``parked`` (the next
        ``feed`` starts with it): a link that has not logged in yet decodes its first frame alone,
        so the limits that apply to what follows can change in between.
        """
        if self.parked:
            data = self.parked + bytes(data)
            self.parked = b""
        elif not stable and type(data) is not bytes:
            data = bytes(data)  # pieces must not see a buffer that changes later
        out: list[Frame] = []
        n = len(data)
        pos = 0
        buf = self._buf
        mv: memoryview | None = None
        while pos < n:
            if max_frames is not None and len(out) >= max_frames:
                self.parked = bytes(data[pos:])
                break
            left = self._left
            if left:  # inside a Data payload: pass on what this chunk holds
                take = n - pos if n - pos < left else left
                if take == n and type(data) is bytes:
                    piece: bytes | memoryview = data
                elif take >= self.SLICE_MIN:
                    if mv is None:
                        mv = memoryview(data)
                    piece = mv[pos:pos + take]
                else:
                    piece = bytes(data[pos:pos + take])
                out.append(Data(self._sock_map, piece, self._flag, self._server_id))
                self._left = left - take
                pos += take
                continue
            if buf:  # completing a header or a small frame begun in an earlier chunk
                have = len(buf)
                if have < HEADER_LEN:
                    k = min(HEADER_LEN - have, n - pos)
                    buf += data[pos:pos + k]
                    pos += k
                    if len(buf) < HEADER_LEN:
                        break
                length, kind, flag, sock_map, server_id = self._header(buf, 0)
                if kind == Kind.DATA:
                    del buf[:]
                    self._start_data(out, length, flag, sock_map, server_id)
                    continue
                end = HEADER_LEN + length
                k = min(end - len(buf), n - pos)
                buf += data[pos:pos + k]
                pos += k
                if len(buf) == end:
                    with memoryview(buf) as bmv:
                        out.append(decode_payload(kind, flag, sock_map, server_id, bmv[HEADER_LEN:end]))
                    del buf[:]
                continue
            if n - pos < HEADER_LEN:
                buf += data[pos:]
                break
            length, kind, flag, sock_map, server_id = self._header(data, pos)
            pos += HEADER_LEN
            if kind == Kind.DATA:
                self._start_data(out, length, flag, sock_map, server_id)
                continue
            end = pos + length
            if end <= n:
                if mv is None:
                    mv = memoryview(data)
                out.append(decode_payload(kind, flag, sock_map, server_id, mv[pos:end]))
                pos = end
            else:
                buf += data[pos - HEADER_LEN:]
                break
        return out

    def _start_data(self, out: list[Frame], length: int, flag: int, sock_map: int, server_id: int) -> None:
        if length == 0:
            out.append(Data(sock_map, b"", flag, server_id))
        else:
            self._left = length
            self._sock_map, self._flag, self._server_id = sock_map, flag, server_id

    @property
    def buffered(self) -> int:
        """Bytes held back (headers and small frames only; Data payloads are never held)."""
        return len(self._buf)
