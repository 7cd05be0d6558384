"""ProfileStore: TOML file, OS keyring (a real Secret Service), export/import, upstream configs.

Keyring tests need a Secret Service. Run them as CI does: ``bash tests/run.sh tests/gui/test_profiles.py``
(a private D-Bus session with an unlocked gnome-keyring), or by hand:
  dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null;
                             python -m pytest tests/gui/test_profiles.py -q'
gnome-keyring keeps ~/.local/share/keyrings/login.keyring: unlocking it with another password than the
one it was created with leaves it locked (KeyringLocked), so use one password consistently. Without a
Secret Service these tests fail when CI=true and skip otherwise (the ``secret_service`` fixture of
tests/gui/conftest.py also tries to start a private one).
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses
import stat
import tomllib
from pathlib import Path

import pytest

from core.config import ClientConfig, ClientTls, MappingConfig, ProxyListenerConfig, parse_header_rule
from core.errors import ConfigError
from wmproxy_gui.profiles import Profile, ProfileStore, new_id, tls_mode, with_tls_mode

pytestmark = pytest.mark.timeout(60)

# conftest's _keyring_works() calls get_all_keyring.reset(), which raises KeyError before the first
# detection; detect once now (harmless, no secret is read) until that is fixed there.
import keyring  # noqa: E402

keyring.get_keyring()

SECRET = "s3cr3t-Pässwörd-%d" % os.getpid()
FP = "ab" * 32


def sample(name: str = "Office") -> Profile:
    return Profile(new_id(), name, ClientConfig(
        server="tunnel.example.com:8091", username="alice",
        tls=ClientTls(enabled=True, fingerprint=FP, tofu=False, server_name="tunnel.example.com"),
        mappings=[MappingConfig("web", "http", "127.0.0.1:8080", "app.example.com",
                                [parse_header_rule("proxy + from $url"), parse_header_rule("- etag")]),
                  MappingConfig("ssh", "tcp", "127.0.0.1:22", remote_port=2222, enabled=False)],
        proxies=[ProxyListenerConfig("mixed", "127.0.0.1:7890", ("http", "socks5"), username="bob")]),
        auto_connect=True)


def files_under(*roots: Path) -> list[Path]:
    return [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file()]


# ------------------------------------------------------------------ file (no keyring needed)

def test_save_load_round_trip_atomic_and_private(tmp_path):
    store = ProfileStore(tmp_path / "cfg" / "profiles.toml")
    assert store.load() == []
    p = sample()
    store.save([p])
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert not [f for f in store.path.parent.iterdir() if f.name != "profiles.toml"]  # no temp file left
    again = ProfileStore(store.path).load()
    assert again == [p]
    assert again[0].client.mappings[0].headers[0].is_proxy
    doc = tomllib.loads(store.path.read_text())
    assert doc["profiles"][0]["client"]["mappings"][0]["headers"] == ["proxy + from $url", "- etag"]


def test_store_refuses_passwords_in_file_and_bad_files_keep_their_content(tmp_path):
    store = ProfileStore(tmp_path / "profiles.toml")
    p = sample()
    with pytest.raises(ValueError):
        store.save([dataclasses.replace(p, client=dataclasses.replace(p.client, password="x"))])
    assert not store.path.exists()

    store.path.write_text('[[profiles]]\nid = "a"\nname = "A"\n[profiles.client]\nserver = "h:1"\nbogus = 1\n')
    with pytest.raises(ConfigError) as e:
        store.load()
    assert str(e.value) == f"{store.path}: profiles[0].client.bogus: " + e.value.problem
    store.path.write_text('[[profiles]]\nid = "a"\nname = "A"\n[profiles.client]\npassword = "leak"\n')
    with pytest.raises(ConfigError, match="keyring"):
        store.load()
    store.path.write_text("not = [toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        store.load()
    assert store.path.read_text() == "not = [toml"  # nothing lost
    with pytest.raises(ConfigError):
        store.upsert(sample())  # a write on top of an unreadable file is refused, not a silent overwrite
    assert store.path.read_text() == "not = [toml"


def test_tls_modes():
    t = ClientTls()
    assert tls_mode(t) == "off"
    assert tls_mode(with_tls_mode(t, "tofu")) == "tofu"
    pin = with_tls_mode(t, "pin", fingerprint=FP, ca_file="/ignored")
    assert tls_mode(pin) == "pin" and pin.ca_file is None and pin.tofu is False
    ca = with_tls_mode(pin, "ca", ca_file="/x/ca.pem")
    assert tls_mode(ca) == "ca" and ca.fingerprint is None and ca.enabled
    with pytest.raises(ValueError):
        with_tls_mode(t, "maybe")


def test_link_parse_errors(tmp_path):
    store = ProfileStore(tmp_path / "p.toml")
    with pytest.raises(ConfigError, match="not a wmproxy:// link"):
        store.parse_link("https://example.com")
    with pytest.raises(ConfigError, match="never carry a password"):
        store.parse_link("wmproxy://alice:pw@h.example:8091?name=x")
    with pytest.raises(ConfigError, match="damaged"):
        store.parse_link("wmproxy://h.example:8091?name=x&c=!!!notbase64")
    with pytest.raises(ConfigError, match="fingerprint"):
        store.parse_link("wmproxy://h.example:8091?tls=pin")
    p = store.parse_link("wmproxy://h.example:8091")
    assert p.client.server == "h.example:8091" and tls_mode(p.client.tls) == "off" and p.name == "h.example:8091"


@pytest.mark.parametrize("name", ["client.toml", "client.yaml", "mapping_client.toml"])
def test_read_upstream_client_configs(tmp_path, data_dir, name):
    store = ProfileStore(tmp_path / "p.toml")
    p = store.read_file(data_dir / "upstream" / name)
    assert p.client.username == "wmproxy" and p.client.password == "wmproxy"  # a draft: upsert moves it
    assert [m.name for m in p.client.mappings] == ["web", "tcp"]
    web = p.client.mappings[0]
    assert web.mode == "http" and web.domain == "localhost" and len(web.headers) >= 4


def test_upstream_server_config_is_not_a_profile(tmp_path, data_dir):
    store = ProfileStore(tmp_path / "p.toml")
    with pytest.raises(ConfigError, match="Server page"):
        store.read_file(data_dir / "upstream" / "server.toml")


# ------------------------------------------------------------------ keyring (real Secret Service)

def test_passwords_live_in_the_keyring_only(secret_service, profile_store, gui_dirs, tmp_path):
    store = profile_store
    p = sample()
    p.client.proxies[0].password = SECRET + "-proxy"
    saved = store.upsert(dataclasses.replace(p, client=dataclasses.replace(p.client, password=SECRET)))
    assert saved.client.password is None and saved.client.proxies[0].password is None
    assert store.password(p.id) == SECRET
    assert store.proxy_password(p.id, "mixed") == SECRET + "-proxy"
    import keyring

    assert keyring.get_password(f"{store.prefix}:{p.id}", "password") == SECRET  # per-profile service name
    assert keyring.get_password(f"{store.prefix}:{p.id}:proxy:mixed", "password") == SECRET + "-proxy"

    # exports too: a file and a link
    store.export_file(saved, tmp_path / "out" / "office.toml")
    link = store.export_link(saved)
    assert SECRET not in link and "wmproxy" in link

    # every file written under the store's dir and the config/data homes: no password bytes anywhere
    needles = [s.encode() for s in (SECRET, SECRET + "-proxy")]
    written = files_under(store.path.parent, gui_dirs.config_home, gui_dirs.data_home)
    assert store.path in written and (tmp_path / "out" / "office.toml") in written
    for f in written:
        data = f.read_bytes()
        for n in needles:
            assert n not in data, f"password found in {f}"


def test_delete_removes_keyring_entries_and_removed_listener_secrets(secret_service, profile_store):
    store = profile_store
    p = sample()
    p.client.proxies.append(ProxyListenerConfig("second", "127.0.0.1:7891", ("socks5",), username="c",
                                                password="pw2"))
    p.client.proxies[0].password = "pw1"
    store.upsert(p)
    store.set_password(p.id, SECRET)
    assert store.proxy_password(p.id, "second") == "pw2"
    stored = store.get(p.id)
    stored.client.proxies = stored.client.proxies[:1]
    store.upsert(stored)  # listener "second" removed: its secret goes too
    assert store.proxy_password(p.id, "second") is None
    assert store.proxy_password(p.id, "mixed") == "pw1"
    store.delete(p.id)
    assert store.get(p.id) is None
    assert store.password(p.id) is None and store.proxy_password(p.id, "mixed") is None
    store.set_password("gone", None)  # forgetting a missing secret is fine


def test_export_file_and_link_round_trip_without_password(secret_service, profile_store, tmp_path):
    store = profile_store
    p = store.upsert(sample())
    store.set_password(p.id, SECRET)
    f = tmp_path / "office.wmproxy.toml"
    store.export_file(p, f)
    assert SECRET not in f.read_text() and "password" not in f.read_text()

    from_file = store.import_file(f)
    assert from_file.id != p.id and from_file.name == "Office (2)"  # names stay unique
    assert dataclasses.replace(from_file.client) == p.client
    assert from_file.auto_connect == p.auto_connect
    assert store.password(from_file.id) is None  # the password did not travel

    link = store.export_link(p)
    assert link.startswith("wmproxy://alice@tunnel.example.com:8091?") and SECRET not in link
    from_link = store.import_link(link)
    assert from_link.name == "Office (3)" and from_link.client == p.client
    assert store.password(from_link.id) is None
    assert len(store.load()) == 3


def test_import_upstream_config_moves_its_password_to_the_keyring(secret_service, profile_store, data_dir):
    store = profile_store
    p = store.import_file(data_dir / "upstream" / "client.yaml")
    assert store.password(p.id) == "wmproxy"
    assert b"wmproxy\"" not in store.path.read_bytes().replace(b'username = "wmproxy"', b"")
    assert "password" not in store.path.read_text()
    assert [m.name for m in store.get(p.id).client.mappings] == ["web", "tcp"]
