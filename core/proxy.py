"""Proxy glue: protocol detection, auth, dialing, and the direct-mode listener.

``serve_proxy`` runs one proxy connection over any ByteStream: a local
socket (direct mode, or a local listener with credentials) or a tunnel
channel (server side: the client forwarded the connection untouched).
The first byte picks the protocol: 0x05 SOCKS5, 0x04 SOCKS4 (refused),
anything else HTTP (CONNECT = "https", absolute-form = "http").
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from . import socks5
from .config import PROXY_PROTOCOLS, ProxyListenerConfig
from .errors import ConfigError, WmproxyError
from .http1 import MAX_HEAD, split_authority
from .http_proxy import HttpProxy, credentials_match
from .policy import TargetPolicy, classify
from .policy import dial as policy_dial
from .stats import OPEN, ChannelRecord, Stats
from .streams import READ_CHUNK, ByteStream, TcpStream, format_addr, relay

log = logging.getLogger("wmproxy.proxy")

Dialer = Callable[[str, int], Awaitable[ByteStream]]

# dial failure kind (policy.classify) -> SOCKS5 reply code
SOCKS_CODE_FOR_KIND = {
    "denied": socks5.NOT_ALLOWED,
    "refused": socks5.CONNECTION_REFUSED,
    "network": socks5.NETWORK_UNREACHABLE,
    "host": socks5.HOST_UNREACHABLE,
    "dns": socks5.HOST_UNREACHABLE,
    "timeout": socks5.TTL_EXPIRED,
    "failed": socks5.GENERAL_FAILURE,
}
SOCKS4_REJECT = b"\x00\x5b\x00\x00\x00\x00\x00\x00"


@dataclass
class ProxyOptions:
    """What one proxy endpoint accepts and how it reaches targets."""

    protocols: tuple[str, ...] = PROXY_PROTOCOLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    policy: TargetPolicy | None = None  # None: every target (direct mode on the user's machine)
    max_head: int = MAX_HEAD
    connect_timeout: float = 10.0
    handshake_timeout: float = 30.0  # greeting / first request head must arrive within this
    idle_timeout: float = 300.0  # keep-alive wait for the next HTTP request

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.username, self.password or "") if self.username else None


async def serve_proxy(
    stream: ByteStream,
    opts: ProxyOptions,
    dial: Dialer | None = None,
    on_target: Callable[[str], None] | None = None,
) -> None:
    """Serve one proxy connection to its end, then close ``stream``.

    ``dial(host, port)`` reaches targets (default: policy-checked TCP
    connect); ``on_target("host:port")`` is told where the client goes.
    Peer errors are answered as the protocol allows and logged; nothing
    is raised.
    """
    if dial is None:
        policy, timeout = opts.policy, opts.connect_timeout

        async def dial(host: str, port: int) -> ByteStream:
            return await policy_dial(host, port, policy, timeout)

    try:
        try:
            async with asyncio.timeout(opts.handshake_timeout):
                first = await stream.read()
        except TimeoutError:
            log.info("proxy %s: nothing received within %gs", stream.peer, opts.handshake_timeout)
            return
        if not first:
            return
        if first[0] == socks5.VERSION:
            await _serve_socks5(stream, first, opts, dial, on_target)
        elif first[0] == 4:
            log.info("proxy %s: SOCKS4 is not supported (use SOCKS5)", stream.peer)
            stream.write(SOCKS4_REJECT)
            await stream.drain()
        else:
            handler = HttpProxy(
                dial,
                credentials=opts.credentials,
                allow_forward="http" in opts.protocols,
                allow_connect="https" in opts.protocols,
                max_head=opts.max_head,
                connect_timeout=opts.connect_timeout,
                idle_timeout=opts.idle_timeout,
                on_target=on_target,
                first_head_timeout=opts.handshake_timeout,
            )
            await handler.serve(stream, bytearray(first))
    except (WmproxyError, ConnectionError, OSError, TimeoutError) as e:
        log.info("proxy %s: %s", stream.peer, e)
    except Exception:  # a bug: log it, but one connection must not take the listener down
        log.exception("proxy %s: internal error", stream.peer)
    finally:
        stream.close()


async def _serve_socks5(
    stream: ByteStream,
    first: bytes,
    opts: ProxyOptions,
    dial: Dialer,
    on_target: Callable[[str], None] | None,
) -> None:
    if "socks5" not in opts.protocols:
        log.info("proxy %s: SOCKS5 is disabled on this proxy", stream.peer)
        stream.write(bytes((socks5.VERSION, socks5.NO_ACCEPTABLE)))
        await stream.drain()
        return
    creds = opts.credentials
    check = (lambda u, p: credentials_match(u, p, *creds)) if creds else None
    sm = socks5.Socks5Server(check)
    data = first
    try:
        async with asyncio.timeout(opts.handshake_timeout):
            while True:
                req = sm.feed(data)
                out = sm.take_output()
                if out:
                    stream.write(out)
                    await stream.drain()
                if req is not None:
                    break
                data = await stream.read(4096)
                if not data:
                    log.info("proxy %s: SOCKS5 handshake cut short (state %s)", stream.peer, sm.state)
                    return
    except socks5.Socks5Error as e:
        log.info("proxy %s: SOCKS5: %s", stream.peer, e)
        stream.write(sm.take_output() + e.reply)
        await stream.drain()
        return
    except TimeoutError:
        log.info("proxy %s: SOCKS5 handshake not finished within %gs", stream.peer, opts.handshake_timeout)
        return
    target = f"[{req.host}]:{req.port}" if ":" in req.host else f"{req.host}:{req.port}"
    if on_target is not None:
        try:
            on_target(target)
        except Exception:
            log.exception("on_target callback failed")
    try:
        up = await asyncio.wait_for(dial(req.host, req.port), opts.connect_timeout)
    except Exception as e:  # every dial failure becomes a reply code
        kind, reason = classify(e)
        code = SOCKS_CODE_FOR_KIND.get(kind, socks5.GENERAL_FAILURE)
        log.info("proxy %s: SOCKS5 CONNECT %s failed: %s (reply %#04x)", stream.peer, target, reason, code)
        stream.write(socks5.build_reply(code))
        await stream.drain()
        return
    stream.write(socks5.build_reply(socks5.SUCCEEDED))
    if sm.rest:
        up.write(sm.rest)
    await relay(stream, up)


# ---------------------------------------------------------------- direct-mode listener
class CountingStream:
    """A ByteStream that adds bytes read to ``record.up`` and bytes written to ``record.down``."""

    __slots__ = ("inner", "record", "peer")

    def __init__(self, inner: ByteStream, record: ChannelRecord) -> None:
        self.inner = inner
        self.record = record
        self.peer = inner.peer

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        data = await self.inner.read(max_bytes)
        self.record.up += len(data)
        return data

    def unread(self, data: bytes) -> None:
        self.record.up -= len(data)
        self.inner.unread(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.record.down += len(data)
        self.inner.write(data)

    async def drain(self) -> None:
        await self.inner.drain()

    def write_eof(self) -> None:
        self.inner.write_eof()

    def close(self, reason: str = "") -> None:
        self.inner.close(reason)

    def abort(self, reason: str = "reset") -> None:
        self.inner.abort(reason)

    async def wait_closed(self) -> None:
        await self.inner.wait_closed()


class ProxyListener:
    """A local proxy listener that dials targets itself (direct mode), or via ``dial``."""

    def __init__(
        self,
        cfg: ProxyListenerConfig,
        stats: Stats | None = None,
        policy: TargetPolicy | None = None,
        dial: Dialer | None = None,
        link: str = "direct",
    ) -> None:
        self.cfg = cfg
        self.stats = stats
        self.dial = dial
        self.link = link
        self.options = ProxyOptions(
            protocols=tuple(cfg.protocols), username=cfg.username, password=cfg.password, policy=policy
        )
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], ByteStream] = {}
        self._ids = itertools.count(1)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 in the config gets a real one)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError(f"proxy listener {self.cfg.name!r} is not running")
        name = self._server.sockets[0].getsockname()
        return name[0], name[1]

    async def start(self) -> None:
        try:
            host, port = split_authority(self.cfg.bind)
        except ValueError as e:
            raise ConfigError(str(e), key=f"proxy {self.cfg.name!r} bind") from None
        unknown = set(self.cfg.protocols) - set(PROXY_PROTOCOLS)
        if unknown:
            raise ConfigError(
                f"unknown protocol(s) {', '.join(sorted(unknown))} (known: {' '.join(PROXY_PROTOCOLS)})",
                key=f"proxy {self.cfg.name!r} protocols",
            )
        try:
            self._server = await asyncio.start_server(self._on_connection, host, port, limit=READ_CHUNK)
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {self.cfg.bind}: {e.strerror or e}", key=f"proxy {self.cfg.name!r} bind"
            ) from None
        log.info("proxy listener %r on %s (%s)", self.cfg.name, format_addr(self.address), " ".join(self.cfg.protocols))

    async def stop(self) -> None:
        """Stop listening and close every connection of this listener."""
        if self._server is not None:
            self._server.close()
        for task, stream in list(self._conns.items()):
            stream.close("listener stopped")
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = TcpStream(reader, writer)
        record: ChannelRecord | None = None
        stream: ByteStream = raw
        on_target: Callable[[str], None] | None = None
        if self.stats is not None:
            record = self.stats.open_channel(next(self._ids), "proxy", self.cfg.name, raw.peer, "", self.link)
            stream = CountingStream(raw, record)
            rec = record

            def on_target(target: str) -> None:
                rec.target = target
                rec.state = OPEN

        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = raw
        try:
            await serve_proxy(stream, self.options, self.dial, on_target)
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.pop(task, None)
            raw.close()
            if record is not None and self.stats is not None:
                self.stats.close_channel(record)
