"""SOCKS5 server state machine (RFC 1928/1929), pure bytes in and out."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import socks5
from core.socks5 import Socks5Error, Socks5Request, Socks5Server, build_reply, parse_reply

pytestmark = pytest.mark.timeout(60)


def check(u: str, p: str) -> bool:
    return (u, p) == ("alice", "s3cret")


def run_all(sm: Socks5Server, data: bytes) -> tuple[Socks5Request | None, bytes]:
    req = sm.feed(data)
    return req, sm.take_output()


def test_no_auth_connect_ipv4() -> None:
    sm = Socks5Server()
    req, out = run_all(sm, socks5.client_greeting((0,)) + socks5.client_request("127.0.0.1", 8080) + b"early")
    assert out == b"\x05\x00"
    assert req == Socks5Request(1, "127.0.0.1", 8080, socks5.ATYP_IPV4)
    assert sm.rest == b"early"


def test_ipv6_and_domain_requests() -> None:
    sm = Socks5Server()
    sm.feed(b"\x05\x01\x00")
    req = sm.feed(b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + b"\x00\x50")
    assert req is not None and (req.host, req.port, req.atyp) == ("::1", 80, socks5.ATYP_IPV6)
    sm = Socks5Server()
    sm.feed(b"\x05\x01\x00")
    req = sm.feed(b"\x05\x01\x00\x03\x0bexample.com\x01\xbb")
    assert req is not None and (req.host, req.port, req.atyp) == ("example.com", 443, socks5.ATYP_DOMAIN)


def test_byte_at_a_time() -> None:
    data = socks5.client_greeting((0, 2)) + socks5.client_auth("alice", "s3cret") + socks5.client_request("h.test", 1)
    sm = Socks5Server(check)
    out = b""
    req = None
    for i in range(len(data)):
        assert req is None
        req = sm.feed(data[i : i + 1])
        out += sm.take_output()
    assert out == b"\x05\x02\x01\x00"
    assert req is not None and req.host == "h.test" and req.username == "alice"


def test_userpass_wrong_password() -> None:
    sm = Socks5Server(check)
    assert sm.feed(b"\x05\x01\x02") is None
    assert sm.take_output() == b"\x05\x02"
    with pytest.raises(Socks5Error) as ei:
        sm.feed(socks5.client_auth("alice", "wrong"))
    assert ei.value.reply == b"\x01\x01"
    assert "wrong username or password" in str(ei.value) and "wrong" not in str(ei.value).split("user")[-1]
    with pytest.raises(Socks5Error):  # nothing more after a failure
        sm.feed(b"x")


def test_auth_required_but_not_offered() -> None:
    sm = Socks5Server(check)
    with pytest.raises(Socks5Error) as ei:
        sm.feed(b"\x05\x01\x00")
    assert ei.value.reply == b"\x05\xff"


def test_no_acceptable_methods() -> None:
    for greeting in (b"\x05\x00", b"\x05\x01\x01", b"\x05\x02\x01\x80"):
        with pytest.raises(Socks5Error) as ei:
            Socks5Server().feed(greeting)
        assert ei.value.reply == b"\x05\xff", greeting


def test_open_proxy_accepts_userpass_only_clients() -> None:
    sm = Socks5Server()
    sm.feed(b"\x05\x01\x02")
    assert sm.take_output() == b"\x05\x02"
    sm.feed(socks5.client_auth("any", "thing"))
    assert sm.take_output() == b"\x01\x00"


def test_bad_version_and_truncated_greeting() -> None:
    with pytest.raises(Socks5Error) as ei:
        Socks5Server().feed(b"\x04\x01\x00\x50")
    assert ei.value.reply == b""
    sm = Socks5Server()
    assert sm.feed(b"\x05") is None
    assert sm.feed(b"\x03\x00") is None  # says 3 methods, sent 1
    assert sm.take_output() == b""
    with pytest.raises(Socks5Error):
        Socks5Server().feed(b"\x05\x01\x00\x04\x01\x00\x01")  # bad request version


def test_bad_auth_version() -> None:
    sm = Socks5Server(check)
    sm.feed(b"\x05\x01\x02")
    with pytest.raises(Socks5Error) as ei:
        sm.feed(b"\x05\x05alice")
    assert ei.value.reply == b"\x01\x01"


@pytest.mark.parametrize("cmd", [socks5.CMD_BIND, socks5.CMD_UDP_ASSOCIATE, 0x09])
def test_unsupported_commands(cmd: int) -> None:
    sm = Socks5Server()
    sm.feed(b"\x05\x01\x00")
    with pytest.raises(Socks5Error) as ei:
        sm.feed(socks5.client_request("1.2.3.4", 53, cmd))
    assert ei.value.reply[:2] == b"\x05\x07"
    assert "not supported" in str(ei.value)


def test_bad_address_type() -> None:
    sm = Socks5Server()
    sm.feed(b"\x05\x01\x00")
    with pytest.raises(Socks5Error) as ei:
        sm.feed(b"\x05\x01\x00\x07\x00\x00")
    assert ei.value.reply[:2] == b"\x05\x08"


def test_bad_domain() -> None:
    for raw in (b"", b"a\r\nb", b"\xff\xfe"):
        sm = Socks5Server()
        sm.feed(b"\x05\x01\x00")
        with pytest.raises(Socks5Error) as ei:
            sm.feed(b"\x05\x01\x00\x03" + bytes((len(raw),)) + raw + b"\x00\x50")
        assert ei.value.reply[:2] == b"\x05\x04", raw


@pytest.mark.parametrize(
    "code",
    [
        socks5.SUCCEEDED,
        socks5.GENERAL_FAILURE,
        socks5.NOT_ALLOWED,
        socks5.NETWORK_UNREACHABLE,
        socks5.HOST_UNREACHABLE,
        socks5.CONNECTION_REFUSED,
        socks5.TTL_EXPIRED,
        socks5.COMMAND_NOT_SUPPORTED,
        socks5.ADDRESS_TYPE_NOT_SUPPORTED,
    ],
)
def test_reply_builder_round_trip(code: int) -> None:
    for host, port, atyp in (("0.0.0.0", 0, 1), ("10.1.2.3", 1080, 1), ("2001:db8::1", 443, 4), ("h.example", 7, 3)):
        raw = build_reply(code, host, port)
        assert raw[0] == 5 and raw[1] == code and raw[2] == 0 and raw[3] == atyp
        parsed = parse_reply(raw + b"tail")
        assert parsed == (code, host, port, len(raw))
        assert parse_reply(raw[:-1]) is None
    assert code in socks5.REPLY_TEXT


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8), st.booleans())
def test_fuzz_feed_fails_only_with_socks5_error(pieces: list[bytes], auth: bool) -> None:
    sm = Socks5Server(check if auth else None)
    for p in [b"\x05"] + pieces:
        try:
            req = sm.feed(p)
        except Socks5Error as e:
            assert len(e.reply) <= 22
            return
        assert len(sm.buf) <= 2 + 255 + 3 + 255 + 255 + 300  # bounded by the protocol, never more
        if req is not None:
            assert 0 <= req.port <= 65535 and req.host
            return
