"""Plain test helpers, importable from any test module as ``from _util import run, free_port``.

(They live here rather than in conftest.py: tests/gui has a conftest of its own,
and two modules both named ``conftest`` cannot both be imported by name.)
"""
from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


def run(coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
    """Run ``coro`` on a fresh event loop, failing with TimeoutError after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer binding port 0 where the API allows it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class EchoServer:
    """A TCP echo server on its own thread and event loop, so any test loop can dial it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="echo-server", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _main(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(_echo, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    def start(self) -> "EchoServer":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("echo server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """``asyncio.start_server`` callback that echoes every byte (for servers on the test's own loop)."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def curl(*args: str, max_time: float = 20) -> tuple[int, str, str]:
    """Run the real curl; (exit code, stdout, stderr)."""
    p = await asyncio.create_subprocess_exec("curl", "-sS", "--max-time", str(max_time), *args,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await p.communicate()
    return p.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def until(cond: Any, what: str, timeout: float = 10.0) -> None:
    """Poll ``cond()`` every 20 ms; AssertionError naming ``what`` after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def tagged_http(tag: str) -> asyncio.AbstractServer:
    """A keep-alive HTTP/1.1 service on 127.0.0.1 answering ``TAG PATH`` (which service answered)
    and counting its connections in ``server.conns`` (for servers on the test's own loop)."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        srv.conns += 1  # type: ignore[attr-defined]
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                body = f"{tag} {head.split(b' ', 2)[1].decode()}".encode()
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    srv.conns = 0  # type: ignore[attr-defined]
    return srv


def server_addr(srv: asyncio.AbstractServer) -> str:
    return "127.0.0.1:%d" % srv.sockets[0].getsockname()[1]


class ThreadedService:
    """A blocking-socket service on 127.0.0.1 with a thread per connection (any loop can use it):
    subclasses implement ``serve(conn)``; ``port`` is where it listens, ``open`` how many
    connections it has right now."""

    def __init__(self) -> None:
        self.open = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c: socket.socket) -> None:
        with self.lock:
            self.open += 1
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()
            with self.lock:
                self.open -= 1

    def serve(self, c: socket.socket) -> None:
        raise NotImplementedError


def listening(port: int) -> bool:
    """A TCP socket listens on ``port`` (read from /proc/net/tcp: no connection is made, so a
    probe never reaches whatever stands behind a proxy or balancer)."""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                if any(ln.split()[3] == "0A" and (ln.split()[1] + " ").endswith(want) for ln in f):
                    return True
        except OSError:
            pass
    return False


def stop_process(proc: "subprocess.Popen | None", grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: a test's helper program never outlives the test."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
