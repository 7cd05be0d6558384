"""PROXY protocol from trusted load balancers, in front of the public listeners.

A connection from an address in ``[server] trusted_proxies`` must begin with a
PROXY v1 or v2 header (HAProxy's ``send-proxy`` / ``send-proxy-v2``); the
client address it names is what every later stage sees as the peer: header
rules' ``{client_ip}``, the per-source caps, the traffic tables, the Create
sent to the client, the logs. A LOCAL / UNKNOWN header (a balancer's health
check, ``check-send-proxy``) keeps the socket's own addresses. A trusted peer
without a valid header within a few seconds is dropped with a log line.
Connections from anywhere else are never parsed for a header: nobody can
claim an address by sending one.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence

from . import proxy_protocol as PP
from .streams import format_addr

log = logging.getLogger("wmproxy.mapping")

HEADER_TIMEOUT = 5.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(rules: Sequence[str]) -> list[Network]:
    """``10.0.0.0/8``, ``192.0.2.7``, ``[2001:db8::]/32`` -> networks (ValueError names the bad one)."""
    out: list[Network] = []
    for r in rules:
        text = r.strip().replace("[", "").replace("]", "")
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{r!r} is not an IP address or network") from None
    return out


def trusted(networks: Sequence[Network], host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in networks)


class AddressedTransport(asyncio.Transport):
    """The balancer's connection, as seen by the stages after the gate: the addresses of the
    PROXY header, everything else the socket's."""

    def __init__(self, raw: asyncio.Transport, peer: tuple[str, int] | None, local: tuple[str, int] | None) -> None:
        super().__init__()
        self._raw = raw
        self._peer = peer
        self._local = local
        self._protocol: asyncio.BaseProtocol | None = None

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "peername" and self._peer is not None:
            return self._peer
        if name == "sockname" and self._local is not None:
            return self._local
        if name == "balancer":
            return self._raw.get_extra_info("peername")
        return self._raw.get_extra_info(name, default)

    def write(self, data) -> None:  # type: ignore[no-untyped-def]
        self._raw.write(data)

    def writelines(self, list_of_data) -> None:  # type: ignore[no-untyped-def]
        self._raw.writelines(list_of_data)

    def write_eof(self) -> None:
        self._raw.write_eof()

    def can_write_eof(self) -> bool:
        return self._raw.can_write_eof()

    def close(self) -> None:
        self._raw.close()

    def abort(self) -> None:
        self._raw.abort()

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._raw.get_write_buffer_limits()  # type: ignore[attr-defined]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        gate = self._raw.get_protocol()
        if isinstance(gate, ProxyGate):
            gate.inner = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[return-value]


class ProxyGate(asyncio.Protocol):
    """In front of one public connection: reads the PROXY header of a trusted balancer, then
    passes everything on to the listener's own protocol (``inner``)."""

    def __init__(self, networks: Sequence[Network], inner_factory: Callable[[], asyncio.BaseProtocol],
                 what: str, on_refused: Callable[[str, str], None], lazy_local: bool = False) -> None:
        self.networks = networks
        # tcp/proxy ports: a LOCAL header (the balancer's health check) opens no channel until data comes
        self.lazy_local = lazy_local
        self._local_wait: AddressedTransport | None = None
        self.factory = inner_factory
        self.what = what
        self.on_refused = on_refused
        self.inner: asyncio.BaseProtocol | None = None
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else ""
        if not trusted(self.networks, host):
            inner = self.factory()  # anyone else: no header is ever parsed, nothing in between
            transport.set_protocol(inner)  # type: ignore[attr-defined]
            inner.connection_made(transport)
            return
        self.timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT, self._refuse, "no PROXY header in time")

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)  # type: ignore[attr-defined]
            return
        if self._local_wait is not None:  # a LOCAL connection that turned out to carry data after all
            self._start(self._local_wait, data)
            return
        self.buf += data
        try:
            got = PP.parse(self.buf)
        except PP.ProxyProtocolError as e:
            self._refuse(str(e))
            return
        if got is None:
            return
        header, used = got
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        rest = bytes(self.buf[used:])
        self.buf.clear()
        assert self.transport is not None
        wrapped = AddressedTransport(self.transport, header.src, header.dst)
        if header.src is None and self.lazy_local and not rest:
            self._local_wait = wrapped  # a health check, most likely: it connects and leaves
            return
        self._start(wrapped, rest)

    def _start(self, wrapped: AddressedTransport, rest: bytes) -> None:
        self._local_wait = None
        inner = self.factory()
        self.inner = inner
        wrapped._protocol = inner
        inner.connection_made(wrapped)
        if rest and self.inner is not None and self.transport is not None and not self.transport.is_closing():
            self.inner.data_received(rest)  # type: ignore[attr-defined]

    def _refuse(self, why: str) -> None:
        self.timer = None
        t = self.transport
        if t is None or self.inner is not None:
            return
        self.on_refused(format_addr(t.get_extra_info("peername")), f"{self.what}: {why}")
        t.abort()

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            return self.inner.eof_received()  # type: ignore[attr-defined]
        return False  # before the header, or a health check that said nothing: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()
