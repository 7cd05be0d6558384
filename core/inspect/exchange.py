"""One captured HTTP/1 exchange: raw heads and body prefixes exactly as they crossed the tunnel.

Heads are kept as the raw bytes (smaller than parsed header lists, and what the
ngrok-shaped API's ``raw`` field wants); they are parsed again only when someone
looks. Bodies are the first ``body_limit`` bytes on the wire, chunked framing
included, so a replay of a complete body is byte-for-byte the original.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..http1 import HttpError, RequestHead, ResponseHead, parse_request_head, parse_response_head

# What an Exchange costs beyond its byte strings (object, slots, small strings, the ring's
# bookkeeping); measured with tracemalloc in tests/test_inspect_ring.py, rounded up.
EXCHANGE_OVERHEAD = 1200


@dataclass(slots=True, eq=False)
class Message:
    """One side of an exchange."""

    head: bytes  # the head as received, blank line included
    body: bytes = b""  # the first bytes of the body, as on the wire
    size: int = 0  # body bytes seen in total
    complete: bool = False  # the body reached its end (by its framing, or by EOF for read-until-close)

    @property
    def truncated(self) -> bool:
        return self.size > len(self.body)

    @property
    def raw(self) -> bytes:
        return self.head + self.body


@dataclass(slots=True, eq=False)
class Exchange:
    """A request, and its response once one came. Times: ``start`` is epoch seconds, the rest seconds."""

    tunnel_name: str  # the mapping's name
    remote_addr: str  # the public client ("unknown" behind a legacy server; "replay" for replays)
    target: str  # the local service it went to (local_addr)
    start: float
    method: str
    uri: str
    version: tuple[int, int]
    request: Message
    response: Message | None = None
    status: int = 0  # 0 while/if no response
    reason: str = ""
    ttfb: float | None = None  # first response byte, seconds after start
    duration: float | None = None  # response complete, seconds after start
    error: str = ""  # why the exchange is incomplete ("" when it is not)
    replay_of: str = ""  # id of the exchange this one replayed
    id: str = ""  # set by the ring
    seq: int = 0
    cost: int = field(default=0)

    @property
    def proto(self) -> str:
        return f"HTTP/{self.version[0]}.{self.version[1]}"

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]

    @property
    def host(self) -> str:
        head = self.request_head()
        return (head.get("host") if head is not None else None) or ""

    def request_head(self) -> RequestHead | None:
        try:
            return parse_request_head(self.request.head)
        except HttpError:
            return None

    def response_head(self) -> ResponseHead | None:
        if self.response is None:
            return None
        try:
            return parse_response_head(self.response.head, self.method)
        except HttpError:
            return None

    def measure(self) -> int:
        """Bytes this exchange holds (what the ring's budget counts)."""
        n = EXCHANGE_OVERHEAD + len(self.request.head) + len(self.request.body) + len(self.uri)
        if self.response is not None:
            n += len(self.response.head) + len(self.response.body)
        self.cost = n
        return n
