"""The client's local end of an http/https mapping channel, with capture.

A ``SocketEndpoint`` whose two data callbacks also hand the same bytes to an
``ExchangeObserver``. The bytes are forwarded unchanged and first; an observer
that fails for any reason is dropped for the rest of the connection, so capture
can never break or alter the splice.
"""
from __future__ import annotations

import asyncio
import logging

from ..channel import Channel, SocketEndpoint
from .observer import ExchangeObserver
from .ring import CaptureRing

log = logging.getLogger("wmproxy.inspect")


class InspectingEndpoint(SocketEndpoint):
    __slots__ = ("observer",)

    def __init__(self, channel: Channel, ring: CaptureRing, *, tunnel_name: str, remote_addr: str,
                 target: str, preamble: bytes = b"") -> None:
        super().__init__(channel, preamble)  # a PROXY header goes straight out: it is not HTTP
        self.observer: ExchangeObserver | None = ExchangeObserver(
            ring.add, tunnel_name=tunnel_name, remote_addr=remote_addr, target=target,
            body_limit=ring.body_limit, admit=ring.admit)

    def again(self, remote_addr: str) -> None:
        """The server carries another public client's requests on this connection from now on."""
        if self.observer is not None:
            self.observer.remote_addr = remote_addr

    def _drop_observer(self) -> None:
        # never the exception text: it could quote captured bytes, and capture stays out of logs
        log.debug("capture stopped on channel %s after an internal error", getattr(self.channel, "id", "?"))
        self.observer = None

    # channel -> local service: the request direction
    def deliver(self, data: bytes | memoryview) -> None:
        SocketEndpoint.deliver(self, data)
        obs = self.observer
        if obs is not None:
            try:
                obs.request_data(data)
            except Exception:
                self._drop_observer()
                return
            if not obs.active:
                self.observer = None  # stopped (not HTTP, upgraded, over the capture rate): no more calls

    # local service -> channel: the response direction
    def data_received(self, data: bytes) -> None:
        obs = self.observer
        if obs is not None:  # first: time to first byte is taken before the send
            try:
                obs.response_data(data)
                if not obs.active:
                    self.observer = None
            except Exception:
                self._drop_observer()
        SocketEndpoint.data_received(self, data)

    def eof_received(self) -> bool:
        obs = self.observer
        if obs is not None:
            try:
                obs.response_eof()
            except Exception:
                self._drop_observer()
        return SocketEndpoint.eof_received(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._observer_closed()
        SocketEndpoint.connection_lost(self, exc)

    def shutdown(self, reason: str, reset: bool = False) -> None:
        self._observer_closed()
        SocketEndpoint.shutdown(self, reason, reset)

    def _observer_closed(self) -> None:
        obs, self.observer = self.observer, None
        if obs is not None:
            try:
                obs.closed()
            except Exception:
                pass

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        SocketEndpoint.connection_made(self, transport)
        if self.channel is None:  # the channel was gone before the connect finished
            self.observer = None
