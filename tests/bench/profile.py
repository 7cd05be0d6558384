"""Profile our tunnel's processes under one load with py-spy (pip install py-spy).

    python tests/bench/profile.py --path ours-tls --load thr1 [--seconds 8] [--native]

Starts the services and the path like run.py does, runs the load, records
both processes with ``py-spy record --format raw`` and prints the functions
with the most own samples and the most total samples, per process.
Collapsed stacks stay in the temp dir for flame graphs.
"""
from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loads  # noqa: E402
import peers  # noqa: E402


def summarize(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    n = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        n += c
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        own[frames[-1]] += c
        for f in set(frames):
            total[f] += c
    out = [f"  {n} samples; own:"]
    out += [f"    {c / n * 100:5.1f}%  {f}" for f, c in own.most_common(top)]
    out.append("  total (inclusive):")
    out += [f"    {c / n * 100:5.1f}%  {f}" for f, c in total.most_common(top)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="ours-tls")
    ap.add_argument("--load", default="thr1", choices=("thr1", "thr8", "http_ka", "http_nc", "proxy_ka", "proxy_vary", "proxy_nc",
                                                       "https_ka", "https_nc", "redis1", "redis50"))
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--native", action="store_true", help="include native (C) frames")
    a = ap.parse_args()
    if not shutil.which("py-spy"):
        raise SystemExit("py-spy not found: pip install py-spy")
    tmp = Path(tempfile.mkdtemp(prefix="wmproxy-prof-"))
    svc = peers.Services(tmp, 160e6, 2.0)
    svc.start()
    path = None
    try:
        path = peers.ours(svc, tmp, peers.Certs(tmp), tls="-tls" in a.path,
                          loop="qasync" if "qasync" in a.path else "uvloop")
        roles = dict(zip(("server", "client"), path.mem_roots))
        spies = {}
        for role, pid in roles.items():
            argv = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(a.seconds)), "--rate", "250",
                    "--format", "raw", "--output", str(tmp / f"{role}.txt")]
            argv.append("--native" if a.native else "--nonblocking")  # native frames need the process paused
            spies[role] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        result: list[object] = []

        def load() -> None:
            d = a.seconds - 1
            if a.load in ("thr1", "thr8"):
                result.append(loads.iperf(path.ports["iperf"], d, 8 if a.load == "thr8" else 1))
            elif a.load.startswith("https"):
                result.append(loads.wrk(path.ports["https"], d, close=a.load == "https_nc", conns=16, scheme="https"))
            elif a.load.startswith("http"):
                result.append(loads.wrk(path.ports["http"], d, close=a.load == "http_nc", host=peers.HTTP_HOST))
            elif a.load.startswith("redis"):
                clients = 50 if a.load == "redis50" else 1
                result.append(loads.redis_benchmark(path.ports["redis"], clients, 20000 * (5 if clients > 1 else 1)))
            else:
                result.append(loads.wrk(path.proxy_port, d, close=a.load == "proxy_nc",
                                        proxy_target=svc.ports["nginx"], tmp=tmp, vary=a.load == "proxy_vary"))

        th = threading.Thread(target=load)
        th.start()
        th.join()
        for p in spies.values():
            p.wait(a.seconds + 30)
        print(f"{a.path} {a.load}: {result}")
        for role in roles:
            f = tmp / f"{role}.txt"
            print(f"== {role}")
            print(summarize(f, a.top) if f.exists() else "  (no profile)")
        print(f"(collapsed stacks in {tmp})")
    finally:
        if path:
            path.stop()
        svc.stop()


if __name__ == "__main__":
    main()
