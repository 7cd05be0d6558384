"""Several servers behind a real HAProxy, one client linked to all of them, and real client
addresses end to end (PROXY protocol in from the balancer, out to the local service)."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from _cli_util import free_port_block
from _edge import PASSWORD, USER, ServerProcess
from _haproxy import HAProxy
from _util import ThreadedService, curl, run, until
from core import proxy_protocol as PP
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, parse_header_rule

pytestmark = pytest.mark.timeout(180)


class RecordingService(ThreadedService):
    """Local service: an HTTP answer naming X-Real-IP, or, for raw connections, the PROXY header
    it received (then an echo); records every client address it was told about."""

    def __init__(self, expect_proxy_header: bool = False) -> None:
        self.expect = expect_proxy_header
        self.seen: list[str] = []
        super().__init__()

    def serve(self, c: socket.socket) -> None:
        buf = b""
        c.settimeout(10)
        while data := c.recv(65536):
            buf += data
            if self.expect:
                got = PP.parse(buf)
                if got is None:
                    continue
                header, used = got
                src = f"{header.src[0]}:{header.src[1]}" if header.src else "LOCAL"
                self.seen.append(src)
                c.sendall(f"pp {src}\n".encode() + buf[used:])
                while rest := c.recv(65536):  # then echo
                    c.sendall(rest)
                return
            while b"\r\n\r\n" in buf:
                head, buf = buf.split(b"\r\n\r\n", 1)
                ip = next((ln.split(b":", 1)[1].strip().decode() for ln in head.split(b"\r\n")
                           if ln.lower().startswith(b"x-real-ip:")), "?")
                self.seen.append(ip)
                body = f"from {ip}".encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def server_config(base: int) -> dict:
    return {"bind": f"127.0.0.1:{base}", "map_http_bind": f"127.0.0.1:{base + 1}",
            "map_tcp_bind": f"127.0.0.1:{base + 2}", "trusted_proxies": ["127.0.0.1"]}


HAPROXY = """
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 500ms
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
frontend web
  bind 127.0.0.1:{port:front_web}
  default_backend web
backend web
  balance roundrobin
  server a 127.0.0.1:%(a_http)d send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
  server b 127.0.0.1:%(b_http)d send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
frontend tcp
  bind 127.0.0.1:{port:front_tcp}
  default_backend tcp
backend tcp
  balance roundrobin
  server a 127.0.0.1:%(a_tcp)d send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
  server b 127.0.0.1:%(b_tcp)d send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
"""


def test_two_servers_behind_haproxy_survive_a_kill_and_see_real_client_addresses(tmp_path) -> None:
    web = RecordingService()
    pp = RecordingService(expect_proxy_header=True)
    a_base, b_base = free_port_block(3), free_port_block(3)
    a = ServerProcess(tmp_path / "a", server_config(a_base))
    b = ServerProcess(tmp_path / "b", server_config(b_base))
    with a, b, HAProxy(tmp_path, HAPROXY % {"a_http": a_base + 1, "b_http": b_base + 1, "a_tcp": a_base + 2,
                                            "b_tcp": b_base + 2}) as lb:
        async def main() -> None:
            cli = CenterClient(ClientConfig(
                server=[f"127.0.0.1:{a_base}", f"127.0.0.1:{b_base}"], username=USER, password=PASSWORD,
                reconnect_min=0.2, reconnect_max=0.5,
                mappings=[MappingConfig("web", "http", f"127.0.0.1:{web.port}", domain="app.test",
                                        headers=[parse_header_rule("proxy x-real-ip {client_ip}")]),
                          MappingConfig("raw", "tcp", f"127.0.0.1:{pp.port}", proxy_protocol="v2")]))
            per_link: dict[str, int] = {}
            cli.stats.subscribe(lambda ev, rec: per_link.__setitem__(rec.link, per_link.get(rec.link, 0) + 1)
                                if ev in ("channel_open", "channel_again") and rec.kind == "mapping" else None)
            await cli.start()
            try:
                await until(lambda: all(u.connected and u.mapping_status for u in cli.uplinks), "both links", 15)
                assert all(st.ok for u in cli.uplinks for st in u.mapping_status.values())
                url = f"http://127.0.0.1:{lb.port('front_web')}/"
                # 200 requests through HAProxy, round-robin over both servers
                ok = 0
                for _ in range(20):
                    code, out, err = await curl(*(["-H", "Host: app.test", "-w", "%{http_code}\n"]
                                                  + ["-o", "/dev/null", url] * 10), max_time=20)
                    ok += out.split().count("200")
                assert ok == 200
                assert len([n for n in per_link.values() if n >= 5]) == 2, per_link  # both servers served
                # the real client address: {client_ip} on the http mapping, PROXY v2 on the tcp mapping
                code, out, err = await curl("--interface", "127.0.0.2", "-H", "Host: app.test", url)
                assert out == "from 127.0.0.2", (out, err)

                def raw_via_lb() -> bytes:
                    with socket.create_connection(("127.0.0.1", lb.port("front_tcp")), 5,
                                                  source_address=("127.0.0.2", 0)) as s:
                        s.settimeout(5)
                        line = s.recv(100)
                        s.sendall(b"echo me")
                        return line + s.recv(100)

                loop = asyncio.get_running_loop()
                got = await loop.run_in_executor(None, raw_via_lb)
                assert got.startswith(b"pp 127.0.0.2:") and got.endswith(b"echo me"), got

                # kill -9 of one server: requests keep succeeding through the other
                a.kill9()
                failures = []
                t0 = time.monotonic()
                for i in range(40):
                    code, out, err = await curl("-H", "Host: app.test", "-o", "/dev/null", "-w", "%{http_code}", url,
                                                max_time=10)
                    if out != "200":
                        failures.append((round(time.monotonic() - t0, 2), out, err.strip()[:80]))
                print("failures after the kill:", failures)
                assert len(failures) <= 5 and all(t < 1.5 for t, *_ in failures), failures
                await until(lambda: not cli.uplinks[0].connected, "the client saw the link to a go", 10)
                assert cli.state == "connected"  # still, through b
                # a comes back: the client's link to it is restored, and it serves again
                a.restart()
                await until(lambda: cli.uplinks[0].connected and cli.uplinks[0].mapping_status, "link to a back", 20)
                per_link.clear()
                await asyncio.sleep(1.5)  # HAProxy's health check: rise 2 x 300 ms
                for _ in range(4):
                    code, out, err = await curl(*(["-H", "Host: app.test", "-w", "%{http_code}\n"]
                                                  + ["-o", "/dev/null", url] * 10), max_time=20)
                    assert out.split().count("200") == 10, (out, err)
                assert len(per_link) == 2, per_link
            finally:
                await cli.stop()

        run(main(), 150)


def test_a_proxy_header_from_an_untrusted_address_is_not_believed(tmp_path) -> None:
    web = RecordingService()
    base = free_port_block(3)
    with ServerProcess(tmp_path, server_config(base)) as srv:
        async def main() -> None:
            cli = CenterClient(ClientConfig(server=f"127.0.0.1:{base}", username=USER, password=PASSWORD,
                                            mappings=[MappingConfig("web", "http", f"127.0.0.1:{web.port}",
                                                                    domain="app.test", headers=[
                                                                        parse_header_rule("proxy x-real-ip {client_ip}")])]))
            await cli.start()
            try:
                await cli.wait_connected(10)
                await until(lambda: cli.mapping_status.get("web"), "status")

                def spoof(source: str) -> bytes:
                    with socket.create_connection(("127.0.0.1", base + 1), 5, source_address=(source, 0)) as s:
                        s.sendall(b"PROXY TCP4 1.2.3.4 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
                        s.settimeout(5)
                        out = b""
                        try:
                            while chunk := s.recv(4096):
                                out += chunk
                        except OSError:
                            pass
                        return out

                loop = asyncio.get_running_loop()
                # 127.0.0.2 is not a trusted balancer: its "PROXY" line is just a bad request
                out = await loop.run_in_executor(None, spoof, "127.0.0.2")
                assert out.startswith(b"HTTP/1.1 400"), out
                # the trusted balancer's header is believed
                out = await loop.run_in_executor(None, spoof, "127.0.0.1")
                assert out.endswith(b"from 1.2.3.4"), out
                # a trusted peer without a header is dropped (and logged)
                def bare() -> bytes:
                    with socket.create_connection(("127.0.0.1", base + 1), 5) as s:
                        s.sendall(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
                        s.settimeout(5)
                        try:
                            return s.recv(4096)
                        except OSError:
                            return b"(reset)"
                assert await loop.run_in_executor(None, bare) in (b"", b"(reset)")
                assert web.seen == ["1.2.3.4"]
            finally:
                await cli.stop()

        run(main(), 60)
    assert any("dropping a connection from balancer" in ln for ln in srv.stderr())
