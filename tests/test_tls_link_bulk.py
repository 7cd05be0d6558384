"""Many channels at once over a TLS link, both directions, on each event loop the product runs on.

Over a TLS link the bytes read from local sockets travel as slices of one shared read arena
(core/read_arena.py) and the link's own reads are slices of it too: a slice reused too early
would corrupt some other channel's stream. Each loop's transports (asyncio's, uvloop's, and
qasync's in the GUI) call the buffer protocol in their own way, so each gets its own run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

CHILD = textwrap.dedent("""
    import asyncio, hashlib, os, random, sys
    sys.path.insert(0, sys.argv[2])
    from _util import echo_handler, until
    from test_tls_link import client_cfg, server_cfg
    from core.client import CenterClient
    from core.config import ClientTls
    from core.server import CenterServer

    CHANNELS, SIZE = 12, 3 << 20

    async def one(addr, seed):
        rng = random.Random(seed)
        blob = rng.randbytes(SIZE)
        r, w = await asyncio.open_connection(*addr)

        async def send():
            pos = 0
            while pos < SIZE:  # writes of every size: small ones join frames, big ones fill arenas
                n = rng.choice((1, 100, 4096, 70_000, 300_000))
                w.write(blob[pos:pos + n])
                pos += n
                await w.drain()

        sender = asyncio.ensure_future(send())
        got = await asyncio.wait_for(r.readexactly(SIZE), 120)
        await sender
        w.close()
        return hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()

    async def main():
        svc = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
        port = svc.sockets[0].getsockname()[1]
        srv = CenterServer(server_cfg())
        await srv.start()
        known = os.path.join(sys.argv[3], "known_hosts")
        cli = CenterClient(client_cfg(srv, port, ClientTls(enabled=True, known_hosts=known)))
        await cli.start()
        try:
            await cli.wait_connected(10)
            assert cli.link.copies_writes, "the link is not TLS"
            await until(lambda: srv.router.for_mode("tcp"), "mapping announced")
            ok = await asyncio.gather(*(one(srv.addresses["tcp"], i) for i in range(CHANNELS)))
            print("intact", sum(ok), "of", CHANNELS, flush=True)
        finally:
            await cli.stop()
            await srv.stop()
            svc.close()

    kind = sys.argv[1]
    if kind == "uvloop":
        import uvloop
        uvloop.run(main())
    elif kind == "qasync":
        import qasync
        from PySide6.QtCore import QCoreApplication
        app = QCoreApplication([])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(main())
    else:
        asyncio.run(main())
""")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop", "qasync"])
def test_concurrent_channels_over_a_tls_link_arrive_intact(tmp_path: Path, loop: str) -> None:
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(tests.parent))
    r = subprocess.run([sys.executable, "-c", CHILD, loop, str(tests), str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=220)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "intact 12 of 12" in r.stdout, r.stdout + r.stderr[-2000:]
