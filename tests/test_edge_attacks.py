"""The public edge under attack: a real server process, hostile sockets, and what /proc says.

Memory (RSS) and descriptors of the server process are read from /proc before,
during and after each attack; what must never reach a local service is
counted by the local service itself.
"""
from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import threading
import time

import pytest

from _edge import PASSWORD, USER, ServerProcess, settle
from _util import ThreadedService, curl, run, until
from core import frames as F
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, parse_header_rule

pytestmark = pytest.mark.timeout(180)


def token(user: str = USER, password: str = PASSWORD, flag: int = 0) -> bytes:
    return F.encode(F.Token(user, password, flag))


def many_sockets(n: int, addr: tuple[str, int], first: bytes, source: str = "127.0.0.1") -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(5)
        try:
            s.connect(addr)
            if first:
                s.sendall(first)
        except OSError:
            s.close()
            continue
        out.append(s)
    return out


def closed_by_peer(s: socket.socket, timeout: float = 0.0) -> bool:
    """Did the server close ``s`` (whatever it said first)? Reads until EOF, a reset or ``timeout``."""
    deadline = time.monotonic() + (timeout or 0.01)
    while True:
        s.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            if s.recv(65536) == b"":
                return True
        except (socket.timeout, BlockingIOError):
            return False
        except OSError:
            return True  # reset


# ------------------------------------------------------------------ before login

@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_preauth_floods_stay_small_and_are_released(tmp_path, tls) -> None:
    extra = {"max_unauth_per_source": 5000, "max_unauth": 5000}  # caps up: measure the per-link cost
    with ServerProcess(tmp_path, extra, tls=tls) as srv:
        addr = srv.addr("center")
        time.sleep(0.5)
        base_rss, base_fds = srv.rss_kib(), srv.fds()
        # 40 strangers each announcing a 16 MiB Token: refused from the header alone
        big = struct.pack(">I", (0xFFFFFF << 8) | F.Kind.TOKEN) + bytes(8) + os.urandom(60_000)
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

        def stranger(payload: bytes) -> socket.socket:
            s = socket.create_connection(addr, 5)
            if tls:
                s = ctx.wrap_socket(s)
            try:
                s.sendall(payload)
            except OSError:
                pass  # closed on us mid-send, from the header alone: what we want
            return s

        socks = [stranger(big) for _ in range(40)]
        gone = sum(closed_by_peer(s, 5) for s in socks)
        assert gone == 40
        for s in socks:
            s.close()
        # 3,000 strangers that send one byte (or only the TLS handshake) and wait
        held = many_sockets(3000, addr, b"" if tls else b"\x00")
        assert len(held) == 3000
        time.sleep(2.0)
        during = srv.rss_kib() - base_rss
        per_link = during * 1024 / 3000
        print(f"tls={tls}: {per_link / 1024:.1f} KiB per unauthenticated connection")
        assert per_link < 20 * 1024, f"{per_link / 1024:.1f} KiB per unauthenticated connection"
        for s in held:
            s.close()
        fds = settle(srv.fds, lambda n: n <= base_fds + 2)
        assert fds <= base_fds + 2
        after = settle(srv.rss_kib, lambda r: r - base_rss < 24 * 1024, timeout=5)
        assert after - base_rss < 24 * 1024, f"RSS {base_rss} -> {after} KiB after the strangers left"


def test_strangers_are_capped_per_source_and_time_out(tmp_path) -> None:
    with ServerProcess(tmp_path, {"max_unauth_per_source": 8, "auth_timeout": 2.0}) as srv:
        addr = srv.addr("center")
        held = many_sockets(30, addr, b"\x00")
        time.sleep(0.5)
        refused = sum(closed_by_peer(s) for s in held)
        assert refused >= 22  # beyond the cap of 8: dropped at once
        # another address is not affected by this one's strangers
        other = socket.create_connection(addr, 5, source_address=("127.0.0.2", 0))
        other.sendall(token(flag=F.Flag.EXT) + F.encode(F.Mapping((), flag=F.Flag.EXT)))
        other.settimeout(5)
        assert other.recv(12)  # the extension ack: logged in
        time.sleep(2.5)  # the auth deadline passed for the silent eight
        assert all(closed_by_peer(s, 1) for s in held)
        for s in held:
            s.close()
        other.close()


def test_wrong_passwords_are_throttled_per_source(tmp_path) -> None:
    with ServerProcess(tmp_path) as srv:
        addr = srv.addr("center")
        answered = 0
        stop = time.monotonic() + 6

        def guess() -> None:
            nonlocal answered
            while time.monotonic() < stop:
                try:
                    with socket.create_connection(addr, 5) as s:
                        s.settimeout(max(0.1, stop - time.monotonic()))
                        s.sendall(token(password="guess"))
                        if s.recv(4096):
                            answered += 1
                except OSError:
                    pass

        threads = [threading.Thread(target=guess) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(3)  # mid-attack: a client from another address logs in at once
        t0 = time.monotonic()
        with socket.create_connection(addr, 5, source_address=("127.0.0.2", 0)) as s:
            s.sendall(token(flag=F.Flag.EXT))
            s.settimeout(5)
            ack = s.recv(4096)
        login = time.monotonic() - t0
        for t in threads:
            t.join()
        assert F.decode(ack)[0].flag == F.Flag.EXT | F.Flag.ACK and login < 1.0, login
        assert answered < 100, f"{answered} wrong passwords answered in 6 s"
        time.sleep(0.5)
        warnings = [ln for ln in srv.stderr() if "wrong username or password" in ln]
        assert 1 <= len(warnings) <= 3, warnings


def test_a_clients_goodbye_reason_is_logged_sanitised(tmp_path) -> None:
    with ServerProcess(tmp_path) as srv:
        with socket.create_connection(srv.addr("center"), 5) as s:
            s.sendall(token() + F.encode(F.Mapping(())) + F.encode(F.Close(0, "bye\x00\x1b[31mred\nfake line")))
            s.settimeout(5)
            while s.recv(4096):
                pass
        time.sleep(0.5)
        lines = [ln for ln in srv.stderr() if "bye" in ln]
        assert lines and all("\x00" not in ln and "\x1b" not in ln for ln in lines), lines
        assert not any(ln.startswith("fake line") for ln in srv.stderr())


# ------------------------------------------------------------------ the HTTP listeners

SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: {h}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {h}\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {h}\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {h}\r\nContent-Length : 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: {h}\r\nX-A: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: {h}\r\nHost: other\r\n\r\n",
]


class CountingService(ThreadedService):
    """A local HTTP service that counts the requests and connections that reach it."""

    def __init__(self) -> None:
        self.requests = 0
        super().__init__()

    def serve(self, c: socket.socket) -> None:
        buf = b""
        while data := c.recv(65536):
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                self.requests += 1
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _client(srv: ServerProcess, mappings: list[MappingConfig], **kw) -> CenterClient:
    host, port = srv.addr("center")
    return CenterClient(ClientConfig(server=f"{host}:{port}", username=USER, password=PASSWORD,
                                     mappings=mappings, reconnect_min=0.2, reconnect_max=0.5, **kw))


def test_smuggling_is_refused_before_forwarding_and_descriptors_come_back(tmp_path) -> None:
    svc = CountingService()
    with ServerProcess(tmp_path, {"map_http_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("plain", "http", f"127.0.0.1:{svc.port}", domain="plain.test"),
                                MappingConfig("rules", "http", f"127.0.0.1:{svc.port}", domain="rules.test",
                                              headers=[parse_header_rule("proxy x-from {client_ip}")])])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: len(cli.mapping_status) == 2, "status")
                loop = asyncio.get_running_loop()
                base = srv.fds()

                def attack(host: str) -> list[bytes]:
                    answers = []
                    for i in range(300):
                        req = SMUGGLING[i % len(SMUGGLING)].replace(b"{h}", host.encode())
                        with socket.create_connection(srv.addr("http"), 5) as s:
                            s.sendall(req)
                            s.settimeout(5)
                            data = b""
                            while chunk := s.recv(4096):
                                data += chunk
                            answers.append(data.split(b"\r\n", 1)[0])
                    return answers

                for host in ("plain.test", "rules.test"):
                    answers = await loop.run_in_executor(None, attack, host)
                    assert set(answers) == {b"HTTP/1.1 400 Bad Request"}, set(answers)
                assert svc.requests == 0  # nothing reached the local service
                fds = await loop.run_in_executor(None, settle, srv.fds, lambda n: n <= base + 2)
                assert fds <= base + 2
                await until(lambda: svc.open == 0, "no connection left at the local service")
                # and the listener still serves
                code, out, err = await curl("-H", "Host: rules.test", "http://%s:%d/fine" % srv.addr("http"))
                assert out == "ok" and svc.requests == 1, err
            finally:
                await cli.stop()

        run(main(), 150)


def test_churned_public_connections_keep_few_service_connections_and_release_every_one(tmp_path) -> None:
    """400 public connections in waves of 50, each one GET then gone (half of them with a reset):
    the server keeps at most 16 channels for the next ones (so at most 16 connections stay open
    at the local service), its own descriptors come back, and after the 4 s idle limit nothing
    is left at the service."""
    svc = CountingService()
    with ServerProcess(tmp_path, {"map_http_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("plain", "http", f"127.0.0.1:{svc.port}", domain="plain.test")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("plain"), "status")
                loop = asyncio.get_running_loop()
                base = srv.fds()

                def churn() -> list[bytes]:
                    answers = []
                    for wave in range(8):
                        socks = [socket.create_connection(srv.addr("http"), 5) for _ in range(50)]
                        for s in socks:
                            s.sendall(b"GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n")
                        for i, s in enumerate(socks):
                            s.settimeout(5)
                            data = b""
                            while not data.endswith(b"ok"):
                                chunk = s.recv(4096)
                                if not chunk:
                                    break
                                data += chunk
                            answers.append(data.split(b"\r\n", 1)[0])
                            if i % 2:
                                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            s.close()
                    return answers

                answers = await loop.run_in_executor(None, churn)
                assert answers == [b"HTTP/1.1 200 OK"] * 400
                assert svc.requests == 400
                fds = await loop.run_in_executor(None, settle, srv.fds, lambda n: n <= base + 2)
                assert fds <= base + 2
                # (the ones not kept close at once; the kept ones stay up to 4 s: at most 16 of them)
                opened = await loop.run_in_executor(None, settle, lambda: svc.open, lambda n: n <= 16, 1.5)
                assert opened <= 16, opened
                await until(lambda: svc.open == 0, "every kept connection released", timeout=15)
                code, out, err = await curl("-H", "Host: plain.test", "http://%s:%d/" % srv.addr("http"))
                assert out == "ok", err
            finally:
                await cli.stop()

        run(main(), 150)


def test_slowloris_is_cut_by_the_head_timeout(tmp_path) -> None:
    svc = CountingService()
    with ServerProcess(tmp_path, {"map_http_bind": "127.0.0.1:0", "http_head_timeout": 2.0}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("w", "http", f"127.0.0.1:{svc.port}", domain="w.test")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("w"), "status")
                loop = asyncio.get_running_loop()
                base = srv.fds()
                slow = await loop.run_in_executor(None, many_sockets, 200, srv.addr("http"), b"G")
                assert srv.fds() >= base + 150
                t0 = time.monotonic()
                for _ in range(6):  # one byte per half second: never a complete head
                    for s in slow:
                        try:
                            s.send(b"E")
                        except OSError:
                            pass
                    await asyncio.sleep(0.5)
                    code, out, _ = await curl("-H", "Host: w.test", "http://%s:%d/" % srv.addr("http"), max_time=5)
                    assert out == "ok"  # others are served meanwhile
                cut = sum(closed_by_peer(s, 1) for s in slow)
                assert cut == len(slow), f"{cut} of {len(slow)} slow connections closed after {time.monotonic() - t0:.1f} s"
                for s in slow:
                    s.close()
                fds = await loop.run_in_executor(None, settle, srv.fds, lambda n: n <= base + 2)
                assert fds <= base + 2
            finally:
                await cli.stop()

        run(main(), 120)


# ------------------------------------------------------------------ proxy mappings

def test_proxy_mapping_is_no_open_relay_into_the_clients_network(tmp_path) -> None:
    svc = CountingService()
    with ServerProcess(tmp_path, {"map_proxy_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            proxy = "http://%s:%d" % srv.addr("proxy")
            target = f"http://127.0.0.1:{svc.port}/secret"
            cli = _client(srv, [MappingConfig("p", "proxy")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("p"), "status")
                code, out, err = await curl("-x", proxy, "-w", "%{http_code}", "-o", "/dev/null", target)
                assert out == "403", (out, err)
                code, out, err = await curl("--socks5", "%s:%d" % srv.addr("proxy"), target)
                assert code != 0 and svc.requests == 0
                for meta in ("169.254.169.254", "[::1]", "0.0.0.0"):
                    code, out, err = await curl("-x", proxy, "-w", "%{http_code}", "-o", "/dev/null",
                                                f"http://{meta}:{svc.port}/", max_time=5)
                    assert out == "403", (meta, out, err)
                assert svc.requests == 0
            finally:
                await cli.stop()
            # allowed by name, and behind credentials
            cli = _client(srv, [MappingConfig("p", "proxy", allow_targets=[f"127.0.0.1:{svc.port}"],
                                              username="pu", password="pp")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("p"), "status")
                code, out, err = await curl("-x", proxy, "-w", "%{http_code}", "-o", "/dev/null", target)
                assert out == "407", (out, err)
                code, out, err = await curl("-x", proxy, "--proxy-user", "pu:pp", target)
                assert out == "ok" and svc.requests == 1, err
            finally:
                await cli.stop()

        run(main(), 90)


# ------------------------------------------------------------------ sockets closed for real, resets

class DownloadService(ThreadedService):
    """Sends ``size`` bytes on every connection; with ``reset_after``, a reset after that many."""

    def __init__(self, size: int = 64 << 20, reset_after: int | None = None) -> None:
        self.size, self.reset_after = size, reset_after
        super().__init__()

    def serve(self, c: socket.socket) -> None:
        block = os.urandom(1 << 16)
        sent = 0
        c.settimeout(120)
        while sent < self.size:
            if self.reset_after is not None and sent >= self.reset_after:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # closed with RST
            c.sendall(block)
            sent += len(block)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)


def start_downloads(srv: ServerProcess, n: int) -> list[socket.socket]:
    """``n`` public clients whose transfers are running (and then stall: nobody reads on)."""
    conns = [socket.create_connection(srv.addr("tcp"), 5) for _ in range(n)]
    for c in conns:
        c.settimeout(10)
        c.recv(65536)
    return conns


def test_kill_9_of_the_server_leaves_no_connection_to_the_local_service(tmp_path) -> None:
    svc = DownloadService()
    with ServerProcess(tmp_path, {"map_tcp_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("dl", "tcp", f"127.0.0.1:{svc.port}")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("dl"), "status")
                conns = await asyncio.get_running_loop().run_in_executor(None, start_downloads, srv, 50)
                await until(lambda: svc.open == 50, "50 transfers")
                srv.kill9()
                await until(lambda: svc.open == 0, "every local connection closed", timeout=20)
                for c in conns:
                    c.close()
            finally:
                await cli.stop()

        run(main(), 90)


def test_aborted_downloads_leave_no_connection_to_the_local_service(tmp_path) -> None:
    svc = DownloadService()
    with ServerProcess(tmp_path, {"map_tcp_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("dl", "tcp", f"127.0.0.1:{svc.port}")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("dl"), "status")
                conns = await asyncio.get_running_loop().run_in_executor(None, start_downloads, srv, 30)
                await until(lambda: svc.open == 30, "30 transfers")
                for c in conns:  # the public clients give up mid-transfer, with a reset
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                await until(lambda: svc.open == 0, "every local connection closed", timeout=20)
                assert cli.link is not None and cli.state == "connected"
            finally:
                await cli.stop()

        run(main(), 90)


@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_a_reset_by_the_local_service_reaches_the_public_client_as_a_reset(tmp_path, mode) -> None:
    svc = DownloadService(size=64 << 20, reset_after=2 << 20)
    if mode == "http":  # an HTTP head before the body, then the reset mid-body
        real = svc.serve

        def serve(c: socket.socket) -> None:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n")
            real(c)

        svc.serve = serve  # type: ignore[method-assign]
    with ServerProcess(tmp_path, {"map_tcp_bind": "127.0.0.1:0", "map_http_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("dl", mode, f"127.0.0.1:{svc.port}", domain="dl.test")])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("dl"), "status")

                def download() -> tuple[int, str]:
                    got = 0
                    try:  # under load the whole transfer and its reset can beat connect()'s return
                        c = socket.create_connection(srv.addr(mode), 5)
                    except ConnectionResetError:
                        return got, "reset"
                    with c:
                        c.settimeout(20)
                        if mode == "http":
                            c.sendall(b"GET /big HTTP/1.1\r\nHost: dl.test\r\n\r\n")
                        try:
                            while chunk := c.recv(1 << 16):
                                got += len(chunk)
                        except ConnectionResetError:
                            return got, "reset"
                    return got, "clean end"

                got, how = await asyncio.get_running_loop().run_in_executor(None, download)
                assert how == "reset", f"{got} bytes, then a {how}: a truncated transfer must not look complete"
                assert got < 64 << 20
            finally:
                await cli.stop()

        run(main(), 90)


class ResetAtOnce(ThreadedService):
    """Accepts and resets at once: under load the client's connect() itself reports the reset."""

    def serve(self, c: socket.socket) -> None:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("service", ["refused", "reset at once"])
def test_an_unreachable_local_service_reaches_a_tcp_public_client_as_a_reset(tmp_path, service) -> None:
    """A tcp mapping whose local service cannot be reached: its public clients see a reset (as
    they would connecting to the service directly), never an empty stream that ends cleanly."""
    if service == "refused":
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        target = "127.0.0.1:%d" % probe.getsockname()[1]  # bound, never listening: refused
    else:
        target = "127.0.0.1:%d" % ResetAtOnce().port
    with ServerProcess(tmp_path, {"map_tcp_bind": "127.0.0.1:0"}) as srv:
        async def main() -> None:
            cli = _client(srv, [MappingConfig("svc", "tcp", target)])
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("svc"), "status")

                def attempt() -> str:
                    try:
                        with socket.create_connection(srv.addr("tcp"), 5) as c:
                            c.settimeout(10)
                            return "clean end" if c.recv(1) == b"" else "data"
                    except ConnectionResetError:
                        return "reset"

                loop = asyncio.get_running_loop()
                seen = [await loop.run_in_executor(None, attempt) for _ in range(20)]
                assert seen == ["reset"] * 20, seen
            finally:
                await cli.stop()

        run(main(), 90)


# ------------------------------------------------------------------ a server that never answers

def test_a_proxy_request_through_a_silent_server_fails_within_20_s(tmp_path) -> None:
    async def main() -> None:
        async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while await r.read(65536):
                pass  # swallows everything, answers nothing

        black_hole = await asyncio.start_server(silent, "127.0.0.1", 0)
        from core.config import ProxyListenerConfig

        cli = CenterClient(ClientConfig(server="127.0.0.1:%d" % black_hole.sockets[0].getsockname()[1],
                                        username=USER, password=PASSWORD,
                                        proxies=[ProxyListenerConfig(bind="127.0.0.1:0")]))
        await cli.start()
        try:
            await cli.wait_connected(10)  # taken for a legacy server after a silent second
            port = cli.addresses["proxy"][1]
            t0 = time.monotonic()
            code, out, err = await curl("-x", f"http://127.0.0.1:{port}", "-w", "%{http_code}", "-o", "/dev/null",
                                        "http://example.test/", max_time=40)
            took = time.monotonic() - t0
            assert out == "504" and took < 20, (out, err, took)
            await until(lambda: cli.state == "connected", "reconnected", timeout=10)
            t0 = time.monotonic()
            code, out, err = await curl("--socks5-hostname", f"127.0.0.1:{port}", "http://example.test/", max_time=40)
            assert code != 0 and time.monotonic() - t0 < 20, (code, err)
        finally:
            await cli.stop()
            black_hole.close()

    run(main(), 120)
