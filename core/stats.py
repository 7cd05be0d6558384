"""Observability: per-channel and per-link records, cheap snapshots, events.

The data path only does ``record.up += n`` on a slotted object; everything
costlier (copying, sorting, rates) happens when a reader asks for a snapshot,
e.g. the GUI's table model once a second.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("wmproxy.stats")

MAX_NAMES = 4096  # per-name totals kept for closed channels; the rest add up under OTHER_NAMES
OTHER_NAMES = "(other)"

# channel states
OPENING, OPEN, CLOSED = "opening", "open", "closed"
CLOSED_KEPT = 500  # closed channels kept for viewers (the GUI's Closed tab)
# link states
STOPPED, CONNECTING, CONNECTED, ERROR = "stopped", "connecting", "connected", "error"


@dataclass(slots=True, eq=False)
class ChannelRecord:
    """One multiplexed channel. ``up`` = bytes this side sent into the tunnel."""

    id: int
    kind: str  # "mapping" | "proxy"
    name: str  # mapping name or proxy listener name
    peer: str  # who opened it (public client address, or local proxy user)
    target: str  # where it goes (local_addr, or the proxied host:port once known)
    link: str  # id of the link it rides on
    up: int = 0
    down: int = 0
    started: float = field(default_factory=time.time)
    state: str = OPENING
    reason: str = ""
    key: int = 0  # unique in this Stats, stable across snapshots
    ended: float = 0.0  # time.time() it closed (0 while open)


@dataclass(slots=True, eq=False)
class LinkRecord:
    """One center link (client side: ours; server side: each connected client)."""

    id: str
    role: str  # "client" | "server"
    peer: str
    state: str = CONNECTING
    username: str = ""
    tls: bool = False
    extensions: tuple[str, ...] = ()
    mappings: tuple[str, ...] = ()
    started: float = field(default_factory=time.time)
    error: str = ""
    up: int = 0
    down: int = 0
    note: str = ""  # what the user should know about this link ("legacy server: no heartbeat")


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken: float
    channels: tuple[ChannelRecord, ...]
    links: tuple[LinkRecord, ...]
    total_up: int  # including channels already closed
    total_down: int
    per_name: dict[str, tuple[int, int]]  # mapping/proxy name -> (up, down) incl. closed


Event = tuple[str, Any]  # ("channel_open"|"channel_close"|"link", record)


class Stats:
    """Live registry of channels and links, shared by the core and its viewers."""

    def __init__(self) -> None:
        self.channels: dict[int, ChannelRecord] = {}
        self.links: dict[str, LinkRecord] = {}
        self._closed_up = 0
        self._closed_down = 0
        self._closed_per_name: dict[str, list[int]] = {}
        self._keys = itertools.count(1)
        self.recent_closed: deque[ChannelRecord] = deque(maxlen=CLOSED_KEPT)  # newest last, for viewers
        self._listeners: list[Callable[[str, Any], None]] = []

    # ---- events
    def subscribe(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(event, record)`` on open/close/link changes; returns an unsubscribe."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _emit(self, event: str, record: Any) -> None:
        for cb in tuple(self._listeners):
            try:
                cb(event, record)
            except Exception:  # a broken viewer must not break the tunnel
                log.exception("stats listener failed")

    # ---- channels
    def open_channel(self, id: int, kind: str, name: str, peer: str, target: str, link: str) -> ChannelRecord:
        rec = ChannelRecord(id, kind, name, peer, target, link, key=next(self._keys))
        self.channels[rec.key] = rec
        self._emit("channel_open", rec)
        return rec

    def channel_again(self, rec: ChannelRecord, peer: str) -> None:
        """An open (kept) mapping channel carries a new public connection from ``peer``: for the
        traffic history that is one more connection, as a channel of its own would have been."""
        rec.peer = peer
        self._emit("channel_again", rec)

    def close_channel(self, rec: ChannelRecord, reason: str = "") -> None:
        if rec.state == CLOSED:
            return
        rec.state = CLOSED
        rec.reason = reason
        rec.ended = time.time()
        self.recent_closed.append(rec)
        self.channels.pop(rec.key, None)
        self._closed_up += rec.up
        self._closed_down += rec.down
        name = rec.name
        if name not in self._closed_per_name and len(self._closed_per_name) >= MAX_NAMES:
            name = OTHER_NAMES  # bounded: names come from peers' announcements
        acc = self._closed_per_name.setdefault(name, [0, 0])
        acc[0] += rec.up
        acc[1] += rec.down
        self._emit("channel_close", rec)

    # ---- links
    def open_link(self, id: str, role: str, peer: str, tls: bool = False) -> LinkRecord:
        rec = LinkRecord(id, role, peer, tls=tls)
        self.links[id] = rec
        self._emit("link", rec)
        return rec

    def update_link(self, rec: LinkRecord, **changes: Any) -> None:
        for k, v in changes.items():
            setattr(rec, k, v)
        self._emit("link", rec)

    def close_link(self, rec: LinkRecord, error: str = "") -> None:
        rec.state = ERROR if error else STOPPED
        rec.error = error
        self.links.pop(rec.id, None)
        self._emit("link", rec)

    # ---- reading
    def snapshot(self) -> Snapshot:
        """A consistent copy (safe to hand to another thread or keep)."""
        from copy import copy

        chans = tuple(copy(c) for c in self.channels.values())
        per = {k: (v[0], v[1]) for k, v in self._closed_per_name.items()}
        up, down = self._closed_up, self._closed_down
        for c in chans:
            u, d = per.get(c.name, (0, 0))
            per[c.name] = (u + c.up, d + c.down)
            up += c.up
            down += c.down
        return Snapshot(time.time(), chans, tuple(copy(l) for l in self.links.values()), up, down, per)
