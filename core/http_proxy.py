"""HTTP proxy over any ByteStream: forward proxy (absolute-form) and CONNECT.

Forward mode rewrites ``GET http://host:port/path`` to origin form, sets
Host, strips hop-by-hop and proxy headers, and relays bodies with the
sans-io framing of ``core/http1.py`` (chunked stays chunked, nothing is
parsed byte by byte). A client connection may carry many requests; the
upstream connection is reused while requests go to the same host:port.
CONNECT answers ``200 Connection established`` and relays raw bytes.

Also the client half, :func:`connect_via_http_proxy`, used to open a
tunnel through any HTTP proxy reachable over a ByteStream.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from typing import Awaitable, Callable

from .http1 import (
    CHUNKED,
    CLOSE,
    MAX_HEAD,
    BodyReader,
    HttpError,
    RequestHead,
    ResponseHead,
    find_head_end,
    join_authority,
    make_response,
    parse_request_head,
    parse_response_head,
    split_authority,
    strip_hop_by_hop,
)
from .policy import classify
from .streams import ByteStream, relay

log = logging.getLogger("wmproxy.proxy")

Dialer = Callable[[str, int], Awaitable[ByteStream]]
REALM = "wmproxy"
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"

# dial failure kind -> HTTP status
_STATUS_FOR_KIND = {"denied": 403, "timeout": 504}
# our error answers name the failure kind, so a proxy chain keeps exact SOCKS5 codes
KIND_HEADER = "X-Wmproxy-Error"
_KINDS = frozenset(("denied", "refused", "network", "host", "timeout", "dns", "failed"))


class ProxyConnectError(ConnectionRefusedError):
    """An HTTP proxy did not open the tunnel.

    ``status`` is its answer (0 if none); ``kind`` the failure kind as
    :func:`core.policy.classify` reports it (from our proxy's
    X-Wmproxy-Error header, else guessed from the status).
    """

    def __init__(self, message: str, status: int = 0, kind: str | None = None) -> None:
        self.status = status
        self.kind = kind or {403: "denied", 504: "timeout", 0: "refused"}.get(status, "failed")
        super().__init__(message)


# ---------------------------------------------------------------- credentials
def credentials_match(user: str, password: str, want_user: str, want_password: str) -> bool:
    """Constant-time comparison of both parts (no early exit on the user name)."""
    u = hmac.compare_digest(user.encode("utf-8"), want_user.encode("utf-8"))
    p = hmac.compare_digest(password.encode("utf-8"), want_password.encode("utf-8"))
    return u & p


def basic_auth_value(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


def parse_basic(value: str | None) -> tuple[str, str] | None:
    """(user, password) from a ``Basic ...`` header value, None if absent or malformed."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


# ---------------------------------------------------------------- stream helpers
async def read_head(
    stream: ByteStream,
    buf: bytearray,
    parse: Callable[[bytearray], RequestHead | ResponseHead | None],
    max_head: int = MAX_HEAD,
    truncated_status: int = 400,
) -> RequestHead | ResponseHead | None:
    """Read until ``buf`` starts with a complete head; None on EOF before any byte.

    Only new bytes are scanned for the end of the head, so a head sent one
    byte at a time costs O(n), and ``buf`` never holds more than
    ``max_head`` plus one read.
    """
    scanned = 0
    while True:
        if buf and buf[0] in (0x0D, 0x0A):  # stray CRLF between pipelined messages
            n = len(buf) - len(buf.lstrip(b"\r\n"))
            del buf[:n]
            scanned = 0
        if buf:
            if find_head_end(buf, scanned - 3, max_head) >= 0:
                return parse(buf)
            scanned = len(buf)
        data = await stream.read()
        if not data:
            if buf:
                raise HttpError(truncated_status, "connection closed in the middle of a message head")
            return None
        buf += data


async def forward_body(src: ByteStream, dst: ByteStream, reader: BodyReader, buf: bytearray) -> None:
    """Copy one message body from ``buf`` + ``src`` to ``dst``; leftovers stay in ``buf``."""
    while not reader.done:
        if buf:
            n = reader.feed(buf)
            if n:
                dst.write(bytes(buf[:n]) if n < len(buf) else bytes(buf))
                del buf[:n]
                await dst.drain()
            continue
        data = await src.read()
        if not data:
            reader.eof()
            return
        n = reader.feed(data)
        if n == len(data):
            dst.write(data)
        else:
            dst.write(memoryview(data)[:n])
            buf += memoryview(data)[n:]
        await dst.drain()


# ---------------------------------------------------------------- server side
class HttpProxy:
    """Serves HTTP proxy requests arriving on one client stream."""

    def __init__(
        self,
        dial: Dialer,
        *,
        credentials: tuple[str, str] | None = None,
        allow_forward: bool = True,
        allow_connect: bool = True,
        max_head: int = MAX_HEAD,
        connect_timeout: float = 10.0,
        idle_timeout: float = 300.0,
        on_target: Callable[[str], None] | None = None,
        first_head_timeout: float | None = None,
    ) -> None:
        self.dial = dial
        self.first_head_timeout = first_head_timeout
        self.credentials = credentials
        self.allow_forward = allow_forward
        self.allow_connect = allow_connect
        self.max_head = max_head
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.on_target = on_target
        self._target: str | None = None

    # ---- answers
    async def _answer(
        self, client: ByteStream, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        log.info("http proxy %s: %s %s", client.peer, status, text)
        client.write(make_response(status, text + "\n", headers))
        await client.drain()

    def _auth_ok(self, head: RequestHead) -> bool:
        if self.credentials is None:
            return True
        got = parse_basic(head.get("proxy-authorization"))
        if got is None:
            return False
        return credentials_match(got[0], got[1], *self.credentials)

    def _note_target(self, target: str) -> None:
        if self.on_target is not None and target != self._target:
            self._target = target
            try:
                self.on_target(target)
            except Exception:  # stats must not break the proxy
                log.exception("on_target callback failed")

    async def _connect(self, client: ByteStream, host: str, port: int) -> ByteStream | None:
        target = join_authority(host, port)
        self._note_target(target)
        try:
            return await asyncio.wait_for(self.dial(host, port), self.connect_timeout)
        except Exception as e:  # every dial failure becomes an answer, never an exception
            kind, reason = classify(e)
            await self._answer(client, _STATUS_FOR_KIND.get(kind, 502), f"{target}: {reason}", ((KIND_HEADER, kind),))
            return None

    # ---- main loop
    async def serve(self, client: ByteStream, buf: bytearray | None = None) -> None:
        """Serve requests until the client leaves or an error ends the connection.

        ``buf`` holds bytes already read from ``client``. Peer errors are
        answered and logged, never raised. Does not close ``client``.
        """
        buf = bytearray() if buf is None else buf
        state = _Upstream()
        try:
            first = True
            while True:
                try:
                    timeout = self.first_head_timeout if first else self.idle_timeout
                    async with asyncio.timeout(timeout):
                        head = await read_head(
                            client, buf, lambda b: parse_request_head(b, self.max_head), self.max_head
                        )
                except TimeoutError:
                    return
                if head is None:
                    return
                assert isinstance(head, RequestHead)
                del buf[: head.head_len]
                first = False
                if not self._auth_ok(head):
                    await self._answer(
                        client, 407, "proxy authentication required",
                        (("Proxy-Authenticate", f'Basic realm="{REALM}"'),),
                    )
                    return
                if head.method == "CONNECT":
                    await self._serve_connect(client, head, buf, state)
                    return
                if not await self._serve_forward(client, head, buf, state):
                    return
        except HttpError as e:
            await self._answer(client, e.status, e.message)
        except (ConnectionError, OSError) as e:
            log.debug("http proxy %s: connection error: %s", client.peer, e)
        finally:
            state.close()

    async def _serve_connect(self, client: ByteStream, head: RequestHead, buf: bytearray, state: "_Upstream") -> None:
        if not self.allow_connect:
            await self._answer(client, 405, "CONNECT (https proxy) is disabled on this proxy")
            return
        try:
            host, port = split_authority(head.target, 443)
        except ValueError as e:
            await self._answer(client, 400, f"bad CONNECT target: {e}")
            return
        state.close()
        up = await self._connect(client, host, port)
        if up is None:
            return
        client.write(ESTABLISHED)
        if buf:  # the client talked before our answer (TLS ClientHello with false start...)
            up.write(bytes(buf))
            buf.clear()
        await relay(client, up)

    async def _serve_forward(self, client: ByteStream, head: RequestHead, buf: bytearray, state: "_Upstream") -> bool:
        """One forward-proxy exchange; True if the client connection stays usable."""
        if not self.allow_forward:
            await self._answer(client, 405, "plain HTTP proxying is disabled on this proxy (use CONNECT)")
            return False
        target = head.target
        low = target[:8].lower()
        if low.startswith("https://"):
            await self._answer(client, 400, "https:// URLs must be proxied with CONNECT")
            return False
        if not low.startswith("http://"):
            await self._answer(client, 400, f"not a proxy request (want absolute http:// URL): {target[:80]}")
            return False
        rest = target[7:]
        cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        authority, path = rest[:cut], rest[cut:]
        authority = authority.rpartition("@")[2]  # drop userinfo
        path = path.partition("#")[0]
        if not path.startswith("/"):
            path = "/" + path
        try:
            host, port = split_authority(authority, 80)
        except ValueError as e:
            await self._answer(client, 400, f"bad URL: {e}")
            return False
        reader = BodyReader.for_request(head)  # HttpError -> 400 by serve()
        client_keep = head.keep_alive
        head.target = path
        strip_hop_by_hop(head)
        head.set("Host", authority)
        if head.version < (1, 1) and client_keep:
            head.set("Connection", "keep-alive")
        raw_head = head.serialize()

        key = (host.lower(), port)
        for attempt in (0, 1):
            if state.key != key:
                state.close()
            reused = state.stream is not None
            if not reused:
                up = await self._connect(client, host, port)
                if up is None:
                    return False
                state.stream, state.key = up, key
            can_retry = reused and attempt == 0
            result = await self._exchange(client, head, raw_head, reader, buf, state, client_keep, can_retry)
            if result == "retry":
                log.debug("http proxy %s: reused upstream %s had closed; dialing again", client.peer, key)
                state.close()
                continue
            return result == "keep"
        return False

    async def _exchange(
        self,
        client: ByteStream,
        head: RequestHead,
        raw_head: bytes,
        reader: BodyReader,
        buf: bytearray,
        state: "_Upstream",
        client_keep: bool,
        can_retry: bool,
    ) -> str:
        """Send one request, relay its response. Returns "keep", "close" or "retry"."""
        up = state.stream
        assert up is not None
        up.write(raw_head)
        body_error: list[BaseException] = []

        async def pump() -> None:
            try:
                await forward_body(client, up, reader, buf)
            except (HttpError, ConnectionError, OSError) as e:
                body_error.append(e)
                up.close()  # unblocks the response side

        body_task = None if reader.done else asyncio.create_task(pump())
        try:
            await up.drain()
            method = head.method
            while True:
                try:
                    rhead = await read_head(
                        up, state.buf, lambda b: parse_response_head(b, method, self.max_head), self.max_head, 502
                    )
                except HttpError as e:
                    if body_error:
                        raise _as_http(body_error[0]) from None
                    await self._answer(client, 502, f"bad response from {state.key_text}: {e.message}")
                    return "close"
                if rhead is None:
                    if body_error:
                        raise _as_http(body_error[0])
                    if can_retry and body_task is None:
                        return "retry"  # a reused idle upstream closed under us; safe to resend
                    await self._answer(client, 502, f"{state.key_text} closed the connection without answering")
                    return "close"
                assert isinstance(rhead, ResponseHead)
                del state.buf[: rhead.head_len]
                if 100 <= rhead.status < 200 and rhead.status != 101:
                    client.write(rhead.serialize())  # 100 Continue & co: pass on, then the real answer
                    await client.drain()
                    continue
                break
            rreader = BodyReader.for_response(rhead, method)
            up_keep = rhead.keep_alive and rreader.kind != CLOSE and rhead.status != 101
            keep = client_keep and rreader.kind != CLOSE and rhead.status != 101
            strip_hop_by_hop(rhead)
            if rreader.kind == CHUNKED:
                rhead.remove("content-length")  # RFC 9112 6.3: chunked wins; do not pass on both
            if not keep:
                rhead.set("Connection", "close")
            elif head.version < (1, 1):
                rhead.set("Connection", "keep-alive")
            client.write(rhead.serialize())
            if rhead.status == 101:  # the origin upgraded anyway: raw relay from here
                if state.buf:
                    client.write(bytes(state.buf))
                    state.buf.clear()
                stream, state.stream = up, None
                await relay(client, stream)
                return "close"
            try:
                await forward_body(up, client, rreader, state.buf)
            except HttpError:  # upstream cut its body short: the client sees a short body
                return "close"
            if not up_keep:
                state.close()
            if body_task is not None:
                if not reader.done:  # answered before the request body ended (413, 401...)
                    return "close"
                await body_task
                if body_error:
                    return "close"
            return "keep" if keep else "close"
        finally:
            if body_task is not None and not body_task.done():
                body_task.cancel()
                try:
                    await body_task
                except asyncio.CancelledError:
                    pass


def _as_http(e: BaseException) -> HttpError:
    return e if isinstance(e, HttpError) else HttpError(400, f"client connection failed during the body: {e}")


class _Upstream:
    """The current upstream connection of one client connection (for reuse)."""

    __slots__ = ("stream", "key", "buf")

    def __init__(self) -> None:
        self.stream: ByteStream | None = None
        self.key: tuple[str, int] | None = None
        self.buf = bytearray()

    @property
    def key_text(self) -> str:
        return join_authority(*self.key) if self.key else "upstream"

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream, self.key = None, None
        self.buf.clear()


# ---------------------------------------------------------------- client side
async def connect_via_http_proxy(
    stream: ByteStream,
    host: str,
    port: int,
    auth: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Open a CONNECT tunnel to ``host:port`` through the HTTP proxy at the other end of ``stream``.

    On success ``stream`` carries the tunnel; bytes that came after the
    proxy's answer are pushed back with ``unread()``. Raises
    ProxyConnectError (a ConnectionRefusedError) with the status line, or
    TimeoutError.
    """
    target = join_authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if auth is not None:
        lines.append(f"Proxy-Authorization: {basic_auth_value(*auth)}")
    stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    buf = bytearray()
    try:
        async with asyncio.timeout(timeout):
            await stream.drain()
            head = await read_head(stream, buf, lambda b: parse_response_head(b, "CONNECT"), MAX_HEAD, 502)
    except TimeoutError:
        raise TimeoutError(f"proxy did not answer CONNECT {target} within {timeout:g}s") from None
    except HttpError as e:
        raise ProxyConnectError(f"proxy sent a bad answer to CONNECT {target}: {e.message}", e.status) from None
    if head is None:
        raise ProxyConnectError(f"proxy closed the connection before answering CONNECT {target}")
    assert isinstance(head, ResponseHead)
    if not 200 <= head.status < 300:
        detail = await _short_body(stream, buf, head)
        kind = head.get(KIND_HEADER)
        raise ProxyConnectError(
            f"proxy refused CONNECT {target}: HTTP/{head.version[0]}.{head.version[1]} {head.status} {head.reason}"
            + (f" ({detail})" if detail else ""),
            head.status,
            kind if kind in _KINDS else None,
        )
    rest = bytes(buf[head.head_len :])
    if rest:
        stream.unread(rest)


async def _short_body(stream: ByteStream, buf: bytearray, head: ResponseHead) -> str:
    """First line of a small error body (at most 512 bytes, 1 s), for the error message."""
    length = head.get("content-length") or ""
    if not length.isdigit() or not 0 < int(length) <= 512:
        return ""
    want = head.head_len + int(length)
    try:
        async with asyncio.timeout(1.0):
            while len(buf) < want:
                data = await stream.read(want - len(buf))
                if not data:
                    break
                buf += data
    except TimeoutError:
        pass
    text = bytes(buf[head.head_len : want]).decode("utf-8", "replace").strip()
    return "".join(c for c in text.splitlines()[0] if c.isprintable())[:200] if text else ""


__all__ = [
    "KIND_HEADER",
    "Dialer",
    "HttpProxy",
    "ProxyConnectError",
    "basic_auth_value",
    "connect_via_http_proxy",
    "credentials_match",
    "forward_body",
    "parse_basic",
    "read_head",
]
