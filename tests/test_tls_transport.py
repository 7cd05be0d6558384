"""core.tls_transport.TlsProtocol driven in memory: what reaches the TCP socket, write by write.

A public HTTPS connection (``coalesce_writes``) sends what the app writes in one loop iteration in
one TCP write, with the TLS 1.3 session ticket held back from the end of the handshake: an answer
with ``Connection: close`` costs one write (ticket, answer, close_notify), not three.
"""
from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from _util import run
from core import tls
from core.tls_transport import TlsProtocol


class RawTransport(asyncio.Transport):
    """Records every write the TLS layer makes to its TCP transport."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


class Answering(asyncio.Protocol):
    """Answers the first request with two writes (head, body), then closes: one loop callback."""

    def connection_made(self, transport) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
        self.t.write(b"ok")
        self.t.close()


@pytest.fixture
def contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = tls.generate_cert("m", ["m.test"], [])
    (tmp_path / "m.crt").write_bytes(cert)
    (tmp_path / "m.key").write_bytes(key)
    server = tls.server_context(tmp_path / "m.crt", tmp_path / "m.key")
    client = ssl.create_default_context(cafile=str(tmp_path / "m.crt"))
    return server, client


class Client:
    """A TLS client over memory BIOs, fed by hand from the server's recorded writes."""

    def __init__(self, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None) -> None:
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="m.test", session=session)

    def step(self) -> bool:
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def read_all(self) -> bytes:
        got = b""
        while True:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                return got
            except ssl.SSLZeroReturnError:
                return got + b"<close_notify>"
            if not chunk:
                return got + b"<close_notify>"
            got += chunk


def handshake(server_ctx: ssl.SSLContext, cli: Client, *, coalesce: bool) -> tuple[RawTransport, TlsProtocol]:
    """The server's first flight answered; the client's Finished not sent yet, no writes recorded."""
    raw = RawTransport()
    proto = TlsProtocol(server_ctx, Answering, coalesce_writes=coalesce)
    proto.connection_made(raw)
    cli.step()
    proto.data_received(cli.out.read())  # ClientHello
    for w in raw.writes:
        cli.inc.write(w)
    assert cli.step(), "the client finishes its handshake from the server's first flight"
    raw.writes.clear()
    return raw, proto


async def exchange(server_ctx: ssl.SSLContext, cli: Client, *, coalesce: bool) -> tuple[RawTransport, list[bytes]]:
    """Handshake, one request; the server's writes after the handshake, as the client decrypts them."""
    raw, proto = handshake(server_ctx, cli, coalesce=coalesce)
    cli.obj.write(b"GET / HTTP/1.1\r\nHost: m.test\r\n\r\n")
    proto.data_received(cli.out.read())  # client Finished + the request, as a client sends them
    await asyncio.sleep(0)  # the end of the loop iteration: a coalesced flush goes out here
    await asyncio.sleep(0)
    seen = []
    for w in raw.writes:
        cli.inc.write(w)
        seen.append(cli.read_all())
    return raw, seen


def test_ticket_answer_and_close_notify_leave_in_one_write(contexts) -> None:
    server_ctx, client_ctx = contexts

    async def main() -> None:
        cli = Client(client_ctx)
        raw, seen = await exchange(server_ctx, cli, coalesce=True)
        assert len(raw.writes) == 1, [len(w) for w in raw.writes]
        assert seen == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok<close_notify>"]
        assert raw.closed
        session = cli.obj.session
        assert session is not None and session.has_ticket, "the held-back ticket reached the client"

        again = Client(client_ctx, session)
        raw, seen = await exchange(server_ctx, again, coalesce=True)
        assert again.obj.session_reused, "the ticket resumes a session"
        assert seen[-1].endswith(b"ok<close_notify>")

    run(main())


def test_without_coalescing_each_write_goes_out_at_once(contexts) -> None:
    """The center link's TLS (no coalescing; it batches frames itself) writes as it is told: the
    ticket right after the handshake, then head, body and close_notify each in its own write."""
    server_ctx, client_ctx = contexts

    async def main() -> None:
        cli = Client(client_ctx)
        raw, proto = handshake(server_ctx, cli, coalesce=False)
        proto.data_received(cli.out.read())  # the client Finished alone
        assert len(raw.writes) == 1, "the session ticket goes out at once"
        cli.obj.write(b"GET / HTTP/1.1\r\nHost: m.test\r\n\r\n")
        proto.data_received(cli.out.read())
        assert len(raw.writes) == 4, [len(w) for w in raw.writes]

    run(main())
