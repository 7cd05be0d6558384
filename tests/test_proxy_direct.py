"""Direct-mode proxy listener end to end: real curl, python-socks and raw sockets."""
from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest
from _servers import CertFiles, HttpTarget, make_cert, pattern
from _util import EchoServer, run
from python_socks import ProxyError, ProxyType
from python_socks.async_.asyncio import Proxy

from core import socks5
from core.config import ProxyListenerConfig
from core.policy import TargetPolicy
from core.proxy import ProxyListener
from core.stats import Stats

pytestmark = pytest.mark.timeout(120)

CURL_MAX = "15"


class ListenerThread:
    """A ProxyListener on its own event loop thread, so tests can drive it with blocking clients."""

    def __init__(self, cfg: ProxyListenerConfig, policy: TargetPolicy | None = None) -> None:
        self.stats = Stats()
        self.listener = ProxyListener(cfg, self.stats, policy)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "ListenerThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.listener.start(), self.loop).result(10)
        self.host, self.port = self.listener.address
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", CURL_MAX, "--noproxy", "", *args], capture_output=True, timeout=30
    )


def cfg(**kw: object) -> ProxyListenerConfig:
    return ProxyListenerConfig(name="t", bind="127.0.0.1:0", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTarget]:
    with HttpTarget() as t:
        yield t


@pytest.fixture(scope="module")
def target6() -> Iterator[HttpTarget]:
    with HttpTarget("::1") as t:
        yield t


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def tls_target(cert: CertFiles) -> Iterator[HttpTarget]:
    with HttpTarget(tls=cert.server_context()) as t:
        yield t


@pytest.fixture
def proxy() -> Iterator[ListenerThread]:
    with ListenerThread(cfg()) as p:
        yield p


def assert_serves(p: ListenerThread, target: HttpTarget, path: str = "/still-ok") -> None:
    """The listener still answers a normal request (after a bad one)."""
    r = curl("-x", p.http, target.url(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"hello {path}\n".encode()


# ---------------------------------------------------------------- HTTP proxy
def test_http_keep_alive_several_urls_one_connection(proxy: ListenerThread, target: HttpTarget) -> None:
    before = target.connections
    n_before = len(target.requests)
    r = curl("-x", proxy.http, target.url("/k1"), target.url("/k2"), target.url("/chunked/100000"),
             "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
             "-w", "%{http_code} %{size_download} %{num_connects}\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[:3] == ["200 10 1", "200 10 0", "200 100000 0"]
    seen = target.requests[n_before:]
    assert [s.path for s in seen] == ["/k1", "/k2", "/chunked/100000"]  # origin form upstream
    assert len({s.conn for s in seen}) == 1 and target.connections == before + 1  # upstream reused
    assert all(s.header("host") == target.authority for s in seen)
    assert all(s.header("proxy-connection") is None for s in seen)
    snap = proxy.stats.snapshot()
    assert snap.per_name["t"][1] > 100000  # down counted
    assert snap.per_name["t"][0] > 0


def test_http_body_integrity_large_and_chunked(proxy: ListenerThread, target: HttpTarget, tmp_path: Path) -> None:
    out = tmp_path / "big"
    r = curl("-x", proxy.http, target.url("/bytes/3000000"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == pattern(3_000_000)
    r = curl("-x", proxy.http, target.url("/close/200000"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == pattern(200_000)


def test_chunked_post_through_http_proxy(proxy: ListenerThread, target: HttpTarget, tmp_path: Path) -> None:
    body = pattern(300_000)
    f = tmp_path / "body"
    f.write_bytes(body)
    r = curl("-x", proxy.http, "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{f}", "-D", "-",
             "-o", str(tmp_path / "echo"), target.url("/post"))
    assert r.returncode == 0, r.stderr
    head = r.stdout.decode().lower()
    assert "x-request-chunked: yes" in head
    assert f"x-body-sha256: {hashlib.sha256(body).hexdigest()}" in head
    assert (tmp_path / "echo").read_bytes() == body


def test_expect_100_continue_post(proxy: ListenerThread, target: HttpTarget) -> None:
    r = curl("-x", proxy.http, "-H", "Expect: 100-continue", "--data-binary", "x" * 5000, "-D", "-",
             "--expect100-timeout", "10", "-o", "/dev/null", target.url("/p100"))
    assert r.returncode == 0, r.stderr
    assert b"100 Continue" in r.stdout and b"X-Body-Length: 5000" in r.stdout


def test_https_through_connect(proxy: ListenerThread, tls_target: HttpTarget, cert: CertFiles) -> None:
    r = curl("-x", proxy.http, "--cacert", str(cert.cert), tls_target.url("/secure"), tls_target.url("/again"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /secure\nhello /again\n"
    recs = [c for c in proxy.stats.snapshot().channels]
    assert all(c.kind == "proxy" and c.name == "t" for c in recs)


def test_proxy_user_right_and_wrong(target: HttpTarget) -> None:
    with ListenerThread(cfg(username="alice", password="pa:ss wörd")) as p:
        ok = curl("-x", p.http, "--proxy-user", "alice:pa:ss wörd", target.url("/authed"))
        assert ok.returncode == 0 and ok.stdout == b"hello /authed\n", ok.stderr
        for user in ("alice:wrong", "bob:pa:ss wörd"):
            bad = curl("-x", p.http, "--proxy-user", user, "-D", "-", "-o", "/dev/null", target.url("/x"))
            assert b"407" in bad.stdout.split(b"\r\n")[0]
            assert b'Proxy-Authenticate: Basic realm="wmproxy"' in bad.stdout
        none = curl("-x", p.http, "-w", "%{http_code}", "-o", "/dev/null", target.url("/x"))
        assert none.stdout == b"407"
        # https via CONNECT needs credentials too
        c = curl("-x", p.http, "-k", "-w", "%{http_code}", "https://127.0.0.1:1/")
        assert c.returncode != 0 and b"407" in c.stderr + c.stdout
        # SOCKS5 with right and wrong credentials
        ok5 = curl("--socks5-hostname", p.hostport, "--proxy-user", "alice:pa:ss wörd", target.url("/s5auth"))
        assert ok5.returncode == 0 and ok5.stdout == b"hello /s5auth\n", ok5.stderr
        bad5 = curl("--socks5-hostname", p.hostport, "--proxy-user", "alice:nope", target.url("/s5auth"))
        assert bad5.returncode == 97, bad5.stderr  # CURLE_PROXY: authentication failed
        no5 = curl("--socks5-hostname", p.hostport, target.url("/s5auth"))
        assert no5.returncode == 97, no5.stderr  # no acceptable method
        assert len([r for r in target.requests if r.path == "/s5auth"]) == 1
        assert all(r.header("proxy-authorization") is None for r in target.requests)


# ---------------------------------------------------------------- SOCKS5
def test_socks5_hostname_and_ip_targets(proxy: ListenerThread, target: HttpTarget, target6: HttpTarget) -> None:
    r = curl("--socks5-hostname", proxy.hostport, target.url("/h", host="localhost"))
    assert r.returncode == 0 and r.stdout == b"hello /h\n", r.stderr
    r = curl("--socks5", proxy.hostport, target.url("/v4"))
    assert r.returncode == 0 and r.stdout == b"hello /v4\n", r.stderr
    r = curl("--socks5", proxy.hostport, "-g", target6.url("/v6"))
    assert r.returncode == 0 and r.stdout == b"hello /v6\n", r.stderr
    r = curl("--socks5-hostname", proxy.hostport, "-g", target6.url("/v6h"))
    assert r.returncode == 0 and r.stdout == b"hello /v6h\n", r.stderr
    targets = {c.target for c in proxy.stats.snapshot().channels}  # closed ones are gone; totals remain
    assert proxy.stats.snapshot().per_name["t"][1] > 0 and isinstance(targets, set)


def test_socks5_https(proxy: ListenerThread, tls_target: HttpTarget, cert: CertFiles) -> None:
    r = curl("--socks5-hostname", proxy.hostport, "--cacert", str(cert.cert), tls_target.url("/s"))
    assert r.returncode == 0 and r.stdout == b"hello /s\n", r.stderr


def test_python_socks_client_echo(proxy: ListenerThread) -> None:
    echo = EchoServer().start()
    try:
        async def go() -> bytes:
            px = Proxy.create(ProxyType.SOCKS5, proxy.host, proxy.port)
            sock = await px.connect(dest_host="127.0.0.1", dest_port=echo.port, timeout=10)
            reader, writer = await asyncio.open_connection(sock=sock)
            blob = pattern(1_000_000)
            writer.write(blob)
            await writer.drain()
            got = await reader.readexactly(len(blob))
            writer.close()
            return got

        assert run(go()) == pattern(1_000_000)
    finally:
        echo.stop()


def test_python_socks_auth(target: HttpTarget) -> None:
    echo = EchoServer().start()
    try:
        with ListenerThread(cfg(username="u", password="p")) as p:
            async def go(password: str) -> bytes:
                px = Proxy.create(ProxyType.SOCKS5, p.host, p.port, username="u", password=password)
                sock = await px.connect(dest_host="127.0.0.1", dest_port=echo.port, timeout=10)
                reader, writer = await asyncio.open_connection(sock=sock)
                writer.write(b"hi")
                got = await reader.readexactly(2)
                writer.close()
                return got

            assert run(go("p")) == b"hi"
            with pytest.raises(ProxyError):
                run(go("wrong"))
    finally:
        echo.stop()


# ---------------------------------------------------------------- policy
def test_default_policy_denies_loopback(target: HttpTarget) -> None:
    with ListenerThread(cfg(), TargetPolicy()) as p:
        r = curl("-x", p.http, "-D", "-", target.url("/denied"))
        assert r.stdout.startswith(b"HTTP/1.1 403"), r.stdout
        assert b"denied by default (loopback)" in r.stdout
        r = curl("--socks5-hostname", p.hostport, target.url("/denied", host="localhost"))
        assert r.returncode == 97 and b"(2)" in r.stderr, r.stderr  # curl names the reply code: 2 = not allowed
        raw = _socks_request(p, "127.0.0.1", target.port)
        assert raw[:2] == bytes((5, socks5.NOT_ALLOWED))
        assert not [x for x in target.requests if x.path == "/denied"]


def test_policy_allowing_loopback_serves(target: HttpTarget) -> None:
    with ListenerThread(cfg(), TargetPolicy(allow=[f"127.0.0.1:{target.port}"])) as p:
        assert_serves(p, target, "/allowed")
        r = curl("-x", p.http, "-w", "%{http_code}", "-o", "/dev/null", "http://127.0.0.1:1/")
        assert r.stdout == b"403"  # other ports stay closed


# ---------------------------------------------------------------- bad input
def _raw(p: ListenerThread, data: bytes, half_close: bool = True) -> bytes:
    """Send ``data`` (then EOF unless told otherwise) and return all that comes back until close."""
    with socket.create_connection((p.host, p.port), timeout=10) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:  # the proxy may close early (oversized head)
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def _socks_request(p: ListenerThread, host: str, port: int) -> bytes:
    with socket.create_connection((p.host, p.port), timeout=10) as s:
        s.sendall(socks5.client_greeting((0,)))
        assert s.recv(2) == b"\x05\x00"
        s.sendall(socks5.client_request(host, port))
        return s.recv(64)


def test_garbage_bytes(proxy: ListenerThread, target: HttpTarget) -> None:
    out = _raw(proxy, bytes(range(256)) * 4 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")
    assert_serves(proxy, target)


def test_truncated_socks_greeting(proxy: ListenerThread, target: HttpTarget) -> None:
    assert _raw(proxy, b"\x05\x03\x00") == b""  # says 3 methods, sends 1, then EOF: closed, no answer
    assert _raw(proxy, b"\x05\x01\x00\x05\x01\x00\x03\x20abc") == b"\x05\x00"  # request cut short
    assert_serves(proxy, target)


def test_stalled_handshake_times_out(target: HttpTarget) -> None:
    with ListenerThread(cfg()) as p:
        p.listener.options.handshake_timeout = 0.5
        assert _raw(p, b"\x05\x03\x00", half_close=False) == b""  # closed by the timeout, not by us
        assert _raw(p, b"GET http://x/ HTTP/1.1\r\n", half_close=False) == b""
        assert_serves(p, target)


def test_socks4_and_unsupported_socks_commands(proxy: ListenerThread, target: HttpTarget) -> None:
    assert _raw(proxy, b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00") == b"\x00\x5b" + bytes(6)
    for cmd in (socks5.CMD_BIND, socks5.CMD_UDP_ASSOCIATE):
        out = _raw(proxy, socks5.client_greeting() + socks5.client_request("127.0.0.1", 53, cmd))
        assert out[:4] == b"\x05\x00\x05\x07"
    out = _raw(proxy, socks5.client_greeting() + b"\x05\x01\x00\x09\x00\x00")
    assert out[:4] == b"\x05\x00\x05\x08"
    assert_serves(proxy, target)


def test_oversized_header_block(proxy: ListenerThread, target: HttpTarget) -> None:
    head = f"GET {target.url('/big')} HTTP/1.1\r\nHost: x\r\n".encode() + b"X-Pad: " + b"a" * 100 * 1024 + b"\r\n\r\n"
    out = _raw(proxy, head)
    assert out.startswith(b"HTTP/1.1 431") or out == b""
    assert out.startswith(b"HTTP/1.1 431")
    assert_serves(proxy, target)


def test_refused_and_bad_requests(proxy: ListenerThread, target: HttpTarget) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    r = curl("-x", proxy.http, "-D", "-", f"http://127.0.0.1:{dead}/")
    assert r.stdout.startswith(b"HTTP/1.1 502") and b"connection refused" in r.stdout
    out = _raw(proxy, b"GET /not-absolute HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"not a proxy request" in out
    raw = _socks_request(proxy, "127.0.0.1", dead)
    assert raw[:2] == bytes((5, socks5.CONNECTION_REFUSED))
    r = curl("--socks5-hostname", proxy.hostport, "http://no-such-host.invalid/")
    assert r.returncode != 0
    assert_serves(proxy, target)


def test_protocols_disabled(target: HttpTarget, tls_target: HttpTarget, cert: CertFiles) -> None:
    with ListenerThread(cfg(protocols=("socks5",))) as p:
        r = curl("-x", p.http, "-D", "-", target.url("/x"))
        assert r.stdout.startswith(b"HTTP/1.1 405") and b"disabled" in r.stdout
        r = curl("-x", p.http, "--cacert", str(cert.cert), tls_target.url("/x"))
        assert r.returncode != 0 and b"405" in r.stderr
        r = curl("--socks5", p.hostport, target.url("/only-socks"))
        assert r.stdout == b"hello /only-socks\n"
    with ListenerThread(cfg(protocols=("http", "https"))) as p:
        assert _raw(p, socks5.client_greeting()) == b"\x05\xff"
        assert_serves(p, target, "/only-http")


def test_stop_closes_open_connections(target: HttpTarget) -> None:
    echo = EchoServer().start()
    try:
        lt = ListenerThread(cfg()).__enter__()
        s = socket.create_connection((lt.host, lt.port), timeout=10)
        s.sendall(f"CONNECT 127.0.0.1:{echo.port} HTTP/1.1\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.sendall(b"x")
        assert s.recv(10) == b"x"
        assert len(lt.stats.snapshot().channels) == 1
        lt.__exit__(None, None, None)
        s.settimeout(10)
        assert s.recv(10) == b""  # closed by stop()
        s.close()
        assert lt.stats.snapshot().channels == ()
        with pytest.raises(OSError):
            socket.create_connection((lt.host, lt.port), timeout=2)
    finally:
        echo.stop()


def test_ipv6_listener_and_bad_bind(target: HttpTarget) -> None:
    with ListenerThread(ProxyListenerConfig(name="v6", bind="[::1]:0")) as p:
        assert p.host == "::1"
        r = curl("-x", f"http://[::1]:{p.port}", target.url("/via-v6-listener"))
        assert r.returncode == 0 and r.stdout == b"hello /via-v6-listener\n", r.stderr
        r = curl("--socks5-hostname", f"[::1]:{p.port}", target.url("/s5-v6-listener"))
        assert r.returncode == 0 and r.stdout == b"hello /s5-v6-listener\n", r.stderr

    from core.errors import ConfigError

    for bind, words in (("127.0.0.1", "no port"), ("[::1", "unclosed"), ("127.0.0.1:99999", "bad port")):
        with pytest.raises(ConfigError) as ei:
            run(ProxyListener(ProxyListenerConfig(name="bad", bind=bind)).start())
        assert words in str(ei.value) and "'bad'" in str(ei.value)
    with ListenerThread(cfg()) as busy:  # the port is taken
        with pytest.raises(ConfigError) as ei:
            run(ProxyListener(ProxyListenerConfig(name="dup", bind=busy.hostport)).start())
        assert "cannot listen on" in str(ei.value)
