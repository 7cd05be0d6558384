"""Liveness of a client link that has no heartbeat: a legacy server, or one that never answers.

Upstream's protocol gives a server no way to answer a good login, so after a
silent second the client cannot tell a legacy server from a dead one, and
without the heartbeat extension a link that died quietly looks alive until
TCP gives up. A user's proxy request would then hang for minutes.

``LinkWatch`` bounds that: when a channel the user opened has had no answer
for ``PROBE_AFTER`` seconds and the link has been silent since, it opens a
probe channel carrying a SOCKS5 greeting, which every wmproxy server answers
at once by itself (its proxy parses the greeting before dialing anything).
An answer proves the link alive (the target is merely slow: keep waiting);
no answer within ``PROBE_TIMEOUT`` means the server is gone: the waiting
users get a 504 / SOCKS failure right away and the link is dropped, so the
client reconnects.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .channel import Channel
    from .link import Link

log = logging.getLogger("wmproxy.client")

PROBE_AFTER = 5.0
PROBE_TIMEOUT = 5.0
TICK = 1.0
SOCKS5_GREETING = b"\x05\x01\x00"  # version 5, one method: no authentication


class _ProbeEndpoint:
    """The probe channel's local end: any answer means the link is alive."""

    def __init__(self, watch: "LinkWatch") -> None:
        self.watch = watch

    def deliver(self, data) -> None:  # type: ignore[no-untyped-def]
        self.watch.alive()

    def deliver_eof(self) -> None:
        self.watch.alive()

    def shutdown(self, reason: str, reset: bool = False) -> None:
        if reason != "probe done":
            self.watch.alive()  # a Close from the server is an answer too

    def pause_source(self) -> None: ...

    def resume_source(self) -> None: ...


class LinkWatch:
    def __init__(self, link: "Link", on_dead: Callable[[str], None]) -> None:
        self.link = link
        self.on_dead = on_dead
        self._waiting: dict[int, tuple["Channel", float, Callable[[], None]]] = {}
        self._probe: "Channel | None" = None
        self._probe_sent = 0.0
        self._timer = None

    def opened(self, ch: "Channel", fail: Callable[[], None]) -> None:
        """A user channel waits for its first answer; ``fail()`` tells the user it will not come."""
        self._waiting[ch.id] = (ch, time.monotonic(), fail)
        if self._timer is None:
            self._timer = self.link.loop.call_later(TICK, self._tick)

    def alive(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.closed:
            probe.close("probe done")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()

    def _tick(self) -> None:
        self._timer = None
        link = self.link
        if link.transport is None:
            return
        now = time.monotonic()
        for cid, (ch, since, _) in list(self._waiting.items()):
            if ch.closed or ch.record.down:
                del self._waiting[cid]  # answered (or gone): no longer ours to watch
        if self._probe is not None:
            if self._probe.record.down or link._last_rx > self._probe_sent:
                self.alive()
            elif now - self._probe_sent > PROBE_TIMEOUT:
                self._dead(now)
                return
        elif self._waiting:
            oldest = min(since for _, since, _ in self._waiting.values())
            if now - oldest > PROBE_AFTER and link._last_rx < oldest:
                self._send_probe(now)
        if self._waiting or self._probe is not None:
            self._timer = link.loop.call_later(TICK, self._tick)

    def _send_probe(self, now: float) -> None:
        ch = self.link.open_channel(None, kind="probe", name="(liveness probe)", peer="", target="")
        ch.attach(_ProbeEndpoint(self))  # type: ignore[arg-type]
        ch.send(SOCKS5_GREETING)
        self._probe, self._probe_sent = ch, now

    def _dead(self, now: float) -> None:
        waited = max((now - since for _, since, _ in self._waiting.values()), default=0.0)
        why = (f"the server at {self.link.peer} does not answer (a probe got no reply in {PROBE_TIMEOUT:g} s, "
               f"a request waited {waited:.0f} s)")
        log.warning("%s: failing %d waiting request(s) and reconnecting", why, len(self._waiting))
        for _, _, fail in list(self._waiting.values()):
            try:
                fail()
            except Exception:  # one user's socket must not keep the others waiting
                log.exception("failing a waiting request")
        self._waiting.clear()
        self._probe = None
        self.on_dead(why)
