"""Sans-io SOCKS5 server state machine (RFC 1928) with user/pass auth (RFC 1929).

Only CONNECT is served. BIND and UDP ASSOCIATE are answered with 0x07
"command not supported": UDP relaying is out of scope for this product.

Use: ``sm = Socks5Server(check)``; ``req = sm.feed(data)`` until it returns
a :class:`Socks5Request`, sending ``sm.take_output()`` after every feed;
then send ``build_reply(code)``. Bytes after the request (a client that
talks before the reply) are in ``sm.rest``. A :class:`Socks5Error` carries
the bytes to send (maybe empty) before closing.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Callable

from .errors import WmproxyError

VERSION = 5
NO_AUTH, GSSAPI, USER_PASS, NO_ACCEPTABLE = 0x00, 0x01, 0x02, 0xFF
CMD_CONNECT, CMD_BIND, CMD_UDP_ASSOCIATE = 1, 2, 3
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4

# reply codes (RFC 1928 section 6)
SUCCEEDED = 0x00
GENERAL_FAILURE = 0x01
NOT_ALLOWED = 0x02
NETWORK_UNREACHABLE = 0x03
HOST_UNREACHABLE = 0x04
CONNECTION_REFUSED = 0x05
TTL_EXPIRED = 0x06
COMMAND_NOT_SUPPORTED = 0x07
ADDRESS_TYPE_NOT_SUPPORTED = 0x08

REPLY_TEXT = {
    SUCCEEDED: "succeeded",
    GENERAL_FAILURE: "general SOCKS server failure",
    NOT_ALLOWED: "connection not allowed by ruleset",
    NETWORK_UNREACHABLE: "network unreachable",
    HOST_UNREACHABLE: "host unreachable",
    CONNECTION_REFUSED: "connection refused",
    TTL_EXPIRED: "TTL expired",
    COMMAND_NOT_SUPPORTED: "command not supported",
    ADDRESS_TYPE_NOT_SUPPORTED: "address type not supported",
}

_GREETING, _AUTH, _REQUEST, _DONE, _FAILED = "greeting", "auth", "request", "done", "failed"


class Socks5Error(WmproxyError):
    """The client's SOCKS5 is unusable or refused; send ``reply`` then close."""

    def __init__(self, message: str, reply: bytes = b"") -> None:
        self.reply = reply
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Socks5Request:
    cmd: int
    host: str  # IP literal (no brackets) or domain name
    port: int
    atyp: int
    username: str | None = None  # who authenticated, if anyone


def build_reply(code: int, host: str = "0.0.0.0", port: int = 0) -> bytes:
    """A request reply: ``05 code 00 atyp addr port``."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raw = host.encode("utf-8")[:255]
        return bytes((VERSION, code, 0, ATYP_DOMAIN, len(raw))) + raw + struct.pack("!H", port)
    atyp = ATYP_IPV4 if ip.version == 4 else ATYP_IPV6
    return bytes((VERSION, code, 0, atyp)) + ip.packed + struct.pack("!H", port)


class Socks5Server:
    """Server side of one SOCKS5 handshake.

    ``check(username, password) -> bool`` enables RFC 1929 auth (required);
    without it "no auth" is chosen, or user/pass with any credentials when
    the client offers only that (curl --proxy-user against an open proxy).
    """

    def __init__(self, check: Callable[[str, str], bool] | None = None) -> None:
        self.check = check
        self.state = _GREETING
        self.buf = bytearray()
        self.out = bytearray()
        self.rest = b""
        self.username: str | None = None
        self.method: int | None = None

    def take_output(self) -> bytes:
        out, self.out = bytes(self.out), bytearray()
        return out

    def feed(self, data: bytes) -> Socks5Request | None:
        """Advance with ``data``; the request once complete, else None (need more)."""
        if self.state in (_DONE, _FAILED):
            raise Socks5Error(f"SOCKS5 handshake already {self.state}")
        self.buf += data
        try:
            while True:
                if self.state == _GREETING:
                    if not self._greeting():
                        return None
                elif self.state == _AUTH:
                    if not self._auth():
                        return None
                else:
                    return self._request()
        except Socks5Error:
            self.state = _FAILED
            raise

    # ---- steps; each returns False when it needs more bytes
    def _greeting(self) -> bool:
        b = self.buf
        if not b:
            return False
        if b[0] != VERSION:
            raise Socks5Error(f"not SOCKS5 (version byte {b[0]:#04x})")
        if len(b) < 2 or len(b) < 2 + b[1]:
            return False
        n = b[1]
        methods = set(b[2 : 2 + n])
        del b[: 2 + n]
        if self.check is not None:
            chosen = USER_PASS if USER_PASS in methods else NO_ACCEPTABLE
        elif NO_AUTH in methods:
            chosen = NO_AUTH
        elif USER_PASS in methods:
            chosen = USER_PASS
        else:
            chosen = NO_ACCEPTABLE
        if chosen == NO_ACCEPTABLE:
            why = "client does not offer username/password auth" if self.check else "no acceptable auth method offered"
            raise Socks5Error(why, bytes((VERSION, NO_ACCEPTABLE)))
        self.method = chosen
        self.out += bytes((VERSION, chosen))
        self.state = _AUTH if chosen == USER_PASS else _REQUEST
        return True

    def _auth(self) -> bool:
        b = self.buf
        if not b:
            return False
        if b[0] != 0x01:
            raise Socks5Error(f"bad auth sub-negotiation version {b[0]:#04x}", b"\x01\x01")
        if len(b) < 2:
            return False
        ulen = b[1]
        if len(b) < 3 + ulen:
            return False
        plen = b[2 + ulen]
        end = 3 + ulen + plen
        if len(b) < end:
            return False
        user = bytes(b[2 : 2 + ulen]).decode("utf-8", "replace")
        password = bytes(b[3 + ulen : end]).decode("utf-8", "replace")
        del b[:end]
        if self.check is not None and not self.check(user, password):
            raise Socks5Error(f"wrong username or password for user {user!r}", b"\x01\x01")
        self.username = user
        self.out += b"\x01\x00"
        self.state = _REQUEST
        return True

    def _request(self) -> Socks5Request | None:
        b = self.buf
        if len(b) < 5:
            if b and b[0] != VERSION:
                raise Socks5Error(f"bad request version {b[0]:#04x}", build_reply(GENERAL_FAILURE))
            return None
        if b[0] != VERSION:
            raise Socks5Error(f"bad request version {b[0]:#04x}", build_reply(GENERAL_FAILURE))
        cmd, atyp = b[1], b[3]
        if atyp == ATYP_IPV4:
            end = 4 + 4 + 2
        elif atyp == ATYP_IPV6:
            end = 4 + 16 + 2
        elif atyp == ATYP_DOMAIN:
            end = 5 + b[4] + 2
        else:
            raise Socks5Error(f"address type {atyp:#04x} not supported", build_reply(ADDRESS_TYPE_NOT_SUPPORTED))
        if len(b) < end:
            return None
        if atyp == ATYP_IPV4:
            host = str(ipaddress.IPv4Address(bytes(b[4:8])))
        elif atyp == ATYP_IPV6:
            host = str(ipaddress.IPv6Address(bytes(b[4:20])))
        else:
            raw = bytes(b[5 : end - 2])
            try:
                host = raw.decode("ascii") if raw.isascii() else raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Socks5Error("undecodable domain name", build_reply(HOST_UNREACHABLE)) from None
            if not host or any(c in host for c in "\x00\r\n /"):
                raise Socks5Error(f"bad domain name {host[:60]!r}", build_reply(HOST_UNREACHABLE))
        (port,) = struct.unpack("!H", b[end - 2 : end])
        self.rest = bytes(b[end:])
        b.clear()
        if cmd != CMD_CONNECT:
            name = {CMD_BIND: "BIND", CMD_UDP_ASSOCIATE: "UDP ASSOCIATE"}.get(cmd, f"command {cmd:#04x}")
            raise Socks5Error(f"{name} not supported (only CONNECT)", build_reply(COMMAND_NOT_SUPPORTED))
        self.state = _DONE
        return Socks5Request(cmd, host, port, atyp, self.username)


# ---------------------------------------------------------------- client side (tests, tools)
def client_greeting(methods: tuple[int, ...] = (NO_AUTH,)) -> bytes:
    return bytes((VERSION, len(methods), *methods))


def client_auth(username: str, password: str) -> bytes:
    u, p = username.encode(), password.encode()
    return bytes((1, len(u))) + u + bytes((len(p),)) + p


def client_request(host: str, port: int, cmd: int = CMD_CONNECT) -> bytes:
    return bytes((VERSION, cmd)) + build_reply(0, host, port)[2:]


def parse_reply(buf: bytes) -> tuple[int, str, int, int] | None:
    """(code, bound host, bound port, bytes used) of a request reply, or None if incomplete."""
    if len(buf) < 5:
        return None
    atyp = buf[3]
    alen = {ATYP_IPV4: 4, ATYP_IPV6: 16}.get(atyp, buf[4] + 1 if atyp == ATYP_DOMAIN else -1)
    if alen < 0:
        raise Socks5Error(f"bad address type {atyp:#04x} in reply")
    end = 4 + alen + 2
    if len(buf) < end:
        return None
    if atyp == ATYP_DOMAIN:
        host = bytes(buf[5 : end - 2]).decode("utf-8", "replace")
    else:
        host = str(ipaddress.ip_address(bytes(buf[4 : 4 + alen])))
    return buf[1], host, struct.unpack("!H", buf[end - 2 : end])[0], end
