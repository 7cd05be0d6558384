"""core/config.py and core/paths.py: native TOML round trip, validation messages, atomic 0600 saves."""
from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import config as C
from core import paths
from core.config import (
    ClientConfig, ClientTls, Config, MappingConfig, ProxyListenerConfig, ServerConfig, dump_config,
    format_header_rule, load_config, loads_config, parse_addr, parse_header_rule, save_config, validate_config,
)
from core.errors import ConfigError
from core.frames import HeaderOp, HeaderRule

pytestmark = pytest.mark.timeout(60)

FULL = """
[server]
bind = "0.0.0.0:8091"
username = "wmproxy"
password = "s3cret pass"
tls = true
cert_file = "tls/server.crt"
key_file = "tls/server.key"
two_way_tls = true
client_ca = "/etc/wm/ca.pem"
map_http_bind = "0.0.0.0:8001"
map_https_bind = "[::]:8003"
map_tcp_bind = "0.0.0.0:8002"
map_proxy_bind = "127.0.0.1:8004"
map_cert = "/etc/wm/map.crt"
map_key = "/etc/wm/map.key"
proxy_protocols = ["http", "socks5"]
allow_targets = ["10.0.0.0/8", "192.168.1.0/24:8000-8999", "[2001:db8::/32]:443"]
deny_targets = ["10.9.0.0/16:22"]
heartbeat_interval = 5
heartbeat_timeout = 20.5
window = 65536
max_frame = 1048576

[client]
server = "center.example.com:8091"
username = "wmproxy"
password = "wmproxy"
direct = false
heartbeat_interval = 15.0
heartbeat_timeout = 45.0
reconnect_min = 0.5
reconnect_max = 30.0
window = 262144
max_frame = 65536

[client.tls]
enabled = true
server_name = "center.example.com"
ca_file = "/etc/wm/ca.pem"
fingerprint = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
tofu = false
known_hosts = "~/kh"
cert_file = "client.crt"
key_file = "client.key"

[[client.mappings]]
name = "web"
mode = "http"
local_addr = "127.0.0.1:8080"
domain = "web.example.com"
headers = ["proxy x-forward-for {client_ip}", "proxy + from $url", "+ last-modified 'from proxy'", "- etag",
           "? cache-control \\"no-cache, no-store\\""]

[[client.mappings]]
name = "web-tls"
mode = "https"
local_addr = "[::1]:8443"
domain = "web.example.com"

[[client.mappings]]
name = "ssh"
mode = "tcp"
local_addr = "127.0.0.1:22"
remote_port = 2222
enabled = false

[[client.mappings]]
name = "exit"
mode = "proxy"

[[client.proxy]]
name = "local"
bind = "127.0.0.1:8090"
protocols = ["http", "https", "socks5"]

[[client.proxy]]
name = "lan"
bind = "0.0.0.0:1080"
protocols = ["socks5"]
username = "me"
password = "pw"
enabled = false
"""


def full() -> Config:
    return loads_config(FULL, "full.toml", base_dir="/srv/wm")


# ---------------------------------------------------------------- loading and round trip

def test_full_file_maps_onto_dataclasses() -> None:
    cfg = full()
    s, c = cfg.server, cfg.client
    assert s is not None and c is not None
    assert s.bind == "0.0.0.0:8091" and s.password == "s3cret pass" and s.tls and s.two_way_tls
    assert s.cert_file == "/srv/wm/tls/server.crt"  # relative to the config's directory
    assert s.client_ca == "/etc/wm/ca.pem"
    assert s.map_https_bind == "[::]:8003"
    assert s.proxy_protocols == ("http", "socks5")
    assert s.heartbeat_interval == 5.0 and isinstance(s.heartbeat_interval, float)
    assert s.allow_targets[1] == "192.168.1.0/24:8000-8999"
    assert c.server == "center.example.com:8091"
    assert c.tls.server_name == "center.example.com" and c.tls.tofu is False
    assert c.tls.known_hosts == str(Path("~/kh").expanduser())
    assert c.tls.cert_file == "/srv/wm/client.crt"
    assert [m.name for m in c.mappings] == ["web", "web-tls", "ssh", "exit"]
    web = c.mappings[0]
    assert web.headers == [
        HeaderRule(True, HeaderOp.REPLACE, "x-forward-for", "{client_ip}"),
        HeaderRule(True, HeaderOp.ADD, "from", "$url"),
        HeaderRule(False, HeaderOp.ADD, "last-modified", "from proxy"),
        HeaderRule(False, HeaderOp.DEL, "etag", ""),
        HeaderRule(False, HeaderOp.DEFAULT, "cache-control", "no-cache, no-store"),
    ]
    assert c.mappings[2].remote_port == 2222 and c.mappings[2].enabled is False
    assert c.mappings[3].local_addr == ""
    assert [(p.name, p.protocols) for p in c.proxies] == [("local", PROTOS := ("http", "https", "socks5")),
                                                           ("lan", ("socks5",))]
    assert PROTOS == C.PROXY_PROTOCOLS
    assert c.proxies[1].password == "pw"
    assert cfg.source == "full.toml"


def test_dump_load_round_trip() -> None:
    cfg = full()
    text = dump_config(cfg)
    again = loads_config(text, "again.toml")
    assert again.server == cfg.server
    assert again.client == cfg.client
    assert dump_config(again) == text  # stable output


def test_defaults_round_trip_and_empty_file() -> None:
    cfg = Config(server=ServerConfig(bind="127.0.0.1:8091"), client=ClientConfig())
    again = loads_config(dump_config(cfg), "d.toml")
    assert again.server == cfg.server and again.client == cfg.client
    empty = loads_config("", "empty.toml")
    assert empty.server is None and empty.client is None
    assert loads_config("[client]\n", "c.toml").client == ClientConfig()


def test_dump_without_secrets() -> None:
    text = dump_config(full(), secrets=False)
    assert "password" not in text and "s3cret" not in text
    again = loads_config(text, "x.toml")  # a username without password loads: the keyring has it
    assert again.server is not None and again.server.password is None and again.server.username == "wmproxy"
    assert C.missing_secrets(again) == ["server.password", "client.password"]  # proxy "lan" is disabled
    assert again.client is not None
    again.client.proxies[1].enabled = True
    assert C.missing_secrets(again) == ["server.password", "client.password", "client.proxy[1].password"]
    assert C.missing_secrets(full()) == []


def test_repr_never_shows_passwords() -> None:
    cfg = full()
    assert "s3cret" not in repr(cfg)
    assert "'pw'" not in repr(cfg.client)


# ---------------------------------------------------------------- header rules

@pytest.mark.parametrize("text, rule", [
    ("proxy x-forward-for {client_ip}", HeaderRule(True, HeaderOp.REPLACE, "x-forward-for", "{client_ip}")),
    ("proxy + from $url", HeaderRule(True, HeaderOp.ADD, "from", "$url")),
    ("+ last-modified 'from proxy'", HeaderRule(False, HeaderOp.ADD, "last-modified", "from proxy")),
    ('+ last-modified "from proxy"', HeaderRule(False, HeaderOp.ADD, "last-modified", "from proxy")),
    ("- etag", HeaderRule(False, HeaderOp.DEL, "etag", "")),
    ("proxy - cookie", HeaderRule(True, HeaderOp.DEL, "cookie", "")),
    ("? key val", HeaderRule(False, HeaderOp.DEFAULT, "key", "val")),
    ("proxy    ?   key    val", HeaderRule(True, HeaderOp.DEFAULT, "key", "val")),
    ("server wmproxy", HeaderRule(False, HeaderOp.REPLACE, "server", "wmproxy")),
    ("proxy val", HeaderRule(False, HeaderOp.REPLACE, "proxy", "val")),  # 2 words: a header named proxy
    ("+ x-empty ''", HeaderRule(False, HeaderOp.ADD, "x-empty", "")),
])
def test_parse_header_rule(text: str, rule: HeaderRule) -> None:
    assert parse_header_rule(text) == rule
    assert parse_header_rule(format_header_rule(rule)) == rule


def test_format_header_rule_quotes_only_when_needed() -> None:
    assert format_header_rule(HeaderRule(True, HeaderOp.ADD, "from", "$url")) == "proxy + from $url"
    assert format_header_rule(HeaderRule(False, HeaderOp.ADD, "a", "b c")) == "+ a 'b c'"
    assert format_header_rule(HeaderRule(False, HeaderOp.ADD, "a", "it's")) == "+ a \"it's\""
    assert format_header_rule(HeaderRule(False, HeaderOp.DEL, "etag", "")) == "- etag"
    with pytest.raises(ConfigError, match="both"):
        format_header_rule(HeaderRule(False, HeaderOp.ADD, "a", "'\""))


_TCHARS = "!#$%&*+.^_`|~-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@settings(max_examples=300, deadline=None)
@given(is_proxy=st.booleans(), oper=st.sampled_from(list(HeaderOp)),
       key=st.text(alphabet=_TCHARS, min_size=1, max_size=40).filter(lambda k: k not in ("+", "-")),
       val=st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=60)
       .filter(lambda v: not ("'" in v and '"' in v)))
def test_header_rule_text_round_trip(is_proxy: bool, oper: HeaderOp, key: str, val: str) -> None:
    rule = HeaderRule(is_proxy, oper, key, "" if oper is HeaderOp.DEL else val)
    assert parse_header_rule(format_header_rule(rule)) == rule


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("   ", "empty"), ("+ key", "is not"), ("- a b", "is not"), ("key", "is not"),
    ("+ a b c", "is not"), ("+ 'a", "unbalanced"), ("+ bad:name v", "not a header name"),
    ("+ + v", "not a header name"), ("+ k " + "x" * 256, "longer than 255"),
])
def test_parse_header_rule_errors(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_header_rule(text)


# ---------------------------------------------------------------- addresses

@pytest.mark.parametrize("text, listen, expect", [
    ("127.0.0.1:80", False, ("127.0.0.1", 80)),
    ("[::1]:8091", False, ("::1", 8091)),
    ("example.com:65535", False, ("example.com", 65535)),
    ("wmproxy_server_docker:8091", False, ("wmproxy_server_docker", 8091)),
    ("0.0.0.0:0", True, ("0.0.0.0", 0)),
])
def test_parse_addr(text: str, listen: bool, expect: tuple[str, int]) -> None:
    assert parse_addr(text, listen=listen) == expect


@pytest.mark.parametrize("text, listen", [
    ("127.0.0.1", False), ("::1:80", False), ("[::1]80", False), ("[nope]:80", False), ("host:0", False),
    ("host:65536", False), ("host:-1", True), ("host:http", False), (":80", False), ("a b:80", False), ("", True),
])
def test_parse_addr_rejects(text: str, listen: bool) -> None:
    with pytest.raises(ConfigError):
        parse_addr(text, listen=listen)


# ---------------------------------------------------------------- every validation error names file and key

MAP = '[client]\n[[client.mappings]]\nname = "a"\nmode = "http"\nlocal_addr = "127.0.0.1:80"\ndomain = "a.test"\n'
SRV = '[server]\nbind = "127.0.0.1:8091"\n'

BAD = [
    # (toml text, key, words in the problem)
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "htp"\n', "client.mappings[1].mode",
     "'htp' is not one of http, https, tcp, proxy"),
    (MAP + '[[client.mappings]]\nname = "a"\nmode = "tcp"\nlocal_addr = "h:1"\n', "client.mappings[1].name",
     "already the name of mappings[0]"),
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "http"\nlocal_addr = "h:1"\ndomain = "A.test"\n',
     "client.mappings[1].domain", "already routed to http mapping 'a'"),
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "tcp"\n', "client.mappings[1].local_addr", "missing"),
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "tcp"\nlocal_addr = "h:99999"\n',
     "client.mappings[1].local_addr", "out of range"),
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "tcp"\nlocal_addr = "h:1"\nremote_port = 0\n',
     "client.mappings[1].remote_port", "out of range 1-65535"),
    (MAP + '[[client.mappings]]\nname = "b"\nmode = "tcp"\nlocal_addr = "h:1"\nremote_port = 70000\n',
     "client.mappings[1].remote_port", "out of range 1-65535"),
    (MAP + 'remote_port = 22\n', "client.mappings[0].remote_port", "only for tcp and proxy"),
    (MAP + 'colour = "red"\n', "client.mappings[0].colour", "unknown key"),
    (MAP + 'headers = ["+ only-name"]\n', "client.mappings[0].headers[0]", "NAME VALUE"),
    (MAP + 'headers = "- etag"\n', "client.mappings[0].headers", "expected an array"),
    ('[[client.mappings]]\nmode = "tcp"\n', "client.mappings[0].name", "missing"),
    ('[[client.mappings]]\nname = ""\nmode = "proxy"\n', "client.mappings[0].name", "must not be empty"),
    ('[client]\nserver = "::1:8091"\n', "client.server", "IPv6 is written [::1]:80"),
    ('[client]\nserver = "h:0"\n', "client.server", "out of range 1-65535"),
    ('[client]\nserver = 8091\n', "client.server", "expected a string or an array of strings, got integer 8091"),
    ('[client]\nserver = []\n', "client.server", "is an empty list"),
    ('[client]\nserver = ["a:1", "b"]\n', "client.server[1]", "is not HOST:PORT"),
    ('[client]\nserver = ["a:1", "A:1"]\n', "client.server[1]", "is already server[0]"),
    ('[client]\nserver = ["a:1", 2]\n', "client.server[1]", "expected a string"),
    ('[client]\nwindow = 0\n', "client.window", "greater than 0"),
    ('[client]\nwindow = -5\n', "client.window", "greater than 0"),
    ('[client]\nwindow = 1.5\n', "client.window", "expected an integer"),
    ('[client]\nheartbeat_interval = 0\n', "client.heartbeat_interval", "greater than 0"),
    ('[client]\nheartbeat_interval = 40\n', "client.heartbeat_timeout", "longer than heartbeat_interval"),
    ('[client]\nheartbeat_interval = "10"\n', "client.heartbeat_interval", "expected a number"),
    ('[client]\nreconnect_max = 0.5\n', "client.reconnect_max", "at least reconnect_min"),
    ('[client]\nmax_frame = 10\n', "client.max_frame", "1024-16777215"),
    ('[client]\ndirect = "yes"\n', "client.direct", "expected true or false"),
    ('[client]\npassword = "p"\n', "client.username", "missing"),
    ('[client]\nusername = ""\n', "client.username", "must not be empty"),
    ('[client]\nproxies = []\n', "client.proxies", "unknown key"),
    ('[client.tls]\nfingerprint = "abc"\n', "client.tls.fingerprint", "not a SHA-256 fingerprint"),
    ('[client.tls]\ncert_file = "c.pem"\n', "client.tls.key_file", "missing"),
    ('[client.tls]\nenabled = true\ntofu = false\n', "client.tls.tofu", "cannot be verified"),
    ('[client.tls]\nserver_name = "bad name"\n', "client.tls.server_name", "not a host name"),
    ('[client.tls]\nverify = true\n', "client.tls.verify", "unknown key"),
    ('[[client.proxy]]\nbind = "127.0.0.1:1"\nprotocols = ["ftp"]\n', "client.proxy[0].protocols[0]",
     "'ftp' is not one of http, https, socks5"),
    ('[[client.proxy]]\nbind = "127.0.0.1:1"\nprotocols = []\n', "client.proxy[0].protocols", "at least one"),
    ('[[client.proxy]]\nbind = "127.0.0.1:1"\n[[client.proxy]]\nname = "two"\nbind = "127.0.0.1:1"\n',
     "client.proxy[1].bind", "already used by client.proxy[0].bind"),
    ('[[client.proxy]]\nbind = "127.0.0.1:1"\n[[client.proxy]]\nbind = "127.0.0.1:2"\n', "client.proxy[1].name",
     "already the name of proxy[0]"),
    ('[server]\nbind = "0.0.0.0:8091"\n', "server.username", "lets anyone in"),
    (SRV + 'password = 1234\n', "server.password", "expected a string, got integer"),
    (SRV + 'map_http_bind = "127.0.0.1:8091"\n', "server.map_http_bind", "already used by server.bind"),
    (SRV + 'map_tcp_bind = "127.0.0.1"\n', "server.map_tcp_bind", "is not HOST:PORT"),
    (SRV + 'two_way_tls = true\n', "server.two_way_tls", "needs tls = true"),
    (SRV + 'tls = true\ntwo_way_tls = true\n', "server.client_ca", "missing"),
    (SRV + 'tls = true\nclient_ca = "ca.pem"\n', "server.client_ca", "only used with two_way_tls"),
    (SRV + 'cert_file = "c.pem"\n', "server.key_file", "missing"),
    (SRV + 'map_key = "k.pem"\n', "server.map_cert", "missing"),
    (SRV + 'proxy_protocols = ["gopher"]\n', "server.proxy_protocols[0]", "'gopher' is not one of"),
    (SRV + 'allow_targets = ["10.0.0.0/33"]\n', "server.allow_targets[0]", "not an IP network"),
    (SRV + 'allow_targets = ["10.0.0.0/8:1-99999"]\n', "server.allow_targets[0]", "port range"),
    (SRV + 'deny_targets = ["example.com:22"]\n', "server.deny_targets[0]", "not an IP network"),
    (SRV + 'deny_targets = ["10.0.0.0/8:http"]\n', "server.deny_targets[0]", "bad port"),
    (SRV + 'deny_targets = [22]\n', "server.deny_targets[0]", "expected a string"),
    (SRV + 'window = 0\n', "server.window", "greater than 0"),
    (SRV + 'heartbeat_timeout = -1\n', "server.heartbeat_timeout", "greater than 0"),
    (SRV + 'listen = "x"\n', "server.listen", "unknown key"),
    ('[proxy]\nserver = "h:1"\n', "proxy", "upstream wmproxy file"),
    ('server = "h:1"\n', "server", "expected a table"),
]


@pytest.mark.parametrize("text, key, words", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_validation_error_names_file_and_key(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads_config(text, "client.toml")
    e = err.value
    assert e.file == "client.toml" and e.key == key, str(e)
    assert words in e.problem, str(e)
    assert str(e) == f"client.toml: {key}: {e.problem}"
    assert "\n" not in str(e)


def test_the_example_message_from_the_brief() -> None:
    with pytest.raises(ConfigError) as err:
        loads_config(MAP + '[[client.mappings]]\nname = "b"\nmode = "htp"\nlocal_addr = "h:1"\n', "client.toml")
    assert str(err.value) == "client.toml: client.mappings[1].mode: 'htp' is not one of http, https, tcp, proxy"


def test_secret_values_never_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        loads_config(SRV + 'username = "u"\npassword = ["hunter2"]\n', "s.toml")
    assert "hunter2" not in str(err.value)
    cfg = Config(client=ClientConfig(username="u", password=12345678))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err2:
        validate_config(cfg, source="gui")
    assert "12345678" not in str(err2.value) and err2.value.key == "client.password"


def test_toml_syntax_error_names_file() -> None:
    with pytest.raises(ConfigError) as err:
        loads_config("[client\n", "broken.toml")
    assert err.value.file == "broken.toml" and "not valid TOML" in str(err.value) and "line 1" in str(err.value)


def test_mode_is_case_insensitive_like_upstream() -> None:
    cfg = loads_config('[[client.mappings]]\nname = "t"\nmode = "TCP"\nlocal_addr = "h:1"\n', "x.toml")
    assert cfg.client is not None and cfg.client.mappings[0].mode == "tcp"


def test_same_domain_in_http_and_https_is_fine() -> None:
    cfg = full()
    assert cfg.client is not None
    assert {m.domain for m in cfg.client.mappings[:2]} == {"web.example.com"}


def test_loopback_center_may_run_without_password() -> None:
    assert loads_config('[server]\nbind = "127.0.0.1:8091"\n', "x").server is not None
    assert loads_config('[server]\nbind = "[::1]:8091"\n', "x").server is not None
    assert loads_config('[server]\nbind = "0.0.0.0:8091"\nallow_anonymous = true\n', "x").server is not None


def test_validate_config_checks_dataclasses_built_in_code() -> None:
    """The GUI builds dataclasses directly; it gets the same errors as a file."""
    m = MappingConfig(name="x", mode="tcp", local_addr="h:1")
    good = Config(client=ClientConfig(mappings=[m], proxies=[ProxyListenerConfig()]))
    validate_config(good, source="gui")
    bad = dataclasses.replace(good, client=ClientConfig(mappings=[dataclasses.replace(m, remote_port="22")]))
    with pytest.raises(ConfigError) as err:
        validate_config(bad, source="gui")
    assert str(err.value) == "gui: client.mappings[0].remote_port: expected an integer, got string '22'"
    bad2 = Config(client=ClientConfig(mappings=[MappingConfig(name="x", mode="tcp", local_addr="h:1",
                                                              headers=[HeaderRule(False, HeaderOp.ADD, "a b", "v")])]))
    with pytest.raises(ConfigError) as err2:
        validate_config(bad2, source="gui")
    assert err2.value.key == "client.mappings[0].headers[0]"
    bad3 = Config(client=ClientConfig(tls=ClientTls(enabled="yes")))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="client.tls.enabled: expected true or false"):
        validate_config(bad3)


def test_check_target_rule_accepts_documented_forms() -> None:
    for rule in ("10.0.0.0/8", "10.1.2.3:443", "192.168.0.0/16:8000-8999", "::1", "fe80::/10",
                 "[2001:db8::/32]:443", "*", "*:443"):
        C.check_target_rule(rule)


# ---------------------------------------------------------------- files

def test_load_config_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "wm.toml"
    path.write_text('[client]\nserver = "h:1"\n[client.tls]\nca_file = "ca.pem"\n')
    cfg = load_config(path)
    assert cfg.source == str(path)
    assert cfg.client is not None and cfg.client.tls.ca_file == str(tmp_path.resolve() / "ca.pem")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert str(err.value) == f"{tmp_path / 'nope.toml'}: no such file"
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_save_is_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    cfg = full()
    save_config(cfg, path)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_config(path)
    assert again.server == cfg.server and again.client == cfg.client
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp files left


def test_save_over_world_readable_file_makes_it_0600(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# old\n")
    os.chmod(path, 0o644)
    save_config(full(), path)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_failed_serialization_leaves_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_config(full(), path)
    before = path.read_bytes()
    broken = full()
    assert broken.client is not None
    broken.client.window = object()  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="client.window"):
        save_config(broken, path)  # validation catches it
    with pytest.raises(ConfigError, match="cannot be written as TOML"):
        save_config(broken, path, validate=False)  # and so does the serializer
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_failed_write_leaves_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    save_config(full(), path)
    before = path.read_bytes()

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(ConfigError) as err:
        save_config(full(), path)
    monkeypatch.undo()
    assert str(err.value) == f"{path}: cannot save: No space left on device"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_invalid_config_is_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    cfg = Config(client=ClientConfig(server="nope"))
    with pytest.raises(ConfigError) as err:
        save_config(cfg, path)
    assert err.value.file == str(path) and err.value.key == "client.server"
    assert not path.exists()


# ---------------------------------------------------------------- paths

def test_paths_follow_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.name != "posix" or os.uname().sysname == "Darwin":
        pytest.skip("XDG variables are a Linux/BSD convention")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.default_config_path() == tmp_path / "cfg" / "wmproxy-gui" / "config.toml"
    assert (tmp_path / "cfg" / "wmproxy-gui").is_dir()
    assert not paths.default_config_path().exists()
    assert paths.data_dir() == tmp_path / "data" / "wmproxy-gui" and paths.data_dir().is_dir()
    assert paths.log_dir().is_dir() and str(paths.log_dir()).startswith(str(tmp_path / "state"))
    assert stat.S_IMODE(paths.data_dir().stat().st_mode) == 0o700
    assert paths.default_known_hosts_path() == tmp_path / "data" / "wmproxy-gui" / "known_hosts"
    assert paths.config_dir(create=False) == tmp_path / "cfg" / "wmproxy-gui"


# ---------------------------------------------------------------- the documented example stays true

def test_docs_example_lists_every_key_with_its_default() -> None:
    import re
    import tomllib

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert block, "docs/configuration.md lost its TOML example"
    text = block.group(1)
    cfg = C.config_from_dict(tomllib.loads(text), "docs", validate=False)
    assert cfg.server == ServerConfig()  # every uncommented server value is the default
    assert cfg.client is not None
    assert dataclasses.replace(cfg.client, mappings=[], proxies=[]) == ClientConfig()
    assert cfg.client.proxies == [ProxyListenerConfig()]
    assert dataclasses.replace(cfg.client.mappings[0], name="x", local_addr="", domain="", headers=[]) == \
        MappingConfig(name="x")
    # every field of every dataclass is mentioned (commented out or not)
    for cls in (ServerConfig, ClientConfig, ClientTls, MappingConfig, ProxyListenerConfig, C.InspectConfig):
        for f in dataclasses.fields(cls):
            name = {"proxies": "proxy"}.get(f.name, f.name)
            assert re.search(rf"^#? ?\[*(client\.)?{name}\b|^# ?{name} =|^{name} =", text, re.M), \
                f"{cls.__name__}.{f.name} is not documented"
    # and with credentials filled in, the example is a valid config
    filled = text.replace('# username = "wmproxy"', 'username = "wmproxy"').replace(
        '# password = "secret"', 'password = "secret"', 2)  # server and client, not the proxy listener
    loads_config(filled, "docs")
