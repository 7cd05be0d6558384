"""One server of a client: its link, its reconnect loop and backoff, its state.

A client lists one or more servers (``[client] server = ["a:8091", "b:8091"]``)
and keeps one link to each at once (a multi-homed client, as cloudflared
keeps links to several edges): each server routes public connections over
its own link, so any server can serve any of the client's mappings, and one
server going down leaves the others serving. Each ``Uplink`` connects,
verifies, waits for acceptance and reconnects on its own, with its own
backoff (``core/client.py`` aggregates their states for the GUI and tray).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from typing import TYPE_CHECKING

from . import frames as F
from .config import addr_of
from .errors import AuthError, TlsError, WmproxyError
from .stats import CONNECTED, CONNECTING, ERROR, STOPPED
from .throttle import MAX_DELAY

if TYPE_CHECKING:
    from .client import CenterClient, ClientLink

log = logging.getLogger("wmproxy.client")

LEGACY_GRACE = 1.0  # a legacy server never acknowledges: assume success after this long
# a server known to speak the extensions always answers, but may hold a login back: after wrong
# passwords from this address for up to its throttle's cap (ours: 16 s), then a margin
EXT_GRACE = MAX_DELAY + 4.0
STABLE_AFTER = 10.0  # a link that lived this long resets the reconnect backoff
CONNECT_TIMEOUT = 20.0
HANDSHAKE_TIMEOUT = 15.0


class Uplink:
    """The client's link to ``server``; runs from ``start()`` until ``stop()``."""

    def __init__(self, client: "CenterClient", server: str, index: int) -> None:
        self.client = client
        self.server = server
        self.index = index  # its place in [client] server (the first live one carries proxy traffic)
        self.link: "ClientLink | None" = None
        self.state = STOPPED
        self.last_error = ""
        self.last_exception: Exception | None = None
        self.next_attempt_at: float | None = None  # time.time() of the next attempt while waiting for it
        self.server_fingerprint: str | None = None
        # what this server made of each mapping (extension "status"): name -> MappingState
        self.mapping_status: dict[str, F.MappingState] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        link = self.link
        if link is not None:
            link.close("client stopping")
            try:
                await asyncio.wait_for(link.closed.wait(), 5)
            except asyncio.TimeoutError:
                if link.transport is not None:
                    link.transport.abort()
        self._set(STOPPED)

    def reconnect_now(self) -> None:
        self._wake.set()

    @property
    def connected(self) -> bool:
        link = self.link
        return self.state == CONNECTED and link is not None and link.transport is not None

    def _set(self, state: str, error: str = "") -> None:
        """New state; an error stays shown (through reconnect attempts) until the link is up."""
        new_error = error or ("" if state == CONNECTED else self.last_error)
        if state == self.state and new_error == self.last_error:
            return
        self.state, self.last_error = state, new_error
        self.client.uplink_changed(self)

    # ------------------------------------------------------------ the loop
    async def _run(self) -> None:
        cfg = self.client.cfg
        delay = cfg.reconnect_min
        while not self._stopping:
            self._set(CONNECTING)
            started = time.monotonic()
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except (OSError, ssl.SSLError, WmproxyError, asyncio.TimeoutError) as e:
                msg = str(e) or type(e).__name__
                if isinstance(e, OSError) and not isinstance(e, ssl.SSLError) and (e.errno or e.strerror):
                    # asyncio's text ("Connect call failed ('h', p)") says less than the errno does
                    why = os.strerror(e.errno).lower() if e.errno else e.strerror
                    msg = f"cannot connect to {self.server}: {why}"
                elif isinstance(e, asyncio.TimeoutError):
                    msg = f"cannot connect to {self.server}: timed out"
                log.warning("%s", msg)
                self.last_exception = e
                self._set(ERROR, msg)
            if self._stopping:
                break
            if time.monotonic() - started > STABLE_AFTER:
                delay = cfg.reconnect_min
            wait = delay * (0.5 + random.random() / 2)  # jitter: spread reconnect storms
            log.info("reconnecting to %s in %.1f s", self.server, wait)
            self.next_attempt_at = time.time() + wait  # viewers poll it for a countdown
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                delay = cfg.reconnect_min  # the user asked: start the backoff over
            except asyncio.TimeoutError:
                delay = min(delay * 2, cfg.reconnect_max)
            finally:
                self.next_attempt_at = None

    async def _connect_once(self) -> None:
        from .client import ClientLink

        cfg = self.client.cfg
        host, port = addr_of(self.server, f"client.server[{self.index}]" if len(cfg.servers) > 1 else "client.server")
        loop = asyncio.get_running_loop()
        ctx = None
        server_hostname = None
        if cfg.tls.enabled:
            from . import tls

            ctx = tls.client_context(cfg.tls)
            server_hostname = tls.server_hostname(cfg.tls, host)
        transport, link = await asyncio.wait_for(
            loop.create_connection(lambda: ClientLink(self.client, self), host, port, ssl=ctx,
                                   server_hostname=server_hostname,
                                   ssl_handshake_timeout=HANDSHAKE_TIMEOUT if ctx else None), CONNECT_TIMEOUT)
        self.link = link
        try:
            if ctx is not None:
                from . import tls

                der = tls.peer_der(transport)
                self.server_fingerprint = tls.fingerprint(der) if der else None
                try:
                    tls.verify_server(cfg.tls, self.server, der, accept_new=self.client.tofu_accept_new)
                except TlsError:
                    link.abort("server certificate refused")
                    raise
            try:
                grace = EXT_GRACE if self.server in self.client.ext_servers else LEGACY_GRACE
                await asyncio.wait_for(link.accepted.wait(), grace)
            except asyncio.TimeoutError:
                link.accepted.set()  # legacy server: no acknowledgement is coming, and no refusal came
            if link.refused:
                raise AuthError(link.refused) if "authentication" in link.refused else WmproxyError(link.refused)
            if link.transport is None:
                raise WmproxyError(f"server closed the link: {link.close_reason}")
            link.set_connected()
            self.last_exception = None
            self._set(CONNECTED)
            log.info("connected to %s%s", self.server, " (extensions)" if link.peer_ext
                     else " (legacy server: no heartbeat; requests without an answer are probed)")
            if not link.peer_ext:
                link.set_connected(note="legacy server: no heartbeat")
            await link.closed.wait()
            if link.refused:
                raise AuthError(link.refused) if "authentication" in link.refused else WmproxyError(link.refused)
            if not self._stopping:
                raise WmproxyError(f"link to {self.server} lost: {link.close_reason}")
        finally:
            if link.transport is not None:
                link.abort("client stopping" if self._stopping else "reconnecting", expected=True)
            self.link = None
            self.mapping_status = {}

    # ------------------------------------------------------------ what the server says
    def on_mapping_status(self, states: tuple[F.MappingState, ...]) -> None:
        """The server's verdict on our mappings; refusals are logged once per change."""
        new = {s.name: s for s in states}
        for name, st in new.items():
            old = self.mapping_status.get(name)
            if not st.ok and old != st:
                log.warning("%s refused mapping %r: %s", self.server, name, st.message)
            elif st.ok and old is not None and not old.ok:
                log.info("%s now serves mapping %r (port %d)", self.server, name, st.port)
        self.mapping_status = new
        self.client.uplink_changed(self)
