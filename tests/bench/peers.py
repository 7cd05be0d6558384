"""The paths under test: how each one is set up on loopback and torn down.

A path exposes the four local services (iperf3, http, echo, sink) on public
ports, as a reverse tunnel would: ``direct`` (no tunnel: the limit),
``socat`` (a plain relay), ``ssh -R`` (OpenSSH, two ciphers), ``pproxy``
(backward/reverse mode, its own venv) and our tunnel (plain TCP or TLS link,
both sides headless on uvloop, or the client inside a qasync Qt loop).

Proxy paths (``ProxyPath``) expose an HTTP proxy instead: wrk sends
absolute-form requests to it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _procs import Proc, free_port, wait_listening, wait_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SERVICES = ("iperf", "http", "echo", "sink", "redis")
HTTP_HOST = "bench.local"
PPROXY_VENV = Path(os.environ.get("WMPROXY_BENCH_CACHE", Path.home() / ".cache" / "wmproxy-bench")) / "pproxy-venv"


@dataclass
class Path_:
    name: str
    label: str
    ports: dict[str, int] = field(default_factory=dict)  # service -> public port
    procs: list[Proc] = field(default_factory=list)
    mem_roots: list[int] = field(default_factory=list)  # pids whose process trees are the tunnel
    lag_proc: Proc | None = None  # ours: the process whose loop lag is measured
    lag_file: Path | None = None
    proxy_port: int | None = None  # ours: the client's local HTTP proxy listener

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def lag_mark(self) -> list[float] | None:
        """Loop-lag samples (ms) since the previous mark (ours only)."""
        if self.lag_proc is None or self.lag_file is None:
            return None
        self.lag_file.unlink(missing_ok=True)
        self.lag_proc.signal(signal.SIGUSR1)
        for _ in range(200):
            if self.lag_file.exists():
                try:
                    return json.loads(self.lag_file.read_text())
                except ValueError:
                    pass
            time.sleep(0.01)
        return None


# ---------------------------------------------------------------- services

class Services:
    """The local services every path leads to (same ones for every peer)."""

    def __init__(self, tmp: Path, sink_rate: float, sink_stall: float) -> None:
        self.tmp = tmp
        self.ports: dict[str, int] = {}
        self.procs: dict[str, Proc] = {}
        self.sink_rate, self.sink_stall = sink_rate, sink_stall

    def start(self) -> None:
        self.start_iperf()
        for kind in ("http", "echo", "sink"):
            argv = [sys.executable, str(HERE / "services.py"), kind]
            if kind == "sink":
                argv += ["--rate", str(self.sink_rate), "--stall", str(self.sink_stall)]
            p = Proc(argv, self.tmp / f"svc-{kind}.log", stdout_pipe=True)
            self.procs[kind] = p
            self.ports[kind] = int(p.ready_line())
        port = free_port()  # redis, for small request/response round trips
        self.procs["redis"] = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--protected-mode", "no"], self.tmp / "redis.log")
        wait_port(port)
        self.ports["redis"] = port
        port = free_port()  # nginx serving 1 KiB keep-alive: the proxy figures' target
        self.procs["nginx"] = nginx(self.tmp / "nginx-svc", f"""
  server {{ listen 127.0.0.1:{port} backlog=4096; keepalive_requests 1000000;
           location / {{ return 200 "{'x' * 1024}"; }} }}""")
        wait_port(port)
        self.ports["nginx"] = port

    def start_iperf(self) -> None:
        old = self.procs.pop("iperf", None)
        if old:
            old.stop()
        port = free_port()
        self.procs["iperf"] = Proc(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)], self.tmp / "iperf3-s.log")
        wait_port(port)
        self.ports["iperf"] = port

    def stop(self) -> None:
        for p in self.procs.values():
            p.stop()


# ---------------------------------------------------------------- peers

def direct(svc: Services, tmp: Path) -> Path_:
    return Path_("direct", "direct", {k: v for k, v in svc.ports.items() if k in SERVICES})


def socat(svc: Services, tmp: Path) -> Path_:
    path = Path_("socat", "socat relay")
    for name in SERVICES:
        pub = free_port()
        p = Proc(["socat", f"TCP-LISTEN:{pub},bind=127.0.0.1,reuseaddr,fork,backlog=4096",
                  f"TCP:127.0.0.1:{svc.ports[name]}"], tmp / f"socat-{name}.log")
        path.procs.append(p)
        path.mem_roots.append(p.pid)
        path.ports[name] = pub
    for pub in path.ports.values():
        wait_listening(pub)
    return path


class Sshd:
    """Our own sshd on a loopback port (temp host key, temp authorized key)."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "ssh"
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.key = self.dir / "userkey"
        for k in ("hostkey", "userkey"):
            if not (self.dir / k).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / k)], check=True)
        (self.dir / "authorized_keys").write_text((self.dir / "userkey.pub").read_text())
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc: Proc | None = None
        self.port = 0

    def config(self, port: int) -> Path:
        cfg = self.dir / f"sshd_config.{port}"
        cfg.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {self.dir / 'hostkey'}
AuthorizedKeysFile {self.dir / 'authorized_keys'}
PidFile {self.dir / f'sshd.{port}.pid'}
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
AllowTcpForwarding yes
MaxSessions 100
MaxStartups 100:30:200
LogLevel ERROR
""")
        return cfg

    def start(self) -> None:
        self.port = free_port()
        self.proc = Proc(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.config(self.port))], self.dir / "sshd.log")
        wait_port(self.port)

    def ssh_argv(self, cipher: str | None, *forwards: str) -> list[str]:
        argv = ["ssh", "-N", "-T", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
                "-i", str(self.key), "-p", str(self.port)]
        if cipher:
            argv += ["-c", cipher]
        return argv + list(forwards) + ["root@127.0.0.1"]

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


def ssh_r(svc: Services, tmp: Path, sshd: Sshd, cipher: str | None) -> Path_:
    label = f"ssh -R ({cipher or 'default'})"
    path = Path_("ssh-gcm" if cipher else "ssh", label)
    fwd = []
    for name in SERVICES:
        pub = free_port()
        path.ports[name] = pub
        fwd += ["-R", f"127.0.0.1:{pub}:127.0.0.1:{svc.ports[name]}"]
    p = Proc(sshd.ssh_argv(cipher, *fwd), tmp / f"{path.name}.log")
    path.procs.append(p)
    for pub in path.ports.values():
        wait_listening(pub, 15)
    assert sshd.proc is not None
    # the tunnel: our ssh client plus the sshd (whose forked session processes serve it)
    path.mem_roots = [p.pid, sshd.proc.pid]
    return path


def pproxy_bin() -> Path:
    """pproxy in its own venv (it breaks when uvloop is importable), created on first use."""
    exe = PPROXY_VENV / "bin" / "pproxy"
    if not exe.exists():
        print(f"installing pproxy into {PPROXY_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PPROXY_VENV)], check=True)
        subprocess.run([str(PPROXY_VENV / "bin" / "pip"), "install", "-q", "pproxy==2.7.9"], check=True)
    return exe


PPROXY_BACKWARD = 8  # backward connections kept ready ("+in" repeated): new-connection concurrency


def pproxy(svc: Services, tmp: Path) -> Path_:
    """pproxy's reverse mode: the public side waits for the inner side's backward connections."""
    exe = str(pproxy_bin())
    path = Path_("pproxy", "pproxy (backward)")
    back = free_port()
    ins = "+in" * PPROXY_BACKWARD
    argv = [exe]
    for name in SERVICES:
        pub = free_port()
        path.ports[name] = pub
        argv += ["-l", f"tunnel{{127.0.0.1:{svc.ports[name]}}}://127.0.0.1:{pub}"]
    argv += ["-r", f"socks5{ins}://127.0.0.1:{back}"]
    outer = Proc(argv, tmp / "pproxy-outer.log")
    path.procs.append(outer)
    wait_port(back)
    # pproxy 2.7.9's CLI exits when its only listener is a backward one: a dummy listener keeps it up
    inner = Proc([exe, "-l", f"socks5{ins}://127.0.0.1:{back}", "-l", f"socks5://127.0.0.1:{free_port()}"],
                 tmp / "pproxy-inner.log")
    path.procs.append(inner)
    for pub in path.ports.values():
        wait_listening(pub)
    time.sleep(0.5)  # backward connections established
    path.mem_roots = [outer.pid, inner.pid]
    return path


# ---------------------------------------------------------------- nginx, HAProxy

def nginx(root: Path, http_block: str) -> Proc:
    """nginx, one worker, foreground, its own config and files under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    temps = "\n".join(f"  {k}_temp_path {root}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = root / "nginx.conf"
    conf.write_text(f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
                    f"error_log {root}/error.log warn;\nworker_rlimit_nofile 65536;\n"
                    f"events {{ worker_connections 16384; }}\n"
                    f"http {{\n  access_log off;\n{temps}\n{http_block}\n}}\n")
    return Proc(["/usr/sbin/nginx", "-c", str(conf), "-p", str(root)], root / "nginx.log")


def nginx_tls(svc: Services, tmp: Path, certs: "Certs", *, tls13: bool = False) -> Path_:
    """nginx (one worker) terminating TLS with the same RSA-2048 certificate as our HTTPS mapping
    and proxying to the same HTTP service (upstream keep-alive): the HTTPS figures' peer.

    nginx 1.22's built-in default is TLS 1.2 at most (1.23.4 added 1.3; Debian's shipped
    nginx.conf turns it on): ``nginx-tls`` keeps that default, ``nginx-tls13`` (``tls13``) allows
    TLS 1.3 as our mapping does, so wrk resumes sessions with the same protocol on both."""
    port = free_port()
    name = "nginx-tls13" if tls13 else "nginx-tls"
    protocols = "ssl_protocols TLSv1.2 TLSv1.3;" if tls13 else ""
    p = nginx(tmp / name, f"""
  upstream svc {{ server 127.0.0.1:{svc.ports['http']}; keepalive 64; }}
  server {{ listen 127.0.0.1:{port} ssl backlog=4096; keepalive_requests 1000000; {protocols}
           ssl_certificate {certs.rsa_cert}; ssl_certificate_key {certs.rsa_key};
           location / {{ proxy_pass http://svc; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""")
    wait_port(port)
    return Path_(name, f"nginx TLS termination{' (TLS 1.3)' if tls13 else ''}", {"https": port}, [p], [p.pid])


def haproxy(root: Path, config: str) -> Proc:
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "haproxy.cfg"
    cfg.write_text(config)
    return Proc(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], root / "haproxy.log")


# ---------------------------------------------------------------- ours

class Certs:
    """A throwaway self-signed center certificate (SHA-256 pinned by the client)."""

    def __init__(self, tmp: Path) -> None:
        sys.path.insert(0, str(REPO))
        from core import tls

        cert_pem, key_pem = tls.generate_cert("localhost", ["localhost"], ["127.0.0.1"])
        self.cert, self.key = tmp / "center.crt", tmp / "center.key"
        tls.write_cert(self.cert, cert_pem)
        tls.write_private_key(self.key, key_pem)
        self.fingerprint = tls.cert_info(cert_pem).fingerprint
        # the HTTPS figures: one RSA-2048 certificate for our mapping and for nginx alike
        self.rsa_cert, self.rsa_key = tmp / "mapping-rsa.crt", tmp / "mapping-rsa.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(self.rsa_key), "-out", str(self.rsa_cert)], check=True, capture_output=True)


def old_checkout(ref: str, tmp: Path) -> Path:
    """A detached worktree of ``ref`` (an older engine to measure beside this one)."""
    dst = tmp / "old-engine"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(dst), ref], check=True,
                   capture_output=True)
    return dst


def drop_checkout(dst: Path) -> None:
    """Remove an ``old_checkout`` worktree (and git's record of it: the logs next to it stay)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(dst)], capture_output=True)


def runner(cfg: dict, tmp: Path, tag: str, env: dict[str, str] | None = None,
           engine: Path | None = None) -> tuple[Proc, dict]:
    f = tmp / f"{tag}.json"
    f.write_text(json.dumps(cfg))
    # engine / WMPROXY_BENCH_ENGINE=<dir of another checkout>: run that tree's engine (A/B comparisons)
    root = engine or Path(os.environ.get("WMPROXY_BENCH_ENGINE", REPO))
    env = {**(env or {}), "PYTHONPATH": str(root)}
    p = Proc([sys.executable, str(root / "tests" / "bench" / "tunnel_runner.py"), str(f)], tmp / f"{tag}.log",
             stdout_pipe=True, env=env)
    try:
        return p, json.loads(p.ready_line(timeout=40))
    except BaseException:
        p.stop()
        raise


def _cleaned_up_on_failure(make):  # type: ignore[no-untyped-def]
    """A path's setup that stops whatever it started when it fails half way (no stray processes)."""
    import functools

    @functools.wraps(make)
    def wrapper(*args, **kw):  # type: ignore[no-untyped-def]
        started: list[Path_] = []
        kw["_started"] = started
        try:
            return make(*args, **kw)
        except BaseException:
            for path in started:
                path.stop()
            raise
    return wrapper


@_cleaned_up_on_failure
def ours(svc: Services, tmp: Path, certs: Certs, *, tls: bool, loop: str, server_loop: str = "uvloop",
         engine: Path | None = None, tag: str | None = None, _started: list | None = None) -> Path_:
    name = tag or f"ours-{'tls' if tls else 'tcp'}{'-qasync' if loop == 'qasync' else ''}"
    label = f"{'old' if engine else 'ours'} {'TLS' if tls else 'TCP'} {'qasync' if loop == 'qasync' else 'headless'}"
    path = Path_(name, label)
    if _started is not None:
        _started.append(path)
    scfg: dict = {"bind": "127.0.0.1:0", "username": "bench", "password": "bench-pw",
                  "map_http_bind": "127.0.0.1:0", "map_tcp_bind": "127.0.0.1:0", "allow_targets": ["127.0.0.1"],
                  "map_https_bind": "127.0.0.1:0", "map_cert": str(certs.rsa_cert), "map_key": str(certs.rsa_key)}
    if engine is None:
        scfg["max_conns_per_source"] = 100000  # every load comes from 127.0.0.1 (an older engine has no cap)
    window = int(os.environ.get("WMPROXY_BENCH_WINDOW", "0"))  # experiments: per-channel window, both sides
    if window:
        scfg["window"] = window
    if tls:
        scfg.update(tls=True, cert_file=str(certs.cert), key_file=str(certs.key))
    srv, addrs = runner({"role": "server", "loop": server_loop, "server": scfg}, tmp, f"{name}-server",
                        engine=engine)
    path.procs.append(srv)
    center = addrs["center"]
    mappings = []
    for s in ("iperf", "echo", "sink", "redis"):
        pub = free_port()
        path.ports[s] = pub
        mappings.append({"name": s, "mode": "tcp", "local_addr": f"127.0.0.1:{svc.ports[s]}", "remote_port": pub})
    mappings.append({"name": "http", "mode": "http", "domain": HTTP_HOST, "local_addr": f"127.0.0.1:{svc.ports['http']}"})
    # the HTTPS figures reach https://127.0.0.1:PORT/ (no SNI): a catch-all https mapping
    mappings.append({"name": "https", "mode": "https", "domain": "", "local_addr": f"127.0.0.1:{svc.ports['http']}"})
    ccfg: dict = {"server": f"{center[0]}:{center[1]}", "username": "bench", "password": "bench-pw",
                  "mappings": mappings, "proxies": [{"name": "proxy", "bind": "127.0.0.1:0"}],
                  "reconnect_min": 0.2, "reconnect_max": 1.0}
    if window:
        ccfg["window"] = window
    if tls:
        ccfg["tls"] = {"enabled": True, "fingerprint": certs.fingerprint, "tofu": False}
    lag_file = tmp / f"{name}-lag.json"
    env = {"QT_QPA_PLATFORM": "offscreen"} if loop == "qasync" else None
    cli, caddrs = runner({"role": "client", "loop": loop, "client": ccfg, "lag_file": str(lag_file)},
                         tmp, f"{name}-client", env, engine=engine)
    path.procs.append(cli)
    path.ports["http"] = addrs["http"][1]
    path.ports["https"] = addrs["https"][1]
    path.proxy_port = caddrs["proxy"][1]
    path.lag_proc, path.lag_file = cli, lag_file
    path.mem_roots = [srv.pid, cli.pid]
    for s in ("iperf", "echo", "sink", "redis"):
        wait_listening(path.ports[s], 15)
    time.sleep(1.2)  # a version-1 client's mappings are routed after the server's 1 s grace
    return path


@_cleaned_up_on_failure
def behind_haproxy(svc: Services, tmp: Path, certs: Certs, servers: int, _started: list | None = None) -> Path_:
    """``servers`` headless servers (TLS links) behind HAProxy (TCP mode, send-proxy-v2, round robin),
    one client linked to all of them, the HTTP service behind an http mapping."""
    name = f"lb-{servers}"
    path = Path_(name, f"HAProxy + {servers} server(s)")
    if _started is not None:
        _started.append(path)
    backends = []
    centers = []
    for i in range(servers):
        http_port = free_port()
        scfg = {"bind": "127.0.0.1:0", "username": "bench", "password": "bench-pw", "tls": True,
                "cert_file": str(certs.cert), "key_file": str(certs.key), "map_http_bind": f"127.0.0.1:{http_port}",
                "trusted_proxies": ["127.0.0.1"], "max_conns_per_source": 100000}
        srv, addrs = runner({"role": "server", "loop": "uvloop", "server": scfg}, tmp, f"{name}-server{i}")
        path.procs.append(srv)
        path.mem_roots.append(srv.pid)
        centers.append("%s:%d" % tuple(addrs["center"]))
        backends.append(f"  server s{i} 127.0.0.1:{http_port} send-proxy-v2")
    ccfg = {"server": centers, "username": "bench", "password": "bench-pw", "reconnect_min": 0.2,
            "reconnect_max": 1.0, "tls": {"enabled": True, "fingerprint": certs.fingerprint, "tofu": False},
            "mappings": [{"name": "http", "mode": "http", "domain": HTTP_HOST,
                          "local_addr": f"127.0.0.1:{svc.ports['http']}"}]}
    cli, _ = runner({"role": "client", "loop": "uvloop", "client": ccfg}, tmp, f"{name}-client")
    path.procs.append(cli)
    path.mem_roots.append(cli.pid)
    front = free_port()
    lb = haproxy(tmp / name, "global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 2s\n"
                 "  timeout client 60s\n  timeout server 60s\n"
                 f"frontend f\n  bind 127.0.0.1:{front}\n  default_backend b\n"
                 "backend b\n  balance roundrobin\n" + "\n".join(backends) + "\n")
    path.procs.append(lb)
    path.mem_roots.append(lb.pid)
    wait_port(front)
    time.sleep(1.5)  # every link up and its mappings routed
    path.ports["http"] = front
    return path


# ---------------------------------------------------------------- proxy peers

@dataclass
class ProxyPath:
    name: str
    label: str
    port: int
    absolute: bool  # wrk sends absolute-form requests (an HTTP proxy) or plain ones (a relay)
    procs: list[Proc] = field(default_factory=list)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def proxy_direct(svc: Services, tmp: Path) -> ProxyPath:
    return ProxyPath("direct", "direct (no proxy)", svc.ports["http"], absolute=False)


def proxy_pproxy(svc: Services, tmp: Path) -> ProxyPath:
    """pproxy's usual two-hop setup: local HTTP proxy -> socks5 -> remote pproxy dials the target."""
    exe = str(pproxy_bin())
    remote, local = free_port(), free_port()
    r = Proc([exe, "-l", f"socks5://127.0.0.1:{remote}"], tmp / "pproxy-remote.log")
    wait_port(remote)
    lp = Proc([exe, "-l", f"http://127.0.0.1:{local}", "-r", f"socks5://127.0.0.1:{remote}"], tmp / "pproxy-local.log")
    wait_port(local)
    return ProxyPath("pproxy", "pproxy http->socks5", local, absolute=True, procs=[r, lp])


def proxy_ssh_d(svc: Services, tmp: Path, sshd: Sshd) -> ProxyPath:
    """``ssh -D`` speaks only SOCKS, which wrk does not: socat's SOCKS4 client adapts (forks per connection)."""
    dport, aport = free_port(), free_port()
    s = Proc(sshd.ssh_argv(None, "-D", f"127.0.0.1:{dport}"), tmp / "ssh-D.log")
    wait_port(dport, 15)
    a = Proc(["socat", f"TCP-LISTEN:{aport},bind=127.0.0.1,reuseaddr,fork,backlog=4096",
              f"SOCKS4:127.0.0.1:127.0.0.1:{svc.ports['http']},socksport={dport}"], tmp / "socat-socks.log")
    wait_port(aport)
    return ProxyPath("ssh-D", "ssh -D (+socat socks)", aport, absolute=False, procs=[s, a])
