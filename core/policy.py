"""Which targets a proxy may dial, and dialing them.

Rule syntax (``allow_targets`` / ``deny_targets`` entries)::

    10.0.0.0/8            a network, every port (a bare IP is /32 or /128)
    10.1.2.3:443          one port
    192.168.0.0/16:8000-8999   a port range
    ::1   fe80::/10       IPv6 without port: written bare
    [2001:db8::/32]:443   IPv6 with port: network in brackets
    *   *:443             every address (IPv4 and IPv6), optionally by port

Rules name addresses, not host names: names are resolved first (on the
server, so remote DNS) and every resolved address is checked, which stops a
name pointing at 127.0.0.1 from reaching the server's loopback.
IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are checked as the IPv4
address they carry.

Precedence, first match wins:
explicit deny > explicit allow > default deny > (allow list given: deny) > allow.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Iterable

from .errors import ConfigError, WmproxyError
from .streams import TcpStream

log = logging.getLogger("wmproxy.policy")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (network, why) refused unless an allow entry names them
DEFAULT_DENY: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local / cloud metadata"),
    ("fe80::/10", "link-local"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
)


# ---------------------------------------------------------------- errors
class DialError(WmproxyError):
    """Reaching a target failed; ``kind`` picks the answer code.

    kinds: denied, refused, network, host, timeout, dns, failed.
    Dialers of other modules (a tunnel channel...) may raise it too.
    """

    kind = "failed"

    def __init__(self, message: str, kind: str | None = None) -> None:
        if kind:
            self.kind = kind
        super().__init__(message)


class TargetDenied(DialError):
    """The policy refuses every address of the target."""

    kind = "denied"


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line reason) for any dial failure, for SOCKS5 codes and HTTP statuses."""
    kind = getattr(exc, "kind", None)  # DialError, http_proxy.ProxyConnectError, engine errors
    if isinstance(kind, str) and kind:
        return kind, str(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout", "connect timed out"
    if isinstance(exc, socket.gaierror):
        return "dns", f"name not resolved ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENETUNREACH, errno.ENETDOWN):
            return "network", "network unreachable"
        if exc.errno in (errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.EADDRNOTAVAIL):
            return "host", "host unreachable"
        if exc.errno == errno.ETIMEDOUT:
            return "timeout", "connect timed out"
        return "failed", exc.strerror or str(exc) or type(exc).__name__
    return "failed", str(exc) or type(exc).__name__


# ---------------------------------------------------------------- rules
@dataclass(frozen=True, slots=True)
class Rule:
    text: str
    network: IPNetwork
    low: int = 0
    high: int = 65535

    def matches(self, ip: IPAddress, port: int) -> bool:
        return self.low <= port <= self.high and ip.version == self.network.version and ip in self.network


def _ports(text: str, rule: str) -> tuple[int, int]:
    lo_s, sep, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
    except ValueError:
        raise ConfigError(f"bad port {text!r} in target rule {rule!r} (want PORT or LOW-HIGH)") from None
    if not (0 <= lo <= hi <= 65535):
        raise ConfigError(f"bad port range {text!r} in target rule {rule!r} (0-65535, low <= high)")
    return lo, hi


def _network(text: str, rule: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(
            f"target rule {rule!r}: {text!r} is not an IP network "
            "(write 10.0.0.0/8, 1.2.3.4:80, ::1, [2001:db8::/32]:443 or *:443)"
        ) from None


def parse_rule(text: str) -> list[Rule]:
    """One rule string -> its rules (``*`` gives an IPv4 and an IPv6 rule)."""
    t = text.strip()
    if not t:
        raise ConfigError("empty target rule")
    port_s = ""
    if t.startswith("["):
        close = t.find("]")
        if close < 0:
            raise ConfigError(f"target rule {text!r}: missing ']'")
        net_s, rest = t[1:close], t[close + 1 :]
        if rest:
            if not rest.startswith(":") or len(rest) == 1:
                raise ConfigError(f"target rule {text!r}: expected ':PORT' after ']'")
            port_s = rest[1:]
    elif t.count(":") == 1:  # IPv4 or '*' with port
        net_s, port_s = t.split(":")
        if not port_s:
            raise ConfigError(f"target rule {text!r}: expected a port after ':'")
    else:  # IPv4 without port, or bare IPv6 (several colons, no port)
        net_s = t
    lo, hi = _ports(port_s, text) if port_s else (0, 65535)
    if net_s == "*":
        nets: list[IPNetwork] = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    else:
        nets = [_network(net_s, text)]
    return [Rule(text, _normalize_net(n), lo, hi) for n in nets]


def _normalize_net(n: IPNetwork) -> IPNetwork:
    """::ffff:a.b.c.d/N (N >= 96) is the IPv4 network it maps."""
    if isinstance(n, ipaddress.IPv6Network) and n.prefixlen >= 96:
        mapped = n.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(f"{mapped}/{n.prefixlen - 96}", strict=False)
    return n


def normalize_ip(ip: str | IPAddress) -> IPAddress:
    """An address as policy sees it (IPv4-mapped IPv6 -> IPv4, zone id dropped)."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


# ---------------------------------------------------------------- policy
class TargetPolicy:
    """Allow/deny decisions for proxy targets (see module doc for syntax and precedence)."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = (), default_deny: bool = True) -> None:
        self.allow = [r for t in allow for r in parse_rule(t)]
        self.deny = [r for t in deny for r in parse_rule(t)]
        self.default_deny = default_deny
        self._defaults = [(_normalize_net(ipaddress.ip_network(n)), why) for n, why in DEFAULT_DENY]

    def __repr__(self) -> str:
        return (
            f"TargetPolicy(allow={[r.text for r in self.allow]}, deny={[r.text for r in self.deny]}, "
            f"default_deny={self.default_deny})"
        )

    def why_denied(self, ip: str | IPAddress, port: int) -> str | None:
        """None if allowed, else the reason (for logs and error bodies)."""
        try:
            addr = normalize_ip(ip)
        except ValueError:
            return f"not an IP address: {str(ip)[:60]!r}"
        for r in self.deny:
            if r.matches(addr, port):
                return f"denied by rule {r.text!r}"
        for r in self.allow:
            if r.matches(addr, port):
                return None
        if self.default_deny:
            for net, why in self._defaults:
                if addr.version == net.version and addr in net:
                    return f"denied by default ({why})"
        if self.allow:
            return "not in allow_targets"
        return None

    def check(self, ip: str | IPAddress, port: int) -> bool:
        return self.why_denied(ip, port) is None

    async def resolve(
        self, host: str, port: int, loop: asyncio.AbstractEventLoop | None = None
    ) -> list[tuple[int, str]]:
        """Allowed (family, ip) addresses of ``host``; TargetDenied if none is allowed."""
        addrs = await resolve_all(host, port, loop)
        ok: list[tuple[int, str]] = []
        refused: list[tuple[str, str]] = []
        for fam, ip in addrs:
            why = self.why_denied(ip, port)
            if why is None:
                ok.append((fam, ip))
            else:
                refused.append((ip, why))
        if not ok:
            ips = ", ".join(ip for ip, _ in refused[:3]) + (", ..." if len(refused) > 3 else "")
            target = f"{host}:{port}"
            log.warning("refused target %s (%s): %s", target, ips, refused[0][1])
            raise TargetDenied(f"target {target} refused: {refused[0][1]}")
        if refused:
            log.debug("target %s:%s: skipped denied addresses %s", host, port, [ip for ip, _ in refused])
        return ok


async def resolve_all(host: str, port: int, loop: asyncio.AbstractEventLoop | None = None) -> list[tuple[int, str]]:
    """(family, ip) of ``host`` in resolver order, duplicates dropped; IP literals skip DNS."""
    h = host.strip("[]")
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
        return [(socket.AF_INET if ip.version == 4 else socket.AF_INET6, h)]
    except ValueError:
        pass
    if not h or len(h) > 253:
        raise DialError(f"bad host name {host[:60]!r}", "dns")
    loop = loop or asyncio.get_running_loop()
    infos = await loop.getaddrinfo(h, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for fam, _t, _p, _c, sa in infos:
        if fam in (socket.AF_INET, socket.AF_INET6) and sa[0] not in seen:
            seen.add(sa[0])
            out.append((fam, sa[0]))
    if not out:
        raise DialError(f"{host} has no IPv4/IPv6 address", "dns")
    return out


async def dial(host: str, port: int, policy: TargetPolicy | None, timeout: float = 10.0) -> TcpStream:
    """Connect to ``host:port`` (policy-checked), trying each allowed address in turn.

    Raises TargetDenied, DialError(kind="dns"), TimeoutError, or the last
    connect error (ConnectionRefusedError, OSError); see :func:`classify`.
    """
    deadline = time.monotonic() + timeout
    try:
        async with asyncio.timeout(timeout):
            addrs = await policy.resolve(host, port) if policy else await resolve_all(host, port)
    except socket.gaierror as e:
        raise DialError(f"cannot resolve {host}: {e.strerror or e}", "dns") from None
    last: BaseException | None = None
    for _fam, ip in addrs:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            return await TcpStream.connect(ip, port, timeout=left)
        except (OSError, asyncio.TimeoutError) as e:
            last = e
    if last is None or isinstance(last, asyncio.TimeoutError):
        raise TimeoutError(f"connect to {host}:{port} timed out after {timeout:g}s")
    raise last
