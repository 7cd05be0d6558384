"""Target policy: rule syntax, defaults, precedence, resolution and dialing."""
from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from _util import EchoServer, run

from core.errors import ConfigError, WmproxyError
from core.policy import DialError, TargetDenied, TargetPolicy, classify, dial, parse_rule

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "127.9.9.9", "::1", "169.254.169.254", "0.0.0.0", "::", "::ffff:127.0.0.1",
     "::ffff:169.254.169.254", "fe80::1", "[::1]"],
)
def test_defaults_deny_local_targets(ip: str) -> None:
    p = TargetPolicy()
    assert not p.check(ip, 80)
    assert "denied by default" in (p.why_denied(ip, 80) or "")


@pytest.mark.parametrize("ip", ["93.184.216.34", "10.0.0.1", "2001:db8::1", "::ffff:8.8.8.8"])
def test_defaults_allow_other_targets(ip: str) -> None:
    assert TargetPolicy().check(ip, 443)


def test_default_deny_can_be_switched_off() -> None:
    assert TargetPolicy(default_deny=False).check("127.0.0.1", 80)


def test_allow_overrides_default_and_restricts_the_rest() -> None:
    p = TargetPolicy(allow=["127.0.0.1:8080", "10.0.0.0/8:1000-2000"])
    assert p.check("127.0.0.1", 8080)
    assert p.check("::ffff:127.0.0.1", 8080)  # mapped form is the same address
    assert not p.check("127.0.0.1", 8081)
    assert p.check("10.2.3.4", 1000) and p.check("10.2.3.4", 2000)
    assert not p.check("10.2.3.4", 999) and not p.check("10.2.3.4", 2001)
    assert p.why_denied("8.8.8.8", 53) == "not in allow_targets"
    assert p.why_denied("127.0.0.2", 8080) == "denied by default (loopback)"


def test_explicit_deny_beats_allow() -> None:
    p = TargetPolicy(allow=["10.0.0.0/8"], deny=["10.1.0.0/16", "10.2.0.0/16:22"])
    assert p.check("10.3.0.1", 22)
    assert not p.check("10.1.2.3", 80)
    assert p.why_denied("10.1.2.3", 80) == "denied by rule '10.1.0.0/16'"
    assert not p.check("10.2.0.1", 22) and p.check("10.2.0.1", 23)
    q = TargetPolicy(deny=["203.0.113.0/24"])  # deny only: everything else passes
    assert not q.check("203.0.113.5", 1) and q.check("198.51.100.1", 1)


def test_ipv6_rule_syntax() -> None:
    p = TargetPolicy(allow=["::1", "[fe80::/10]:443", "[2001:db8::/32]:8000-8001"], default_deny=True)
    assert p.check("::1", 1) and p.check("::1", 65535)
    assert p.check("fe80::abcd", 443) and not p.check("fe80::abcd", 80)
    assert p.check("2001:db8:1::5", 8001) and not p.check("2001:db8:1::5", 8002)
    assert not p.check("2001:db9::1", 8000)
    assert not p.check("127.0.0.1", 1)  # v6 loopback rule does not cover v4
    [r] = parse_rule("[::1/128]:80")
    assert (str(r.network), r.low, r.high) == ("::1/128", 80, 80)
    [m] = parse_rule("::ffff:10.0.0.0/104")  # mapped networks become IPv4 networks
    assert str(m.network) == "10.0.0.0/8"


def test_star_rules() -> None:
    p = TargetPolicy(allow=["*:443"], default_deny=False)
    assert p.check("1.2.3.4", 443) and p.check("2001:db8::1", 443)
    assert not p.check("1.2.3.4", 80)
    assert len(parse_rule("*")) == 2


@pytest.mark.parametrize(
    "bad",
    ["", "example.com", "10.0.0.0/33", "10.0.0.1:", "10.0.0.1:70000", "10.0.0.1:90-80", "10.0.0.1:a",
     "[::1", "[::1]80", "[::1]:", "1.2.3.4:1:2", "::1:80x"],
)
def test_bad_rules_raise_config_error_naming_the_rule(bad: str) -> None:
    with pytest.raises(ConfigError) as ei:
        TargetPolicy(allow=[bad])
    if bad:
        assert repr(bad) in str(ei.value)


def test_errors_are_wmproxy_errors() -> None:
    assert issubclass(TargetDenied, WmproxyError) and issubclass(TargetDenied, DialError)


def test_resolve_literal_and_name_to_loopback_denied(caplog: pytest.LogCaptureFixture) -> None:
    p = TargetPolicy()
    assert run(p.resolve("93.184.216.34", 80)) == [(socket.AF_INET, "93.184.216.34")]
    assert run(p.resolve("[2001:db8::1]", 80)) == [(socket.AF_INET6, "2001:db8::1")]
    with caplog.at_level(logging.INFO, logger="wmproxy.policy"):
        with pytest.raises(TargetDenied) as ei:
            run(p.resolve("localhost", 80))
    assert "denied by default (loopback)" in str(ei.value)
    lines = [r.getMessage() for r in caplog.records if r.name == "wmproxy.policy"]
    assert lines == ["refused target localhost:80 (127.0.0.1): denied by default (loopback)"]
    allowed = TargetPolicy(allow=["127.0.0.0/8"])
    assert run(allowed.resolve("localhost", 80)) == [(socket.AF_INET, "127.0.0.1")]


def test_resolve_unknown_name_is_dns_error() -> None:
    with pytest.raises(DialError) as ei:
        run(dial("no-such-host.invalid", 80, TargetPolicy(), timeout=5))
    assert classify(ei.value)[0] == "dns"


def test_dial_checks_policy_and_connects() -> None:
    srv = EchoServer().start()
    try:
        host, port = srv.address
        with pytest.raises(TargetDenied):
            run(dial(host, port, TargetPolicy()))

        async def roundtrip(policy: TargetPolicy | None) -> bytes:
            s = await dial("localhost", port, policy)
            s.write(b"ping")
            await s.drain()
            data = await s.read()
            s.close()
            return data

        assert run(roundtrip(TargetPolicy(allow=[f"127.0.0.1:{port}"]))) == b"ping"
        assert run(roundtrip(None)) == b"ping"
    finally:
        srv.stop()


def test_dial_refused_is_classified() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    with pytest.raises(OSError) as ei:
        run(dial("127.0.0.1", port, None))
    assert classify(ei.value) == ("refused", "connection refused")


def test_classify_kinds() -> None:
    assert classify(TargetDenied("x"))[0] == "denied"
    assert classify(asyncio.TimeoutError())[0] == "timeout"
    assert classify(socket.gaierror(-2, "Name or service not known"))[0] == "dns"
    import errno

    assert classify(OSError(errno.ENETUNREACH, "Network is unreachable"))[0] == "network"
    assert classify(OSError(errno.EHOSTUNREACH, "No route to host"))[0] == "host"
    assert classify(RuntimeError("odd"))[0] == "failed"
    assert classify(DialError("custom", "timeout")) == ("timeout", "custom")
