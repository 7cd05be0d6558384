"""core/upstream.py: upstream wmproxy's own example files load with the right values."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.config import PROXY_PROTOCOLS, dump_config, loads_config
from core.errors import ConfigError
from core.frames import HeaderOp, HeaderRule
from core.upstream import detect_role, load_any, load_upstream

pytestmark = pytest.mark.timeout(60)

CONFIGS = Path(__file__).resolve().parent / "data" / "upstream"
LOADABLE = ["client.toml", "client.yaml", "mapping_client.toml", "mapping_server.toml", "server.toml"]
ALL = [*LOADABLE, "server.yaml"]

TOML_HEADERS = [
    HeaderRule(True, HeaderOp.REPLACE, "x-forward-for", "{client_ip}"),
    HeaderRule(True, HeaderOp.ADD, "from", "$url"),
    HeaderRule(False, HeaderOp.ADD, "last-modified", "from proxy"),
    HeaderRule(False, HeaderOp.DEL, "etag", ""),
]
YAML_HEADERS = [
    HeaderRule(True, HeaderOp.ADD, "x-forward-for", "{client_ip}"),
    HeaderRule(True, HeaderOp.ADD, "from", "{url}"),
    HeaderRule(False, HeaderOp.ADD, "key", "value"),
    HeaderRule(False, HeaderOp.DEL, "etag", ""),
    HeaderRule(False, HeaderOp.ADD, "last-modified", "aaaa"),
]


def test_fixtures_are_the_suites_own() -> None:
    # the suite reads nothing outside the repository (a user's clone has only the project)
    repo = Path(__file__).resolve().parents[1]
    assert CONFIGS.is_relative_to(repo)
    assert sorted(p.name for p in CONFIGS.iterdir() if p.suffix in (".toml", ".yaml")) == sorted(ALL)


def test_loadable_files_load_with_load_any_and_load_upstream() -> None:
    roles = {}
    for name in LOADABLE:
        a = load_any(CONFIGS / name)
        b = load_upstream(CONFIGS / name)
        assert (a.server, a.client) == (b.server, b.client)
        roles[name] = "server" if a.server is not None else "client"
        assert (a.server is None) != (a.client is None)
        assert a.source == str(CONFIGS / name)
    assert roles == {"client.toml": "client", "client.yaml": "client", "mapping_client.toml": "client",
                     "mapping_server.toml": "server", "server.toml": "server"}


@pytest.mark.parametrize("name, headers, bind_key", [("client.toml", TOML_HEADERS, "bind"),
                                                     ("client.yaml", YAML_HEADERS, "bind_addr")])
def test_client_files(name: str, headers: list[HeaderRule], bind_key: str) -> None:
    c = load_any(CONFIGS / name).client
    assert c is not None
    assert c.server == "127.0.0.1:8091"
    assert (c.username, c.password) == ("wmproxy", "wmproxy")
    assert c.tls.enabled is True  # ts = true
    assert c.tls.tofu is True and c.tls.ca_file is None and c.tls.cert_file is None
    assert c.direct is False
    assert len(c.proxies) == 1
    p = c.proxies[0]
    # both upstream spellings of the proxy listener: "bind" (current) and "bind_addr" (older files)
    assert p.bind == "0.0.0.0:8090" and p.protocols == PROXY_PROTOCOLS, bind_key
    assert p.username is None  # the center credentials are not the local proxy's
    web, tcp = c.mappings
    assert (web.name, web.mode, web.local_addr, web.domain) == ("web", "http", "127.0.0.1:8080", "localhost")
    assert web.headers == headers
    assert (tcp.name, tcp.mode, tcp.local_addr, tcp.domain, tcp.headers) == ("tcp", "tcp", "127.0.0.1:8080", "", [])


def test_bind_wins_over_bind_addr_and_errors_name_the_key_used(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path, "c.toml", '[proxy]\nserver = "h:1"\nbind = "127.0.0.1:1081"\nbind_addr = "127.0.0.1:1082"\n')
    with caplog.at_level(logging.WARNING, logger="wmproxy.upstream"):
        c = load_any(p).client
    assert c is not None and c.proxies[0].bind == "127.0.0.1:1081"
    assert any("proxy.bind and proxy.bind_addr" in r.getMessage() for r in caplog.records)
    bad = write(tmp_path, "b.toml", '[proxy]\nserver = "h:1"\nbind = "nowhere"\n')
    with pytest.raises(ConfigError) as err:
        load_any(bad)
    assert err.value.key == "proxy.bind" and "not HOST:PORT" in err.value.problem


def test_mapping_client_toml() -> None:
    c = load_any(CONFIGS / "mapping_client.toml").client
    assert c is not None
    assert c.server == "wmproxy_server_docker:8091"
    assert c.tls.enabled is False  # no ts
    assert [m.local_addr for m in c.mappings] == ["192.168.17.22:8080", "192.168.17.22:8080"]
    assert c.mappings[0].headers == TOML_HEADERS
    assert c.proxies[0].protocols == ("http", "https", "socks5")
    assert [m.remote_port for m in c.mappings] == [None, 2222]


def test_server_toml_old_layout() -> None:
    s = load_any(CONFIGS / "server.toml").server
    assert s is not None
    assert s.bind == "0.0.0.0:8091"  # no center_addr: bind_addr is the center listener
    assert (s.username, s.password) == ("wmproxy", "wmproxy")
    assert (s.map_http_bind, s.map_tcp_bind, s.map_https_bind) == ("0.0.0.0:8001", "0.0.0.0:8002", "0.0.0.0:8003")
    assert s.map_proxy_bind is None
    assert s.map_cert is None and s.map_key is None
    assert s.proxy_protocols == PROXY_PROTOCOLS
    assert s.tls is True and s.two_way_tls is False and s.client_ca is None


def test_mapping_server_toml_current_layout() -> None:
    s = load_any(CONFIGS / "mapping_server.toml").server
    assert s is not None
    assert s.bind == "0.0.0.0:8091"  # center_addr
    certs = CONFIGS.resolve() / "certs"
    assert (s.cert_file, s.key_file) == (str(certs / "center.crt"), str(certs / "center.key"))
    assert (s.map_cert, s.map_key) == (str(certs / "public.crt"), str(certs / "public.key"))
    assert s.tls and s.two_way_tls and s.client_ca == s.cert_file  # upstream trusts its own cert chain
    assert s.map_proxy_bind == "127.0.0.1:8004"
    assert s.proxy_protocols == ("http", "socks5")
    assert s.allow_targets == ["10.0.0.0/8"] and s.deny_targets == ["10.1.0.0/16:22"]


def test_two_way_tls_without_a_certificate_refuses_naming_the_key() -> None:
    # upstream would use its built-in certificate: we cannot, so never run without mutual TLS
    with pytest.raises(ConfigError) as err:
        load_any(CONFIGS / "server.yaml")
    assert err.value.key == "proxy.two_way_tls" and err.value.file == str(CONFIGS / "server.yaml")
    assert "set cert and key" in err.value.problem and "client_ca" in err.value.problem


def test_two_way_tls_without_tc_refuses(tmp_path: Path) -> None:
    p = write(tmp_path, "s.toml", '[proxy]\nmode = "server"\nbind_addr = "127.0.0.1:8091"\n'
                                  'cert = "s.crt"\nkey = "s.key"\ntwo_way_tls = true\n')
    with pytest.raises(ConfigError) as err:
        load_any(p)
    assert err.value.key == "proxy.two_way_tls" and "tc = true" in err.value.problem


def test_imported_files_convert_to_native_and_back() -> None:
    for name in LOADABLE:
        cfg = load_any(CONFIGS / name)
        again = loads_config(dump_config(cfg), "native.toml")
        assert (again.server, again.client) == (cfg.server, cfg.client), name


def test_unsupported_keys_are_warned_once_naming_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="wmproxy.upstream"):
        load_any(CONFIGS / "mapping_server.toml")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for key in ("default_level", "control", "proxy.server_id"):
        assert sum(f"upstream key {key} " in m for m in warned) == 1, (key, warned)
    assert not any("proxy.mode" in m for m in warned)  # read for role detection: supported
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wmproxy.upstream"):
        load_any(CONFIGS / "server.toml")
    warned = [r.getMessage() for r in caplog.records]
    assert any("proxy.udp_bind" in m for m in warned) and any("default_level" in m for m in warned)


# ---------------------------------------------------------------- mapping details on synthetic files

def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_center_addr_wins_over_bind_addr(tmp_path: Path) -> None:
    p = write(tmp_path, "s.toml", '[proxy]\ncenter_addr = "127.0.0.1:9000"\nbind_addr = "127.0.0.1:8090"\n'
                                  'mode = "server"\n')
    s = load_any(p).server
    assert s is not None and s.bind == "127.0.0.1:9000"


def test_server_extensions_and_tls_files(tmp_path: Path) -> None:
    p = write(tmp_path, "s.yaml", "proxy:\n  mode: server\n  bind_addr: 127.0.0.1:8091\n  tc: true\n"
                                  "  cert: certs/s.crt\n  key: certs/s.key\n  two_way_tls: true\n"
                                  "  flag: 5\n  map_proxy_bind: 127.0.0.1:8004\n"
                                  "  allow_targets: [10.0.0.0/8]\n  deny_targets: ['10.1.0.0/16:22']\n")
    s = load_any(p).server
    assert s is not None
    assert s.cert_file == str(tmp_path.resolve() / "certs" / "s.crt")
    assert s.two_way_tls and s.client_ca == s.cert_file  # upstream verifies clients against its own cert
    assert s.proxy_protocols == ("http", "socks5")
    assert s.map_proxy_bind == "127.0.0.1:8004"
    assert s.allow_targets == ["10.0.0.0/8"] and s.deny_targets == ["10.1.0.0/16:22"]


def test_client_tls_name_and_cert(tmp_path: Path) -> None:
    p = write(tmp_path, "c.toml", '[proxy]\nserver = "[::1]:8091"\nts = true\ndomain = "center.test"\n'
                                  'cert = "/etc/c.crt"\nkey = "/etc/c.key"\ntwo_way_tls = true\n'
                                  'bind_addr = "127.0.0.1:1080"\nflag = "socks5"\n')
    c = load_any(p).client
    assert c is not None
    assert c.server == "[::1]:8091"
    assert c.tls.enabled and c.tls.server_name == "center.test"
    assert (c.tls.cert_file, c.tls.key_file) == ("/etc/c.crt", "/etc/c.key")
    assert c.proxies[0].bind == "127.0.0.1:1080" and c.proxies[0].protocols == ("socks5",)


def test_end_proxy_becomes_direct_client_with_local_auth(tmp_path: Path) -> None:
    p = write(tmp_path, "p.toml", '[proxy]\nbind_addr = "127.0.0.1:8090"\nusername = "u"\npassword = "p"\n')
    c = load_any(p).client
    assert c is not None and c.direct is True
    assert (c.proxies[0].username, c.proxies[0].password) == ("u", "p")
    assert c.username is None
    assert c.proxies[0].bind == "127.0.0.1:8090"


def test_role_detection_and_override(tmp_path: Path) -> None:
    assert detect_role({"server": "h:1", "map_http_bind": "0.0.0.0:1"}) == "client"
    assert detect_role({"mode": "Server"}) == "server"
    assert detect_role({"map_tcp_bind": "0.0.0.0:1"}) == "server"
    assert detect_role({"bind_addr": "0.0.0.0:1"}) == "client"
    # a server file read as a client: bind_addr becomes the local proxy listener
    c = load_any(CONFIGS / "server.toml", role="client").client
    assert c is not None and c.proxies[0].bind == "0.0.0.0:8091" and c.direct
    s = load_any(CONFIGS / "mapping_client.toml", role="server").server
    assert s is not None and s.bind == "0.0.0.0:8090"
    with pytest.raises(ValueError):
        load_any(CONFIGS / "client.toml", role="both")


@pytest.mark.parametrize("text, key, words", [
    ('[proxy]\nserver = "h:1"\nflag = "http ftp"\n', "proxy.flag", "'ftp' is not one of"),
    ('[proxy]\nserver = "h:1"\nts = "maybe"\n', "proxy.ts", "expected true or false"),
    ('[proxy]\nserver = "h:99999"\n', "proxy.server", "out of range"),
    ('[proxy]\nserver = "h:1"\nbind_addr = "nowhere"\n', "proxy.bind_addr", "not HOST:PORT"),
    ('[proxy]\nserver = "h:1"\n[[proxy.mappings]]\nname = "w"\nmode = "htp"\nlocal_addr = "h:1"\n',
     "proxy.mappings[0].mode", "'htp' is not one of"),
    ('[proxy]\nserver = "h:1"\n[[proxy.mappings]]\nmode = "tcp"\n', "proxy.mappings[0].name", "missing"),
    ('[proxy]\nserver = "h:1"\n[[proxy.mappings]]\nname = "w"\nmode = "http"\nlocal_addr = "h:1"\n'
     'headers = ["+ lonely"]\n', "proxy.mappings[0].headers[0]", "NAME VALUE"),
    ('[proxy]\nmode = "server"\nbind_addr = "0.0.0.0:8091"\n', "proxy.username", "lets anyone in"),
    ('[proxy]\nmode = "server"\nbind_addr = "127.0.0.1:1"\nmap_http_bind = "127.0.0.1:1"\n',
     "proxy.map_http_bind", "already used by proxy.bind_addr"),
    ('[proxy]\nmode = "server"\nbind_addr = "127.0.0.1:1"\ndeny_targets = ["nope"]\n',
     "proxy.deny_targets[0]", "not an IP network"),
    ('proxy = 5\n', "proxy", "expected a table"),
])
def test_errors_name_upstream_keys(tmp_path: Path, text: str, key: str, words: str) -> None:
    p = write(tmp_path, "up.toml", text)
    with pytest.raises(ConfigError) as err:
        load_any(p)
    assert err.value.file == str(p) and err.value.key == key, str(err.value)
    assert words in err.value.problem


def test_yaml_flag_bitmask_and_bad_yaml(tmp_path: Path) -> None:
    p = write(tmp_path, "c.yaml", "proxy:\n  server: h:1\n  flag: 2\n")
    c = load_any(p).client
    assert c is not None and c.proxies[0].protocols == ("https",)
    bad = write(tmp_path, "b.yaml", "proxy:\n  server: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_any(bad)
    assert err.value.file == str(bad) and "not valid YAML" in str(err.value) and "line" in str(err.value)
    with pytest.raises(ConfigError, match="bitmask 9"):
        load_any(write(tmp_path, "f.yaml", "proxy:\n  server: h:1\n  flag: 9\n"))
    with pytest.raises(ConfigError, match="must be an upstream"):
        load_any(write(tmp_path, "n.yaml", "client:\n  server: h:1\n"))


def test_load_any_reads_native_files_too(tmp_path: Path) -> None:
    p = write(tmp_path, "native.toml", '[client]\nserver = "h:1"\n')
    c = load_any(p).client
    assert c is not None and c.server == "h:1" and c.proxies == []
    with pytest.raises(ConfigError, match="no .proxy. table"):
        load_upstream(p)
