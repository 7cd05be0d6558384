"""Small shared test helpers and fixtures (keep this file light; no heavy fixtures).

Plain helpers are importable from test modules as ``from conftest import run, free_port``
(``tests/`` is on ``sys.path`` under pytest's default import mode).
"""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Benchmarks print tables; they are run by hand, never collected.
collect_ignore_glob = ["bench/*"]

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


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a TCP echo server on 127.0.0.1, usable from any event loop."""
    srv = EchoServer().start()
    try:
        yield srv.address
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared read-only data checkout (../shared beside the repo, as CI clones it)."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not (path / "wire" / "wmproxy_frames.json").is_file():
        pytest.fail(f"shared data not found at {path}: clone the shared repo beside this one "
                    f"(expected {path}/wire/wmproxy_frames.json)", pytrace=False)
    return path
