"""The inspector's local HTTP API (shaped like the ngrok agent's) and its web page.

    GET    /                          the web page (web/index.html, app.js, style.css)
    GET    /api/tunnels               the mappings, ngrok-style
    GET    /api/requests/http         {"requests": [...]} newest first; ?limit=50&tunnel_name=&raw=1
    GET    /api/requests/http/{id}    one entry
    POST   /api/requests/http         {"id": ..., "tunnel_name": ...} replays -> 204 (X-Replay-Id: new id);
                                      our addition "wm_edit": {"method", "uri", "headers": [[k, v]], "body"}
    DELETE /api/requests/http         clears -> 204

Loopback only unless a token is set (``Authorization: Bearer TOKEN``, or Basic with
TOKEN as the password, which a browser asks for). Without a token, requests must
name a loopback host (a DNS-rebinding page cannot read captures), and state
changes need JSON and a same-origin Origin (a cross-site form cannot replay or
clear). Every read has a deadline and a size limit.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import importlib.resources
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from ..config import MappingConfig, format_addr, is_loopback_host, parse_addr
from ..errors import ConfigError, WmproxyError
from ..http1 import MAX_HEAD, REASONS, HttpError, RequestHead, ResponseHead, parse_request_head, split_authority
from .formats import to_json
from .replay import ReplayEdit, ReplayError, replay
from .ring import CaptureRing

log = logging.getLogger("wmproxy.inspect.api")

HEAD_TIMEOUT = 10.0  # to send a whole request head
IDLE_TIMEOUT = 30.0  # keep-alive: between requests
BODY_TIMEOUT = 10.0
MAX_BODY = 4 * 1024 * 1024  # an edited replay's JSON (base64 body included)
MAX_CONNECTIONS = 64
DEFAULT_LIMIT = 50  # as ngrok's list
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/style.css": ("style.css", "text/css; charset=utf-8")}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


_REASONS = {**REASONS, 401: "Unauthorized", 415: "Unsupported Media Type"}


class InspectorError(WmproxyError):
    """The inspector API cannot start as configured."""


class _Reply(Exception):
    """An error answer: raised inside a handler, turned into ngrok-style error JSON."""

    def __init__(self, status: int, msg: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.headers = headers


def _static(name: str) -> bytes:
    return (importlib.resources.files(__package__) / "web" / name).read_bytes()


class InspectorApi:
    """``await start()``; ``url`` says where it listens; ``await stop()``.

    ``resolve_target(tunnel_name)`` gives the local_addr of a configured mapping (None: none
    by that name); ``tunnels()`` the mapping list for /api/tunnels.
    """

    def __init__(self, ring: CaptureRing, *, bind: str = "127.0.0.1:0", token: str | None = None,
                 resolve_target: Callable[[str], str | None] | None = None,
                 tunnels: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.ring = ring
        self.bind = bind
        self.token = token
        self.resolve_target = resolve_target
        self.tunnels = tunnels
        self.address: tuple[str, int] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._pages: dict[str, bytes] = {}

    @property
    def url(self) -> str:
        if self.address is None:
            return ""
        host, port = self.address
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        return f"http://{format_addr(shown, port)}/"

    async def start(self) -> None:
        try:
            host, port = parse_addr(self.bind, listen=True)
        except ConfigError as e:
            raise InspectorError(f"inspector bind {self.bind!r}: {e.problem}") from None
        if not self.token and not is_loopback_host(host):
            raise InspectorError(f"refusing to serve the inspector on {self.bind} without a token: "
                                 "set [client.inspect] token, or bind to 127.0.0.1")
        self._pages = {path: _static(name) for path, (name, _) in STATIC.items()}
        try:
            self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD + 8)
        except OSError as e:
            from ..server import listen_error

            raise InspectorError(str(listen_error(self.bind, e))) from None
        self.address = self._server.sockets[0].getsockname()[:2]
        log.info("inspector API on %s", self.url)

    async def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is not None:
            srv.close()
            for w in list(self._conns):
                w.close()
            try:
                await asyncio.wait_for(srv.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
        self.address = None

    # ---------------------------------------------------------------- connection
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._conns) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._conns.add(writer)
        try:
            first = True
            while True:
                try:
                    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                 HEAD_TIMEOUT if first else IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._send(writer, 431, *_error_body(431, "request head too large"), close=True)
                    return
                first = False
                try:
                    head = parse_request_head(raw)
                except HttpError as e:
                    await self._send(writer, e.status, *_error_body(e.status, e.message), close=True)
                    return
                assert head is not None
                keep = head.keep_alive
                try:
                    body = await self._read_body(reader, head)
                    status, ctype, payload, extra = await self._handle(head, body)
                except _Reply as r:
                    status, (ctype, payload), extra = r.status, _error_body(r.status, r.msg), r.headers
                    if r.status in (400, 411, 413):
                        keep = False
                await self._send(writer, status, ctype, payload, extra, close=not keep, head_only=head.method == "HEAD")
                if not keep:
                    return
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _read_body(self, reader: asyncio.StreamReader, head: RequestHead) -> bytes:
        if head.has("transfer-encoding"):
            raise _Reply(411, "send the body with Content-Length")
        n = head.get("content-length")
        if not n:
            return b""
        if not n.strip().isdigit():
            raise _Reply(400, "bad Content-Length")
        size = int(n)
        if size > MAX_BODY:
            raise _Reply(413, f"request body larger than {MAX_BODY} bytes")
        try:
            return await asyncio.wait_for(reader.readexactly(size), BODY_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError):
            raise _Reply(400, "request body incomplete") from None

    async def _send(self, writer: asyncio.StreamWriter, status: int, ctype: str, payload: bytes,
                    extra: tuple[tuple[str, str], ...] = (), *, close: bool = False, head_only: bool = False) -> None:
        hs = [("Content-Type", ctype)] if ctype else []
        hs += [("Content-Length", str(len(payload))), ("Cache-Control", "no-store"),
               ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), *extra]
        if close:
            hs.append(("Connection", "close"))
        head = ResponseHead(hs, status=status, reason=_REASONS.get(status, "OK" if status < 300 else "Error"))
        writer.write(head.serialize() + (b"" if head_only or status == 204 else payload))
        await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)

    # ---------------------------------------------------------------- requests
    def _check_access(self, head: RequestHead) -> None:
        if self.token:
            if not self._token_ok(head.get("authorization") or ""):
                raise _Reply(401, "this inspector needs its token (Authorization: Bearer TOKEN)",
                             (("WWW-Authenticate", 'Basic realm="wmproxy-gui inspector", charset="UTF-8"'),))
        else:
            host = head.get("host") or ""
            try:
                name, _ = split_authority(host, 80)
            except ValueError:
                name = ""
            if not is_loopback_host(name):
                raise _Reply(403, f"Host {host[:60]!r} refused: without a token the inspector answers "
                                  "only to loopback names (127.0.0.1, localhost, [::1])")
        if head.method not in ("GET", "HEAD"):
            origin = head.get("origin")
            if origin is not None and origin != "null":
                ohost = urllib.parse.urlsplit(origin).netloc
                if ohost.lower() != (head.get("host") or "").lower():
                    raise _Reply(403, "cross-origin requests are refused")
            elif origin == "null":
                raise _Reply(403, "cross-origin requests are refused")

    def _token_ok(self, auth: str) -> bool:
        assert self.token
        want = self.token.encode("utf-8")
        scheme, _, value = auth.strip().partition(" ")
        got = b""
        if scheme.lower() == "bearer":
            got = value.strip().encode("utf-8", "replace")
        elif scheme.lower() == "basic":
            try:
                got = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                got = b""
        return hmac.compare_digest(got, want)

    async def _handle(self, head: RequestHead, body: bytes) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
        self._check_access(head)
        split = urllib.parse.urlsplit(head.target)
        path = split.path or "/"
        query = dict(urllib.parse.parse_qsl(split.query))
        method = head.method
        if path in STATIC:
            if method not in ("GET", "HEAD"):
                raise _Reply(405, f"{method} {path} is not supported")
            extra = (("Content-Security-Policy", PAGE_CSP), ("X-Frame-Options", "DENY"))
            return 200, STATIC[path][1], self._pages[path], extra
        if path in ("/api", "/api/"):
            return _json(200, {"uri": "/api/", "tunnels_uri": "/api/tunnels", "requests_uri": "/api/requests/http"})
        if path == "/api/tunnels":
            return _json(200, {"uri": "/api/tunnels", "tunnels": self.tunnels() if self.tunnels else []})
        if path == "/api/requests/http":
            if method in ("GET", "HEAD"):
                return self._list(query)
            if method == "POST":
                return await self._replay(head, body)
            if method == "DELETE":
                self.ring.clear()
                return 204, "", b"", ()
            raise _Reply(405, f"{method} {path} is not supported")
        if path.startswith("/api/requests/http/"):
            if method not in ("GET", "HEAD"):
                raise _Reply(405, f"{method} {path} is not supported")
            ex = self.ring.get(path.rsplit("/", 1)[1])
            if ex is None:
                raise _Reply(404, "no captured request with this id (it may have been evicted or cleared)")
            return _json(200, to_json(ex))
        raise _Reply(404, f"no such resource {path[:80]!r}")

    def _list(self, query: dict[str, str]) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise _Reply(400, "limit must be a number") from None
        tunnel = query.get("tunnel_name")
        with_raw = query.get("raw", "1") not in ("0", "false")
        items = [e for e in reversed(self.ring.items()) if tunnel is None or e.tunnel_name == tunnel]
        out = []
        for ex in items[:max(0, limit)]:
            entry = to_json(ex, detail=False)
            if not with_raw:
                entry["request"].pop("raw", None)
                if entry["response"]:
                    entry["response"].pop("raw", None)
            out.append(entry)
        return _json(200, {"uri": "/api/requests/http", "requests": out,
                           "wm": {"version": self.ring.version, "count": len(self.ring),
                                  "bytes": self.ring.used_bytes, "max_bytes": self.ring.max_bytes,
                                  "skipped": self.ring.skipped, "max_rate": self.ring.max_rate}})

    async def _replay(self, head: RequestHead, body: bytes) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
        ctype = (head.get("content-type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise _Reply(415, "send the replay request as application/json")
        try:
            req = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Reply(400, "the body is not valid JSON") from None
        if not isinstance(req, dict) or not isinstance(req.get("id"), str):
            raise _Reply(400, 'expected {"id": "...", "tunnel_name": "..."}')
        ex = self.ring.get(req["id"])
        if ex is None:
            raise _Reply(404, "no captured request with this id (it may have been evicted or cleared)")
        tunnel = req.get("tunnel_name") or ex.tunnel_name
        if not isinstance(tunnel, str):
            raise _Reply(400, "tunnel_name must be a string")
        target = self.resolve_target(tunnel) if self.resolve_target is not None else None
        if target is None:
            if tunnel != ex.tunnel_name:
                raise _Reply(404, f"no http/https mapping named {tunnel!r}")
            target = ex.target
        edit = _edit_of(req.get("wm_edit"))
        try:
            new = await replay(self.ring, ex, target, edit, tunnel_name=tunnel)
        except ReplayError as e:
            raise _Reply(400, str(e)) from None
        return 204, "", b"", (("X-Replay-Id", new.id),)


def _edit_of(raw: Any) -> ReplayEdit | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _Reply(400, "wm_edit must be an object")
    edit = ReplayEdit()
    for key in ("method", "uri"):
        v = raw.get(key)
        if v is not None and not isinstance(v, str):
            raise _Reply(400, f"wm_edit.{key} must be a string")
        setattr(edit, key, v)
    hs = raw.get("headers")
    if hs is not None:
        if not isinstance(hs, list) or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                               for p in hs):
            raise _Reply(400, 'wm_edit.headers must be [["Name", "value"], ...]')
        edit.headers = [(k, v) for k, v in hs]
    if raw.get("body_base64") is not None:
        try:
            edit.body = base64.b64decode(raw["body_base64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise _Reply(400, "wm_edit.body_base64 is not base64") from None
    elif raw.get("body") is not None:
        if not isinstance(raw["body"], str):
            raise _Reply(400, "wm_edit.body must be a string")
        edit.body = raw["body"].encode("utf-8")
    return edit


def _json(status: int, obj: Any) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
    return status, "application/json", json.dumps(obj, ensure_ascii=False).encode("utf-8"), ()


def _error_body(status: int, msg: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"error_code": 100 + status, "status_code": status, "msg": msg,
                                           "details": {}}).encode("utf-8")


def for_mappings(ring: CaptureRing, mappings: Callable[[], Iterable[MappingConfig]], *, bind: str = "127.0.0.1:0",
                 token: str | None = None) -> InspectorApi:
    """An API whose replays go to the http/https mappings that ``mappings()`` lists at the time."""

    def web(name: str) -> MappingConfig | None:
        return next((m for m in mappings() if m.name == name and m.mode in ("http", "https")), None)

    def resolve(name: str) -> str | None:
        m = web(name)
        return m.local_addr if m is not None else None

    def tunnels() -> list[dict[str, Any]]:
        return [{"name": m.name, "public_url": "", "proto": m.mode,
                 "config": {"addr": m.local_addr, "inspect": m.inspect, "domain": m.domain}}
                for m in mappings() if m.mode in ("http", "https") and m.enabled]

    return InspectorApi(ring, bind=bind, token=token, resolve_target=resolve, tunnels=tunnels)
