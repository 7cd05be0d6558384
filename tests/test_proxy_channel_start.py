"""When the server starts the proxy channels a client opens: after the read that opened them,
all together, skipping those closed in the same read, and one failure never strands the rest."""
from __future__ import annotations

import asyncio

import pytest

import core.forward_proxy as forward_proxy
from _util import run
from core import frames as F
from core.config import ServerConfig
from core.server import CenterServer

pytestmark = pytest.mark.timeout(60)


def test_proxy_channels_start_after_the_read_and_a_failing_one_is_closed_alone(monkeypatch) -> None:
    started: list[int] = []
    real = forward_proxy.ForwardProxy

    def proxy(ch, *args, **kw):  # type: ignore[no-untyped-def]
        started.append(ch.id)
        if ch.id == 3:
            raise RuntimeError("this one breaks")
        return real(ch, *args, **kw)

    monkeypatch.setattr(forward_proxy, "ForwardProxy", proxy)

    async def main() -> None:
        srv = CenterServer(ServerConfig(bind="127.0.0.1:0"))  # no credentials: logged in at once
        await srv.start()
        try:
            r, w = await asyncio.open_connection(*srv.addresses["center"])
            # one write, so one read: 1, 3 and 5 stay open; 7 is closed in the same read
            w.write(b"".join(F.encode(f) for f in (
                F.Mapping(()), F.Create(1), F.Create(3), F.Create(7), F.Close(7), F.Create(5))))
            dec = F.FrameDecoder()
            closes: list[F.Close] = []
            while not closes:
                closes += [fr for fr in dec.feed(await asyncio.wait_for(r.read(65536), 10))
                           if isinstance(fr, F.Close)]
            assert [c.sock_map for c in closes] == [3]
            assert sorted(started) == [1, 3, 5]  # 7 never started; 5 did, after 3 failed
            (link,) = srv.links
            assert sorted(link.channels) == [1, 5]
            w.close()
        finally:
            await srv.stop()

    run(main())
