"""Sans-io HTTP/1.x message framing: heads, body boundaries, header rules.

Nothing here does I/O. A relay finds a head with :func:`find_head_end`,
parses it, asks :class:`BodyReader` how many of the following bytes belong
to the body, forwards those unchanged (chunked bodies stay chunked) and
starts the next head where the body ended (keep-alive, pipelining).

Used by the HTTP proxy (``core/http_proxy.py``) and by the HTTP mappings
(Host routing and header rewrite rules). Every buffer is bounded: a head is
at most ``max_head`` bytes, a chunk-size line or trailer block likewise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from .errors import WmproxyError
from .frames import HeaderOp, HeaderRule

MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 4 * 1024  # chunk size + extensions

# RFC 9110 token / field-value character classes
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")  # size, then extensions
_VAR = re.compile(r"\{(\w+)\}|\$(\w+)")

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
    )
)  # Transfer-Encoding is hop-by-hop too, but we forward bodies unchanged, so it stays.

# never dropped because a Connection header names them: the framing depends on them
_NEVER_NAMED = frozenset(("transfer-encoding", "content-length", "host"))

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content", 304: "Not Modified",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    407: "Proxy Authentication Required", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}


class HttpError(WmproxyError):
    """The peer's HTTP is unusable; ``status`` is what to answer (400, 431, 501...)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status} {message}")


# ---------------------------------------------------------------- heads
@dataclass(slots=True)
class _Head:
    """Shared header-list helpers. Names keep their case; lookups ignore it."""

    headers: list[tuple[str, str]]

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name``."""
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has(self, name: str) -> bool:
        n = name.lower()
        return any(k.lower() == n for k, _ in self.headers)

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` with one ``name: value`` (at the first one's place)."""
        n = name.lower()
        out: list[tuple[str, str]] = []
        done = False
        for k, v in self.headers:
            if k.lower() == n:
                if not done:
                    out.append((name, value))
                    done = True
            else:
                out.append((k, v))
        if not done:
            out.append((name, value))
        self.headers[:] = out

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def remove(self, name: str) -> int:
        """Drop every ``name``; returns how many were dropped."""
        n = name.lower()
        before = len(self.headers)
        self.headers[:] = [(k, v) for k, v in self.headers if k.lower() != n]
        return before - len(self.headers)

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every ``name`` header, lower-cased (Connection, TE...)."""
        out: list[str] = []
        for v in self.get_all(name):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out

    def _header_bytes(self) -> list[bytes]:
        return [_enc(f"{k}: {v}\r\n") for k, v in self.headers]


@dataclass(slots=True)
class RequestHead(_Head):
    method: str = "GET"
    target: str = "/"
    version: tuple[int, int] = (1, 1)
    head_len: int = 0  # bytes the head took in the input (0 when built by hand)

    def serialize(self) -> bytes:
        line = _enc(f"{self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}\r\n")
        return b"".join([line, *self._header_bytes(), b"\r\n"])

    @property
    def keep_alive(self) -> bool:
        """Does the client want the connection kept open after this exchange?"""
        return _keep_alive(self.version, self.tokens("connection"))


@dataclass(slots=True)
class ResponseHead(_Head):
    status: int = 200
    reason: str = "OK"
    version: tuple[int, int] = (1, 1)
    head_len: int = 0

    def serialize(self) -> bytes:
        line = _enc(f"HTTP/{self.version[0]}.{self.version[1]} {self.status} {self.reason}\r\n")
        return b"".join([line, *self._header_bytes(), b"\r\n"])

    @property
    def keep_alive(self) -> bool:
        return _keep_alive(self.version, self.tokens("connection"))


def _enc(line: str) -> bytes:
    """Parsed text round-trips as latin-1; values set by rules may need UTF-8."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


def _keep_alive(version: tuple[int, int], conn: list[str]) -> bool:
    if "close" in conn:
        return False
    return version >= (1, 1) or "keep-alive" in conn


def find_head_end(buf: bytes | bytearray, start: int = 0, max_head: int = MAX_HEAD) -> int:
    """Index just past the blank line ending a head, or -1 if not there yet.

    ``start`` lets a reader rescan only new bytes (pass the old length minus 3).
    Raises ``HttpError(431)`` once ``max_head`` bytes hold no complete head.
    """
    start = max(0, start)
    limit = min(len(buf), max_head + 4)
    best = -1
    i = buf.find(b"\n\r\n", start, limit)
    if i >= 0:
        best = i + 3
    j = buf.find(b"\n\n", start, limit if best < 0 else best)
    if j >= 0 and (best < 0 or j + 2 < best):
        best = j + 2
    if best < 0 and len(buf) > max_head:
        raise HttpError(431, f"request head larger than {max_head} bytes")
    return best


def _skip_leading_newlines(buf: bytes | bytearray) -> int:
    i = 0
    n = min(len(buf), 8)  # RFC 9112 2.2: ignore at least one empty line before a request
    while i < n and buf[i] in (0x0D, 0x0A):
        i += 1
    return i


def _split_lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\n")
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def _parse_headers(lines: Iterable[bytes]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for ln in lines:
        if not ln:
            continue
        if ln[0] in (0x20, 0x09):
            raise HttpError(400, "obsolete folded header line")
        m = _HEADER_LINE.fullmatch(ln)
        if m is None:
            raise HttpError(400, f"malformed header line {ln[:40]!r}")
        out.append((m.group(1).decode("ascii"), m.group(2).decode("latin-1")))
    return out


def parse_request_head(buf: bytes | bytearray, max_head: int = MAX_HEAD) -> RequestHead | None:
    """A request head from the start of ``buf``; None if incomplete.

    ``head.head_len`` tells how many bytes of ``buf`` it used (the body or the
    next request starts there).
    """
    skip = _skip_leading_newlines(buf)
    end = find_head_end(buf, skip, max_head + skip)
    if end < 0:
        return None
    lines = _split_lines(bytes(buf[skip:end]))
    m = _REQUEST_LINE.fullmatch(lines[0])
    if m is None:
        raise HttpError(400, f"malformed request line {lines[0][:60]!r}")
    version = (int(m.group(3)), int(m.group(4)))
    if version[0] != 1:
        raise HttpError(505, f"HTTP/{version[0]}.{version[1]} not supported")
    head = RequestHead(
        _parse_headers(lines[1:]),
        method=m.group(1).decode("ascii"),
        target=m.group(2).decode("latin-1"),
        version=version,
        head_len=end,
    )
    return head


def parse_response_head(
    buf: bytes | bytearray, request_method: str = "GET", max_head: int = MAX_HEAD
) -> ResponseHead | None:
    """A response head from the start of ``buf``; None if incomplete."""
    end = find_head_end(buf, 0, max_head)
    if end < 0:
        return None
    lines = _split_lines(bytes(buf[:end]))
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise HttpError(502, f"malformed status line {lines[0][:60]!r}")
    return ResponseHead(
        _parse_headers(lines[1:]),
        status=int(m.group(3)),
        reason=(m.group(4) or b"").decode("latin-1"),
        version=(int(m.group(1)), int(m.group(2))),
        head_len=end,
    )


def make_response(
    status: int, body: str | bytes = b"", headers: Iterable[tuple[str, str]] = (), close: bool = True
) -> bytes:
    """A small complete response (errors, 407, 200 Connection established)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    hs = list(headers)
    if body:
        hs.append(("Content-Type", "text/plain; charset=utf-8"))
    hs.append(("Content-Length", str(len(body))))
    if close:
        hs.append(("Connection", "close"))
    return ResponseHead(hs, status=status, reason=REASONS.get(status, "Unknown")).serialize() + body


# ---------------------------------------------------------------- authority
def split_authority(authority: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host without brackets, port).

    Raises ``ValueError`` with a one-line reason.
    """
    a = authority.strip()
    if not a:
        raise ValueError("empty address")
    if a.startswith("["):
        close = a.find("]")
        if close < 0:
            raise ValueError(f"unclosed '[' in {authority!r}")
        host, rest = a[1:close], a[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"junk after ']' in {authority!r}")
        port_s = rest[1:] if rest else ""
    elif a.count(":") == 1:
        host, port_s = a.split(":")
    elif ":" in a:  # a bare IPv6 address without port
        host, port_s = a, ""
    else:
        host, port_s = a, ""
    if not host:
        raise ValueError(f"no host in {authority!r}")
    if not port_s:
        if default_port is None:
            raise ValueError(f"no port in {authority!r}")
        return host, default_port
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ValueError(f"bad port {port_s!r} in {authority!r}")
    return host, int(port_s)


def join_authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------- bodies
NONE, LENGTH, CHUNKED, CLOSE = "none", "length", "chunked", "close"
_C_SIZE, _C_DATA, _C_DATA_END, _C_TRAILER, _C_DONE = range(5)


def _content_length(head: _Head) -> int | None:
    values = head.get_all("content-length")
    if not values:
        return None
    parts = {p.strip() for v in values for p in v.split(",")}
    if len(parts) != 1:
        raise HttpError(400, "conflicting Content-Length values")
    (v,) = parts
    if not v.isdigit() or len(v) > 18:
        raise HttpError(400, f"bad Content-Length {v[:20]!r}")
    return int(v)


def request_body_kind(head: RequestHead) -> tuple[str, int]:
    """(kind, length) of a request body: chunked, length or none (RFC 9112 6.3)."""
    te = head.tokens("transfer-encoding")
    if te:
        if head.has("content-length"):
            raise HttpError(400, "both Transfer-Encoding and Content-Length (request smuggling guard)")
        if te[-1] != "chunked":
            raise HttpError(501 if "chunked" not in te else 400, f"unsupported Transfer-Encoding {','.join(te)}")
        return CHUNKED, 0
    n = _content_length(head)
    if n:
        return LENGTH, n
    return NONE, 0


def response_body_kind(head: ResponseHead, request_method: str) -> tuple[str, int]:
    """(kind, length) of a response body, given the method that asked for it."""
    if request_method == "HEAD" or 100 <= head.status < 200 or head.status in (204, 304):
        return NONE, 0
    if request_method == "CONNECT" and 200 <= head.status < 300:
        return NONE, 0
    te = head.tokens("transfer-encoding")
    if te:
        return (CHUNKED, 0) if te[-1] == "chunked" else (CLOSE, 0)
    n = _content_length(head)
    if n is None:
        return CLOSE, 0
    return (LENGTH, n) if n else (NONE, 0)


class BodyReader:
    """Tells how many fed bytes belong to the current body, without copying them.

    ``feed(data)`` returns n: ``data[:n]`` is body (forward it as is), and when
    ``done`` turns true ``data[n:]`` starts the next message. Chunked framing
    is tracked with a few small bounded buffers; chunk data is skipped in one
    step, so the cost is per chunk, not per byte.
    """

    __slots__ = ("kind", "remaining", "done", "_cstate", "_line", "max_line")

    def __init__(self, kind: str, length: int = 0, max_line: int = MAX_HEAD) -> None:
        self.kind = kind
        self.remaining = length
        self.done = kind == NONE or (kind == LENGTH and length == 0)
        self._cstate = _C_SIZE
        self._line = bytearray()  # partial chunk-size line / trailer block
        self.max_line = max_line

    @classmethod
    def for_request(cls, head: RequestHead) -> "BodyReader":
        return cls(*request_body_kind(head))

    @classmethod
    def for_response(cls, head: ResponseHead, request_method: str) -> "BodyReader":
        return cls(*response_body_kind(head, request_method))

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        if self.done:
            return 0
        if self.kind == CLOSE:
            return len(data)
        if self.kind == LENGTH:
            n = min(self.remaining, len(data))
            self.remaining -= n
            if not self.remaining:
                self.done = True
            return n
        return self._feed_chunked(data)

    def eof(self) -> None:
        """The stream ended. Fine for read-until-close; otherwise the body was cut short."""
        if self.kind == CLOSE:
            self.done = True
        elif not self.done:
            raise HttpError(400, "connection closed in the middle of a body")

    def _feed_chunked(self, data: bytes | bytearray | memoryview) -> int:
        pos, n = 0, len(data)
        while pos < n and not self.done:
            st = self._cstate
            if st == _C_DATA:
                take = min(self.remaining, n - pos)
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self._cstate = _C_DATA_END
            elif st == _C_SIZE or st == _C_DATA_END:
                limit = MAX_CHUNK_LINE if st == _C_SIZE else 2
                window = limit + 1 - len(self._line)  # never buffer more than limit + 1
                nl = _find_nl(data, pos, window)
                end = min(n, pos + window) if nl < 0 else nl + 1
                self._line += data[pos:end]
                pos = end
                if len(self._line) > limit:
                    raise HttpError(400, "malformed chunked body (line too long)")
                if nl < 0:
                    continue
                line = bytes(self._line).rstrip(b"\r\n")
                self._line.clear()
                if st == _C_DATA_END:
                    if line:
                        raise HttpError(400, "malformed chunked body (no CRLF after chunk data)")
                    self._cstate = _C_SIZE
                    continue
                m = _CHUNK_SIZE.fullmatch(line)
                if m is None:
                    raise HttpError(400, f"malformed chunk size {line[:20]!r}")
                size = int(m.group(1), 16)
                if size:
                    self.remaining = size
                    self._cstate = _C_DATA
                else:
                    self._cstate = _C_TRAILER
            else:  # trailer section: lines until an empty one
                window = self.max_line + 1 - len(self._line)
                nl = _find_nl(data, pos, window)
                end = min(n, pos + window) if nl < 0 else nl + 1
                self._line += data[pos:end]
                pos = end
                if len(self._line) > self.max_line:
                    raise HttpError(431, "chunked trailer section too large")
                if nl < 0:
                    continue
                if self._line in (b"\r\n", b"\n"):
                    self.done = True
                    self._cstate = _C_DONE
                    self._line.clear()
                elif self._line.endswith(b"\n\r\n") or self._line.endswith(b"\n\n"):
                    self.done = True
                    self._cstate = _C_DONE
                    self._line.clear()
        return pos


def _find_nl(data: bytes | bytearray | memoryview, start: int, window: int) -> int:
    """Index of the next LF in ``data[start:start+window]``, or -1 (never scans further)."""
    if isinstance(data, memoryview):
        i = bytes(data[start : start + window]).find(b"\n")
        return -1 if i < 0 else start + i
    return data.find(b"\n", start, start + window)


# ---------------------------------------------------------------- header rules
def expand(template: str, variables: Mapping[str, str]) -> str:
    """``{name}`` and ``$name`` -> variables[name]; unknown names stay as written.

    CR and LF are dropped from the result so a variable (say a client-chosen
    URL) can never inject a header line.
    """
    if "{" in template or "$" in template:

        def sub(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            v = variables.get(name)
            return m.group(0) if v is None else str(v)

        template = _VAR.sub(sub, template)
    if "\r" in template or "\n" in template:
        template = template.replace("\r", "").replace("\n", "")
    return template


def apply_header_rules(
    head: RequestHead | ResponseHead,
    rules: Iterable[HeaderRule],
    variables: Mapping[str, str] | None = None,
    is_proxy: bool | None = None,
) -> None:
    """Apply upstream wmproxy header rules in order, in place.

    Rules with ``is_proxy`` true rewrite requests going to the service, the
    others rewrite responses going back to the client; which set applies is
    taken from the head's type unless ``is_proxy`` is given.
    REPLACE sets (overwrites), ADD appends another value, DEL removes,
    DEFAULT sets only when absent.
    """
    want = isinstance(head, RequestHead) if is_proxy is None else is_proxy
    variables = variables or {}
    for r in rules:
        if r.is_proxy != want:
            continue
        if r.oper == HeaderOp.DEL:
            head.remove(r.key)
        elif r.oper == HeaderOp.ADD:
            head.add(r.key, expand(r.val, variables))
        elif r.oper == HeaderOp.DEFAULT:
            if not head.has(r.key):
                head.add(r.key, expand(r.val, variables))
        else:
            head.set(r.key, expand(r.val, variables))


def strip_hop_by_hop(head: RequestHead | ResponseHead) -> None:
    """Remove hop-by-hop headers, including those the Connection header names."""
    named = set(head.tokens("connection")) - _NEVER_NAMED
    drop = HOP_BY_HOP | named
    if any(k.lower() in drop for k, _ in head.headers):
        head.headers[:] = [(k, v) for k, v in head.headers if k.lower() not in drop]
