"""core/proxy_protocol.py: the PROXY protocol codec, against the headers a real HAProxy writes."""
from __future__ import annotations

import socket
import threading

import pytest

from _haproxy import HAProxy
from core import proxy_protocol as PP

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("src, dst", [("203.0.113.7:40000", "198.51.100.1:443"),
                                      ("[2001:db8::7]:40000", "[2001:db8::1]:443")])
def test_encode_then_parse_round_trips(version, src, dst) -> None:
    raw = PP.encode(version, src, dst) + b"payload"
    header, used = PP.parse(raw)
    assert raw[used:] == b"payload" and header.version == version
    strip = lambda a: (a.rpartition(":")[0].strip("[]"), int(a.rpartition(":")[2]))  # noqa: E731
    assert (header.src, header.dst) == (strip(src), strip(dst))
    for cut in range(1, used):  # every strict prefix: "need more", never an error
        assert PP.parse(raw[:cut]) is None


def test_unknown_addresses_become_local_or_unknown() -> None:
    assert PP.encode(1, "unknown", "") == b"PROXY UNKNOWN\r\n"
    assert PP.parse(PP.encode(2, "", "1.2.3.4:5"))[0] == PP.ProxyHeader(None, None, 2)
    assert PP.parse(PP.encode(2, "1.2.3.4:5", "[::1]:5"))[0].src is None  # mixed families: said as LOCAL
    assert PP.encode(1, "[::ffff:1.2.3.4]:5", "5.6.7.8:9") == b"PROXY TCP4 1.2.3.4 5.6.7.8 5 9\r\n"


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n",
    b"PROXY TCP4 ::1 5.6.7.8 1 80\r\n",
    b"PROXY TCP5 1.2.3.4 5.6.7.8 1 80\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 80\r\n",
    b"PROXY " + b"x" * 120,
    PP.V2_SIGNATURE + bytes((0x31, 0x11, 0, 12)) + bytes(12),  # version 3
    PP.V2_SIGNATURE + bytes((0x22, 0x11, 0, 12)) + bytes(12),  # command 2
    PP.V2_SIGNATURE + bytes((0x21, 0x11, 0, 4)) + bytes(4),  # too short for IPv4 addresses
    PP.V2_SIGNATURE + bytes((0x21, 0x11, 0xFF, 0xFF)),  # 64 KiB of TLVs: more than we take
    b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c",
])
def test_malformed_headers_are_refused(raw) -> None:
    with pytest.raises(PP.ProxyProtocolError):
        PP.parse(raw)


def _record_first_bytes() -> tuple[socket.socket, list[bytes]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    got: list[bytes] = []

    def loop() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.settimeout(3)
            data = b""
            try:
                while len(data) < 200:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    if data.endswith(b"hello"):
                        break
            except OSError:
                pass
            got.append(data)
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv, got


def test_headers_written_by_haproxy_parse_to_the_real_client(tmp_path) -> None:
    rec, got = _record_first_bytes()
    port = rec.getsockname()[1]
    cfg = f"""
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend v1
  bind 127.0.0.1:{{port:front_v1}}
  default_backend v1
backend v1
  server s 127.0.0.1:{port} send-proxy
frontend v2
  bind 127.0.0.1:{{port:front_v2}}
  default_backend v2
backend v2
  server s 127.0.0.1:{port} send-proxy-v2
"""
    with HAProxy(tmp_path, cfg) as h:
        for name, version in (("front_v1", 1), ("front_v2", 2)):
            with socket.create_connection(("127.0.0.1", h.port(name)), 5, source_address=("127.0.0.2", 0)) as c:
                me = c.getsockname()
                c.sendall(b"hello")
                for _ in range(100):
                    if len(got) == version:
                        break
                    threading.Event().wait(0.05)
            header, used = PP.parse(got[-1])
            assert header.version == version
            assert header.src == ("127.0.0.2", me[1]) and header.dst == ("127.0.0.1", h.port(name))
            assert got[-1][used:] == b"hello"
    rec.close()
