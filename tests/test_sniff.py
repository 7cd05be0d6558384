"""The client's best-effort guess of a forwarded proxy request's target (shown in the traffic view)."""
from __future__ import annotations

import pytest

from core import socks5
from core.client import sniff_target


@pytest.mark.parametrize("data, target", [
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "example.com:443"),
    (b"GET http://example.com:8080/x HTTP/1.1\r\n\r\n", "example.com:8080"),
    (socks5.client_request("127.0.0.1", 80), "127.0.0.1:80"),
    (socks5.client_request("example.org", 443), "example.org:443"),
    (socks5.client_request("::1", 8080), "[::1]:8080"),
    (socks5.client_greeting(), ""),  # the greeting names no target yet
    (b"GET /relative HTTP/1.1\r\n\r\n", ""),
    (b"\x05\x01\x00\x03\x20short", ""),  # truncated domain: no guess, no exception
])
def test_sniff_target(data: bytes, target: str) -> None:
    assert sniff_target(data) == target
