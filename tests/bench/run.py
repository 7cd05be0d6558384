"""The side-by-side benchmark: our tunnel against its peers, alternating, medians with spread.

    python tests/bench/run.py [--runs 5] [--duration 3] [--figures a,b] [--paths x,y] [--old REF] [--json F]

Everything starts on 127.0.0.1 and stays up for the whole run (services, sshd,
nginx, HAProxy, every peer, our server and client processes), so each figure
is measured round by round over all its paths in turn (ours, peer, ours,
peer...; the order rotates each round): the machine's load drifts over all
of them alike. For every figure the report gives the median of the runs, the
min–max, and the CPU seconds the path's own processes spent per unit of work
(per GB, per 1,000 requests, per 1,000 handshakes), which a shared machine's
noise moves much less than a rate. ``--old REF`` adds the engine of an older
commit (a git worktree) as paths ``old-tcp`` / ``old-tls``: before/after in one
run. See docs/bench.md.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loads  # noqa: E402
import peers  # noqa: E402
from _procs import Proc, free_port, tree_cpu_seconds, wait_port  # noqa: E402


@dataclass(frozen=True)
class Figure:
    label: str
    unit: str
    higher_better: bool
    cpu_unit: str = ""  # "GB", "1k req", "1k conn": CPU seconds per this much work


FIGURES: dict[str, Figure] = {
    "thr1": Figure("TCP mapping, 1 stream (iperf3)", "Gbit/s", True, "GB"),
    "thr8": Figure("TCP mapping, 8 streams (iperf3)", "Gbit/s", True, "GB"),
    "lat50": Figure("latency p50, 64 B ping-pong", "us", False),
    "lat99": Figure("latency p99, 64 B ping-pong", "us", False),
    "http_ka": Figure("HTTP mapping keep-alive (wrk -c32)", "req/s", True, "1k req"),
    "http_nc": Figure("HTTP mapping new connections", "conn/s", True, "1k conn"),
    "redis1": Figure("redis GET through TCP mapping, -c 1", "ops/s", True, "1k req"),
    "redis50": Figure("redis GET through TCP mapping, -c 50", "ops/s", True, "1k req"),
    "https_nc": Figure("HTTPS, new TLS connection per request", "conn/s", True, "1k conn"),
    "https_ka": Figure("HTTPS keep-alive (wrk -c16)", "req/s", True, "1k req"),
    "proxy_ka": Figure("HTTP proxy keep-alive (wrk -c32, nginx)", "req/s", True, "1k req"),
    "proxy_vary": Figure("HTTP proxy keep-alive, every request another URL", "req/s", True, "1k req"),
    "proxy_nc": Figure("HTTP proxy new connections", "conn/s", True, "1k conn"),
    "lb_ka": Figure("HTTP through HAProxy (wrk -c32)", "req/s", True, "1k req"),
    "idle": Figure("memory / idle channel", "KiB", False),
    "slow": Figure("growth, 1 GiB slow reader", "MiB", False),
    "startup": Figure("start-up to listening", "s", False),
}

TUNNEL = ["direct", "ssh", "ssh-gcm", "pproxy", "socat", "ours-tcp", "ours-tls", "ours-tls-qasync"]
FIGURE_PATHS: dict[str, list[str]] = {
    "thr1": TUNNEL, "thr8": TUNNEL, "lat50": TUNNEL,
    "http_ka": ["direct", "ssh", "pproxy", "ours-tcp", "ours-tls"],
    "http_nc": ["direct", "ssh", "pproxy", "ours-tcp", "ours-tls"],
    "redis1": ["direct", "ssh", "ssh-gcm", "ours-tcp", "ours-tls"],
    "redis50": ["direct", "ssh", "ssh-gcm", "ours-tcp", "ours-tls"],
    "https_nc": ["nginx-tls", "nginx-tls13", "ours-tls"], "https_ka": ["nginx-tls", "nginx-tls13", "ours-tls"],
    "proxy_ka": ["direct", "pproxy", "ssh-D", "ours-tcp", "ours-tls"],
    "proxy_vary": ["direct", "pproxy", "ssh-D", "ours-tcp", "ours-tls"],
    "proxy_nc": ["direct", "pproxy", "ssh-D", "ours-tcp", "ours-tls"],
    "lb_ka": ["ours-tls", "lb-1", "lb-2"],
    "idle": ["socat", "ssh", "pproxy", "ours-tcp", "ours-tls"],
    "slow": ["ssh", "pproxy", "ours-tcp", "ours-tls"],
    "startup": ["ours-tcp", "ssh", "pproxy"],
}
OLD_FIGURES = ("thr1", "thr8", "http_ka", "http_nc", "redis1", "redis50", "https_nc", "https_ka", "proxy_ka",
               "proxy_vary", "proxy_nc")


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix="wmproxy-bench-"))
        self.values: dict[str, dict[str, list[float]]] = {f: {} for f in FIGURES}
        self.cpu: dict[str, dict[str, list[float]]] = {f: {} for f in FIGURES}
        self.notes: list[str] = []
        self.services = peers.Services(self.tmp, a.sink_rate, a.sink_stall)
        self.sshd: peers.Sshd | None = None
        self.certs: peers.Certs | None = None
        self.paths: dict[str, peers.Path_] = {}
        self.proxies: dict[str, peers.ProxyPath] = {}
        self.old_root: Path | None = None

    # ------------------------------------------------------------ bookkeeping
    def note(self, msg: str) -> None:
        self.notes.append(msg)
        print(f"  ! {msg}", file=sys.stderr, flush=True)

    def attempt(self, what: str, fn: Callable, *args, **kw):
        try:
            return fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - a failed figure is reported, the run goes on
            self.note(f"{what}: {e}")
            return None

    def record(self, fig: str, path: str, value: float | None, cpu: float | None = None) -> None:
        if value is None:
            return
        self.values[fig].setdefault(path, []).append(value)
        if cpu is not None:
            self.cpu[fig].setdefault(path, []).append(cpu)

    def median(self, fig: str, path: str) -> float | None:
        v = self.values[fig].get(path)
        return statistics.median(v) if v else None

    def figures(self) -> list[str]:
        return [f for f in FIGURES if not self.a.figures or f in self.a.figures]

    def paths_of(self, fig: str) -> list[str]:
        want = FIGURE_PATHS[fig]
        if self.a.paths:
            want = [p for p in want if p in self.a.paths]
        if self.old_root is not None and fig in OLD_FIGURES:
            want = want + [p.replace("ours", "old") for p in want if p in ("ours-tcp", "ours-tls")]
        return want

    # ------------------------------------------------------------ setup
    def path(self, name: str) -> peers.Path_ | None:
        if name in self.paths:
            return self.paths[name]
        s, tmp = self.services, self.tmp
        print(f"== setting up {name}", file=sys.stderr, flush=True)
        if name == "direct":
            p = peers.direct(s, tmp)
        elif name == "socat":
            p = peers.socat(s, tmp)
        elif name in ("ssh", "ssh-gcm"):
            p = peers.ssh_r(s, tmp, self.sshd, "aes128-gcm@openssh.com" if name == "ssh-gcm" else None)
        elif name == "pproxy":
            p = peers.pproxy(s, tmp)
        elif name in ("nginx-tls", "nginx-tls13"):
            p = peers.nginx_tls(s, tmp, self.certs, tls13=name == "nginx-tls13")
        elif name.startswith(("ours-", "old-")):
            root = self.old_root if name.startswith("old-") else None
            p = peers.ours(s, tmp, self.certs, tls="-tls" in name, loop="qasync" if "qasync" in name else "uvloop",
                           engine=root, tag=name)
        elif name in ("lb-1", "lb-2"):
            p = peers.behind_haproxy(s, tmp, self.certs, servers=int(name[-1]))
        else:
            raise SystemExit(f"unknown path {name!r}")
        self.paths[name] = p
        return p

    def proxy(self, name: str) -> tuple[int, bool, list[int]] | None:
        """(port, absolute-form?, pids) of a proxy path."""
        if name.startswith(("ours-", "old-")):
            p = self.attempt(f"{name}: setup", self.path, name)
            return (p.proxy_port, True, p.mem_roots) if p and p.proxy_port else None
        if name not in self.proxies:
            make = {"direct": peers.proxy_direct, "pproxy": peers.proxy_pproxy,
                    "ssh-D": lambda s, t: peers.proxy_ssh_d(s, t, self.sshd)}[name]
            pp = self.attempt(f"proxy {name}: setup", make, self.services, self.tmp)
            if pp is None:
                return None
            self.proxies[name] = pp
        pp = self.proxies[name]
        return pp.port, pp.absolute, [p.pid for p in pp.procs]

    # ------------------------------------------------------------ measuring
    def measure(self, fig: str, path: str, pids: list[int], load: Callable[[], tuple[float, float] | None]) -> None:
        """One run of ``load`` -> (rate, units of work done); records the rate and CPU per unit."""
        cpu0 = tree_cpu_seconds(pids) if pids else 0.0
        r = self.attempt(f"{path}: {fig}", load)
        if r is None:
            return
        rate, units = r
        cpu = (tree_cpu_seconds(pids) - cpu0) / units if pids and units else None
        self.record(fig, path, rate, cpu)

    def rounds(self, fig: str, names: list[str], one: Callable[[str], None]) -> None:
        names = [n for n in names if n]
        for r in range(self.a.runs):
            order = names[r % len(names):] + names[:r % len(names)]  # rotate: no path always goes first
            for n in order:
                one(n)

    def run(self) -> None:
        t0 = time.monotonic()
        self.services.start()
        self.sshd = peers.Sshd(self.tmp)
        self.sshd.start()
        self.certs = peers.Certs(self.tmp)
        if self.a.old:
            self.old_root = peers.old_checkout(self.a.old, self.tmp)
        try:
            for fig in self.figures():
                if fig in ("lat99",):
                    continue
                print(f"== {fig}: {FIGURES[fig].label}", file=sys.stderr, flush=True)
                getattr(self, "fig_" + {"thr8": "thr1", "http_nc": "http_ka", "redis50": "redis1",
                                        "https_ka": "https_nc", "proxy_nc": "proxy_ka",
                                        "proxy_vary": "proxy_ka"}.get(fig, fig))(fig)
        finally:
            for p in self.paths.values():
                p.stop()
            for pp in self.proxies.values():
                pp.stop()
            self.sshd.stop()
            self.services.stop()
            if self.old_root is not None:
                peers.drop_checkout(self.old_root)
        print(f"\n(total {time.monotonic() - t0:.0f} s; logs in {self.tmp})", file=sys.stderr)

    def _ready(self, fig: str) -> list[str]:
        return [n for n in self.paths_of(fig) if self.attempt(f"{n}: setup", self.path, n) is not None]

    def fig_thr1(self, fig: str) -> None:
        streams = 8 if fig == "thr8" else 1
        d = self.a.duration

        def one(n: str) -> None:
            p = self.paths[n]

            def load() -> tuple[float, float]:
                gbit = loads.iperf(p.ports["iperf"], d, streams)
                return gbit, gbit * d / 8  # GB carried
            self.measure(fig, n, p.mem_roots, load)
        self.rounds(fig, self._ready(fig), one)

    def fig_lat50(self, fig: str) -> None:
        def one(n: str) -> None:
            r = self.attempt(f"{n}: latency", loads.pingpong, self.paths[n].ports["echo"], self.a.pings)
            if r:
                self.record("lat50", n, r[0])
                self.record("lat99", n, r[1])
        self.rounds(fig, self._ready(fig), one)

    def fig_http_ka(self, fig: str) -> None:
        close = fig == "http_nc"

        def one(n: str) -> None:
            p = self.paths[n]

            def load() -> tuple[float, float]:
                rps, problems, total = loads.wrk(p.ports["http"], self.a.duration, close=close, host=peers.HTTP_HOST)
                if problems:
                    self.note(f"{n}: {fig}: {problems}")
                return rps, total / 1000
            self.measure(fig, n, p.mem_roots, load)
        self.rounds(fig, self._ready(fig), one)

    def fig_redis1(self, fig: str) -> None:
        clients = 50 if fig == "redis50" else 1
        n_req = self.a.redis_requests * (5 if clients > 1 else 1)

        def one(n: str) -> None:
            p = self.paths[n]

            def load() -> tuple[float, float]:
                ops = loads.redis_benchmark(p.ports["redis"], clients, n_req)
                return ops, n_req / 1000
            self.measure(fig, n, p.mem_roots, load)
        self.rounds(fig, self._ready(fig), one)

    def fig_https_nc(self, fig: str) -> None:
        close = fig == "https_nc"

        def one(n: str) -> None:
            p = self.paths[n]

            def load() -> tuple[float, float]:
                rps, problems, total = loads.wrk(p.ports["https"], self.a.duration, close=close, conns=16,
                                                 scheme="https")
                if problems:
                    self.note(f"{n}: {fig}: {problems}")
                return rps, total / 1000
            self.measure(fig, n, p.mem_roots, load)
        self.rounds(fig, self._ready(fig), one)

    def fig_proxy_ka(self, fig: str) -> None:
        close = fig == "proxy_nc"
        target = self.services.ports["nginx"]
        names = [n for n in self.paths_of(fig) if self.proxy(n) is not None]

        def one(n: str) -> None:
            got = self.proxy(n)
            assert got is not None
            port, absolute, pids = got

            def load() -> tuple[float, float]:
                rps, problems, total = loads.wrk(port, self.a.duration, close=close,
                                                 proxy_target=target if absolute else None, tmp=self.tmp,
                                                 vary=fig == "proxy_vary")
                if problems:
                    self.note(f"{n}: {fig}: {problems}")
                return rps, total / 1000
            self.measure(fig, n, pids, load)
        self.rounds(fig, names, one)

    def fig_lb_ka(self, fig: str) -> None:
        def one(n: str) -> None:
            p = self.paths[n]

            def load() -> tuple[float, float]:
                rps, problems, total = loads.wrk(p.ports["http"], self.a.duration, host=peers.HTTP_HOST)
                if problems:
                    self.note(f"{n}: {fig}: {problems}")
                return rps, total / 1000
            self.measure(fig, n, p.mem_roots, load)
        self.rounds(fig, self._ready(fig), one)

    def fig_idle(self, fig: str) -> None:
        # on fresh instances: earlier loads leave freed memory around that would hide the cost
        for n in self.paths_of(fig):
            for _ in range(max(1, self.a.runs // 2)):
                path = self.attempt(f"{n}: setup", lambda: self._fresh(n))
                if path is None:
                    break
                try:
                    r = self.attempt(f"{n}: idle channels", loads.idle_channels, path.ports["echo"], path.mem_roots,
                                     self.a.idle)
                    if r:
                        self.record("idle", n, r[0])
                        if r[1]:
                            self.note(f"{n}: {r[1]} of {self.a.idle} idle connections did not echo")
                finally:
                    path.stop()
                    time.sleep(0.3)

    def _fresh(self, name: str) -> peers.Path_:
        saved = self.paths.pop(name, None)
        try:
            return self.path(name)
        finally:
            self.paths.pop(name, None)
            if saved is not None:
                self.paths[name] = saved

    def fig_slow(self, fig: str) -> None:
        a = self.a

        def one(n: str) -> None:
            p = self.paths[n]
            r = self.attempt(f"{n}: slow reader", loads.slow_reader, p.ports["sink"], p.mem_roots, a.slow_bytes,
                             a.slow_bytes / a.sink_rate + a.sink_stall + 60)
            if r:
                self.record("slow", n, r[0])
        for r in range(max(1, a.runs // 2)):
            for n in self._ready(fig):
                one(n)

    def fig_startup(self, fig: str) -> None:
        makers = {"ours-tcp": self.start_ours, "ssh": self.start_sshd, "pproxy": self.start_pproxy}
        self.rounds(fig, [n for n in self.paths_of(fig) if n in makers],
                    lambda n: self.record("startup", n, self.attempt(f"{n} start-up", makers[n])))

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
        cfg = self.tmp / "startup-server.toml"
        cfg.write_text(f'[server]\nbind = "127.0.0.1:{port}"\nusername = "u"\npassword = "p"\n')
        os.chmod(cfg, 0o600)
        return self._time_to_listen([sys.executable, "-m", "wmproxy_gui.cli", "--headless-server", "-c", str(cfg)],
                                    port, "ours")

    def start_sshd(self) -> float:
        assert self.sshd is not None
        port = free_port()
        return self._time_to_listen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.sshd.config(port))], port, "sshd")

    def start_pproxy(self) -> float:
        port = free_port()
        return self._time_to_listen([str(peers.pproxy_bin()), "-l", f"socks5://127.0.0.1:{port}"], port, "pproxy")

    # ------------------------------------------------------------ report
    def report(self) -> str:
        out = [f"{self.a.runs} alternating run(s) per path, {self.a.duration:g} s each; {os.cpu_count()} cores "
               "shared by every process (load generators and services included).", ""]
        for fig, f in FIGURES.items():
            paths = [p for p in self.values[fig]]
            if not paths:
                continue
            cpu_col = f"CPU s/{f.cpu_unit}" if f.cpu_unit else ""
            out.append(f"{f.label} [{f.unit}]")
            for p in paths:
                v = self.values[fig][p]
                med = statistics.median(v)
                cpu = self.cpu[fig].get(p)
                cpu_txt = f"   {cpu_col} {statistics.median(cpu):.3f}" if cpu else ""
                out.append(f"  {p:<16} {_fmt(med, f.unit):>10}   min-max {_fmt(min(v), f.unit)}-{_fmt(max(v), f.unit)}"
                           f"   n={len(v)}{cpu_txt}")
            out.append("")
        out.append("TARGETS (medians of the same run; CPU per unit alongside)")
        out += ["  " + line for line in self.targets()]
        if self.notes:
            out += ["", "NOTES"] + ["  " + n for n in self.notes]
        return "\n".join(out)

    def ratio_line(self, label: str, fig: str, ours: str, peer: str, op: str, goal: float,
                   every_run: bool = False) -> str:
        o, p = self.median(fig, ours), self.median(fig, peer)
        if o is None or p is None or not p:
            return f"{label}: not measured"
        r = o / p
        ok = r >= goal if op == ">=" else r <= goal
        extra = ""
        if every_run:
            pairs = list(zip(self.values[fig].get(ours, []), self.values[fig].get(peer, [])))
            ratios = [a / b for a, b in pairs if b]
            if ratios:
                ok_all = all((x >= goal) if op == ">=" else (x <= goal) for x in ratios)
                extra = f"; per run {min(ratios):.2f}x-{max(ratios):.2f}x ({'every run' if ok_all else 'not every run'})"
                ok = ok and ok_all
        co, cp = self.cpu[fig].get(ours), self.cpu[fig].get(peer)
        cpu = ""
        if co and cp:
            cpu = f"; CPU/{FIGURES[fig].cpu_unit} {statistics.median(co):.3f} vs {statistics.median(cp):.3f} " \
                  f"({statistics.median(co) / statistics.median(cp):.2f}x)"
        verdict = "MET" if ok else f"MISSED (by {abs(r - goal) / goal * 100:.0f}%)"
        return f"{label}: {r:.2f}x {op} {goal:g}x {verdict}{extra}{cpu}"

    def cpu_ratio_line(self, label: str, fig: str, ours: str, peer: str, goal: float) -> str:
        co, cp = self.cpu[fig].get(ours), self.cpu[fig].get(peer)
        if not co or not cp:
            return f"{label}: not measured"
        r = statistics.median(co) / statistics.median(cp)
        return (f"{label}: {statistics.median(co):.2f} vs {statistics.median(cp):.2f} s/GB = {r:.2f}x <= {goal:g}x "
                f"{'MET' if r <= goal else 'MISSED'}")

    def targets(self) -> list[str]:
        t = [
            self.ratio_line("HTTP proxy keep-alive, TLS link vs pproxy chain", "proxy_ka", "ours-tls", "pproxy", ">=", 1.5),
            self.ratio_line("HTTP proxy keep-alive, another URL each request, vs pproxy", "proxy_vary", "ours-tls",
                            "pproxy", ">=", 1.5),
            self.ratio_line("TLS TCP mapping 1 stream vs ssh -R", "thr1", "ours-tls", "ssh", ">=", 1.3, every_run=True),
            self.cpu_ratio_line("CPU per GB, 1 stream, vs ssh -R", "thr1", "ours-tls", "ssh", 0.6),
            self.cpu_ratio_line("CPU per GB, 1 stream, vs ssh -R aes-gcm", "thr1", "ours-tls", "ssh-gcm", 1.0),
            self.ratio_line("redis GET -c 1 vs ssh -R", "redis1", "ours-tls", "ssh", ">=", 1.3),
            self.ratio_line("redis GET -c 50 vs ssh -R", "redis50", "ours-tls", "ssh", ">=", 1.3),
            self.ratio_line("HTTPS new connection per request vs nginx (TLS 1.2 only)", "https_nc", "ours-tls",
                            "nginx-tls", ">=", 0.5),
            self.ratio_line("HTTPS new connection per request vs nginx with TLS 1.3", "https_nc", "ours-tls",
                            "nginx-tls13", ">=", 0.5),
            self.ratio_line("HTTPS keep-alive vs nginx (TLS 1.2 only)", "https_ka", "ours-tls", "nginx-tls", ">=", 0.8),
            self.ratio_line("HTTPS keep-alive vs nginx with TLS 1.3", "https_ka", "ours-tls", "nginx-tls13", ">=", 0.8),
            self.ratio_line("HTTP mapping keep-alive vs ssh -R", "http_ka", "ours-tls", "ssh", ">=", 3.0),
            self.ratio_line("two servers vs one behind HAProxy", "lb_ka", "lb-2", "lb-1", ">=", 1.0),
        ]
        if self.old_root is not None:
            for fig in OLD_FIGURES:
                if self.median(fig, "old-tls") is not None:
                    t.append(self.ratio_line(f"after / before ({FIGURES[fig].label}, TLS)", fig, "ours-tls", "old-tls",
                                             ">=", 1.0 if FIGURES[fig].higher_better else 0.0))
        return t


def _fmt(v: float, unit: str) -> str:
    if unit in ("Gbit/s", "s/GB"):
        return f"{v:.2f}"
    if unit in ("req/s", "conn/s", "ops/s", "us"):
        return f"{v:,.0f}"
    if unit == "s":
        return f"{v:.3f}"
    return f"{v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="alternating runs per path and figure (default 5)")
    ap.add_argument("--duration", type=float, default=3, help="seconds per rate run (default 3)")
    ap.add_argument("--quick", action="store_true", help="2 runs of 1 s, smaller loads: does everything work?")
    ap.add_argument("--figures", help=f"comma list (default all: {','.join(FIGURES)})")
    ap.add_argument("--paths", help="comma list: only these paths (each figure keeps its own set)")
    ap.add_argument("--old", help="a git ref whose engine is measured too, as old-tcp / old-tls (before/after)")
    ap.add_argument("--json", help="also write every raw value here")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.duration = 2, 1
    a.figures = set(a.figures.split(",")) if a.figures else set()
    if "lat99" in a.figures:
        a.figures.add("lat50")
    a.paths = set(a.paths.split(",")) if a.paths else set()
    a.pings = 500 if a.quick else 2000
    a.idle = 1000
    a.slow_bytes = (256 if a.quick else 1024) << 20
    a.sink_rate = 160e6
    a.sink_stall = 1.0 if a.quick else 2.0
    a.redis_requests = 5000 if a.quick else 20000
    for tool in ("iperf3", "wrk", "socat", "ssh", "ssh-keygen", "redis-server", "redis-benchmark", "haproxy"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed: bash tests/setup.sh installs every benchmark peer")
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
        Path(a.json).write_text(json.dumps({"values": b.values, "cpu": b.cpu, "notes": b.notes, "runs": a.runs,
                                            "duration": a.duration}, indent=1))


if __name__ == "__main__":
    main()
