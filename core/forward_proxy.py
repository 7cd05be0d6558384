"""The HTTP forward proxy on the server side of a proxy channel, without a coroutine per request.

A client's local proxy listener forwards raw bytes; the server parses them.
For plain ``GET http://host/...`` requests (the keep-alive workload of a
browser or an API client behind the proxy) this endpoint sits directly on the
channel and on the target's socket, both asyncio Protocols: each request head
is scanned (``core/http_scan.py``), rewritten to origin form with its
hop-by-hop headers dropped (a few byte operations, not a full parse and
serialize), and forwarded; each response is tracked to its end and passed on
as it came. The upstream connection is kept for the next request to the same
host:port. There is one idle deadline per connection, not a timer per request.

Anything else on the channel (CONNECT, SOCKS5, SOCKS4) is handed, with the
bytes read so far, to the coroutine-based handlers of ``core/proxy.py``.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, Callable

from .http1 import CLOSE, NONE, BodyReader, HttpError, join_authority, make_response, split_authority
from .http_proxy import _STATUS_FOR_KIND, KIND_HEADER
from .http_scan import RequestInfo, scan_request, scan_response
from .policy import TargetPolicy, classify, resolve_all
from .streams import reset_transport

if TYPE_CHECKING:
    from .channel import Channel
    from .proxy import ProxyOptions

log = logging.getLogger("wmproxy.proxy")

# request headers a forward proxy never passes on (RFC 9110 7.6.1), besides those Connection names
_HOP = frozenset((b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization", b"te", b"trailer",
                  b"upgrade", b"host"))
MAX_PIPELINED = 16


def origin_form(buf: bytes | bytearray, info: RequestInfo, path: str, authority: str) -> bytes:
    """The request head for the origin: ``METHOD path HTTP/1.x``, hop-by-hop headers dropped,
    ``Host`` set to the target's authority. Works on the bytes; the head was validated."""
    head = bytes(buf[info.skip:info.head_len])
    line_end = head.find(b"\n") + 1
    return _request_line(head, line_end, info, path, authority) + _header_tail(head[line_end:], info)


def _request_line(head: bytes, line_end: int, info: RequestInfo, path: str, authority: str) -> bytes:
    """``METHOD path HTTP/1.x`` and the ``Host`` line (what changes from request to request)."""
    version = head[:line_end].rstrip(b"\r\n").rsplit(b" ", 1)[1]
    return b"%s %s %s\r\nHost: %s\r\n" % (info.method.encode(), path.encode("latin-1"), version,
                                            authority.encode("latin-1"))


def _header_tail(block: bytes, info: RequestInfo) -> bytes:
    """The header lines after the request line (``block``) as the origin gets them: hop-by-hop
    ones and those Connection names dropped, Connection set as the client's framing needs, the
    blank line. A function of ``block`` and the request's version and keep-alive alone."""
    lines = block.split(b"\n")
    named: set[bytes] = set()
    for line in lines:
        if line[:11].lower() == b"connection:":
            named.update(t.strip().lower() for t in line[11:].split(b","))
    named.discard(b"content-length")
    named.discard(b"transfer-encoding")
    out = []
    for line in lines:
        line = line.rstrip(b"\r")
        if not line:
            continue
        name = line.split(b":", 1)[0].lower()
        if name in _HOP or name in named:
            continue
        out.append(line)
    if not info.keep_alive:
        out.append(b"Connection: close")  # so the answer says so too: the client expects the end
    elif info.version < (1, 1):
        out.append(b"Connection: keep-alive")
    out.append(b"\r\n")
    return b"\r\n".join(out)


class HeadRewriter:
    """One client connection's proxy requests -> (host, port, origin-form head), remembering the
    last target authority and the last header block: on a keep-alive connection the next request
    mostly names the same host and repeats its headers with another URL, and then neither the
    authority is parsed again nor the headers filtered again. Pure: no I/O."""

    __slots__ = ("_prefix", "_target", "_block", "_tail")

    def __init__(self) -> None:
        self._prefix = ""  # "http://authority" of the last target, as written
        self._target: tuple[str, int, str] | None = None  # its (host, port, authority)
        self._block = b""  # the last header block (after the request line), with its
        self._tail: tuple[bool, tuple[int, int], bytes] | None = None  # keep-alive, version, rewrite

    def target(self, target: str) -> tuple[str, int, str, str]:
        """``proxy_target(target)``, the authority's parse reused when it is the last one's."""
        prefix = self._prefix
        n = len(prefix)
        if n and target.startswith(prefix) and (len(target) == n or target[n] in "/?#"):
            host, port, authority = self._target  # type: ignore[misc]
            path = target[n:].partition("#")[0]
            return host, port, path if path.startswith("/") else "/" + path, authority
        host, port, path, authority = proxy_target(target)
        self._prefix, self._target = target[:7 + _authority_end(target[7:])], (host, port, authority)
        return host, port, path, authority

    def head(self, buf: bytes | bytearray, info: RequestInfo, path: str, authority: str) -> bytes:
        """``origin_form(buf, info, path, authority)``, the header block's rewrite reused when the
        block is byte for byte the last one's."""
        head = bytes(buf[info.skip:info.head_len])
        line_end = head.find(b"\n") + 1
        block = head[line_end:]
        memo = self._tail
        if memo is not None and block == self._block and memo[0] == info.keep_alive and memo[1] == info.version:
            tail = memo[2]
        else:
            tail = _header_tail(block, info)
            self._block, self._tail = block, (info.keep_alive, info.version, tail)
        return _request_line(head, line_end, info, path, authority) + tail


def _authority_end(rest: str) -> int:
    """Where the authority ends in what follows ``http://``: at the first ``/``, ``?`` or ``#``."""
    return min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))


def proxy_target(target: str) -> tuple[str, int, str, str]:
    """``http://host:port/path?q`` -> (host, port, path, authority); ValueError with a reason."""
    low = target[:8].lower()
    if low.startswith("https://"):
        raise ValueError("https:// URLs must be proxied with CONNECT")
    if not low.startswith("http://"):
        raise ValueError(f"not a proxy request (want absolute http:// URL): {target[:80]}")
    rest = target[7:]
    cut = _authority_end(rest)
    authority, path = rest[:cut], rest[cut:].partition("#")[0]
    authority = authority.rpartition("@")[2]  # drop userinfo
    if not path.startswith("/"):
        path = "/" + path
    host, port = split_authority(authority, 80)
    return host, port, path, authority


class _Target(asyncio.Protocol):
    """The origin's socket: responses are tracked to their ends and sent into the channel."""

    __slots__ = ("fp", "transport", "rbuf", "body", "state", "started", "key", "reused", "closed")

    def __init__(self, fp: "ForwardProxy", key: tuple[str, int]) -> None:
        self.fp = fp
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.rbuf = bytearray()
        self.body: BodyReader | None = None
        self.state = "head"
        self.started = False  # bytes of the current answer went out
        self.reused = False  # has answered a request before (a close before the next answer may be a race)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        fp = self.fp
        if self.state == "head" and not self.rbuf and fp.pending and fp.channel is not None:
            # the usual read: exactly one whole answer, sent on as it came, in one frame
            method = fp.pending[0]
            try:
                info = scan_response(data, method)
            except HttpError:
                info = None  # the general path below says why
            if info is not None and info.whole_in(len(data)):
                fp.upstream_keep = info.keep_alive
                fp.to_client(data)
                self.reused = True
                fp.answered(self)
                return
        if self.state == "body" and not self.rbuf:
            assert self.body is not None
            n = self.body.feed(data)
            fp.to_client(data if n == len(data) else data[:n])
            if not self.body.done:
                return
            self._done()
            if n == len(data):
                return
            data = data[n:]
        self.rbuf += data
        self._answers()

    def _answers(self) -> None:
        fp = self.fp
        while self.rbuf and not self.closed and fp.channel is not None:
            if self.state == "body":
                assert self.body is not None
                n = self.body.feed(self.rbuf)
                if n:
                    fp.to_client(bytes(self.rbuf[:n]))
                    del self.rbuf[:n]
                if not self.body.done:
                    return
                self._done()
                continue
            if not fp.pending:
                self.close(reset=True)  # an answer nobody asked for: this connection is useless now
                return
            method = fp.pending[0]
            try:
                info = scan_response(self.rbuf, method)
            except HttpError as e:
                self._bad(e.message)
                return
            if info is None:
                return
            fp.to_client(bytes(self.rbuf[:info.head_len]))
            del self.rbuf[:info.head_len]
            self.started = True
            if 100 <= info.status < 200:
                if info.status == 101:
                    self._bad("101 Switching Protocols to a forward proxy request")
                    return
                continue
            self.body = BodyReader(info.body, info.length)
            fp.upstream_keep = info.keep_alive and info.body != CLOSE
            if self.body.done:
                self._done()
            else:
                self.state = "body"

    def _done(self) -> None:
        self.state = "head"
        self.body = None
        self.started = False
        self.reused = True
        self.fp.answered(self)

    def _bad(self, why: str) -> None:
        fp = self.fp
        log.info("http proxy %s: bad answer from %s: %s", fp.peer, join_authority(*self.key), why)
        if self.started:
            fp.abort()
        else:
            fp.answer(502, f"bad response from {join_authority(*self.key)}: {why}")
        self.close(reset=True)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.closed:
            return
        self.closed = True
        self.fp.target_lost(self, exc)

    def pause_writing(self) -> None:
        if self.fp.channel is not None:
            self.fp.channel.local_backlogged(True)

    def resume_writing(self) -> None:
        if self.fp.channel is not None:
            self.fp.channel.local_backlogged(False)

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        t = self.transport
        if t is not None:
            reset_transport(t) if reset else t.close()


class ForwardProxy:
    """The channel's endpoint while it serves plain-HTTP forward proxy requests."""

    def __init__(self, channel: "Channel", opts: "ProxyOptions", peer: str,
                 hand_over: Callable[[bytes], None], on_target: Callable[[str], None] | None = None) -> None:
        self.channel: Channel | None = channel
        self.opts = opts
        self.policy: TargetPolicy | None = opts.policy
        self.peer = peer
        self.hand_over = hand_over  # CONNECT / SOCKS: the coroutine handlers take the channel over
        self.on_target = on_target
        self.buf = bytearray()
        self.state = "head"
        self.body: BodyReader | None = None
        self.pending: collections.deque[str] = collections.deque()  # methods of requests awaiting answers
        self.target: _Target | None = None
        self.key: tuple[str, int] | None = None
        self.out: list[bytes] = []  # request bytes waiting for the target's connect ...
        self.out_credit = 0  # ... whose channel credit is returned once they reach the target
        self.dialing: asyncio.Task | None = None
        self.upstream_keep = True
        self.client_keep = True
        self.first = True
        self.last_request = b""  # the last bodyless request, resent once if a reused connection drops it
        self._paused: set[str] = set()
        self._loop = asyncio.get_running_loop()
        self._deadline = time.monotonic() + opts.handshake_timeout
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(opts.handshake_timeout, self._expired)
        self._scanned = 0
        # the last request's head bytes, what they were found to say, and their origin form
        self._last: tuple[bytes, RequestInfo, tuple[str, int, tuple[str, int], bytes]] | None = None
        self._rewriter = HeadRewriter()  # a new head of the same host and headers: parsed in part
        channel.attach(self)  # type: ignore[arg-type]

    # ------------------------------------------------------------ Endpoint (the channel calls these)
    def deliver(self, data: bytes | memoryview) -> None:
        if self.channel is None:
            return
        self._deadline = time.monotonic() + self.opts.idle_timeout
        if self.state == "body" and not self.buf:
            assert self.body is not None
            n = self.body.feed(data)
            self._send(data if n == len(data) else data[:n], n)
            if not self.body.done:
                return
            self._body_done()
            if n == len(data):
                self._requests()
                return
            data = data[n:]
        self.buf += data
        self._requests()

    def deliver_eof(self) -> None:
        self.client_keep = False
        if self.state == "head":
            if not self.pending and not self.buf:
                self.close()
            elif not self.buf:
                self.state = "done"  # answer what was asked, then close

    def shutdown(self, reason: str, reset: bool = False) -> None:
        self.channel = None
        self._cancel_timer()
        if self.dialing is not None:
            self.dialing.cancel()
        if self.target is not None:
            self.target.close(reset=reset)

    def pause_source(self) -> None:
        if self.target is not None and self.target.transport is not None:
            self.target.transport.pause_reading()

    def resume_source(self) -> None:
        if self.target is not None and self.target.transport is not None:
            self.target.transport.resume_reading()

    # ------------------------------------------------------------ requests
    def _requests(self) -> None:
        while self.buf and self.channel is not None and not self._paused:
            if self.state == "body":
                assert self.body is not None
                n = self.body.feed(self.buf)
                if n:
                    self._send(bytes(self.buf[:n]), n)
                    del self.buf[:n]
                if not self.body.done:
                    return
                self._body_done()
                continue
            if self.state != "head":
                return
            if self.first and self.buf[:1] in (b"\x05", b"\x04"):
                self._hand_over()  # SOCKS
                return
            last = self._last
            if last is not None and self.buf.startswith(last[0]):
                # the same head as the last request (a poller, a load tester): what was scanned,
                # checked and rewritten then holds byte for byte now
                self._scanned = 0
                if not self._route(last[1], last[2]):
                    return
                continue
            try:
                info = scan_request(self.buf, self.opts.max_head, scanned=self._scanned)
            except HttpError as e:
                self.answer(e.status, e.message)
                return
            if info is None:
                self._scanned = len(self.buf)
                return
            self._scanned = 0
            if info.method == "CONNECT":
                if self.pending or not self.first:
                    self.answer(400, "CONNECT after other requests on one connection")
                    return
                self._hand_over()
                return
            if not self._route(info):
                return

    def _route(self, info: RequestInfo, memo: "tuple[str, int, tuple[str, int], bytes] | None" = None) -> bool:
        """Send the request whose head ``info`` describes; ``memo``: (host, port, key, origin-form
        head) of the same head bytes, sent before."""
        if memo is None:
            if "http" not in self.opts.protocols:
                self.answer(405, "plain HTTP proxying is disabled on this proxy (use CONNECT)")
                return False
            try:
                host, port, path, authority = self._rewriter.target(info.target)
            except ValueError as e:
                self.answer(400, f"bad URL: {e}" if "://" in str(e) or "empty" in str(e) else str(e))
                return False
            key = (host.lower(), port)
            raw = b""
        else:
            host, port, key, raw = memo
        if key != self.key:
            if self.pending:
                self._pause("order")  # answers from the previous host first
                return False
            self._switch(key, host, port)
        if not raw:
            raw = self._rewriter.head(self.buf, info, path, authority)
            if info.skip == 0:
                self._last = (bytes(self.buf[:info.head_len]), info, (host, port, key, raw))
        del self.buf[:info.head_len]
        self.first = False
        self.pending.append(info.method)
        self.last_request = raw if info.body == NONE else b""
        self.client_keep = info.keep_alive
        self._send(raw, info.head_len)
        if info.body != NONE:
            self.body = BodyReader(info.body, info.length)
            self.state = "body"
        elif not info.keep_alive:
            self.state = "done"
        if len(self.pending) >= MAX_PIPELINED:
            self._pause("pipeline")
        return True

    def _body_done(self) -> None:
        self.body = None
        self.state = "head" if self.client_keep else "done"

    def _hand_over(self) -> None:
        """CONNECT or SOCKS: the coroutine-based handlers take the channel, with what arrived."""
        data = bytes(self.buf)
        self.buf.clear()
        self._cancel_timer()
        ch, self.channel = self.channel, None
        if ch is not None:
            self.hand_over(data)

    # ------------------------------------------------------------ the target
    def _switch(self, key: tuple[str, int], host: str, port: int) -> None:
        if self.target is not None:
            self.target.close()
        self.target = None
        self.key = key
        if self.on_target is not None:
            try:
                self.on_target(join_authority(host, port))
            except Exception:  # stats must never break the proxy
                log.exception("on_target callback failed")
        self.dialing = self._loop.create_task(self._dial(key, host, port))

    async def _dial(self, key: tuple[str, int], host: str, port: int) -> None:
        timeout = self.opts.connect_timeout
        target_text = join_authority(host, port)
        try:
            async with asyncio.timeout(timeout):
                addrs = await (self.policy.resolve(host, port) if self.policy else resolve_all(host, port))
                last: BaseException | None = None
                for _fam, ip in addrs:
                    try:
                        _, proto = await self._loop.create_connection(lambda: _Target(self, key), ip, port)
                        break
                    except OSError as e:
                        last = e
                else:
                    raise last or OSError("no address to connect to")
        except asyncio.CancelledError:
            return
        except BaseException as e:  # every dial failure becomes an answer
            if isinstance(e, TimeoutError) and not str(e):
                e = TimeoutError(f"connect to {target_text} timed out after {timeout:g}s")
            kind, reason = classify(e)
            self.dialing = None
            if self.key == key and self.channel is not None:
                self.answer(_STATUS_FOR_KIND.get(kind, 502), f"{target_text}: {reason}", ((KIND_HEADER, kind),))
            return
        self.dialing = None
        if self.key != key or self.channel is None:
            proto.close()
            return
        self.target = proto  # type: ignore[assignment]
        out, self.out = self.out, []
        credit, self.out_credit = self.out_credit, 0
        if out:
            proto.transport.writelines(out)  # type: ignore[union-attr]
        if credit and self.channel is not None:
            self.channel.consumed(credit)

    def _send(self, data: bytes | memoryview, consumed: int = 0) -> None:
        """Request bytes to the target; ``consumed`` channel bytes are done with once they are there
        (while the target connects they wait here, and the client's credit waits with them)."""
        t = self.target
        if t is not None and t.transport is not None:
            t.transport.write(data)
            if consumed and self.channel is not None:
                self.channel.consumed(consumed)
        else:
            self.out.append(bytes(data))
            self.out_credit += consumed

    def target_lost(self, target: _Target, exc: Exception | None) -> None:
        if target is not self.target:
            return
        self.target = None
        if self.channel is None:
            return
        if not self.pending:
            self.key = None  # an idle upstream closed: the next request dials again
            return
        if target.started or exc is not None and not target.reused:
            self.abort()  # cut in the middle of an answer: a reset, never a clean-looking end
            return
        if target.body is not None and target.body.kind == CLOSE and target.state == "body":
            target.body.done = True
            self.pending.popleft()
            self.close()  # a read-until-close body ended: so does the connection
            return
        if target.reused and len(self.pending) == 1 and self.last_request:
            key, self.key = self.key, None  # a reused idle connection raced our request: send it again
            assert key is not None
            retry = self.last_request
            self.last_request = b""
            self._switch(key, *key)
            self._send(retry)  # its channel bytes were accounted for the first time
            return
        self.answer(502, f"{join_authority(*target.key)} closed the connection without answering")

    # ------------------------------------------------------------ answers
    def to_client(self, data: bytes | memoryview) -> None:
        ch = self.channel
        if ch is not None:
            ch.send(bytes(data) if type(data) is not bytes else data)

    def answered(self, target: _Target) -> None:
        self.pending.popleft()
        if not self.upstream_keep:
            target.close()
            if target is self.target:
                self.target, self.key = None, None
        if self.state == "done" and not self.pending:
            self.close()
            return
        self._resume("pipeline")
        if not self.pending:
            self._resume("order")
        if self.buf and not self._paused:
            self._requests()

    def answer(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        """An answer of our own (errors), then the connection ends."""
        log.info("http proxy %s: %s %s", self.peer, status, text)
        self.to_client(make_response(status, text + "\n", headers))
        self.close()

    # ------------------------------------------------------------ flow and lifetime
    def _pause(self, why: str) -> None:
        self._paused.add(why)

    def _resume(self, why: str) -> None:
        self._paused.discard(why)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.channel is None:
            return
        left = self._deadline - time.monotonic()
        if left > 0 or self.pending:  # busy, or answers still on their way: look again later
            self._timer = self._loop.call_later(max(left, 1.0), self._expired)
            return
        self.close()

    def close(self) -> None:
        ch, self.channel = self.channel, None
        self.shutdown("")
        if ch is not None:
            ch.close("")

    def abort(self) -> None:
        ch, self.channel = self.channel, None
        self.shutdown("", reset=True)
        if ch is not None:
            ch.close("upstream failed", reset=True)


__all__ = ["ForwardProxy", "HeadRewriter", "origin_form", "proxy_target"]
