"""TunnelController: the one place in the GUI that owns core objects.

Pages, the tray and the main window never create a CenterClient or a
CenterServer; they call the controller and listen to its signals.  The
controller runs everything on the qasync loop (no threads), builds each
client's config from the profile with secrets read from the keyring at
connect time (never stored), and turns engine state changes into Qt signals.

Failures are reported, not raised: every async method returns True on
success, and on failure sets the state to "error" and emits ``error``
with a one-line, secret-free message (for a refused login: the server's
reason, ``CenterClient.last_error``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from core import diagnose
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.errors import AuthError, TlsError, WmproxyError
from core.history import HistoryRecorder
from core.inspect import CaptureRing
from core.inspect.api import InspectorApi, for_mappings
from core.server import CenterServer
from core.stats import CONNECTED, CONNECTING, ERROR, STOPPED, Stats

log = logging.getLogger("wmproxy_gui.controller")

SERVER_ID = "@server"  # profile_id used in error() for the GUI-run server
STOP_TIMEOUT = 10.0
PROBE_AFTER = 4.0  # seconds an attempt may wait before the port is asked whether it speaks TLS
# Retrying these cannot succeed until the user changes something: stop and say why.
FINAL_ERRORS = (AuthError, TlsError)


class RateMeter:
    """Bytes/s from successive cumulative totals (Stats.snapshot().total_up/down)."""

    def __init__(self) -> None:
        self._last: tuple[float, int, int] | None = None
        self.up = 0.0
        self.down = 0.0

    def update(self, taken: float, total_up: int, total_down: int) -> tuple[float, float]:
        last = self._last
        if last is not None and taken <= last[0]:
            return self.up, self.down  # no time passed: keep the baseline and the last rates
        self._last = (taken, total_up, total_down)
        if last is None:
            return self.up, self.down
        dt = taken - last[0]
        self.up = max(0.0, (total_up - last[1]) / dt)
        self.down = max(0.0, (total_down - last[2]) / dt)
        return self.up, self.down


class LinkAlerts:
    """Which state changes deserve a desktop notification, at most one per profile per ``interval``.

    * "lost": a connected link went down (not a user disconnect);
    * "failed": a connect attempt the user started failed before ever connecting;
    * "recovered": the link is back after a loss the user was told about.  If
      that would come too soon after the loss notice it is held back and
      delivered by ``due()`` once allowed, if the link is still up by then.
    """

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._told_down: set[str] = set()  # loss/failure notified, recovery not yet
        self._pending: set[str] = set()  # recovery held back by the rate limit
        self._was_up: set[str] = set()  # connected at least once since the user started it

    def _allow(self, key: str) -> bool:
        now = self.clock()
        if now - self._last.get(key, -math.inf) < self.interval:
            return False
        self._last[key] = now
        return True

    def started(self, key: str) -> None:
        """The user asked to connect: forget the previous run."""
        self._was_up.discard(key)
        self._told_down.discard(key)
        self._pending.discard(key)

    def stopped(self, key: str) -> None:
        """The user disconnected: nothing pending is relevant any more."""
        self.started(key)

    def transition(self, key: str, old: str, new: str) -> str | None:
        if new == CONNECTED:
            self._was_up.add(key)
            if key not in self._told_down:
                return None
            if self._allow(key):
                self._told_down.discard(key)
                return "recovered"
            self._pending.add(key)
            return None
        if new in (CONNECTING, ERROR):
            self._pending.discard(key)
            if old == CONNECTED:
                if self._allow(key):
                    self._told_down.add(key)
                    return "lost"
                return None
            if new == ERROR and key not in self._was_up and key not in self._told_down:
                if self._allow(key):
                    self._told_down.add(key)
                    return "failed"
        return None

    def due(self, key: str, state: str) -> str | None:
        """A held-back recovery notice, once the rate limit allows it and the link is still up."""
        if key not in self._pending:
            return None
        if state != CONNECTED:
            self._pending.discard(key)
            return None
        if self._allow(key):
            self._pending.discard(key)
            self._told_down.discard(key)
            return "recovered"
        return None


@dataclass
class _Link:
    """What the controller keeps of one server's link besides the core's Uplink: the worded error."""

    server: str
    seen: tuple[str, str] = ("", "")  # (state, last_error) last handled: callbacks also come for status
    connecting_since: float = 0.0  # time.monotonic() the current attempt began (0: not connecting)
    probed: bool = False  # this attempt's "is it TLS at all?" probe ran
    diagnosis: diagnose.Diagnosis | None = None
    error: str = ""  # describe(diagnosis): translated, secret-free
    owner: object = None  # the Uplink this is about (a restart after an edit makes new ones)


@dataclass
class _Tunnel:
    client: CenterClient
    name: str
    servers: list[str]
    unhook: Callable[[], None] = lambda: None
    tasks: set[asyncio.Task] = field(default_factory=set)
    reconfiguring: bool = False  # a user-applied change may reconnect: that is not a "loss"
    tls: bool = False
    links: dict[str, _Link] = field(default_factory=dict)

    def link(self, uplink: Any) -> _Link:
        """What is known of ``uplink``'s link (fresh for a new Uplink of the same server)."""
        info = self.links.get(uplink.server)
        if info is None or info.owner is not uplink:
            info = self.links[uplink.server] = _Link(uplink.server, owner=uplink)
        return info


@dataclass(frozen=True)
class LinkView:
    """What the window and the tray show of one center link of a profile: one per listed server
    (``TunnelController.links(pid)``), each with its own state, error and countdown."""

    server: str
    state: str
    error: str = ""  # why it is down (worded for the user); kept while it retries, cleared once up
    next_attempt_at: float | None = None  # time.time() of the next connect attempt while waiting
    primary: bool = False  # the first live server: the local proxy listeners' traffic goes through it
    diagnosis: diagnose.Diagnosis | None = None  # the kind of ``error`` (cert_changed, auth...)

    def retry_in(self, now: float | None = None) -> int | None:
        """Whole seconds left until the next attempt (0 in its last second), None when none is scheduled."""
        if self.next_attempt_at is None:
            return None
        return max(0, int(self.next_attempt_at - (time.time() if now is None else now)))

    @property
    def up(self) -> bool:
        return self.state == CONNECTED

    @property
    def down(self) -> bool:
        """Failed (and waiting or trying again): what makes a partly connected profile degraded."""
        return self.state != CONNECTED and (self.state == ERROR or bool(self.error))


DEGRADED = "degraded"  # a profile connected through some of its servers while another one's link is down


class TunnelController(QObject):
    """Owns every CenterClient (one per connected profile) and the optional CenterServer."""

    state_changed = Signal(str, str)  # profile_id, "stopped"|"connecting"|"connected"|"error"
    error = Signal(str, str)  # profile_id (or SERVER_ID), one-line message
    server_state_changed = Signal(str)  # "stopped"|"starting"|"running"|"error"
    notify = Signal(str, str)  # title, message: for desktop notifications (already rate-limited)
    rates_changed = Signal(float, float)  # bytes/s up, down over all tunnels, once a second
    inspector_changed = Signal(str)  # the inspector API's URL ("" when it is not served)
    tick = Signal()  # once a second, after rates_changed: countdowns and mapping states refresh on it
    links_changed = Signal(str)  # profile_id: one of its server links changed state, error or mapping status
    link_error = Signal(str, str, str)  # profile_id, server, one-line message: that server's link failed

    def __init__(self, store: Any, stats: Stats | None = None, parent: QObject | None = None,
                 *, alert_interval: float = 30.0) -> None:
        super().__init__(parent)
        self.store = store
        self.stats = stats if stats is not None else Stats()
        self.alerts = LinkAlerts(alert_interval)
        self.link_alerts = LinkAlerts(alert_interval)  # one server of a profile lost while others stay up
        self._ended: dict[str, list[LinkView]] = {}  # a profile given up: how each of its links ended
        self._tunnels: dict[str, _Tunnel] = {}
        self._states: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._diagnoses: dict[str, diagnose.Diagnosis] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._server: CenterServer | None = None
        self._server_state = STOPPED
        self._server_error = ""
        self._server_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        # request inspector: one capture ring for every profile's http/https mappings (in memory only),
        # its local API on loopback with a free port, and the traffic history (start_services)
        self.capture = CaptureRing()
        self.inspector_api: InspectorApi | None = None
        self.inspector_error = ""
        self.history: HistoryRecorder | None = None
        self.rates = RateMeter()
        self._rate_timer = QTimer(self)
        self._rate_timer.setInterval(1000)
        self._rate_timer.timeout.connect(self._tick)
        self._rate_timer.start()

    # ------------------------------------------------------------------ queries
    def state(self, profile_id: str) -> str:
        return self._states.get(profile_id, STOPPED)

    def last_error(self, profile_id: str) -> str:
        return self._errors.get(profile_id, "")

    def diagnosis(self, profile_id: str) -> diagnose.Diagnosis | None:
        """The kind of the current error (cert_changed, auth, refused...), None when there is none."""
        return self._diagnoses.get(profile_id) if profile_id in self._errors else None

    def links(self, profile_id: str) -> list[LinkView]:
        """The profile's center links as the views show them, one per listed server in the profile's
        order (empty when it is not running; after giving up, how each link ended)."""
        t = self._tunnels.get(profile_id)
        if t is None:
            return list(self._ended.get(profile_id, ()))
        if t.client.cfg.direct:
            return []
        ups = list(t.client.uplinks)
        if not ups:  # starting: the links are about to be made
            return [LinkView(s, CONNECTING) for s in t.servers]
        primary = t.client.primary
        out = []
        for u in ups:
            info = t.link(u)
            failed = u.state != CONNECTED and bool(u.last_error or info.error)
            out.append(LinkView(u.server, u.state, (info.error or u.last_error) if failed else "",
                                u.next_attempt_at, u is primary, info.diagnosis if failed else None))
        return out

    def link_counts(self, profile_id: str) -> tuple[int, int]:
        """(links up, links in all) of a running profile; (0, 0) when it is not running."""
        links = self.links(profile_id) if profile_id in self._tunnels else []
        return sum(1 for l in links if l.up), len(links)

    def health(self, profile_id: str) -> str:
        """The profile's state as the tray and the window show it: ``DEGRADED`` while it is connected
        but another of its servers' links is down (failed, waiting or trying again); "connecting" while
        it is connected and another link is still on its first attempt; else ``state()``."""
        state = self.state(profile_id)
        if state != CONNECTED or profile_id not in self._tunnels:
            return state
        links = self.links(profile_id)
        if any(l.down for l in links):
            return DEGRADED
        if any(not l.up for l in links):
            return CONNECTING
        return CONNECTED

    def waiting(self) -> list[str]:
        """Profiles with a link waiting for its next connect attempt (what "Reconnect now" would hurry)."""
        return [pid for pid in self._tunnels if any(l.next_attempt_at is not None for l in self.links(pid))]

    def reconnect_now(self, profile_id: str | None = None, server: str | None = None) -> int:
        """Skip the wait before the next attempt: of every waiting link, of one profile's, or of one
        server's link of that profile. How many links were hurried."""
        ids = [profile_id] if profile_id else self.waiting()
        n = 0
        for pid in ids:
            t = self._tunnels.get(pid)
            for u in (t.client.uplinks if t is not None else ()):
                if (server is None or u.server == server) and u.next_attempt_at is not None:
                    u.reconnect_now()
                    n += 1
        return n

    def mapping_status(self, profile_id: str) -> dict[str, Any]:
        """The primary server's verdict per mapping name (core.frames.MappingState); {} when unknown."""
        t = self._tunnels.get(profile_id)
        return dict(t.client.mapping_status) if t is not None and self.state(profile_id) == CONNECTED else {}

    def server_mapping_status(self, profile_id: str) -> list[tuple[str, bool, dict[str, Any]]]:
        """Per listed server, in order: (server, its link is up, its verdict per mapping name). A mapping
        is reachable at every server whose link is up and that opened it; [] when not running."""
        t = self._tunnels.get(profile_id)
        if t is None or t.client.cfg.direct:
            return []
        ups = list(t.client.uplinks)
        if not ups:
            return [(s, False, {}) for s in t.servers]
        return [(u.server, u.connected, dict(u.mapping_status) if u.connected else {}) for u in ups]

    def close_channel(self, key: int) -> bool:
        """Close a live connection (ChannelRecord.key) of any running tunnel, or of the server."""
        if any(t.client.close_channel(key) for t in list(self._tunnels.values())):
            return True
        return self._server is not None and self._server.close_channel(key)

    def is_active(self, profile_id: str) -> bool:
        """Running or about to run (what a toggle would stop)."""
        return profile_id in self._tunnels or self.state(profile_id) in (CONNECTING, CONNECTED)

    def active_profiles(self) -> list[str]:
        return list(self._tunnels)

    def client(self, profile_id: str) -> CenterClient | None:
        t = self._tunnels.get(profile_id)
        return t.client if t else None

    def profile_name(self, profile_id: str) -> str:
        t = self._tunnels.get(profile_id)
        if t is not None:
            return t.name
        try:
            p = self.store.get(profile_id)
        except WmproxyError:
            p = None
        return p.name if p is not None else profile_id

    @property
    def server(self) -> CenterServer | None:
        return self._server

    @property
    def server_state(self) -> str:
        return self._server_state

    @property
    def server_error(self) -> str:
        return self._server_error

    # ------------------------------------------------------------------ tunnels
    def toggle(self, profile_id: str) -> None:
        """Connect if stopped (or failed), disconnect otherwise; returns at once."""
        if self.is_active(profile_id):
            self.spawn(self.disconnect_profile(profile_id))
        else:
            self._errors.pop(profile_id, None)
            self._set_state(profile_id, CONNECTING)  # so a quick second toggle means "stop"
            self.spawn(self.connect_profile(profile_id))

    async def connect_profile(self, profile_id: str) -> bool:
        async with self._lock(profile_id):
            if profile_id in self._tunnels:
                return True
            self.alerts.started(profile_id)
            try:
                profile = self.store.get(profile_id)
            except WmproxyError as e:
                return self._fail(profile_id, str(e))
            if profile is None:
                return self._fail(profile_id, self.tr("This profile no longer exists."))
            try:
                cfg = self._client_config(profile)
            except WmproxyError as e:
                return self._fail(profile_id, str(e))
            self._errors.pop(profile_id, None)
            self._ended.pop(profile_id, None)
            self._set_state(profile_id, CONNECTING)
            cli = CenterClient(cfg, stats=self.stats, capture=self.capture)
            # never trust a server's certificate silently: an unknown one fails its link with
            # UnknownServerError, and the window asks the user (per server) before trusting it
            cli.tofu_accept_new = False
            tunnel = _Tunnel(cli, profile.name, list(cfg.servers), tls=cfg.tls.enabled)
            for server in tunnel.servers:
                self.link_alerts.started(self._link_key(profile_id, server))

            def on_state(state: str, err: str) -> None:
                self._on_client_state(profile_id, tunnel, state, err)

            def on_uplink(uplink: Any) -> None:
                self._on_uplink(profile_id, tunnel, uplink)

            cli.on_state.append(on_state)
            cli.on_uplink.append(on_uplink)

            def unhook() -> None:
                for lst, cb in ((cli.on_state, on_state), (cli.on_uplink, on_uplink)):
                    if cb in lst:
                        lst.remove(cb)

            tunnel.unhook = unhook
            self._tunnels[profile_id] = tunnel
            log.info("connecting profile %r to %s", profile.name, ", ".join(cfg.servers))
            try:
                await cli.start()
            except (WmproxyError, OSError) as e:
                self._tunnels.pop(profile_id, None)
                tunnel.unhook()
                await self._stop_client(cli)
                from .diagnosis import error_text

                log.warning("profile %r did not start: %s", profile.name, e)
                return self._fail(profile_id, error_text(e))
            self._on_client_state(profile_id, tunnel, cli.state, cli.last_error)
            return True

    async def disconnect_profile(self, profile_id: str) -> bool:
        async with self._lock(profile_id):
            tunnel = self._tunnels.pop(profile_id, None)
            self.alerts.stopped(profile_id)
            if tunnel is not None:
                log.info("disconnecting profile %r", tunnel.name)
                tunnel.unhook()
                for t in list(tunnel.tasks):
                    t.cancel()
                await self._stop_client(tunnel.client)
            self._errors.pop(profile_id, None)
            self._diagnoses.pop(profile_id, None)
            self._ended.pop(profile_id, None)
            self._set_state(profile_id, STOPPED)
            if tunnel is not None:
                self.links_changed.emit(profile_id)
            return True

    async def retry_link(self, profile_id: str, server: str) -> None:
        """Try ``server``'s link again now (the user fixed what made it fail, e.g. trusted its certificate):
        at once when the profile is running, else by connecting the profile."""
        async with self._lock(profile_id):
            running = profile_id in self._tunnels
        if running:
            self.reconnect_now(profile_id, server)
        else:
            await self.connect_profile(profile_id)

    async def apply_profile(self, profile: Any) -> bool:
        """Push an edited profile to its running tunnel (mappings re-announced, listeners restarted)."""
        tunnel = self._tunnels.get(profile.id)
        if tunnel is None:
            return True
        try:
            cfg = self._client_config(profile)
            tunnel.name = profile.name
            tunnel.servers = list(cfg.servers)
            tunnel.reconfiguring = True
            self.alerts.started(profile.id)
            await tunnel.client.update(cfg)
        except (WmproxyError, OSError) as e:
            tunnel.reconfiguring = False
            from .diagnosis import error_text

            log.warning("profile %r: changes not applied: %s", profile.name, e)
            self._report_error(profile.id, error_text(e))
            return False
        if tunnel.client.state == CONNECTED:
            tunnel.reconfiguring = False  # applied live, no reconnect
        # else the client restarted: quiet until it is connected again (or fails)
        log.info("applied changes to the running profile %r", profile.name)
        return True

    async def set_mapping_enabled(self, profile_id: str, name: str, enabled: bool) -> bool:
        """Turn one mapping of a profile on or off: saved, and applied to its running tunnel."""
        p = self.store.get(profile_id)
        if p is None:
            return False
        maps = [dataclasses.replace(m, enabled=enabled) if m.name == name else m for m in p.client.mappings]
        p = dataclasses.replace(p, client=dataclasses.replace(p.client, mappings=maps))
        try:
            p = self.store.upsert(p)
        except (WmproxyError, OSError) as e:
            from .diagnosis import error_text

            self._report_error(profile_id, error_text(e))
            return False
        return await self.apply_profile(p)

    def _client_config(self, profile: Any) -> ClientConfig:
        """The profile's ClientConfig with secrets from the keyring (only the engine ever sees them).

        Built from ``profile`` itself (it may be newer than what is saved).  Without a keyring
        a profile that needs no secret still connects.
        """
        client: ClientConfig = profile.client
        needs = bool(client.username) or any(px.username for px in client.proxies)
        try:
            password = self.store.password(profile.id)
            proxies = [dataclasses.replace(px, password=self.store.proxy_password(profile.id, px.name)
                                           if px.username else None) for px in client.proxies]
        except WmproxyError:
            if needs:
                raise
            password, proxies = None, [dataclasses.replace(px) for px in client.proxies]
        return dataclasses.replace(client, password=password, proxies=proxies,
                                   mappings=[dataclasses.replace(m) for m in client.mappings],
                                   tls=dataclasses.replace(client.tls))

    @staticmethod
    def _link_key(profile_id: str, server: str) -> str:
        return f"{profile_id}\n{server}"

    def _on_uplink(self, profile_id: str, tunnel: _Tunnel, u: Any) -> None:
        """One server's link changed state, error or mapping status (before the client's own state)."""
        if self._tunnels.get(profile_id) is not tunnel:
            return  # a stale callback from a client being stopped
        info = tunnel.link(u)
        seen = (u.state, u.last_error)
        if seen != info.seen:
            old_state = info.seen[0]
            info.seen = seen
            if u.state == CONNECTING and old_state != CONNECTING:
                info.connecting_since, info.probed = time.monotonic(), False
            elif u.state != CONNECTING:
                info.connecting_since = 0.0
            if u.state == CONNECTED:
                info.diagnosis, info.error = None, ""
            elif u.state == ERROR and u.last_error:
                from .diagnosis import classify, describe

                d = classify(u.last_exception, u.server, tunnel.tls, u.last_error)
                info.diagnosis, info.error = d, describe(d)
                log.info("profile %r, server %s: %s", tunnel.name, u.server, u.last_error)
                self.link_error.emit(profile_id, u.server, info.error)
                if d.kind in (diagnose.TIMEOUT, diagnose.CLOSED) and not info.probed:
                    self._probe(profile_id, tunnel, u)
                ups = tunnel.client.uplinks
                if all(isinstance(x.last_exception, FINAL_ERRORS) and not x.connected for x in ups):
                    # a wrong password or a refused certificate on every server: retrying will not help
                    log.warning("profile %r: %s; not retrying", tunnel.name, u.last_error)
                    task = self.spawn(self._give_up(profile_id, tunnel))
                    tunnel.tasks.add(task)
            if old_state and old_state != u.state and len(tunnel.servers) > 1 and not tunnel.reconfiguring:
                self._link_alert(profile_id, tunnel, u, old_state)
        self.links_changed.emit(profile_id)

    def _link_alert(self, profile_id: str, tunnel: _Tunnel, u: Any, old: str) -> None:
        """A server of a multi-server profile lost or back while another link keeps the profile up (when
        none does, the profile's own "lost"/"restored" says it)."""
        key = self._link_key(profile_id, u.server)
        kind = self.link_alerts.transition(key, old, u.state)
        others_up = any(x.connected for x in tunnel.client.uplinks if x is not u)
        if kind not in ("lost", "recovered") or not others_up or self._closing:
            return
        up = sum(1 for x in tunnel.client.uplinks if x.connected)
        counts = self.tr("%1 of %2 links up").replace("%1", str(up)).replace("%2", str(len(tunnel.client.uplinks)))
        if kind == "lost":
            title = self.tr("Link lost: %1").replace("%1", tunnel.name)
            text = self.tr("%1 is down; %2.").replace("%1", u.server).replace("%2", counts)
            why = tunnel.link(u).error
            text += ("\n" + why if why else "") + "\n" + self.tr("Reconnecting…")
        else:
            title = self.tr("Link restored: %1").replace("%1", tunnel.name)
            text = self.tr("Connected to %1 again; %2.").replace("%1", u.server).replace("%2", counts)
        self.notify.emit(title, text)

    def _profile_diagnosis(self, tunnel: _Tunnel, err: str) -> diagnose.Diagnosis:
        """The diagnosis of the link whose error the client reports as its own."""
        from .diagnosis import classify

        ups = tunnel.client.uplinks
        u = next((x for x in ups if x.last_error == err), None) or next((x for x in ups if x.state == ERROR), None)
        if u is not None:
            info = tunnel.link(u)
            return info.diagnosis or classify(u.last_exception, u.server, tunnel.tls, u.last_error)
        return classify(tunnel.client.last_exception, tunnel.servers[0] if tunnel.servers else "", tunnel.tls, err)

    def _on_client_state(self, profile_id: str, tunnel: _Tunnel, state: str, err: str) -> None:
        if self._tunnels.get(profile_id) is not tunnel:
            return  # a stale callback from a client being stopped
        if state == STOPPED:
            return  # only disconnect_profile() reports "stopped"
        if state == ERROR and err:
            tunnel.reconfiguring = False
            from .diagnosis import describe

            d = self._profile_diagnosis(tunnel, err)
            log.info("profile %r: %s", tunnel.name, err)
            self._diagnoses[profile_id] = d
            self._report_error(profile_id, describe(d))
        quiet = tunnel.reconfiguring
        if state == CONNECTED:
            self._errors.pop(profile_id, None)
            self._diagnoses.pop(profile_id, None)
            tunnel.reconfiguring = False
        self._set_state(profile_id, state, alert=not quiet)

    def _probe(self, profile_id: str, tunnel: _Tunnel, u: Any) -> None:
        """Ask a server's port whether it speaks TLS at all: a mismatch only shows as a wait or a
        closed link, and the profile's fix (Encryption on/off) is worth saying."""
        info = tunnel.link(u)
        info.probed = True

        async def run() -> None:
            from core.config import parse_addr

            from .diagnosis import describe

            try:
                host, port = parse_addr(u.server)
            except WmproxyError:
                return
            d = await diagnose.check_reachable(host, port, tunnel.tls)
            if d is None or d.kind not in (diagnose.SERVER_TLS, diagnose.SERVER_PLAIN):
                return
            if self._tunnels.get(profile_id) is not tunnel or u.connected or tunnel.link(u) is not info:
                return
            info.diagnosis, info.error = d, describe(d)
            self.link_error.emit(profile_id, u.server, info.error)
            self.links_changed.emit(profile_id)
            if self.state(profile_id) == CONNECTED:
                return  # another server carries the profile: this link's line says it
            self._diagnoses[profile_id] = d
            self._report_error(profile_id, describe(d))
            if self.state(profile_id) != ERROR:
                self._set_state(profile_id, ERROR)

        task = self.spawn(run())
        tunnel.tasks.add(task)
        task.add_done_callback(tunnel.tasks.discard)

    async def _give_up(self, profile_id: str, tunnel: _Tunnel) -> None:
        async with self._lock(profile_id):
            if self._tunnels.get(profile_id) is not tunnel:
                return
            ended = [dataclasses.replace(l, next_attempt_at=None, state=ERROR if not l.up else l.state,
                                         primary=False) for l in self.links(profile_id)]
            self._ended[profile_id] = ended  # before the tunnel goes: the views never see no links at all
            del self._tunnels[profile_id]
            tunnel.unhook()
            await self._stop_client(tunnel.client)
            self._set_state(profile_id, ERROR)
            self.links_changed.emit(profile_id)

    async def _stop_client(self, cli: CenterClient) -> None:
        try:
            await asyncio.wait_for(cli.stop(), STOP_TIMEOUT)
        except (asyncio.TimeoutError, WmproxyError, OSError) as e:
            log.warning("stopping a client did not finish cleanly: %s", e or type(e).__name__)

    def _fail(self, profile_id: str, message: str) -> bool:
        self._report_error(profile_id, message)
        self._set_state(profile_id, ERROR)
        return False

    def _report_error(self, profile_id: str, message: str) -> None:
        """Emit ``error`` once per distinct message (a retry loop must not flood dialogs)."""
        if self._errors.get(profile_id) == message:
            return
        self._errors[profile_id] = message
        log.warning("%s: %s", self.profile_name(profile_id), message)
        self.error.emit(profile_id, message)

    def _set_state(self, profile_id: str, state: str, alert: bool = True) -> None:
        old = self.state(profile_id)
        if old == state:
            return
        self._states[profile_id] = state
        self.state_changed.emit(profile_id, state)
        if alert:
            self._alert(profile_id, self.alerts.transition(profile_id, old, state))

    def _alert(self, profile_id: str, kind: str | None) -> None:
        if kind is None or self._closing:
            return
        name = self.profile_name(profile_id)
        reason = self._errors.get(profile_id, "")
        if kind == "lost":
            title = self.tr("Connection lost: %1").replace("%1", name)
            text = (reason + "\n" if reason else "") + self.tr("Reconnecting…")
        elif kind == "failed":
            title = self.tr("Cannot connect: %1").replace("%1", name)
            text = reason
        else:
            t = self._tunnels.get(profile_id)
            p = t.client.primary if t is not None else None
            title = self.tr("Connection restored: %1").replace("%1", name)
            text = self.tr("Connected to %1 again.").replace("%1", p.server if p is not None else name)
        self.notify.emit(title, text)

    # ------------------------------------------------------------------ server
    async def start_server(self, cfg: ServerConfig) -> bool:
        async with self._slock():
            if self._server is not None:
                await self._stop_server_locked()
            self._set_server_state("starting")
            srv = CenterServer(cfg, stats=self.stats)
            try:
                await srv.start()
            except (WmproxyError, OSError) as e:
                from .diagnosis import error_text

                msg = error_text(e)
                self._server_error = msg
                log.warning("server: %s", msg)
                self._set_server_state(ERROR)
                self.error.emit(SERVER_ID, msg)
                return False
            self._server = srv
            self._server_error = ""
            center = srv.addresses.get("center")
            log.info("server running on %s", f"{center[0]}:{center[1]}" if center else cfg.bind)
            self._set_server_state("running")
            return True

    async def stop_server(self) -> bool:
        async with self._slock():
            await self._stop_server_locked()
            return True

    async def _stop_server_locked(self) -> None:
        srv, self._server = self._server, None
        if srv is not None:
            try:
                await asyncio.wait_for(srv.stop(), STOP_TIMEOUT)
            except (asyncio.TimeoutError, WmproxyError, OSError) as e:
                log.warning("stopping the server did not finish cleanly: %s", e or type(e).__name__)
            log.info("server stopped")
        self._server_error = ""
        self._set_server_state(STOPPED)

    def _set_server_state(self, state: str) -> None:
        if state != self._server_state:
            self._server_state = state
            self.server_state_changed.emit(state)

    # ------------------------------------------------------------------ inspector and history
    def live_mappings(self) -> list[MappingConfig]:
        """The mappings of every running tunnel (where the inspector's replays may go)."""
        return [m for t in self._tunnels.values() for m in t.client.cfg.mappings]

    async def start_services(self, inspector_api: bool = True) -> None:
        """Traffic history and (unless turned off) the inspector's local API; failures are reported, not raised."""
        if self.history is None:
            self.history = HistoryRecorder(self.stats, role="client")
            await self.history.start()  # on failure it logs why; the History page shows history.error
        await self.set_inspector_api(inspector_api)

    async def set_inspector_api(self, enabled: bool) -> bool:
        """Serve the ngrok-style API and web page on 127.0.0.1 (a free port), or stop serving it."""
        if self.inspector_api is not None:
            await self.inspector_api.stop()
            self.inspector_api = None
        self.inspector_error = ""
        if enabled:
            api = for_mappings(self.capture, self.live_mappings, bind="127.0.0.1:0")
            try:
                await api.start()
            except WmproxyError as e:
                self.inspector_error = str(e)
                log.warning("inspector API: %s", e)
                self.inspector_changed.emit("")
                return False
            self.inspector_api = api
        self.inspector_changed.emit(self.inspector_api.url if self.inspector_api else "")
        return True

    # ------------------------------------------------------------------ lifecycle
    async def shutdown(self) -> None:
        """Stop every tunnel and the server (app quit); no notifications while doing so."""
        self._closing = True
        self._rate_timer.stop()
        await asyncio.gather(*(self.disconnect_profile(pid) for pid in list(self._tunnels)),
                             return_exceptions=True)
        await self.stop_server()
        if self.inspector_api is not None:
            await self.inspector_api.stop()
            self.inspector_api = None
        if self.history is not None:
            await self.history.stop()
            self.history = None
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        """Run ``coro`` on the loop, keeping a reference and logging unexpected failures."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _lock(self, profile_id: str) -> asyncio.Lock:
        lock = self._locks.get(profile_id)
        if lock is None:
            lock = self._locks[profile_id] = asyncio.Lock()
        return lock

    def _slock(self) -> asyncio.Lock:
        if self._server_lock is None:
            self._server_lock = asyncio.Lock()
        return self._server_lock

    def _tick(self) -> None:
        snap = self.stats.snapshot()
        up, down = self.rates.update(snap.taken, snap.total_up, snap.total_down)
        self.rates_changed.emit(up, down)
        now = time.monotonic()
        for pid, t in list(self._tunnels.items()):
            self._alert(pid, self.alerts.due(pid, self.state(pid)))
            for u in list(t.client.uplinks):
                info = t.link(u)
                if (u.state == CONNECTING and info.connecting_since and not info.probed
                        and now - info.connecting_since > PROBE_AFTER):
                    self._probe(pid, t, u)  # a TLS handshake with a plain server only ever waits
        self.tick.emit()
