"""Channels of http/https mappings kept between public connections (upstream keep-alive).

A public connection that ends (a browser's "Connection: close", a CDN rotating
its connections, a TLS client per request) used to take its channel with it,
and with the channel the client's connection to the local service: every
new public connection paid a channel open and close on the link and a TCP
connect on the client. nginx with ``keepalive`` upstreams keeps those; so do
we, with the same safety rules:

* a channel is kept only at a request boundary: every request sent on it has
  its whole answer, the service did not say it closes, the client's request
  did not ask it to (a ``Connection: close`` is not passed on for kept
  channels, see ``http_scan.without_connection_close``), no upgrade, and no
  NTLM or Negotiate login was seen on it (those hold for the TCP connection,
  as HAProxy's ``http-reuse`` also knows);
* only for mappings whose client offers it (mapping option ``reuse``, which
  our client sets unless the mapping sends a PROXY header per connection: a
  legacy client never sees a channel carry two public connections);
* a kept channel is taken only by a request that may be sent again
  (GET/HEAD/OPTIONS without a body), and is sent again on a new channel when
  the kept one turns out to be closed before its first answer byte (the race
  every upstream keep-alive has with the service's own idle timeout);
* bounded: ``per_route`` channels per mapping, ``total`` in all, each kept at
  most ``idle_timeout`` seconds; the most recently used is taken first, so
  the spare ones age out.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .http_mapping import Upstream
    from .router import Route

PER_ROUTE = 16
TOTAL = 512
IDLE_TIMEOUT = 4.0  # below the usual services' own (gunicorn 2 s is raced and sent again; node 5, nginx 75)


class IdleChannels:
    """The kept channels of one server's http/https mappings."""

    def __init__(self, per_route: int = PER_ROUTE, total: int = TOTAL, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.per_route = per_route
        self.total = total
        self.idle_timeout = idle_timeout
        self._idle: dict[int, list["Upstream"]] = {}  # id(route) -> its kept channels, oldest first
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self.reused = 0  # channels taken again so far (what the tests check)

    def __len__(self) -> int:
        return self._count

    def park(self, up: "Upstream") -> bool:
        """Keep ``up`` (detached from its public connection); False when full (the caller closes it)."""
        if self._count >= self.total:
            return False
        kept = self._idle.setdefault(id(up.route), [])
        if len(kept) >= self.per_route:
            return False
        up.parked_at = time.monotonic()
        kept.append(up)
        self._count += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._sweep)
        return True

    def take(self, route: "Route") -> "Upstream | None":
        """The most recently kept live channel of ``route`` (None: open a new one)."""
        kept = self._idle.get(id(route))
        while kept:
            up = kept.pop()
            self._count -= 1
            if up.route is route and up.entry is route.entry and route.link.alive and not up.channel.closed:
                if not kept:
                    del self._idle[id(route)]
                self.reused += 1
                return up
            up.discard("its mapping changed")
        self._idle.pop(id(route), None)
        return None

    def drop(self, up: "Upstream") -> None:
        """``up`` ended while kept (the service closed it, the link went): forget it."""
        kept = self._idle.get(id(up.route))
        if kept and up in kept:
            kept.remove(up)
            self._count -= 1
            if not kept:
                del self._idle[id(up.route)]

    def clear(self) -> None:
        """Close every kept channel (the server stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle, self._count = self._idle, {}, 0
        for kept in idle.values():
            for up in kept:
                up.discard("server stopping")

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        due = now - self.idle_timeout
        nxt = None
        for key in list(self._idle):
            kept = self._idle[key]
            n = 0
            while n < len(kept) and kept[n].parked_at <= due:
                n += 1
            old, self._idle[key] = kept[:n], kept[n:]
            self._count -= n
            if not self._idle[key]:
                del self._idle[key]
            else:
                first = self._idle[key][0].parked_at
                nxt = first if nxt is None else min(nxt, first)
            for up in old:
                up.discard("idle")
        if nxt is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.05, nxt + self.idle_timeout - now), self._sweep)
