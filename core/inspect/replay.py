"""Replay: send a captured request (as it was, or edited) to the local service again.

``build_request`` is pure: the bytes to send. ``replay`` is the thin asyncio part:
connect, send, watch the answer with the same observer the tunnel uses, and put
the result in the ring as a new exchange marked ``replay_of``. Only the local
service of a mapping is ever dialled, never an address a caller supplies.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..config import parse_addr
from ..errors import ConfigError, WmproxyError
from ..http1 import HttpError, RequestHead, parse_request_head
from .exchange import Exchange
from .observer import ExchangeObserver
from .ring import CaptureRing

REPLAY_TIMEOUT = 30.0  # connect + whole response
MAX_RESPONSE_READ = 64 * 1024 * 1024  # a replay reads at most this much of the answer


class ReplayError(WmproxyError):
    """The request cannot be replayed as asked (one line saying why and what to do)."""


@dataclass
class ReplayEdit:
    """Changes for "edit and replay"; None keeps the captured value."""

    method: str | None = None
    uri: str | None = None
    headers: list[tuple[str, str]] | None = None  # the whole header list, in order
    body: bytes | None = None  # decoded body; Content-Length is set to match


def build_request(ex: Exchange, edit: ReplayEdit | None = None) -> bytes:
    """The request bytes to send. Unedited: the captured head and body, byte for byte."""
    if edit is None or (edit.method is None and edit.uri is None and edit.headers is None and edit.body is None):
        if ex.request.truncated or not ex.request.complete:
            raise ReplayError(f"the captured body is incomplete ({len(ex.request.body)} of {ex.request.size} "
                              "bytes kept): raise [client.inspect] body_limit, or edit the body and replay that")
        return ex.request.raw
    try:
        head = parse_request_head(ex.request.head)
    except HttpError as e:
        raise ReplayError(f"the captured request head cannot be parsed: {e.message}") from None
    assert head is not None
    if edit.method is not None:
        m = edit.method.strip().upper()
        if not m or not m.replace("-", "").isalnum():
            raise ReplayError(f"{edit.method!r} is not an HTTP method")
        head.method = m
    if edit.uri is not None:
        u = edit.uri.strip()
        if not u or any(c in u for c in " \r\n\t\0"):
            raise ReplayError(f"{edit.uri!r} is not a request path (no spaces or line breaks)")
        head.target = u
    if edit.headers is not None:
        for k, v in edit.headers:
            if not k or any(c in k for c in " :\r\n\t\0") or any(c in v for c in "\r\n\0"):
                raise ReplayError(f"header {k!r} is not a valid header line")
        head.headers[:] = list(edit.headers)
    if edit.body is not None:
        body = edit.body
        head.remove("transfer-encoding")
        if body or head.has("content-length") or head.method in ("POST", "PUT", "PATCH"):
            head.set("Content-Length", str(len(body)))
    else:
        if ex.request.truncated or not ex.request.complete:
            raise ReplayError(f"the captured body is incomplete ({len(ex.request.body)} of {ex.request.size} "
                              "bytes kept): edit the body to replay it")
        body = ex.request.body
    return head.serialize() + body


async def replay(ring: CaptureRing, ex: Exchange, target: str, edit: ReplayEdit | None = None, *,
                 tunnel_name: str | None = None, timeout: float = REPLAY_TIMEOUT) -> Exchange:
    """Send ``ex`` (edited) to ``target`` (host:port); returns the new exchange, already in ``ring``.

    A failure to connect or a cut-short answer still gives an exchange, with ``error`` set.
    Raises ReplayError only when there is nothing to send.
    """
    data = build_request(ex, edit)
    try:
        host, port = parse_addr(target)
    except ConfigError as e:
        raise ReplayError(f"cannot replay to {target!r}: {e.problem}") from None
    done: list[Exchange] = []
    obs = ExchangeObserver(done.append, tunnel_name=tunnel_name or ex.tunnel_name, remote_addr="replay",
                           target=target, body_limit=ring.body_limit)
    obs.request_data(data)
    if not obs.active:
        raise ReplayError(f"the request to replay is not valid HTTP/1 ({obs.stop_reason})")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(data)
        await asyncio.wait_for(writer.drain(), max(0.1, deadline - loop.time()))
        got = 0
        while not done and obs.active:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError
            chunk = await asyncio.wait_for(reader.read(256 * 1024), left)
            if not chunk:
                obs.response_eof()
                break
            got += len(chunk)
            obs.response_data(chunk)
            if got > MAX_RESPONSE_READ:
                obs.stop(f"replay stopped reading after {MAX_RESPONSE_READ} bytes")
    except asyncio.TimeoutError:
        obs.stop(f"no complete answer from {target} within {timeout:.0f} s")
    except OSError as e:
        obs.stop(f"cannot connect to {target}: {e.strerror or e}")
    finally:
        if writer is not None:
            writer.close()
    obs.closed()
    new = done[0]
    new.replay_of = ex.id
    return ring.add(new)


def parse_header_lines(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines (the edit dialog's text) -> header list; blank lines are skipped."""
    out: list[tuple[str, str]] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise ReplayError(f"line {i}: {line[:40]!r} is not 'Name: value'")
        out.append((name.strip(), value.strip()))
    return out


def head_lines(head: RequestHead | None) -> str:
    """The header list as ``Name: value`` lines (what the edit dialog starts from)."""
    return "\n".join(f"{k}: {v}" for k, v in head.headers) if head is not None else ""
