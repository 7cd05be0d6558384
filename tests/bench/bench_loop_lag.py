#!/usr/bin/env python3
"""Event-loop responsiveness of the desktop app while a TCP mapping moves data at full speed.

The GUI and the tunnel share one qasync loop, so a busy tunnel must not freeze the window and
a busy window must not starve the tunnel. Two probes run during each scenario:
  * asyncio lag: how late ``await asyncio.sleep(5 ms)`` wakes up (what the engine feels);
  * Qt timer lag: how late a 10 ms QTimer fires (what repaints and clicks feel).
Scenarios (the main window is open on the Traffic page, offscreen, in every Qt row):
  idle            nothing moving;
  client only     the app runs the CenterClient; server, target and load run in a peer process
                  (the usual tray-app setup);
  all in app      server, client, target and load all on the app's loop (worst case);
  asyncio / uvloop  the same "all in one" workload without Qt (reference loops).
Run:  python tests/bench/bench_loop_lag.py [--seconds 5] [--conns 4]
Prints a table; nothing is asserted (this is a benchmark, not a test).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CHUNK = 256 * 1024
PROBE_S = 0.005
QT_PROBE_MS = 10


# ------------------------------------------------------------------ workload (no Qt)
async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def start_server_side() -> tuple[Any, Any, dict[str, int]]:
    from core.config import ServerConfig
    from core.server import CenterServer

    echo = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", map_tcp_bind="127.0.0.1:0"))
    await srv.start()
    ports = {"center": srv.addresses["center"][1], "tcp": srv.addresses["tcp"][1],
             "echo": echo.sockets[0].getsockname()[1]}
    return srv, echo, ports


async def load(port: int, conns: int, seconds: float) -> int:
    """Full-duplex full speed through the public port: writers never wait for echoes."""
    moved = [0]
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        block = b"\0" * CHUNK

        async def writer() -> None:
            while time.perf_counter() < deadline:
                w.write(block)
                await w.drain()
            w.write_eof()

        async def reader() -> None:
            while data := await r.read(CHUNK):
                moved[0] += len(data)

        await asyncio.gather(writer(), reader())
        w.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return moved[0]


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(PROBE_S)
        samples.append(time.perf_counter() - t0 - PROBE_S)


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


async def connect_client(center: int, echo: int, stats: Any = None) -> Any:
    from core.client import CenterClient
    from core.config import ClientConfig, MappingConfig

    cli = CenterClient(ClientConfig(server=f"127.0.0.1:{center}",
                                    mappings=[MappingConfig("bulk", "tcp", f"127.0.0.1:{echo}")]), stats)
    await cli.start()
    await cli.wait_connected(15)
    await asyncio.sleep(0.3)  # let the server process the mapping announcement
    return cli


async def all_in_one(seconds: float, conns: int) -> dict[str, Any]:
    srv, echo, ports = await start_server_side()
    cli = await connect_client(ports["center"], ports["echo"])
    samples: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.ensure_future(lag_probe(samples, stop))
    moved = await load(ports["tcp"], conns, seconds)
    stop.set()
    await probe
    await cli.stop()
    await srv.stop()
    echo.close()
    return {"lag": samples, "moved": moved}


# ------------------------------------------------------------------ peer process
def peer_main() -> None:
    """Server + echo target; prints its ports, then runs a load when told to on stdin."""
    async def main() -> None:
        srv, echo, ports = await start_server_side()
        print(json.dumps(ports), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.startswith("quit"):
                break
            _, secs, conns = line.split()
            moved = await load(ports["tcp"], int(conns), float(secs))
            print(json.dumps({"moved": moved}), flush=True)
        await srv.stop()

    asyncio.run(main())


def plain_main(use_uvloop: bool, seconds: float, conns: int) -> None:
    if use_uvloop:
        import uvloop

        uvloop.install()
    res = asyncio.run(all_in_one(seconds, conns))
    print(json.dumps({"lag": res["lag"], "moved": res["moved"]}))


# ------------------------------------------------------------------ the Qt app scenarios
def qt_main(seconds: float, conns: int) -> list[dict[str, Any]]:
    tmp = tempfile.mkdtemp(prefix="wmproxy-bench-")
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = os.path.join(tmp, var.lower())
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import qasync
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from core.stats import Stats
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.profiles import ProfileStore
    from wmproxy_gui.settings import SettingsStore

    qapp = QApplication([sys.argv[0]])
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    rows: list[dict[str, Any]] = []

    def qt_probe() -> tuple[QTimer, list[float]]:
        samples: list[float] = []
        last = [time.perf_counter()]
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(QT_PROBE_MS)

        def tick() -> None:
            now = time.perf_counter()
            samples.append(now - last[0] - QT_PROBE_MS / 1000)
            last[0] = now

        timer.timeout.connect(tick)
        return timer, samples

    async def scenario(name: str, run_load: Any) -> None:
        lag: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.ensure_future(lag_probe(lag, stop))
        timer, qt_lag = qt_probe()
        timer.start()
        t0 = time.perf_counter()
        moved = await run_load()
        elapsed = time.perf_counter() - t0
        timer.stop()
        stop.set()
        await probe
        rows.append({"name": name, "lag": lag, "qt": qt_lag, "mbps": moved / elapsed / 1e6 if moved else 0.0})

    async def main() -> None:
        settings_store = SettingsStore(Path(tmp) / "settings.toml")
        app = Application(qapp, settings_store=settings_store, settings=settings_store.load(),
                          store=ProfileStore(Path(tmp) / "profiles.toml"), log_sink=LogSink(), stats=Stats())
        app.window.resize(1180, 740)
        app.window.show()
        app.window.show_page("traffic")
        ctl = app.controller

        async def idle() -> int:
            await asyncio.sleep(seconds)
            return 0

        await scenario("idle (window open)", idle)

        peer = subprocess.Popen([sys.executable, __file__, "--peer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert peer.stdin is not None and peer.stdout is not None
        ports = json.loads(peer.stdout.readline())
        cli = await connect_client(ports["center"], ports["echo"], ctl.stats)

        async def remote_load() -> int:
            peer.stdin.write(f"load {seconds} {conns}\n")  # type: ignore[union-attr]
            peer.stdin.flush()  # type: ignore[union-attr]
            line = await asyncio.get_running_loop().run_in_executor(None, peer.stdout.readline)  # type: ignore
            return int(json.loads(line)["moved"])

        await scenario("client only (server+load in a peer)", remote_load)
        await cli.stop()
        peer.stdin.write("quit\n")
        peer.stdin.flush()
        peer.wait(30)

        srv, echo, ports2 = await start_server_side()
        srv.stats = ctl.stats
        cli2 = await connect_client(ports2["center"], ports2["echo"], ctl.stats)
        await scenario("all in app (server+client+load)", lambda: load(ports2["tcp"], conns, seconds))
        await cli2.stop()
        await srv.stop()
        echo.close()
        await ctl.shutdown()
        app.window.hide()

    with loop:
        loop.run_until_complete(main())
    return rows


def fmt_row(name: str, lag: list[float], qt: list[float] | None, mbps: float, ref_p99: float) -> str:
    qt_cols = f"{pct(qt, .5):8.2f} {pct(qt, .99):8.2f}" if qt else f"{'-':>8} {'-':>8}"
    ratio = pct(lag, .99) / ref_p99 if ref_p99 > 0 else float("nan")
    return (f"{name:<46} {pct(lag, .5):8.2f} {pct(lag, .99):8.2f} {max(lag) * 1000 if lag else 0:8.2f} "
            f"{qt_cols} {mbps:9.1f} {ratio:7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain", choices=("asyncio", "uvloop"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_main()
        return
    if args.plain:
        plain_main(args.plain == "uvloop", args.seconds, args.conns)
        return

    refs = {}
    for kind in ("asyncio", "uvloop"):
        out = subprocess.run([sys.executable, __file__, "--plain", kind, "--seconds", str(args.seconds),
                              "--conns", str(args.conns)], capture_output=True, text=True, timeout=300)
        if out.returncode == 0:
            refs[kind] = json.loads(out.stdout.splitlines()[-1])
        else:
            print(f"{kind} reference failed: {out.stderr[-500:]}", file=sys.stderr)
    rows = qt_main(args.seconds, args.conns)
    ref_p99 = pct(refs["asyncio"]["lag"], .99) if "asyncio" in refs else float("nan")
    print(f"\nloop lag while a TCP mapping moves data ({args.conns} connections, {args.seconds:.0f} s each, MB/s = echoed payload, "
          f"probe sleep {PROBE_S * 1000:.0f} ms / QTimer {QT_PROBE_MS} ms; lag in ms; "
          f"ratio = asyncio p99 / plain-asyncio all-in-one p99)")
    print(f"{'scenario':<46} {'p50':>8} {'p99':>8} {'max':>8} {'qt p50':>8} {'qt p99':>8} {'MB/s':>9} {'ratio':>7}")
    for r in rows:
        print(fmt_row("qasync: " + r["name"], r["lag"], r["qt"], r["mbps"], ref_p99))
    for kind, ref in refs.items():
        print(fmt_row(f"{kind} (no Qt): all in one", ref["lag"], None, ref["moved"] / args.seconds / 1e6, ref_p99))
    print(f"samples per row: ~{int(args.seconds / PROBE_S)} (asyncio probe); "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
