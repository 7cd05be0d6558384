"""Load generators and what they measure. Every one is bounded in time.

Real clients where they exist (iperf3, wrk); Python only where nothing
standard fits (64-byte ping-pong, holding 1,000 idle connections, pushing
1 GiB at a slow reader), the same code for every path.
"""
from __future__ import annotations

import json
import re
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

from _procs import tree_pss_kib


class LoadError(RuntimeError):
    pass


def iperf(port: int, seconds: float, streams: int = 1) -> float:
    """Gbit/s received by the service (iperf3 -s) through ``port``; one retry when iperf3 -s
    was still winding down the previous test."""
    try:
        return _iperf(port, seconds, streams)
    except LoadError as e:
        if "busy" not in str(e) and "closed unexpectedly" not in str(e):
            raise
        time.sleep(1.0)
        return _iperf(port, seconds, streams)


def _iperf(port: int, seconds: float, streams: int) -> float:
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J", "--connect-timeout", "5000"]
    if streams > 1:
        argv += ["-P", str(streams)]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 25)
    except subprocess.TimeoutExpired:
        raise LoadError("iperf3 timed out") from None
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise LoadError(f"iperf3: {r.stderr.strip() or r.stdout[-200:]}") from None
    if "error" in doc:
        raise LoadError(f"iperf3: {doc['error']}")
    return doc["end"]["sum_received"]["bits_per_second"] / 1e9


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERR = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_TOTAL = re.compile(r"(\d+) requests in")


def wrk(port: int, seconds: float, *, close: bool = False, host: str | None = None,
        proxy_target: int | None = None, tmp: Path | None = None, conns: int = 32,
        scheme: str = "http", vary: bool = False) -> tuple[float, str, int]:
    """(requests/s, problems, requests done) of wrk with ``conns`` connections; ``close`` = a new
    connection per request (over https: a new TLS handshake per request).

    ``proxy_target``: send absolute-form requests for that local port (``port`` is an HTTP proxy).
    ``vary``: every request has another URL (``/?n=1``, ``/?n=2``...; wrk repeats one otherwise).
    """
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]  # whole seconds only
    if close:
        argv += ["-H", "Connection: close"]
    if proxy_target is not None or vary:
        assert tmp is not None
        base = f"http://127.0.0.1:{proxy_target}/" if proxy_target is not None else "/"
        script = tmp / f"wrk-{proxy_target}-{int(vary)}.lua"
        lua = f'wrk.path = "{base}"\n'
        if proxy_target is not None:
            lua += f'wrk.headers["Host"] = "127.0.0.1:{proxy_target}"\n'
        if vary:
            lua += ('n = 0\nrequest = function()\n  n = n + 1\n'
                    f'  return wrk.format(nil, "{base}?n=" .. n)\nend\n')
        script.write_text(lua)
        argv += ["-s", str(script)]
    elif host:
        argv += ["-H", f"Host: {host}"]
    argv.append(f"{scheme}://127.0.0.1:{port}/")
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise LoadError("wrk timed out") from None
    m = _RPS.search(r.stdout)
    if not m:
        raise LoadError(f"wrk: {r.stderr.strip() or r.stdout[-300:]}")
    problems = []
    total = int(_TOTAL.search(r.stdout).group(1)) if _TOTAL.search(r.stdout) else 0
    if (n := _NON2XX.search(r.stdout)):
        problems.append(f"{n.group(1)} non-2xx")
    if (e := _ERR.search(r.stdout)):
        c, rd, w, t = map(int, e.groups())
        # with Connection: close, wrk counts the server's close as a read error on some runs; only
        # errors beyond a few per mille are worth reporting
        if c + w + t or rd > max(10, total // 100):
            problems.append(f"errors c{c}/r{rd}/w{w}/t{t}")
    rps = float(m.group(1))
    if total == 0:
        raise LoadError("wrk: no request completed " + "; ".join(problems))
    return rps, "; ".join(problems), total


_REDIS = re.compile(r"GET: ([\d.]+) requests per second")


def redis_benchmark(port: int, clients: int, requests: int) -> float:
    """GET operations/s of ``redis-benchmark -t get`` with ``clients`` connections (no pipelining)."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "get", "-n", str(requests),
            "-c", str(clients), "-q", "-d", "64"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise LoadError("redis-benchmark timed out") from None
    m = _REDIS.search(r.stdout.replace("\r", "\n"))
    if not m:
        raise LoadError(f"redis-benchmark: {(r.stderr or r.stdout).strip()[-200:]}")
    return float(m.group(1))


def pingpong(port: int, count: int, size: int = 64) -> tuple[float, float]:
    """(p50, p99) round-trip microseconds of ``size``-byte messages through an echo path."""
    msg = b"p" * size
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts = []
        for i in range(count + 50):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            got = 0
            while got < size:
                chunk = s.recv(size - got)
                if not chunk:
                    raise LoadError("echo path closed")
                got += len(chunk)
            if i >= 50:  # warm-up excluded
                rtts.append((time.perf_counter_ns() - t0) / 1000)
    rtts.sort()
    return statistics.median(rtts), rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]


def idle_channels(port: int, mem_roots: list[int], n: int = 1000) -> tuple[float, int]:
    """(KiB of tunnel memory per idle connection, connections that failed), ``n`` connections held open.

    Memory is the PSS of the tunnel's processes. Each connection echoes one byte
    first, so the channel exists end to end; the figure is per connection that did.
    """
    time.sleep(0.5)
    before = tree_pss_kib(mem_roots)
    socks: list[socket.socket] = []
    failed = 0
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"i")
            socks.append(s)
        for s in socks:
            try:
                if s.recv(1) != b"i":
                    failed += 1
            except OSError:
                failed += 1
        if failed > n // 10:
            raise LoadError(f"{failed} of {n} idle connections did not echo")
        time.sleep(1.0)
        after = tree_pss_kib(mem_roots)
    finally:
        for s in socks:
            s.close()
    time.sleep(1.0)  # let the tunnel tear the channels down before the next figure
    return (after - before) / (n - failed), failed


def slow_reader(port: int, mem_roots: list[int], total: int, timeout: float) -> tuple[float, float]:
    """(peak MiB of tunnel memory growth, seconds) while ``total`` bytes are pushed at a slow reader."""
    time.sleep(0.5)
    before = tree_pss_kib(mem_roots)
    peak = before
    done = threading.Event()
    error: list[BaseException] = []
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def push() -> None:
        block = b"\0" * (1 << 20)
        try:
            for _ in range(total >> 20):
                s.sendall(block)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(timeout)
            s.recv(1)  # the far end closes once it has read everything
        except BaseException as e:  # noqa: BLE001 - reported below
            error.append(e)
        finally:
            done.set()

    t0 = time.monotonic()
    th = threading.Thread(target=push, daemon=True)
    th.start()
    while not done.wait(0.1):
        peak = max(peak, tree_pss_kib(mem_roots))
        if time.monotonic() - t0 > timeout:
            s.close()
            raise LoadError(f"slow reader: not done within {timeout:.0f} s")
    elapsed = time.monotonic() - t0
    s.close()
    th.join(5)
    if error:
        raise LoadError(f"slow reader: {error[0]}")
    return (peak - before) / 1024, elapsed
