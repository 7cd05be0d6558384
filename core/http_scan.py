"""Strict, lean scanning of HTTP/1.x message heads for a reverse proxy (sans-io).

A relay that routes every request by its own Host and keeps request and
response boundaries in step must read every head. ``core/http1.py`` builds
full header lists (for rewriting); this module only validates a head and
pulls out what routing and framing need, in a few C-level regex calls, so
the per-request cost stays small on the splice path.

Validation is the smuggling guard of the public HTTP listeners: a head is
refused (``HttpError``, answered 400 and the connection closed, before a byte
is forwarded) when it has obsolete line folding, whitespace before a colon,
control characters, a Transfer-Encoding other than a single final
``chunked``, Transfer-Encoding with Content-Length, Transfer-Encoding in
HTTP/1.0, duplicate or non-numeric Content-Length, no or several Host
headers (HTTP/1.1), or more header lines than allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .http1 import CHUNKED, CLOSE, LENGTH, MAX_HEAD, NONE, HttpError, _skip_leading_newlines, find_head_end

MAX_HEADERS = 100

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\r?\n")
# every header line: a token, a colon right after it, a value without control characters
_FIELDS = re.compile(rb"(?:" + _TOKEN + rb":[^\x00-\x08\x0a-\x1f\x7f]*\r?\n)*\r?\n")
_FRAMING = re.compile(rb"^(host|content-length|transfer-encoding|connection|upgrade):[ \t]*(.*?)[ \t]*\r?$",
                      re.I | re.M)


_FAST_REQUEST = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/1\.([01])\r\n")
_FAST_STATUS = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\r\n")


def _authority_host(rest: bytes) -> str:
    """``user@host:port`` of an absolute-form target (what follows ``scheme://``) -> ``host:port``."""
    return rest.split(b"/", 1)[0].split(b"?", 1)[0].rpartition(b"@")[2].decode("latin-1")


def _value(low: bytes, head: bytes, key: bytes) -> bytes | None:
    """The value of the one header ``key`` (``b"\\nname:"``) in a validated head; None if absent."""
    i = low.find(key)
    if i < 0:
        return None
    j = head.find(b"\r\n", i + 1)
    return head[i + len(key):j].strip(b" \t")


def _fast_keep_alive(minor: int, conn: bytes | None) -> bool:
    if conn is None:
        return minor >= 1
    tokens = [t.strip() for t in conn.lower().split(b",")]
    if b"close" in tokens:
        return False
    return minor >= 1 or b"keep-alive" in tokens


@dataclass(slots=True)
class RequestInfo:
    method: str
    target: str
    version: tuple[int, int]
    host: str  # the Host header (or the authority of an absolute-form target), "" if none
    body: str  # NONE | LENGTH | CHUNKED
    length: int  # body length for LENGTH
    keep_alive: bool
    upgrade: bool  # asks to switch protocols (websocket, h2c): the answer decides what follows
    head_len: int  # bytes of the buffer the head took (leading empty lines included)
    skip: int  # empty lines before the request line


@dataclass(slots=True)
class ResponseInfo:
    status: int
    version: tuple[int, int]
    body: str  # NONE | LENGTH | CHUNKED | CLOSE
    length: int
    keep_alive: bool
    head_len: int

    def whole_in(self, size: int) -> bool:
        """``size`` bytes that begin with this head are exactly one whole final answer (not 1xx,
        not a body that runs until the connection closes): they can be passed on as they are."""
        tail = size - self.head_len
        return self.status >= 200 and ((self.body == LENGTH and self.length == tail)
                                       or (self.body == NONE and tail == 0))


def _fields(head: bytes, start: int, status: int, max_headers: int) -> list[tuple[bytes, bytes]]:
    """The framing fields (lower-cased names) of the header lines in ``head[start:]``, validated."""
    if _FIELDS.fullmatch(head, start) is None:
        raise HttpError(status, "malformed header line (folding, whitespace before ':' or control characters)")
    if head.count(b"\n", start) - 1 > max_headers:
        raise HttpError(431 if status == 400 else status, f"more than {max_headers} header lines")
    return [(k.lower(), v) for k, v in _FRAMING.findall(head, start)]


def _tokens(values: list[bytes]) -> list[bytes]:
    return [t.strip().lower() for v in values for t in v.split(b",") if t.strip()]


def _framing(fields: list[tuple[bytes, bytes]], version: tuple[int, int], status: int,
             what: str) -> tuple[str, int, list[bytes], bool]:
    """(body kind, length, Connection tokens, has Upgrade) from the framing fields, strictly."""
    te: list[bytes] = []
    cl: list[bytes] = []
    conn: list[bytes] = []
    upgrade = False
    for k, v in fields:
        if k == b"transfer-encoding":
            te.append(v)
        elif k == b"content-length":
            cl.append(v)
        elif k == b"connection":
            conn.append(v)
        elif k == b"upgrade":
            upgrade = True
    tokens = _tokens(conn)
    if te:
        codings = _tokens(te)
        if cl:
            raise HttpError(status, f"{what} has both Transfer-Encoding and Content-Length")
        if version < (1, 1):
            raise HttpError(status, f"Transfer-Encoding in an HTTP/1.0 {what}")
        if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
            shown = b",".join(codings).decode("latin-1")[:40]
            raise HttpError(status, f"unsupported Transfer-Encoding {shown!r} (only a final chunked)")
        return CHUNKED, 0, tokens, upgrade
    if cl:
        if len(cl) > 1:
            raise HttpError(status, f"{what} has several Content-Length headers")
        v = cl[0]
        if not v.isdigit() or len(v) > 18:
            raise HttpError(status, f"bad Content-Length {v[:20].decode('latin-1')!r}")
        n = int(v)
        return (LENGTH if n else NONE), n, tokens, upgrade
    return NONE, 0, tokens, upgrade


def _keep_alive(version: tuple[int, int], tokens: list[bytes]) -> bool:
    if b"close" in tokens:
        return False
    return version >= (1, 1) or b"keep-alive" in tokens


def scan_request(buf: bytes | bytearray, max_head: int = MAX_HEAD, max_headers: int = MAX_HEADERS,
                 scanned: int = 0) -> RequestInfo | None:
    """The request head at the start of ``buf``, validated; None until it is complete.

    ``scanned``: bytes already searched for the end of the head (rescans only new bytes).
    Raises ``HttpError`` (400, 431, 501, 505) for a head that must be refused.

    The common head (CRLF lines, one Host, at most one Content-Length, no Transfer-Encoding, no
    Upgrade, origin-form target) takes a fast path of a few C-level searches; anything else goes
    the general way below, which applies the same checks in full.
    """
    if buf[:1] not in (b"\r", b"\n"):
        end = buf.find(b"\r\n\r\n", max(0, scanned - 3), max_head + 4)
        if end < 0:
            if len(buf) <= max_head:
                return None
        else:
            end += 4
            head = bytes(buf[:end])
            m = _FAST_REQUEST.match(head)
            if m is not None and _FIELDS.fullmatch(head, m.end()) is not None \
                    and head.count(b"\n") - 2 <= max_headers:
                low = head.lower()
                target = m.group(2)
                # origin-form with one Host; or absolute-form http:// (a forward proxy's request:
                # the target names the host, a Host header is optional)
                origin = target[:1] == b"/"
                hosts = low.count(b"\nhost:")
                if ((hosts == 1 if origin else (hosts <= 1 and target[:7] == b"http://"))
                        and b"\ntransfer-encoding:" not in low
                        and low.count(b"\ncontent-length:") <= 1 and b"\nupgrade:" not in low
                        and low.count(b"\nconnection:") <= 1):
                    cl = _value(low, head, b"\ncontent-length:")
                    if cl is None or (cl.isdigit() and len(cl) <= 18):
                        n = int(cl) if cl else 0
                        minor = m.group(3)[0] - 48
                        method = m.group(1).decode("ascii")
                        host = (_value(low, head, b"\nhost:").decode("latin-1")  # type: ignore[union-attr]
                                if origin else _authority_host(target[7:]))
                        return RequestInfo(method, target.decode("latin-1"), (1, minor), host,
                                           LENGTH if n else NONE, n,
                                           _fast_keep_alive(minor, _value(low, head, b"\nconnection:")),
                                           method == "CONNECT", end, 0)
    skip = _skip_leading_newlines(buf)
    end = find_head_end(buf, max(skip, scanned - 3), max_head + skip)
    if end < 0:
        return None
    head = bytes(buf[skip:end])
    m = _REQUEST_LINE.match(head)
    if m is None:
        line = head.split(b"\n", 1)[0][:60]
        if line.endswith(b"HTTP/2.0\r") or line.startswith(b"PRI * HTTP/2"):
            raise HttpError(505, "HTTP/2 without TLS is not served here (use the https mapping)")
        raise HttpError(400, f"malformed request line {line!r}")
    version = (int(m.group(3)), int(m.group(4)))
    if version[0] != 1:
        raise HttpError(505, f"HTTP/{version[0]}.{version[1]} not supported")
    fields = _fields(head, m.end(), 400, max_headers)
    body, length, conn, upgrade = _framing(fields, version, 400, "request")
    hosts = [v for k, v in fields if k == b"host"]
    if len(hosts) > 1:
        raise HttpError(400, "several Host headers")
    target = m.group(2).decode("latin-1")
    host = hosts[0].decode("latin-1") if hosts else ""
    if target[:7].lower() == "http://" or target[:8].lower() == "https://":
        host = _authority_host(target.split("://", 1)[1].encode("latin-1"))
    elif not hosts and version >= (1, 1):
        raise HttpError(400, "no Host header")
    method = m.group(1).decode("ascii")
    return RequestInfo(method, target, version, host, body, length, _keep_alive(version, conn),
                       upgrade or method == "CONNECT", end, skip)


def scan_response(buf: bytes | bytearray, method: str, max_head: int = MAX_HEAD,
                  max_headers: int = MAX_HEADERS) -> ResponseInfo | None:
    """The response head at the start of ``buf`` (to a ``method`` request); None until complete.

    Raises ``HttpError(502)`` for a head a client must not see (the service is at fault).
    The common head (CRLF lines, a Content-Length or none, no Transfer-Encoding) takes a fast path.
    """
    end = buf.find(b"\r\n\r\n", 0, max_head + 4)
    if end >= 0:
        end += 4
        head = bytes(buf[:end])
        m = _FAST_STATUS.match(head)
        if m is not None and _FIELDS.fullmatch(head, m.end()) is not None \
                and head.count(b"\n") - 2 <= max_headers:
            low = head.lower()
            if (b"\ntransfer-encoding:" not in low and low.count(b"\ncontent-length:") <= 1
                    and low.count(b"\nconnection:") <= 1):
                cl = _value(low, head, b"\ncontent-length:")
                if cl is None or (cl.isdigit() and len(cl) <= 18):
                    minor = m.group(1)[0] - 48
                    status = int(m.group(2))
                    keep = _fast_keep_alive(minor, _value(low, head, b"\nconnection:"))
                    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
                        return ResponseInfo(status, (1, minor), NONE, 0, keep, end)
                    if cl is None:
                        return ResponseInfo(status, (1, minor), CLOSE, 0, keep, end)
                    n = int(cl)
                    return ResponseInfo(status, (1, minor), LENGTH if n else NONE, n, keep, end)
    end = find_head_end(buf, 0, max_head)
    if end < 0:
        return None
    head = bytes(buf[:end])
    m = _STATUS_LINE.match(head)
    if m is None:
        line = head.split(b"\n", 1)[0][:60]
        raise HttpError(502, f"malformed status line {line!r}")
    version = (int(m.group(1)), int(m.group(2)))
    status = int(m.group(3))
    fields = _fields(head, m.end(), 502, max_headers)
    body, length, conn, _ = _framing(fields, version, 502, "response")
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        body, length = NONE, 0
    elif body == NONE and not any(k == b"content-length" for k, _ in fields):
        body = CLOSE  # no length: the body ends when the connection does
    return ResponseInfo(status, version, body, length, _keep_alive(version, conn), end)


_CONNECTION_LINE = re.compile(rb"\r?\nconnection:([^\r\n]*)", re.I)


def without_connection_close(head: bytes) -> bytes | None:
    """A validated request head whose only Connection header says just ``close`` -> the same head
    without that header; None for any other Connection header (or several of them).

    A reverse proxy that keeps its upstream connection for the next client (upstream keep-alive)
    must not pass on a client's ``Connection: close``: it is hop-by-hop, and the service would
    close the connection we mean to keep. Anything more in the header (other connection options
    name headers that are hop-by-hop too) is left alone, and that channel is not kept.
    """
    found = list(_CONNECTION_LINE.finditer(head))
    if len(found) != 1 or found[0].group(1).strip(b" \t").lower() != b"close":
        return None
    m = found[0]
    return head[:m.start()] + head[m.end():]


_CONNECTION_AUTH = re.compile(rb"\n(?:proxy-)?(?:authorization|www-authenticate|proxy-authenticate):[ \t]*"
                              rb"(?:ntlm|negotiate)\b", re.I)


def binds_connection(head: bytes | bytearray) -> bool:
    """A head of an authentication scheme whose login holds for the TCP connection (NTLM,
    Negotiate): a connection that carried one must never carry another client's requests."""
    return _CONNECTION_AUTH.search(head) is not None


def with_connection_close(head: bytes) -> bytes:
    """A validated response head that says ``Connection: close`` (any Connection header replaced):
    the answer to a request whose ``Connection: close`` was not passed on, so the client knows
    that this hop closes after it (RFC 9112, 9.6) and does not send another request first."""
    head = _CONNECTION_LINE.sub(b"", head)
    head = head[:-2] if head.endswith(b"\r\n") else head[:-1]  # the empty line that ends the head
    return head + b"Connection: close\r\n\r\n"


__all__ = ["CHUNKED", "CLOSE", "LENGTH", "MAX_HEADERS", "NONE", "RequestInfo", "ResponseInfo",
           "binds_connection", "scan_request", "scan_response", "with_connection_close",
           "without_connection_close"]
