"""TLS as an asyncio transport over a TCP transport, with half-close.

asyncio's own SSL transport (and uvloop's) cannot half-close: when the peer
sends close_notify it warns "returning true from eof_received() has no effect
when using ssl" and closes the whole connection, so a public HTTPS client
that finishes sending early loses its answer, and every closed connection
costs a log line. ``TlsProtocol`` runs ``ssl.SSLObject`` over memory BIOs
itself: close_notify (or a bare TCP FIN) from the peer is reported to the
application's ``eof_received`` exactly as on TCP, and ``write_eof`` sends our
close_notify and a FIN while reading goes on.

The object is the raw TCP transport's protocol and, after the handshake, the
application protocol's transport: the application sees an ordinary
``asyncio.Transport`` (``get_extra_info("ssl_object")`` gives the SSLObject).
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

log = logging.getLogger("wmproxy.tls")

READ_SIZE = 256 * 1024
FIRST_READ_SIZE = 16 * 1024  # a plain app's first decryption buffer: one TLS record's worth


class TlsProtocol(asyncio.Protocol, asyncio.Transport):
    """One TLS connection: raw side is a TCP transport, app side an ``asyncio.Protocol``."""

    def __init__(self, context: ssl.SSLContext, app_factory: Callable[[], asyncio.BaseProtocol], *,
                 server_side: bool = True, server_hostname: str | None = None,
                 handshake_timeout: float = 15.0, on_lost: Callable[[], None] | None = None,
                 coalesce_writes: bool = False) -> None:
        asyncio.Transport.__init__(self)
        self._loop = asyncio.get_running_loop()
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._context = context
        self._server_side = server_side
        self._server_hostname = server_hostname
        self._ssl: ssl.SSLObject | None = None  # made when the peer's first bytes arrive (a client: at once)
        self._factory = app_factory
        self._app: asyncio.BaseProtocol | None = None
        self._raw: asyncio.Transport | None = None
        self._handshake_timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False  # the app paused reading
        self._eof_seen = False  # close_notify or FIN from the peer reached the app
        self._eof_sent = False  # we sent close_notify
        self._closing = False
        self._draining: asyncio.Handle | None = None
        self._on_lost = on_lost  # told when the TCP connection ends, handshake done or not
        self._rbuf_: memoryview | None = None
        # coalesce_writes: what the app writes in one loop iteration goes out in one TCP write at its
        # end, with the TLS 1.3 session ticket held back from the handshake (a public HTTPS
        # connection: ticket, answer and close_notify in one segment, not three)
        self._coalesce = coalesce_writes
        self._flush_soon: asyncio.Handle | None = None

    # ------------------------------------------------------------ raw side (asyncio.Protocol)
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        if self._handshake_timeout:
            self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_expired)
        if not self._server_side:
            self._handshake()  # the client speaks first
        # a server side waits for the ClientHello: a silent stranger costs no TLS state

    def _make_ssl(self) -> ssl.SSLObject:
        if self._ssl is None:
            self._ssl = self._context.wrap_bio(self._in, self._out, server_side=self._server_side,
                                               server_hostname=self._server_hostname)
        return self._ssl

    def data_received(self, data: bytes) -> None:
        self._in.write(data)
        if self._app is None:
            self._handshake()
        else:
            self._deliver()

    def eof_received(self) -> bool | None:
        # OpenSSL is not told (MemoryBIO.write_eof): a FIN without close_notify would put it in
        # an error state, and half-close needs it to go on encrypting what we still send
        if self._app is None:  # the peer left during the handshake
            return False
        self._deliver()
        if not self._eof_seen:  # a bare FIN without close_notify: an end of stream all the same
            self._peer_eof()
        return not self._closing

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._flush_soon is not None:
            self._flush_soon.cancel()
        if self._draining is not None:
            self._draining.cancel()
        self._closing = True
        app, self._app = self._app, None
        if app is not None:
            app.connection_lost(exc)
        if self._on_lost is not None:
            self._on_lost()

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    # ------------------------------------------------------------ TLS machinery
    def _flush(self) -> None:
        if self._out.pending and self._raw is not None and not self._raw.is_closing():
            self._raw.write(self._out.read())

    def _flush_later(self) -> None:
        if self._flush_soon is None:
            self._flush_soon = self._loop.call_soon(self._flush_coalesced)

    def _flush_coalesced(self) -> None:
        self._flush_soon = None
        self._flush()

    def _handshake(self) -> None:
        try:
            self._make_ssl().do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as e:
            self._flush()  # the alert, if any
            log.debug("TLS handshake with %s failed: %s", self._peer(), e)
            self._abort_raw()
            return
        if not (self._coalesce and self._server_side and self._ssl.version() == "TLSv1.3"):
            self._flush()
        # else: all a TLS 1.3 server still has to send is its session ticket, which no client waits
        # for: it goes out with the first answer (or the close_notify), in the same TCP write
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._app = self._factory()
        self._app.connection_made(self)
        if self._in.pending:
            self._deliver()

    def _handshake_expired(self) -> None:
        self._timer = None
        if self._app is None:
            log.debug("TLS handshake with %s timed out", self._peer())
            self._abort_raw()

    def _deliver(self) -> None:
        """Decrypt what has arrived and hand it to the app until it pauses or nothing is left.

        OpenSSL returns one TLS record (at most 16 KiB) per read: records are gathered into one
        buffer of up to READ_SIZE and handed over in one call, so the app's per-call work is paid
        per 256 KiB, not per record. A BufferedProtocol app (the center link) gets the plaintext
        decrypted straight into its own buffer: no allocation, no copy.
        """
        self._draining = None
        ssl_obj = self._ssl
        held = self._out.pending if self._coalesce else -1  # a held-back session ticket, if any
        while not self._paused and self._app is not None and not self._eof_seen and not self._closing:
            app = self._app
            buffered = isinstance(app, asyncio.BufferedProtocol)
            if buffered:
                view = app.get_buffer(READ_SIZE)
            else:
                view = self._rbuf
            size = len(view)
            got = 0
            end = False
            incoming = self._in
            try:
                while got < size:
                    n = ssl_obj.read(size - got, view[got:])
                    if not n:
                        end = True
                        break
                    got += n
                    if not incoming.pending and not ssl_obj.pending():
                        break  # all that arrived is decrypted: no WantRead exception to pay for
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                end = True  # close_notify, or a FIN without it (a ragged end: an end all the same)
            except (ssl.SSLError, OSError) as e:
                log.debug("TLS error from %s: %s", self._peer(), e)
                self._flush()
                self._abort_raw()
                return
            if got:
                if buffered:
                    app.buffer_updated(got)
                else:
                    app.data_received(bytes(view[:got]))  # type: ignore[attr-defined]
            if end:
                self._flush()
                self._peer_eof()
                return
            if got < size:
                break  # nothing more decrypted for now
            if not buffered and size < READ_SIZE:
                self._rbuf_ = memoryview(bytearray(READ_SIZE))  # a bulk sender: records gathered 256 KiB at a time
        if self._out.pending != held:
            self._flush()  # a TLS 1.3 key update needs its answer, a client its session ticket

    @property
    def _rbuf(self) -> memoryview:
        """Decryption buffer for a plain-Protocol app, made on first use (a stranger costs none).

        It starts at one record's size (most public connections carry small requests: a 256 KiB
        buffer per connection is a zeroed mmap each) and grows to READ_SIZE once a read fills it."""
        if self._rbuf_ is None:
            self._rbuf_ = memoryview(bytearray(FIRST_READ_SIZE))
        return self._rbuf_

    def _peer_eof(self) -> None:
        self._eof_seen = True
        app = self._app
        if app is None:
            return
        keep = app.eof_received()  # type: ignore[attr-defined]
        if not keep:
            self.close()

    def _abort_raw(self) -> None:
        if self._raw is not None:
            self._raw.abort()

    def _peer(self) -> str:
        from .streams import format_addr

        return format_addr(self._raw.get_extra_info("peername")) if self._raw is not None else "?"

    # ------------------------------------------------------------ app side (asyncio.Transport)
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self.writelines((data,))

    def writelines(self, list_of_data) -> None:  # type: ignore[override]
        """Every piece into the TLS stream, then one write to the socket (not one per piece)."""
        if self._closing or self._eof_sent:
            return
        try:
            for data in list_of_data:
                if data:
                    self._ssl.write(data)
        except (ssl.SSLError, OSError) as e:
            log.debug("TLS write to %s failed: %s", self._peer(), e)
            self._abort_raw()
            return
        if self._coalesce:
            self._flush_later()
        else:
            self._flush()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Our close_notify and a TCP FIN; reading goes on (half-close)."""
        if self._eof_sent or self._closing:
            return
        self._eof_sent = True
        self._shutdown()
        if self._raw is not None and self._raw.can_write_eof() and not self._raw.is_closing():
            self._raw.write_eof()

    def _shutdown(self) -> None:
        try:
            self._ssl.unwrap()
        except ssl.SSLWantReadError:
            pass  # close_notify went out; the peer's comes (or not) later
        except (ssl.SSLError, OSError, ValueError):
            pass
        self._flush()

    def close(self) -> None:
        """Flush, send close_notify, close the TCP connection after its buffer drains."""
        if self._closing:
            return
        self._closing = True
        if not self._eof_sent and self._app is not None:
            self._eof_sent = True
            self._shutdown()
        if self._raw is not None:
            self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._abort_raw()

    def is_closing(self) -> bool:
        return self._closing or self._raw is None or self._raw.is_closing()

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            if self._raw is not None:
                self._raw.pause_reading()

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._raw is not None and not self._raw.is_closing():
                self._raw.resume_reading()
            if self._draining is None:  # records already decrypted or buffered in the BIO
                self._draining = self._loop.call_soon(self._deliver)

    def is_reading(self) -> bool:
        return not self._paused

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self._raw is not None:
            self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size() if self._raw is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._raw.get_write_buffer_limits() if self._raw is not None else (0, 0)  # type: ignore[attr-defined]

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "ssl_object":
            return self._ssl
        if name == "sslcontext":
            return self._ssl.context
        if name == "peercert":
            return self._ssl.getpeercert()
        if name == "cipher":
            return self._ssl.cipher()
        if name == "compression":
            return self._ssl.compression()
        return self._raw.get_extra_info(name, default) if self._raw is not None else default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._app = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._app  # type: ignore[return-value]
