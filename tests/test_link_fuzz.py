"""Hostile bytes at a live server link: each bad link is closed, the server keeps serving the others."""
from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _strategies import frames, mutated_frames
from core import frames as F
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(240)


class LiveTunnel:
    """Server + real client + echo service on a loop of their own thread, so hypothesis can drive sockets."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
            w.close()

        self.svc = await asyncio.start_server(echo, "127.0.0.1", 0)
        self.srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                             map_tcp_bind="127.0.0.1:0", max_frame=1 << 20))
        await self.srv.start()
        self.cli = CenterClient(ClientConfig(
            server="%s:%d" % self.srv.addresses["center"], username="u", password="p",
            mappings=[MappingConfig(name="echo", mode="tcp", local_addr="127.0.0.1:%d" % self.svc.sockets[0].getsockname()[1])]))
        await self.cli.start()
        await self.cli.wait_connected(10)
        for _ in range(200):
            if self.srv.router.for_mode("tcp"):
                break
            await asyncio.sleep(0.02)

    async def _stop(self) -> None:
        await self.cli.stop()
        await self.srv.stop()
        self.svc.close()

    def __enter__(self) -> "LiveTunnel":
        self.thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def echo_works(self) -> bool:
        with socket.create_connection(self.srv.addresses["tcp"], timeout=10) as s:
            s.sendall(b"alive?")
            return s.recv(6) == b"alive?"


@pytest.fixture(scope="module")
def tunnel():
    with LiveTunnel() as t:
        yield t


def throw(tunnel: LiveTunnel, payload: bytes, authenticate: bool) -> None:
    with socket.create_connection(tunnel.srv.addresses["center"], timeout=5) as s:
        s.settimeout(0.5)
        try:
            if authenticate:
                s.sendall(F.encode(F.Token("u", "p")))
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):  # until the server closes us (or the timeout)
                pass
        except OSError:
            pass


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(mutated_frames(), st.binary(max_size=512),
                         st.lists(frames, max_size=6).map(lambda fs: b"".join(map(F.encode, fs)))),
       authenticate=st.booleans())
def test_fuzzed_links_never_hurt_the_server(tunnel: LiveTunnel, payload: bytes, authenticate: bool) -> None:
    throw(tunnel, payload, authenticate)
    assert tunnel.cli.state == "connected"


def test_server_still_serves_after_fuzzing(tunnel: LiveTunnel) -> None:
    for payload in (b"\xff" * 40, bytes.fromhex("ffffff000000000100000000"), F.encode(F.Create(0))):
        throw(tunnel, payload, True)
    assert tunnel.echo_works()
    assert tunnel.cli.state == "connected"
    # every fuzz link is gone again; only the real client remains (a wrong password from this
    # address waits up to the throttle's longest delay before it is refused)
    from core.throttle import MAX_DELAY

    for _ in range(int((MAX_DELAY + 5) / 0.05)):
        if len(tunnel.srv.links) == 1:
            break
        threading.Event().wait(0.05)
    assert len(tunnel.srv.links) == 1
