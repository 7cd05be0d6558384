"""The request inspector: HTTP/1 exchanges seen on http/https mappings, kept in memory.

* ``exchange``  - what one captured request/response pair holds (raw heads, body prefixes);
* ``observer``  - sans-io: watches copies of the bytes of one connection, emits exchanges;
* ``endpoint``  - the client's ``SocketEndpoint`` that feeds an observer without changing a byte;
* ``ring``      - the bounded store (N requests within a byte budget);
* ``formats``   - bodies decoded and pretty-printed, query parameters, curl commands;
* ``replay``    - sends a captured (or edited) request to the local service again;
* ``api``       - the ngrok-agent-shaped local HTTP API and the web page (``web/``).

Nothing captured is logged or written anywhere: it lives in the ring until it is evicted,
cleared, or the process ends.
"""
from .exchange import Exchange, Message
from .ring import CaptureRing

__all__ = ["CaptureRing", "Exchange", "Message"]
