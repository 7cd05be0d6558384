"""Local services the benchmark tunnels lead to, each in its own process.

* ``http``  - HTTP/1.1 answering every request with a 1 KiB body; keep-alive
              unless the request says ``Connection: close``. asyncio Protocol on
              uvloop: fast enough that it is never the bottleneck, and the same
              server behind every peer.
* ``echo``  - echoes bytes (latency ping-pong, idle channels).
* ``sink``  - reads slowly: stalls ``--stall`` seconds, then reads at most
              ``--rate`` bytes/s (the slow reader of the flow-control figure).

Prints ``READY <port>`` on stdout once listening.
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time

BODY = b"x" * 1024
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + BODY)
RESPONSE_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n"
                  b"Connection: close\r\n\r\n" + BODY)


class Http(asyncio.Protocol):
    """Answers each complete request head (GETs without body: that is all wrk sends)."""

    __slots__ = ("t", "buf")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out = []
        pos = 0
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            head = buf[pos:end]
            pos = end + 4
            if b"onnection: close" in head or b"onnection: Close" in head:
                out.append(RESPONSE_CLOSE)
                self.t.write(b"".join(out))
                self.t.close()
                return
            out.append(RESPONSE)
        self.buf = buf[pos:]
        if out:
            self.t.write(b"".join(out) if len(out) > 1 else out[0])

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.t.write(data)

    def eof_received(self) -> bool:
        return False


def sink_thread(conn: socket.socket, stall: float, rate: float) -> None:
    """One slow reader: nothing for ``stall`` s, then ``rate`` bytes/s in 64 KiB reads."""
    time.sleep(stall)
    start = time.monotonic()
    got = 0
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            got += len(data)
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    except OSError:
        pass
    finally:
        conn.close()


def serve_sink(port: int, stall: float, rate: float) -> None:
    ls = socket.create_server(("127.0.0.1", port), backlog=128)
    print(f"READY {ls.getsockname()[1]}", flush=True)
    while True:
        conn, _ = ls.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        threading.Thread(target=sink_thread, args=(conn, stall, rate), daemon=True).start()


async def serve(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    proto = {"http": Http, "echo": Echo}[kind]
    srv = await loop.create_server(proto, "127.0.0.1", port, backlog=4096)
    print(f"READY {srv.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("http", "echo", "sink"))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stall", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=64e6)
    a = ap.parse_args()
    if a.kind == "sink":
        serve_sink(a.port, a.stall, a.rate)
        return
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(a.kind, a.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
