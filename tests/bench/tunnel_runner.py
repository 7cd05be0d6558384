"""Run one side of our tunnel (CenterServer or CenterClient) as its own process.

    python tests/bench/tunnel_runner.py CONFIG.json

CONFIG: {"role": "server"|"client", "loop": "uvloop"|"asyncio"|"qasync",
         "server": {ServerConfig fields} | "client": {ClientConfig fields, tls/mappings/proxies as dicts},
         "lag_file": path (optional), "inspect": true | max_rate (client: capture http/https mappings)}

Prints ``READY {"center": [host, port], ...}`` once listening (server) or
connected (client). ``qasync`` runs the engine inside a PySide6 QApplication
(offscreen) with qasync's QEventLoop, as the GUI does.

Loop lag: a 10 ms timer records how late it fires. SIGUSR1 writes the
samples gathered since the previous SIGUSR1 (JSON list of ms) to
``lag_file`` and starts a new window, so the harness can bracket a
measurement. SIGTERM stops cleanly.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

LAG_TICK = 0.010


class LagMonitor:
    """How late a periodic timer fires: the loop's responsiveness under load."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.samples: list[float] = []
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due = time.monotonic() + LAG_TICK
        loop.call_later(LAG_TICK, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self.samples.append(max(0.0, (now - self._due) * 1000.0))
        self._due = now + LAG_TICK
        assert self._loop is not None
        self._loop.call_later(LAG_TICK, self._tick)

    def dump(self, *_: object) -> None:
        samples, self.samples = self.samples, []
        if self.path:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(samples, f)
            os.replace(tmp, self.path)


def apply_patches(spec: str) -> None:
    """Experiments only: ``module.NAME=int;...`` overrides engine constants (WMPROXY_BENCH_PATCH)."""
    import importlib

    for item in filter(None, spec.split(";")):
        target, _, value = item.partition("=")
        mod, _, name = target.rpartition(".")
        setattr(importlib.import_module(mod), name, int(value))


def build(cfgd: dict):
    from core.config import ClientConfig, ClientTls, MappingConfig, ProxyListenerConfig, ServerConfig

    if cfgd["role"] == "server":
        from core.server import CenterServer

        return CenterServer(ServerConfig(**cfgd["server"]))
    from core.client import CenterClient

    c = dict(cfgd["client"])
    c["tls"] = ClientTls(**c.get("tls", {}))
    c["mappings"] = [MappingConfig(**m) for m in c.get("mappings", [])]
    c["proxies"] = [ProxyListenerConfig(**p) for p in c.get("proxies", [])]
    capture = None
    if cfgd.get("inspect"):  # the request inspector's capture on (bench_inspect.py compares on/off)
        from core.inspect import CaptureRing

        rate = cfgd["inspect"]  # true: the default capture rate limit; a number: that many a second
        capture = CaptureRing() if rate is True else CaptureRing(max_rate=float(rate))
    return CenterClient(ClientConfig(**c), capture=capture)


async def serve(cfgd: dict, lag: LagMonitor, stop: asyncio.Event) -> None:
    node = build(cfgd)
    await node.start()
    if cfgd["role"] == "client":
        await node.wait_connected(20)
    lag.start(asyncio.get_running_loop())
    print("READY " + json.dumps({k: list(v) for k, v in node.addresses.items()}), flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


def main() -> None:
    with open(sys.argv[1]) as f:
        cfgd = json.load(f)
    apply_patches(os.environ.get("WMPROXY_BENCH_PATCH", ""))
    lag = LagMonitor(cfgd.get("lag_file"))
    signal.signal(signal.SIGUSR1, lag.dump)
    mode = cfgd.get("loop", "uvloop")
    if mode == "qasync":
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        import qasync
        from PySide6.QtWidgets import QApplication

        app = QApplication([sys.argv[0]])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(stop.set))
        with loop:
            loop.run_until_complete(serve(cfgd, lag, stop))
        return
    if mode == "uvloop":
        import uvloop

        uvloop.install()

    async def amain() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(cfgd, lag, stop)

    asyncio.run(amain())


if __name__ == "__main__":
    main()
