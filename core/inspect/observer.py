"""Sans-io observer of one HTTP/1 connection: reads copies of the bytes, emits Exchanges.

It is fed the same bytes the splice forwards (``request_data`` for the direction
towards the local service, ``response_data`` for the way back) and never changes
or holds them: only heads (bounded by ``MAX_HEAD``) and the first ``body_limit``
bytes of each body are copied. Body boundaries come from ``core.http1.BodyReader``
(keep-alive, pipelining, chunked, read-until-close).

Anything it cannot follow (not HTTP/1, an Upgrade, a malformed head, too many
pipelined requests) ends the observation of that connection: what was pending is
emitted with an error, and the rest of the connection flows on unobserved. It
never raises into the data path.
"""
from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

from ..http1 import (CHUNKED, CLOSE, LENGTH, MAX_HEAD, NONE, BodyReader, HttpError, find_head_end,
                     parse_request_head, parse_response_head)
from .exchange import Exchange, Message

MAX_PIPELINED = 32  # requests waiting for their responses on one connection

_HEAD, _BODY, _OFF = 0, 1, 2


def _value(lower: bytes, raw: bytes, name: bytes) -> bytes | None | bool:
    """The value of header ``name`` (given as ``b"\r\nname:"``): None if absent, False if repeated."""
    i = lower.find(name)
    if i < 0:
        return None
    if lower.find(name, i + 1) >= 0:
        return False
    start = i + len(name)
    return raw[start:raw.index(b"\r\n", start)].strip()


def _request_framing(raw: bytes) -> tuple[str, str, tuple[int, int], BodyReader, bool] | None:
    """Fast path for an ordinary request head: (method, target, version, body reader, upgrade).

    Plain bytes operations instead of a full header parse: the data path pays for one ``lower()``
    and a few ``find()``. Anything unusual (bare LF, repeated framing headers, odd request line)
    returns None and the caller uses the full parser.
    """
    eol = raw.find(b"\r\n")
    parts = raw[:eol].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or len(parts[2]) != 8 or b"\n\n" in raw:
        return None
    lower = raw.lower()
    te = _value(lower, raw, b"\r\ntransfer-encoding:")
    cl = _value(lower, raw, b"\r\ncontent-length:")
    if te is False or cl is False:
        return None
    if te is not None:
        if cl is not None or not te.lower().endswith(b"chunked"):
            return None
        reader = BodyReader(CHUNKED)
    elif cl:
        if not cl.isdigit() or len(cl) > 18:
            return None
        reader = BodyReader(LENGTH, int(cl)) if int(cl) else BodyReader(NONE)
    else:
        reader = BodyReader(NONE)
    method = parts[0].decode("ascii", "replace")
    upgrade = method == "CONNECT" or lower.find(b"\r\nupgrade:") >= 0
    return method, parts[1].decode("latin-1"), (1, parts[2][7] - 48), reader, upgrade


def _response_framing(raw: bytes, method: str) -> tuple[int, str, BodyReader] | None:
    """Fast path for an ordinary response head: (status, reason, body reader); None: use the parser."""
    eol = raw.find(b"\r\n")
    parts = raw[:eol].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3 \
            or b"\n\n" in raw:
        return None
    status = int(parts[1])
    reason = parts[2].decode("latin-1") if len(parts) == 3 else ""
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304) or (method == "CONNECT" and status < 300):
        return status, reason, BodyReader(NONE)
    lower = raw.lower()
    te = _value(lower, raw, b"\r\ntransfer-encoding:")
    cl = _value(lower, raw, b"\r\ncontent-length:")
    if te is False or cl is False:
        return None
    if te is not None:
        return status, reason, BodyReader(CHUNKED if te.lower().endswith(b"chunked") else CLOSE)
    if cl is None:
        return status, reason, BodyReader(CLOSE)
    if not cl.isdigit() or len(cl) > 18:
        return None
    return status, reason, BodyReader(LENGTH, int(cl)) if int(cl) else BodyReader(NONE)


def _cut_head(buf: bytearray, data: Any, scan: int) -> tuple[bytes | None, Any, int]:
    """Gather a head -> (its bytes or None while incomplete, the bytes after it, next scan start).

    The common case, a whole head at the start of ``data``, copies only the head;
    a head split over reads is gathered in ``buf`` (at most ``MAX_HEAD``).
    """
    if not buf:
        probe = data[:MAX_HEAD + 8]
        if type(probe) is memoryview:
            probe = bytes(probe)
        end = probe.find(b"\r\n\r\n")
        if end >= 0 and probe.find(b"\n\n", 0, end) < 0:
            return probe[:end + 4], data[end + 4:], 0
        end = find_head_end(probe, 0, MAX_HEAD + 4)
        if end >= 0:
            return bytes(probe[:end]), data[end:], 0
        buf += data
        return None, b"", max(0, len(buf) - 3)
    buf += data
    end = find_head_end(buf, scan, MAX_HEAD + 4)
    if end < 0:
        return None, b"", max(0, len(buf) - 3)
    raw, rest = bytes(buf[:end]), bytes(buf[end:])
    buf.clear()
    return raw, rest, 0


class _Pending:
    """An exchange being captured, with its two body readers' state."""

    __slots__ = ("ex", "t0", "req_body", "resp_body", "req_done", "sealed")

    def __init__(self, ex: Exchange, t0: float) -> None:
        self.ex = ex
        self.t0 = t0  # perf_counter at the first request byte
        self.req_body: list[bytes] = []  # pieces of the body prefix (joined once, when sealed)
        self.resp_body: list[bytes] = []
        self.req_done = False
        self.sealed = False


class ExchangeObserver:
    """Watch one connection. ``on_exchange(ex)`` is called for every finished (or abandoned) exchange."""

    __slots__ = ("on_exchange", "admit", "tunnel_name", "remote_addr", "target", "body_limit", "wall", "clock",
                 "active", "stop_reason", "_q", "_rstate", "_rbuf", "_rscan", "_rstart", "_rreader", "_rcur",
                 "_sstate", "_sbuf", "_sscan", "_sreader", "_scur")

    def __init__(self, on_exchange: Callable[[Exchange], Any], *, tunnel_name: str, remote_addr: str,
                 target: str, body_limit: int, wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.perf_counter, admit: Callable[[], bool] | None = None) -> None:
        self.on_exchange = on_exchange
        self.admit = admit  # asked before each new request; False: stop observing this connection
        self.tunnel_name = tunnel_name
        self.remote_addr = remote_addr
        self.target = target
        self.body_limit = body_limit
        self.wall = wall
        self.clock = clock
        self.active = True
        self.stop_reason = ""
        self._q: collections.deque[_Pending] = collections.deque()  # requests awaiting responses
        # request direction
        self._rstate = _HEAD
        self._rbuf = bytearray()
        self._rscan = 0
        self._rstart = (0.0, 0.0)  # (wall, clock) at the first byte of the head being read
        self._rreader: BodyReader | None = None
        self._rcur: _Pending | None = None
        # response direction
        self._sstate = _HEAD
        self._sbuf = bytearray()
        self._sscan = 0
        self._sreader: BodyReader | None = None
        self._scur: _Pending | None = None

    # ---------------------------------------------------------------- request direction
    def request_data(self, data: bytes | bytearray | memoryview) -> None:
        if not self.active:
            return
        try:
            self._request(data)
        except HttpError as e:
            self.stop(f"capture stopped: {e.message}")

    def _request(self, data: bytes | bytearray | memoryview) -> None:
        while data and self._rstate != _OFF:
            if self._rstate == _BODY:
                reader = self._rreader
                assert reader is not None and self._rcur is not None
                n = reader.feed(data)
                self._take(self._rcur, self._rcur.req_body, data, n, request=True)
                if not reader.done:
                    return
                self._request_done()
                data = data[n:]
                continue
            # _HEAD
            if not self._rbuf:
                if self.admit is not None and not self.admit():
                    self._rstate = _OFF  # over the capture rate: answers still pending are watched, then
                    if not self._q:      # the connection is left alone (no cost per byte any more)
                        self.stop("")
                    return
                self._rstart = (self.wall(), self.clock())
            raw, data, self._rscan = _cut_head(self._rbuf, data, self._rscan)
            if raw is None:
                return
            fast = _request_framing(raw)
            if fast is None:
                head = parse_request_head(raw)
                assert head is not None
                fast = (head.method, head.target, head.version, BodyReader.for_request(head),
                        head.method == "CONNECT" or head.has("upgrade"))
            method, target, version, reader, upgrade = fast
            if len(self._q) >= MAX_PIPELINED:
                self.stop("capture stopped: too many pipelined requests")
                return
            wall, t0 = self._rstart
            ex = Exchange(self.tunnel_name, self.remote_addr, self.target, wall, method, target, version,
                          Message(raw))
            p = _Pending(ex, t0)
            self._q.append(p)
            if upgrade:
                p.req_done = True  # what follows may not be HTTP: watch the response, then stop
                self._rstate = _OFF
                return
            if reader.done:
                p.req_done = True
                ex.request.complete = True
            else:
                self._rreader = reader
                self._rcur = p
                self._rstate = _BODY

    def _request_done(self) -> None:
        p = self._rcur
        assert p is not None
        p.req_done = True
        if not p.sealed:
            p.ex.request.complete = True
        self._rcur = None
        self._rreader = None
        self._rstate = _HEAD

    # ---------------------------------------------------------------- response direction
    def response_data(self, data: bytes | bytearray | memoryview) -> None:
        if not self.active:
            return
        try:
            self._response(data)
        except HttpError as e:
            self.stop(f"capture stopped: {e.message}")

    def _response(self, data: bytes | bytearray | memoryview) -> None:
        while data and self.active:
            if self._sstate == _BODY:
                reader = self._sreader
                p = self._scur
                assert reader is not None and p is not None
                n = reader.feed(data)
                self._take(p, p.resp_body, data, n, request=False)
                if not reader.done:
                    return
                assert p.ex.response is not None
                p.ex.response.complete = True
                self._finish(p)
                data = data[n:]
                continue
            if not self._q:
                self.stop("capture stopped: a response without a request")
                return
            p = self._q[0]
            if p.ex.ttfb is None:
                p.ex.ttfb = self.clock() - p.t0
            raw, data, self._sscan = _cut_head(self._sbuf, data, self._sscan)
            if raw is None:
                return
            ex = p.ex
            fast = _response_framing(raw, ex.method)
            if fast is None:
                head = parse_response_head(raw, ex.method)
                assert head is not None
                fast = (head.status, head.reason, BodyReader.for_response(head, ex.method))
            status, reason, reader = fast
            if 100 <= status < 200 and status != 101:
                continue  # provisional (100 Continue): not shown, as ngrok does
            ex.status = status
            ex.reason = reason
            ex.response = Message(raw)
            if status == 101 or (ex.method == "CONNECT" and 200 <= status < 300):
                ex.response.complete = True
                self._finish(p)
                self.stop("")  # the connection now carries another protocol
                return
            if reader.done:
                ex.response.complete = True
                self._finish(p)
            else:
                self._sreader = reader
                self._scur = p
                self._sstate = _BODY

    # ---------------------------------------------------------------- shared
    def _take(self, p: _Pending, store: list[bytes], data: bytes | bytearray | memoryview, n: int,
              request: bool) -> None:
        """Count ``n`` body bytes and keep what fits under ``body_limit`` (only until sealed)."""
        if p.sealed:
            return
        msg = p.ex.request if request else p.ex.response
        assert msg is not None
        room = self.body_limit - msg.size if msg.size < self.body_limit else 0
        msg.size += n
        if room > 0 and n:
            piece = data if n == len(data) and n <= room and type(data) is bytes else data[:min(n, room)]
            store.append(piece if type(piece) is bytes else bytes(piece))

    def _finish(self, p: _Pending, error: str = "") -> None:
        """The response is complete (or will never be): seal and emit."""
        if p.sealed:
            return
        ex = p.ex
        if self._q and self._q[0] is p:
            self._q.popleft()
        else:
            try:
                self._q.remove(p)
            except ValueError:
                pass
        if self._scur is p:
            self._scur = None
            self._sreader = None
            self._sstate = _HEAD
        p.sealed = True
        if p.req_body:
            ex.request.body = p.req_body[0] if len(p.req_body) == 1 else b"".join(p.req_body)
        resp = ex.response
        ex.duration = self.clock() - p.t0
        if resp is not None:
            if p.resp_body:
                resp.body = p.resp_body[0] if len(p.resp_body) == 1 else b"".join(p.resp_body)
            if not resp.complete and not error:
                error = "the response was cut short"
        elif not error:
            error = "no response"
        if error and not ex.error:
            ex.error = error
        if not self._q and self._rstate == _OFF and self.active:
            self.active = False  # nothing more to watch on this connection
        try:
            self.on_exchange(ex)
        except Exception:  # a broken consumer must not stop the capture of the next exchange
            pass

    def response_eof(self) -> None:
        """The local service closed its side: a read-until-close body is complete now."""
        if not self.active:
            return
        p = self._scur
        if p is not None and self._sreader is not None and self._sreader.kind == CLOSE:
            assert p.ex.response is not None
            p.ex.response.complete = True
            self._finish(p)
        self.stop("the local service closed the connection")

    def closed(self) -> None:
        """The connection is gone: emit whatever is still pending."""
        if not self.active:
            return
        if self._scur is not None:
            self.response_eof()
        self.stop("the connection closed")

    def stop(self, reason: str) -> None:
        """Stop observing; pending exchanges are emitted with ``reason`` (when they lack a response)."""
        if not self.active:
            return
        self.active = False
        self.stop_reason = reason
        pending = list(self._q)
        if self._scur is not None and self._scur not in pending:
            pending.insert(0, self._scur)
        for p in pending:
            self._finish(p, reason or "capture stopped")
        self._q.clear()
        self._rbuf = bytearray()
        self._sbuf = bytearray()
        self._rreader = self._sreader = None
        self._rcur = self._scur = None
        self._rstate = self._sstate = _OFF
