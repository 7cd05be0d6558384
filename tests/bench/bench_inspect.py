"""Request capture on vs off through an http mapping: keep-alive requests/s and download throughput.

    python tests/bench/bench_inspect.py [--rounds 5] [--seconds 5] [--mib 256]

Each round starts a fresh server and client (tunnel_runner.py, uvloop) with the inspector's capture
on or off, alternating on/off/on/off..., then measures:
  * wrk, 32 keep-alive connections, 1 KiB responses (services.py http): requests/s, and the CPU
    seconds the server + client processes used per 1000 requests;
  * one curl download of --mib MiB through the same mapping: MB/s (capture keeps 64 KiB of it).
Prints median and min-max per figure for on and off. ``--max-rate 1e9`` captures every request
(the product bounds capture to 1000 new exchanges a second, so a load test is not slowed). Run it on a quiet machine; the numbers on a
shared or busy one say little.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import Proc, free_port, tree_cpu_seconds, wait_port  # noqa: E402
from loads import wrk  # noqa: E402

HERE = Path(__file__).resolve().parent
CHUNK = b"z" * (1 << 20)


def serve_big(port: int) -> None:
    """GET /N -> N bytes (Content-Length), keep-alive; the download service."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = int(head.split(b" ", 2)[1].lstrip(b"/") or b"0")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
                while n > 0:
                    part = CHUNK[:min(n, len(CHUNK))]
                    writer.write(part)
                    n -= len(part)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        writer.close()

    async def main() -> None:
        srv = await asyncio.start_server(handle, "127.0.0.1", port)
        print(f"READY {port}", flush=True)
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


def start(tmp: Path, name: str, cfg: dict) -> tuple[Proc, dict]:
    f = tmp / f"{name}.json"
    f.write_text(json.dumps(cfg))
    p = Proc([sys.executable, str(HERE / "tunnel_runner.py"), str(f)], tmp / f"{name}.log", stdout_pipe=True)
    return p, json.loads(p.ready_line())


def one_round(tmp: Path, inspect: bool | float, seconds: float, mib: int, http_svc: int, big_svc: int) -> dict[str, float]:
    center, public = free_port(), free_port()
    srv, _ = start(tmp, "server", {"role": "server", "loop": "uvloop", "server": {
        "bind": f"127.0.0.1:{center}", "username": "u", "password": "p", "map_http_bind": f"127.0.0.1:{public}"}})
    cli, _ = start(tmp, "client", {"role": "client", "loop": "uvloop", "inspect": inspect, "client": {
        "server": f"127.0.0.1:{center}", "username": "u", "password": "p",
        "mappings": [{"name": "small", "mode": "http", "local_addr": f"127.0.0.1:{http_svc}", "domain": "small.test"},
                     {"name": "big", "mode": "http", "local_addr": f"127.0.0.1:{big_svc}", "domain": "big.test"}]}})
    try:
        time.sleep(0.5)  # mappings routed
        cpu0 = tree_cpu_seconds([srv.pid, cli.pid])
        rps, problems, _total = wrk(public, seconds, host="small.test", tmp=tmp)
        cpu = tree_cpu_seconds([srv.pid, cli.pid]) - cpu0
        r = subprocess.run(["curl", "-sS", "-H", "Host: big.test", "-o", "/dev/null", "-w", "%{speed_download}",
                            f"http://127.0.0.1:{public}/{mib << 20}"], capture_output=True, text=True, timeout=300)
        mbs = float(r.stdout) / 1e6 if r.returncode == 0 else float("nan")
        return {"rps": rps, "cpu_per_1000": cpu / max(1.0, rps * seconds) * 1000, "download_MBps": mbs,
                "problems": problems}  # type: ignore[dict-item]
    finally:
        cli.stop()
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="rounds per setting (on and off each)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--max-rate", type=float, default=0,
                    help="capture rate limit for the 'on' rounds (default: the product's, 1000/s); "
                         "1e9 = capture every request, to see the per-exchange cost")
    ap.add_argument("--serve-big", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve_big:
        serve_big(a.serve_big)
        return
    with tempfile.TemporaryDirectory(prefix="bench-inspect-") as d:
        tmp = Path(d)
        http_port, big_port = free_port(), free_port()
        svc = Proc([sys.executable, str(HERE / "services.py"), "http", "--port", str(http_port)], tmp / "svc.log")
        big = Proc([sys.executable, __file__, "--serve-big", str(big_port)], tmp / "big.log")
        wait_port(http_port)
        wait_port(big_port)
        results: dict[bool, list[dict]] = {True: [], False: []}
        try:
            for i in range(a.rounds * 2):
                on = i % 2 == 0
                res = one_round(tmp, (a.max_rate or True) if on else False, a.seconds, a.mib, http_port, big_port)
                results[on].append(res)
                print(f"round {i + 1}: capture {'on ' if on else 'off'} {res['rps']:9.0f} req/s  "
                      f"{res['cpu_per_1000']:.3f} CPU s/1000 req  {res['download_MBps']:7.1f} MB/s"
                      + (f"  ({res['problems']})" if res["problems"] else ""), flush=True)
        finally:
            svc.stop()
            big.stop()
    print()
    print(f"{'figure':<22}{'capture off':>26}{'capture on':>26}   on/off")
    for key, label in (("rps", "keep-alive req/s"), ("cpu_per_1000", "CPU s per 1000 req"),
                       ("download_MBps", "download MB/s")):
        cells = []
        meds = []
        for on in (False, True):
            vals = [r[key] for r in results[on]]
            med = statistics.median(vals)
            meds.append(med)
            cells.append(f"{med:10.3f} ({min(vals):.3f}-{max(vals):.3f})" if key == "cpu_per_1000"
                         else f"{med:10.1f} ({min(vals):.0f}-{max(vals):.0f})")
        print(f"{label:<22}{cells[0]:>26}{cells[1]:>26}   {meds[1] / meds[0]:.3f}")


if __name__ == "__main__":
    main()
