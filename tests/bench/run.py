"""The side-by-side benchmark: our tunnel against direct, socat, ssh -R/-D and pproxy.

    python tests/bench/run.py [--quick] [--json FILE] [--paths a,b] [--figures x,y]

Starts everything itself on 127.0.0.1 (services, sshd, peers, our server and
client as separate processes), measures each path in turn, and prints one
table of medians, one of ratios (ours / peer) and the targets. See
docs/bench.md for what each figure means and how it is measured.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loads  # noqa: E402
import peers  # noqa: E402
from _procs import Proc, free_port, tree_cpu_seconds, wait_port  # noqa: E402

TUNNEL_PATHS = ["direct", "socat", "ssh", "ssh-gcm", "pproxy", "ours-tcp", "ours-tls", "ours-tcp-qasync",
                "ours-tls-qasync"]
PROXY_PATHS = ["direct", "pproxy", "ssh-D", "ours-tcp", "ours-tls"]
# figure -> (label, unit, higher is better)
FIGURES = {
    "thr1": ("TCP mapping 1 stream", "Gbit/s", True),
    "thr8": ("TCP mapping 8 streams", "Gbit/s", True),
    "cpu1": ("CPU per GB, 1 stream", "s/GB", False),
    "http_ka": ("HTTP keep-alive", "req/s", True),
    "http_nc": ("HTTP new connections", "conn/s", True),
    "lat50": ("latency p50 (64 B)", "us", False),
    "lat99": ("latency p99 (64 B)", "us", False),
    "idle": ("memory / idle channel", "KiB", False),
    "slow": ("growth, 1 GiB slow reader", "MiB", False),
    "lag99": ("loop lag p99 under load", "ms", False),
    "startup": ("start-up to listening", "s", False),
    "proxy_ka": ("proxy keep-alive", "req/s", True),
    "proxy_nc": ("proxy new connections", "conn/s", True),
}
MEMORY_PATHS = {"socat", "ssh", "pproxy", "ours-tcp", "ours-tls"}  # qasync: same engine, same memory
SLOW_PATHS = {"ssh", "pproxy", "ours-tcp", "ours-tls"}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.tmp = Path(tempfile.mkdtemp(prefix="wmproxy-bench-"))
        self.values: dict[str, dict[str, list[float]]] = {f: {} for f in FIGURES}
        self.notes: list[str] = []
        self.services = peers.Services(self.tmp, args.sink_rate, args.sink_stall)
        self.sshd: peers.Sshd | None = None
        self.certs: peers.Certs | None = None

    # ------------------------------------------------------------ bookkeeping
    def record(self, fig: str, path: str, value: float | None) -> None:
        if value is not None:
            self.values[fig].setdefault(path, []).append(value)

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        print(f"  ! {msg}", file=sys.stderr, flush=True)

    def median(self, fig: str, path: str) -> float | None:
        v = self.values[fig].get(path)
        return statistics.median(v) if v else None

    def wants(self, fig: str) -> bool:
        return not self.a.figures or fig in self.a.figures

    def attempt(self, what: str, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - a failed figure is reported, the run goes on
            self.note(f"{what}: {e}")
            return None

    # ------------------------------------------------------------ runs
    def run(self) -> None:
        t0 = time.monotonic()
        self.services.start()
        self.sshd = peers.Sshd(self.tmp)
        self.sshd.start()
        self.certs = peers.Certs(self.tmp)
        try:
            for name in self.a.paths:
                self.tunnel_path(name)
            for name in self.a.proxy_paths:
                self.proxy_path(name)
            if self.wants("startup"):
                self.startup()
        finally:
            self.sshd.stop()
            self.services.stop()
        print(f"\n(total {time.monotonic() - t0:.0f} s; logs in {self.tmp})", file=sys.stderr)

    def make_path(self, name: str) -> peers.Path_:
        s, tmp = self.services, self.tmp
        if name == "direct":
            return peers.direct(s, tmp)
        if name == "socat":
            return peers.socat(s, tmp)
        if name in ("ssh", "ssh-gcm"):
            return peers.ssh_r(s, tmp, self.sshd, "aes128-gcm@openssh.com" if name == "ssh-gcm" else None)
        if name == "pproxy":
            return peers.pproxy(s, tmp)
        if name.startswith("ours-"):
            return peers.ours(s, tmp, self.certs, tls="-tls" in name, loop="qasync" if "qasync" in name else "uvloop")
        raise SystemExit(f"unknown path {name!r}; known: {', '.join(TUNNEL_PATHS)}")

    def tunnel_path(self, name: str) -> None:
        a = self.a
        print(f"== {name}", file=sys.stderr, flush=True)
        if self.wants("idle") and name in MEMORY_PATHS:
            # on a fresh instance of its own: earlier loads leave freed memory around that
            # would hide the channels' cost, and 1,000 connections can upset a peer for later figures
            path = self.attempt(f"{name}: setup", self.make_path, name)
            if path is None:
                return
            try:
                r = self.attempt(f"{name}: idle channels", loads.idle_channels, path.ports["echo"], path.mem_roots,
                                 a.idle)
                if r:
                    self.record("idle", name, r[0])
                    if r[1]:
                        self.note(f"{name}: {r[1]} of {a.idle} idle connections did not echo")
            finally:
                path.stop()
                time.sleep(0.3)
        path = self.attempt(f"{name}: setup", self.make_path, name)
        if path is None:
            return
        try:
            if self.wants("lat50"):
                for _ in range(a.runs):
                    r = self.attempt(f"{name}: latency", loads.pingpong, path.ports["echo"], a.pings)
                    if r:
                        self.record("lat50", name, r[0])
                        self.record("lat99", name, r[1])
            lags: list[float] = []
            for fig, streams in (("thr1", 1), ("thr8", 8)):
                if not self.wants(fig):
                    continue
                for _ in range(a.runs):
                    path.lag_mark()
                    cpu0, t0 = tree_cpu_seconds(path.mem_roots), time.monotonic()
                    v = self.attempt(f"{name}: iperf3 -P {streams}", loads.iperf, path.ports["iperf"], a.duration,
                                     streams)
                    cpu = tree_cpu_seconds(path.mem_roots) - cpu0
                    if v and streams == 1 and path.mem_roots:
                        # CPU the tunnel's processes spent per GB carried (iperf3's own 0.1 s setup included)
                        self.record("cpu1", name, cpu / (v * a.duration / 8))
                    lag = path.lag_mark()
                    if lag:
                        lags += lag
                    if v is None:
                        self.services.start_iperf()  # a broken test can leave iperf3 -s busy
                    self.record(fig, name, v)
            if lags:
                lags.sort()
                self.record("lag99", name, lags[int(len(lags) * 0.99)])
            for fig, close in (("http_ka", False), ("http_nc", True)):
                if not self.wants(fig):
                    continue
                for _ in range(a.runs):
                    r = self.attempt(f"{name}: wrk{' close' if close else ''}", loads.wrk, path.ports["http"],
                                     a.duration, close=close, host=peers.HTTP_HOST)
                    if r:
                        self.record(fig, name, r[0])
                        if r[1]:
                            self.note(f"{name}: {FIGURES[fig][0]}: {r[1]}")
            if self.wants("slow") and name in SLOW_PATHS:
                r = self.attempt(f"{name}: slow reader", loads.slow_reader, path.ports["sink"], path.mem_roots,
                                 a.slow_bytes, a.slow_bytes / a.sink_rate + a.sink_stall + 60)
                if r:
                    self.record("slow", name, r[0])
            if name.startswith("ours") and path.proxy_port and name in self.a.proxy_paths:
                self.proxy_figures(name, path.proxy_port, absolute=True)
        finally:
            path.stop()
            time.sleep(0.3)

    def proxy_figures(self, name: str, port: int, absolute: bool) -> None:
        target = self.services.ports["http"]
        for fig, close in (("proxy_ka", False), ("proxy_nc", True)):
            if not self.wants(fig):
                continue
            for _ in range(self.a.runs):
                r = self.attempt(f"{name}: proxy wrk{' close' if close else ''}", loads.wrk, port, self.a.duration,
                                 close=close, proxy_target=target if absolute else None, tmp=self.tmp)
                if r:
                    self.record(fig, name, r[0])
                    if r[1]:
                        self.note(f"{name}: {FIGURES[fig][0]}: {r[1]}")

    def proxy_path(self, name: str) -> None:
        if name.startswith("ours"):
            return  # measured with its tunnel path (same processes)
        if not (self.wants("proxy_ka") or self.wants("proxy_nc")):
            return
        print(f"== proxy {name}", file=sys.stderr, flush=True)
        make = {"direct": peers.proxy_direct, "pproxy": peers.proxy_pproxy,
                "ssh-D": lambda s, t: peers.proxy_ssh_d(s, t, self.sshd)}[name]
        pp = self.attempt(f"proxy {name}: setup", make, self.services, self.tmp)
        if pp is None:
            return
        try:
            self.proxy_figures(name, pp.port, pp.absolute)
        finally:
            pp.stop()

    # ------------------------------------------------------------ start-up
    def startup(self) -> None:
        print("== start-up", file=sys.stderr, flush=True)
        for _ in range(self.a.startups):
            self.record("startup", "ours-tcp", self.attempt("ours start-up", self.start_ours))
            self.record("startup", "ssh", self.attempt("sshd start-up", self.start_sshd))
            self.record("startup", "pproxy", self.attempt("pproxy start-up", self.start_pproxy))

    def _time_to_listen(self, argv: list[str], port: int, tag: str) -> float:
        t0 = time.monotonic()
        p = Proc(argv, self.tmp / f"startup-{tag}.log")
        try:
            wait_port(port, 10, interval=0.001)
            return time.monotonic() - t0
        finally:
            p.stop()

    def start_ours(self) -> float:
        port = free_port()
        cli = shutil.which("wmproxy-gui-cli")
        cfg = {"role": "server", "loop": "uvloop",
               "server": {"bind": f"127.0.0.1:{port}", "username": "u", "password": "p"}}
        f = self.tmp / "startup-server.json"
        f.write_text(json.dumps(cfg))
        argv = [sys.executable, str(peers.HERE / "tunnel_runner.py"), str(f)]
        headless = self.headless_cli(port)
        if headless:
            argv = headless
        return self._time_to_listen(argv, port, "ours")

    def headless_cli(self, port: int) -> list[str] | None:
        """The product's own headless server command, once it exists (wmproxy_gui/cli.py)."""
        if not (peers.REPO / "wmproxy_gui" / "cli.py").exists() or not (peers.REPO / "core" / "headless.py").exists():
            return None
        cfg = self.tmp / "startup-server.toml"
        cfg.write_text(f'[server]\nbind = "127.0.0.1:{port}"\nusername = "u"\npassword = "p"\n')
        os.chmod(cfg, 0o600)
        return [sys.executable, "-m", "wmproxy_gui.cli", "--headless-server", "-c", str(cfg)]

    def start_sshd(self) -> float:
        assert self.sshd is not None
        port = free_port()
        return self._time_to_listen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.sshd.config(port))], port, "sshd")

    def start_pproxy(self) -> float:
        port = free_port()
        return self._time_to_listen([str(peers.pproxy_bin()), "-l", f"socks5://127.0.0.1:{port}"], port, "pproxy")

    # ------------------------------------------------------------ report
    def report(self) -> str:
        lines: list[str] = []
        paths = [p for p in TUNNEL_PATHS if any(p in self.values[f] for f in FIGURES)]
        pp = [p for p in ("ssh-D",) if any(p in self.values[f] for f in FIGURES)]
        cols = paths + pp
        w = 11

        def fmt(v: float | None, unit: str) -> str:
            if v is None:
                return "-"
            if unit == "Gbit/s":
                return f"{v:.2f}"
            if unit == "s/GB":
                return f"{v:.2f}"
            if unit in ("req/s", "conn/s", "us"):
                return f"{v:,.0f}"
            if unit == "s":
                return f"{v:.3f}"
            return f"{v:.1f}"

        lines.append(f"Medians of {self.a.runs} run(s), {self.a.duration:g} s each; "
                     f"{os.cpu_count()} cores shared by every process.")
        lines.append("")
        lines.append("VALUES".ljust(34) + "".join(c[:w].rjust(w + 1) for c in cols))
        for fig, (label, unit, _) in FIGURES.items():
            row = [self.median(fig, c) for c in cols]
            if all(v is None for v in row):
                continue
            lines.append(f"{label} [{unit}]".ljust(34) + "".join(fmt(v, unit).rjust(w + 1) for v in row))
        # ratios: ours (TLS headless, TCP headless) / each peer
        peers_ = [p for p in ("direct", "socat", "ssh", "ssh-gcm", "pproxy", "ssh-D") if p in cols]
        for ours in ("ours-tls", "ours-tcp"):
            lines.append("")
            lines.append(f"RATIO {ours} / peer".ljust(34) + "".join(p[:w].rjust(w + 1) for p in peers_))
            for fig, (label, unit, better_high) in FIGURES.items():
                ov = self.median(fig, ours)
                if ov is None:
                    continue
                cells = []
                for p in peers_:
                    pv = self.median(fig, p)
                    if fig == "startup" and ours == "ours-tls":
                        pv = None
                    if pv is None or (unit == "MiB" and pv < 0.5):  # no growth at all: a ratio would say nothing
                        cells.append("-")
                    else:
                        cells.append(f"{ov / pv:.2f}x" if pv else "-")
                if all(c == "-" for c in cells):
                    continue
                lines.append(f"{label} ({'higher' if better_high else 'lower'} better)".ljust(34)
                             + "".join(c.rjust(w + 1) for c in cells))
        lines.append("")
        lines.append("TARGETS (vs ssh -R default cipher, same run)")
        for line in self.targets():
            lines.append("  " + line)
        if self.notes:
            lines.append("")
            lines.append("NOTES")
            lines += ["  " + n for n in self.notes]
        return "\n".join(lines)

    def targets(self) -> list[str]:
        m = self.median
        out = []

        def ratio(label: str, fig: str, ours: str, peer: str, op: str, goal: float) -> None:
            o, p = m(fig, ours), m(fig, peer)
            if o is None or p is None or p == 0:
                out.append(f"{label}: not measured")
                return
            r = o / p
            ok = r >= goal if op == ">=" else r <= goal
            by = "" if ok else f" (missed by {abs(r - goal) / goal * 100:.0f}%)"
            out.append(f"{label}: {r:.2f}x {op} {goal:g}x  {'MET' if ok else 'MISSED'}{by}")

        def absolute(label: str, fig: str, path: str, op: str, goal: float, unit: str) -> None:
            v = m(fig, path)
            if v is None:
                out.append(f"{label}: not measured")
                return
            ok = v <= goal if op == "<=" else v >= goal
            by = "" if ok else f" (missed by {abs(v - goal) / goal * 100:.0f}%)"
            out.append(f"{label}: {v:.3g} {unit} {op} {goal:g} {unit}  {'MET' if ok else 'MISSED'}{by}")

        ratio("TLS 1-stream throughput", "thr1", "ours-tls", "ssh", ">=", 1.0)
        ratio("TLS 8-stream throughput", "thr8", "ours-tls", "ssh", ">=", 1.0)
        ratio("HTTP keep-alive req/s (TLS)", "http_ka", "ours-tls", "ssh", ">=", 3.0)
        ratio("HTTP new connections/s (TLS)", "http_nc", "ours-tls", "ssh", ">=", 1.0)
        ratio("latency p50 (TLS)", "lat50", "ours-tls", "ssh", "<=", 1.5)
        ratio("latency p99 (TLS)", "lat99", "ours-tls", "ssh", "<=", 2.0)
        absolute("memory per idle channel (TLS)", "idle", "ours-tls", "<=", 20, "KiB")
        absolute("slow-reader growth (TLS)", "slow", "ours-tls", "<=", 64, "MiB")
        for t in ("tcp", "tls"):
            for fig in ("thr1", "thr8"):
                ratio(f"qasync/headless {t.upper()} {fig}", fig, f"ours-{t}-qasync", f"ours-{t}", ">=", 0.7)
            absolute(f"qasync {t.upper()} loop lag p99", "lag99", f"ours-{t}-qasync", "<=", 50, "ms")
        absolute("headless start-up to listening", "startup", "ours-tcp", "<=", 0.3, "s")
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run of 1 s per figure, smaller loads (~2 min)")
    ap.add_argument("--runs", type=int, help="runs per figure (median reported); default 3, quick 1")
    ap.add_argument("--duration", type=float, help="seconds per throughput/request run; default 3, quick 1")
    ap.add_argument("--paths", help=f"comma list of tunnel paths (default all: {','.join(TUNNEL_PATHS)})")
    ap.add_argument("--proxy-paths", help=f"comma list of proxy paths (default all: {','.join(PROXY_PATHS)})")
    ap.add_argument("--figures", help=f"comma list of figures (default all: {','.join(FIGURES)})")
    ap.add_argument("--json", help="also write all raw values here")
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.duration = a.duration or (1 if a.quick else 3)
    a.paths = a.paths.split(",") if a.paths else TUNNEL_PATHS
    a.proxy_paths = a.proxy_paths.split(",") if a.proxy_paths is not None else PROXY_PATHS
    a.figures = set(a.figures.split(",")) if a.figures else set()
    if "lat50" in a.figures or "lat99" in a.figures:
        a.figures |= {"lat50", "lat99"}
    a.pings = 500 if a.quick else 2000
    a.idle = 1000
    a.slow_bytes = (256 if a.quick else 1024) << 20
    a.sink_rate = 160e6
    a.sink_stall = 1.0 if a.quick else 2.0
    a.startups = 3 if a.quick else 5
    for tool in ("iperf3", "wrk", "socat", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install iperf3 wrk socat openssh-client openssh-server)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    b = Bench(a)
    try:
        b.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except Exception:
        traceback.print_exc()
    print(b.report())
    if a.json:
        Path(a.json).write_text(json.dumps({"values": b.values, "notes": b.notes,
                                            "runs": a.runs, "duration": a.duration}, indent=1))


if __name__ == "__main__":
    main()
