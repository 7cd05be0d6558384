"""The PROXY protocol (HAProxy), versions 1 and 2, as pure functions over bytes.

A load balancer in front of the server's public ports (``send-proxy`` /
``send-proxy-v2``) starts each connection with a header naming the real
client; the server believes it only from peers in ``trusted_proxies``
(``core/mapping.py``). Towards a local service, a mapping with
``proxy_protocol`` sends one, so nginx, HAProxy or PostgreSQL behind the
tunnel see the real client too (``core/client.py``).

Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from .errors import WmproxyError

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the whole v1 line, CRLF included
V2_MAX = 16 + 2048  # what we accept: addresses plus a few TLVs (the spec allows up to 64 KiB)


class ProxyProtocolError(WmproxyError):
    """Not a valid PROXY header (from a peer that must send one)."""


@dataclass(frozen=True)
class ProxyHeader:
    """What a PROXY header says. ``src``/``dst`` are None for LOCAL (v2) and UNKNOWN (v1):
    a health check or a connection the balancer made itself; use the socket's addresses."""

    src: tuple[str, int] | None
    dst: tuple[str, int] | None
    version: int


def parse(buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
    """The header at the start of ``buf`` and its length, None until it is complete.

    Raises ProxyProtocolError for anything that is not a PROXY header.
    """
    if buf[:1] == b"\r":
        if len(buf) < 16:
            if not V2_SIGNATURE.startswith(bytes(buf[:12])):
                raise ProxyProtocolError("not a PROXY protocol header")
            return None
        return _parse_v2(buf)
    if not buf[:6] == V1_PREFIX[:len(buf[:6])]:
        raise ProxyProtocolError("not a PROXY protocol header")
    end = bytes(buf[:V1_MAX]).find(b"\r\n")
    if end < 0:
        if len(buf) >= V1_MAX:
            raise ProxyProtocolError("PROXY v1 line longer than 107 bytes")
        return None
    return _parse_v1(bytes(buf[:end])), end + 2


def _parse_v1(line: bytes) -> ProxyHeader:
    parts = line.decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(None, None, 1)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"malformed PROXY v1 line {line[:60]!r}")
    _, fam, src, dst, sport, dport = parts
    try:
        sip, dip = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        ports = int(sport), int(dport)
    except ValueError:
        raise ProxyProtocolError(f"malformed PROXY v1 addresses {line[:60]!r}") from None
    want = 4 if fam == "TCP4" else 6
    if sip.version != want or dip.version != want or not all(p.isdigit() and int(p) <= 65535 for p in (sport, dport)):
        raise ProxyProtocolError(f"malformed PROXY v1 addresses {line[:60]!r}")
    return ProxyHeader((str(sip), ports[0]), (str(dip), ports[1]), 1)


def _parse_v2(buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
    if bytes(buf[:12]) != V2_SIGNATURE:
        raise ProxyProtocolError("not a PROXY protocol header")
    ver_cmd, fam, length = buf[12], buf[13], struct.unpack(">H", bytes(buf[14:16]))[0]
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header with version {ver_cmd >> 4}")
    if 16 + length > V2_MAX:
        raise ProxyProtocolError(f"PROXY v2 header of {16 + length} bytes (at most {V2_MAX})")
    if len(buf) < 16 + length:
        return None
    body = bytes(buf[16:16 + length])
    cmd = ver_cmd & 0xF
    if cmd == 0:  # LOCAL: the balancer's own connection (health check)
        return ProxyHeader(None, None, 2), 16 + length
    if cmd != 1:
        raise ProxyProtocolError(f"PROXY v2 command {cmd}")
    af, proto = fam >> 4, fam & 0xF
    if proto != 1 or af not in (1, 2):  # TCP over IPv4 / IPv6 only (UNSPEC: treat as LOCAL)
        if af == 0:
            return ProxyHeader(None, None, 2), 16 + length
        raise ProxyProtocolError(f"PROXY v2 family {af}/{proto} is not TCP over IP")
    size = 12 if af == 1 else 36
    if len(body) < size:
        raise ProxyProtocolError("PROXY v2 header too short for its addresses")
    n = 4 if af == 1 else 16
    sip = str(ipaddress.ip_address(body[:n]))
    dip = str(ipaddress.ip_address(body[n:2 * n]))
    sport, dport = struct.unpack(">HH", body[2 * n:2 * n + 4])
    return ProxyHeader((sip, sport), (dip, dport), 2), 16 + length


def _addr(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    """``1.2.3.4:5`` / ``[::1]:5`` -> (ip, port); None if it is not an IP address with a port."""
    host, _, port = text.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip, int(port)
    except ValueError:
        return None


def encode(version: int, src: str, dst: str) -> bytes:
    """A PROXY header for a connection from ``src`` to ``dst`` (``host:port`` text, as the
    tunnel carries them); LOCAL / UNKNOWN when either is missing or not an address."""
    s, d = _addr(src), _addr(dst)
    if s is not None and d is not None and s[0].version != d[0].version:
        d = None  # mixed families cannot be said: say nothing rather than something wrong
    if version == 1:
        if s is None or d is None:
            return b"PROXY UNKNOWN\r\n"
        fam = "TCP4" if s[0].version == 4 else "TCP6"
        return f"PROXY {fam} {s[0]} {d[0]} {s[1]} {d[1]}\r\n".encode("ascii")
    if version != 2:
        raise ValueError(f"PROXY protocol version {version}")
    if s is None or d is None:
        return V2_SIGNATURE + bytes((0x20, 0x00)) + struct.pack(">H", 0)  # LOCAL
    if s[0].version == 4:
        body = s[0].packed + d[0].packed + struct.pack(">HH", s[1], d[1])
        return V2_SIGNATURE + bytes((0x21, 0x11)) + struct.pack(">H", len(body)) + body
    body = s[0].packed + d[0].packed + struct.pack(">HH", s[1], d[1])
    return V2_SIGNATURE + bytes((0x21, 0x21)) + struct.pack(">H", len(body)) + body

