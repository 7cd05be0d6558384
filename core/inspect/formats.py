"""How a captured exchange is shown: decoded bodies, pretty-printing, query parameters, curl, JSON.

Pure functions shared by the GUI's detail pane, the local API and its web page,
so all three show the same thing.
"""
from __future__ import annotations

import base64
import datetime
import gzip
import json
import shlex
import urllib.parse
import xml.dom.minidom
import zlib
from dataclasses import dataclass
from typing import Any

from ..http1 import RequestHead, ResponseHead
from .exchange import Exchange, Message

MAX_PRETTY = 1024 * 1024  # decoded bytes we try to pretty-print at most
MAX_INFLATE = 4 * 1024 * 1024  # a compressed prefix never inflates beyond this


@dataclass(frozen=True, slots=True)
class Body:
    """A body as a person wants to read it."""

    kind: str  # "empty" | "json" | "xml" | "form" | "text" | "binary"
    text: str  # pretty-printed when the kind allows, else the decoded text ("" for binary)
    data: bytes  # decoded bytes (chunked framing and gzip/deflate removed when possible)
    error: str = ""  # e.g. the JSON syntax error: "line 1 column 9: Expecting ',' delimiter"
    error_offset: int = -1  # character index of that error in ``text`` (-1: none)
    truncated: bool = False
    size: int = 0  # bytes on the wire


def dechunk(raw: bytes) -> tuple[bytes, bool]:
    """Chunked wire bytes -> (data, complete). Tolerant: a cut-off prefix gives what it holds."""
    out = bytearray()
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return bytes(out), False
        line = raw[pos:nl].split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            return bytes(out), False
        pos = nl + 1
        if size == 0:
            return bytes(out), True
        out += raw[pos:pos + size]
        if pos + size > len(raw):
            return bytes(out), False
        pos += size
        if raw[pos:pos + 2] == b"\r\n":
            pos += 2
        elif raw[pos:pos + 1] == b"\n":
            pos += 1


def _inflate(data: bytes, coding: str) -> bytes | None:
    try:
        if coding in ("gzip", "x-gzip"):
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            d = zlib.decompressobj()
        else:
            return None
        return d.decompress(data, MAX_INFLATE)
    except (zlib.error, gzip.BadGzipFile):
        return None


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            return v.strip('"\' ')
    return "utf-8"


def body_of(msg: Message | None, head: RequestHead | ResponseHead | None) -> Body:
    """Decode a captured body: chunked framing, then Content-Encoding, then pretty-print by type."""
    if msg is None or not msg.body:
        return Body("empty", "", b"", truncated=msg.truncated if msg else False, size=msg.size if msg else 0)
    data = msg.body
    if head is not None and "chunked" in head.tokens("transfer-encoding"):
        data, _ = dechunk(data)
    coding = head.tokens("content-encoding")[-1] if head is not None and head.tokens("content-encoding") else ""
    if coding and coding != "identity":
        inflated = _inflate(data, coding)
        if inflated is not None:
            data = inflated
    ctype = ((head.get("content-type") if head is not None else None) or "").lower()
    mime = ctype.split(";", 1)[0].strip()
    common = dict(truncated=msg.truncated, size=msg.size)
    try:
        text = data.decode(_charset(ctype))
    except (UnicodeDecodeError, LookupError):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Body("binary", "", data, **common)  # type: ignore[arg-type]
    if len(data) > MAX_PRETTY:
        return Body("text", text, data, **common)  # type: ignore[arg-type]
    looks_json = mime.endswith("json") or mime.endswith("+json") or (not mime and text.lstrip()[:1] in "{[")
    if looks_json and text.strip():
        try:
            return Body("json", json.dumps(json.loads(text), indent=2, ensure_ascii=False), data, **common)  # type: ignore[arg-type]
        except json.JSONDecodeError as e:
            where = f"line {e.lineno} column {e.colno}: {e.msg}"
            if msg.truncated:
                where += " (the body was cut at the capture limit)"
            return Body("json", text, data, error=where, error_offset=e.pos, **common)  # type: ignore[arg-type]
    if mime.endswith("xml") or mime.endswith("+xml"):
        try:
            pretty = xml.dom.minidom.parseString(data).toprettyxml(indent="  ")
            return Body("xml", pretty.split("\n", 1)[1] if pretty.startswith("<?xml") else pretty, data,
                        **common)  # type: ignore[arg-type]
        except Exception as e:  # expat errors come in several types
            return Body("xml", text, data, error=str(e), **common)  # type: ignore[arg-type]
    if mime == "application/x-www-form-urlencoded":
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
        return Body("form", "\n".join(f"{k} = {v}" for k, v in pairs), data, **common)  # type: ignore[arg-type]
    if any(ord(c) < 9 or 13 < ord(c) < 32 for c in text[:2000]):
        return Body("binary", "", data, **common)  # type: ignore[arg-type]
    return Body("text", text, data, **common)  # type: ignore[arg-type]


def query_params(uri: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query, keep_blank_values=True)


def hexdump(data: bytes, limit: int = 64 * 1024) -> str:
    """Offset, hex and printable ASCII, 16 bytes a line (the "raw bytes" view)."""
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off:off + 16]
        hx = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hx:<47}  {asc}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines)


def url_of(ex: Exchange, scheme: str = "http") -> str:
    if ex.uri.startswith(("http://", "https://")):
        return ex.uri
    return f"{scheme}://{ex.host or ex.target}{ex.uri}"


_SKIP_IN_CURL = frozenset(("content-length", "transfer-encoding", "connection", "host"))


def curl_command(ex: Exchange, base_url: str | None = None) -> str:
    """A shell line that sends the captured request again (to ``base_url``, else to its Host)."""
    head = ex.request_head()
    url = (base_url.rstrip("/") + ex.uri) if base_url else url_of(ex)
    parts = ["curl"]
    if ex.method != "GET":
        parts += ["-X", ex.method]
    if base_url and ex.host:
        parts += ["-H", f"Host: {ex.host}"]
    for k, v in head.headers if head is not None else ():
        if k.lower() not in _SKIP_IN_CURL:
            parts += ["-H", f"{k}: {v}"]
    body = body_of(ex.request, head) if ex.request.body else None
    if body is not None and body.data:
        if body.kind == "binary":
            parts += ["--data-binary", "@request-body.bin"]
        else:
            parts += ["--data-binary", body.data.decode("utf-8", "replace")]
    parts.append(url)
    return " ".join(shlex.quote(p) for p in parts)


# ---------------------------------------------------------------- the ngrok agent API's shape

def canonical_header(name: str) -> str:
    """Go's canonical MIME header key (what ngrok's JSON shows): content-type -> Content-Type."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def header_map(head: RequestHead | ResponseHead | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in head.headers if head is not None else ():
        out.setdefault(canonical_header(k), []).append(v)
    return out


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def _body_json(b: Body) -> dict[str, Any]:
    return {"kind": b.kind, "text": b.text, "size": b.size, "truncated": b.truncated, "error": b.error,
            "error_offset": b.error_offset}


def to_json(ex: Exchange, *, detail: bool = True) -> dict[str, Any]:
    """One entry as ngrok's agent API shows it, plus our own fields under ``wm``.

    ``duration`` is nanoseconds, ``raw`` base64 of the head and body prefix, as ngrok's.
    """
    rh = ex.request_head()
    entry: dict[str, Any] = {
        "uri": f"/api/requests/http/{ex.id}",
        "id": ex.id,
        "tunnel_name": ex.tunnel_name,
        "remote_addr": ex.remote_addr,
        "start": rfc3339(ex.start),
        "duration": int((ex.duration or 0) * 1e9),
        "request": {"method": ex.method, "proto": ex.proto, "headers": header_map(rh), "uri": ex.uri,
                    "raw": base64.b64encode(ex.request.raw).decode("ascii")},
        "response": None,
    }
    sh = ex.response_head()
    if ex.response is not None:
        entry["response"] = {"status": f"{ex.status} {ex.reason}".strip(), "status_code": ex.status,
                             "proto": f"HTTP/{sh.version[0]}.{sh.version[1]}" if sh else "",
                             "headers": header_map(sh),
                             "raw": base64.b64encode(ex.response.raw).decode("ascii")}
    wm: dict[str, Any] = {
        "seq": ex.seq, "replay_of": ex.replay_of, "error": ex.error, "target": ex.target, "host": ex.host,
        "path": ex.path, "ttfb": int(ex.ttfb * 1e9) if ex.ttfb is not None else None,
        "request_size": ex.request.size, "response_size": ex.response.size if ex.response else 0,
        "request_truncated": ex.request.truncated,
        "response_truncated": ex.response.truncated if ex.response else False,
    }
    if detail:
        wm["query"] = query_params(ex.uri)
        wm["request_body"] = _body_json(body_of(ex.request, rh))
        wm["response_body"] = _body_json(body_of(ex.response, sh))
        wm["curl"] = curl_command(ex)
    entry["wm"] = wm
    return entry
