"""A small byte-stream interface shared by sockets and tunnel channels.

Protocol handlers (SOCKS5, HTTP proxy, HTTP mapping routing) are written once
against ``ByteStream`` and work the same over a local TCP socket, a TLS
socket, or a channel multiplexed over the center link.
"""
from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

READ_CHUNK = 256 * 1024


@runtime_checkable
class ByteStream(Protocol):
    """What a protocol handler needs from a connection."""

    peer: str  # "host:port" of the other end, for logs and stats

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        """Up to ``max_bytes`` bytes; ``b""`` at end of stream."""

    def unread(self, data: bytes) -> None:
        """Push bytes back so the next read() returns them first."""

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    async def drain(self) -> None:
        """Wait until the write buffer is below its limit (backpressure)."""

    def write_eof(self) -> None:
        """Half-close: no more writes, reads go on."""

    def close(self, reason: str = "") -> None: ...

    def abort(self, reason: str = "reset") -> None:
        """Close with a reset (the other side of a relay failed)."""

    async def wait_closed(self) -> None: ...


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (RST), not a FIN: the peer must see a failure, never a clean end.

    ``transport.abort()`` alone only drops asyncio's buffer; the kernel would still end the
    stream with a FIN after what it has queued. SO_LINGER with a zero timeout makes it a reset.
    """
    import socket
    import struct

    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, ValueError):
            pass
    transport.abort()


def format_addr(addr: object) -> str:
    """``('::1', 80, 0, 0)`` -> ``[::1]:80``; anything else via str()."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


class TcpStream:
    """ByteStream over asyncio's StreamReader/StreamWriter (TCP or TLS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = format_addr(writer.get_extra_info("peername"))
        self.local = format_addr(writer.get_extra_info("sockname"))  # the address the peer connected to
        self._pushback = b""

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 10.0, **kw: object) -> "TcpStream":
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port, limit=READ_CHUNK, **kw), timeout)
        return cls(r, w)

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        if self._pushback:
            data, self._pushback = self._pushback[:max_bytes], self._pushback[max_bytes:]
            return data
        return await self.reader.read(max_bytes)  # a reset raises: it must not pass for an end

    def unread(self, data: bytes) -> None:
        self._pushback = bytes(data) + self._pushback

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        """Raises ConnectionError once the peer is gone, so relays stop reading the other side."""
        if self.writer.is_closing():
            raise ConnectionResetError(f"connection to {self.peer} is closed")
        await self.writer.drain()

    def write_eof(self) -> None:
        try:
            if self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()
        except (OSError, RuntimeError):
            pass

    def close(self, reason: str = "") -> None:
        self.writer.close()

    def abort(self, reason: str = "reset") -> None:
        reset_transport(self.writer.transport)

    async def wait_closed(self) -> None:
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def _pump(src: ByteStream, dst: ByteStream) -> None:
    while True:
        data = await src.read()
        if not data:
            dst.write_eof()
            return
        dst.write(data)
        await dst.drain()


async def relay(a: ByteStream, b: ByteStream) -> None:
    """Copy both ways until both directions reach EOF, then close both; when either side fails
    (a reset, an error), abort both, so the failure reaches the other end as a reset."""
    ok = False
    try:
        await asyncio.gather(_pump(a, b), _pump(b, a))
        ok = True
    except (ConnectionError, OSError):
        pass
    finally:
        for s in (a, b):
            if ok:
                s.close()
            else:
                s.abort()
