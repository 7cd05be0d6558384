"""Server profiles: what the tray app connects to, and where its secrets live.

A profile is a name plus a ``ClientConfig``. Profiles are kept in one TOML
file in the config directory (written atomically: temp file + os.replace);
every password (the center login and each local proxy listener's) lives only
in the OS keyring, under one service name per secret, so no file the GUI
writes - profiles, exports, links - ever holds one.

Qt-free on purpose: the CLI and tests can manage profiles without a display.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import tomllib
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import tomli_w

from core import paths
from core.config import ClientConfig, ClientTls, Config, config_from_dict, config_to_dict, validate_config
from core.errors import ConfigError, WmproxyError

PROFILES_FILE = "profiles.toml"
EXPORT_MARKER = "wmproxy_gui_profile"  # top-level key of a native export file
LINK_SCHEME = "wmproxy"
TLS_MODES = ("off", "ca", "pin", "tofu")
_ACCOUNT = "password"  # keyring "username" slot; the service name already says whose secret it is


class SecretStoreError(WmproxyError):
    """The OS keyring is missing or refused the operation; the secret was not stored."""


@dataclass
class Profile:
    """One server the user can connect to.

    ``client.password`` (and proxy listener passwords) are None on every stored
    profile; a freshly imported draft may carry them until ``ProfileStore.upsert``
    moves them to the keyring."""

    id: str
    name: str
    client: ClientConfig = field(default_factory=ClientConfig)
    auto_connect: bool = False


def new_id() -> str:
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ TLS mode

def tls_mode(tls: ClientTls) -> str:
    """The one choice the profile dialog shows: off / CA file / fingerprint pin / trust on first use."""
    if not tls.enabled:
        return "off"
    if tls.fingerprint:
        return "pin"
    if tls.ca_file:
        return "ca"
    return "tofu"


def with_tls_mode(tls: ClientTls, mode: str, *, ca_file: str | None = None,
                  fingerprint: str | None = None) -> ClientTls:
    """A copy of ``tls`` switched to ``mode``, clearing what the other modes used."""
    if mode not in TLS_MODES:
        raise ValueError(f"unknown TLS mode {mode!r}; expected one of {', '.join(TLS_MODES)}")
    return dataclasses.replace(
        tls,
        enabled=mode != "off",
        ca_file=ca_file if mode == "ca" else None,
        fingerprint=fingerprint if mode == "pin" else None,
        tofu=mode == "tofu",
    )


# ------------------------------------------------------------------ (de)serialisation

def client_to_dict(client: ClientConfig) -> dict[str, Any]:
    """The native ``[client]`` table (core.config's format) without any password."""
    return config_to_dict(Config(client=client), secrets=False).get("client", {})


def client_from_dict(data: Any, file: str | None, key: str) -> ClientConfig:
    """Inverse of client_to_dict; errors name ``file`` and ``key`` (e.g. profiles[2].client.server)."""
    if isinstance(data, dict) and _has_password(data):
        raise ConfigError("passwords are kept in the OS keyring, never in this file; remove the password "
                          "line and enter it in the profile dialog", file=file, key=key)
    try:
        cfg = config_from_dict({"client": data}, source=file, validate=False)
    except ConfigError as e:
        sub = (e.key or "client").removeprefix("client")
        raise ConfigError(e.problem, file=file, key=f"{key}{sub}") from None
    assert cfg.client is not None
    return cfg.client


def _has_password(data: dict[str, Any]) -> bool:
    proxies = data.get("proxy")
    return "password" in data or (isinstance(proxies, list)
                                  and any(isinstance(p, dict) and "password" in p for p in proxies))


_KEYRING_PLACEHOLDER = "\0keyring"  # stands in for a password that lives in the keyring while validating


def client_problem(client: ClientConfig, source: str | None = None) -> ConfigError | None:
    """The first problem of a client config by core.config's rules, or None.

    Secrets kept in the keyring count as present (a username without a password
    in the config is the normal case here)."""
    c = dataclasses.replace(
        client,
        password=client.password or (_KEYRING_PLACEHOLDER if client.username else None),
        proxies=[dataclasses.replace(p, password=p.password or (_KEYRING_PLACEHOLDER if p.username else None))
                 for p in client.proxies])
    try:
        validate_config(Config(client=c), source=source or "")
    except ConfigError as e:
        return e
    return None


def _checked(client: ClientConfig, source: str | None) -> ClientConfig:
    err = client_problem(client, source)
    if err is not None:
        raise ConfigError(err.problem, file=source, key=err.key)
    return client


def profile_to_dict(p: Profile) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "auto_connect": p.auto_connect, "client": client_to_dict(p.client)}


def profile_from_dict(d: Any, file: str | None = None, key: str = "") -> Profile:
    where = key or None
    if not isinstance(d, dict):
        raise ConfigError("expected a table", file=file, key=where)
    for req in ("id", "name"):
        if not isinstance(d.get(req), str) or not d[req]:
            raise ConfigError(f"missing {req}", file=file, key=where)
    extra = set(d) - {"id", "name", "auto_connect", "client"}
    if extra:
        raise ConfigError(f"unknown key {sorted(extra)[0]!r}", file=file, key=where)
    if not isinstance(d.get("auto_connect", False), bool):
        raise ConfigError("expected true or false", file=file, key=f"{key}.auto_connect" if key else "auto_connect")
    client = client_from_dict(d.get("client", {}), file, f"{key}.client" if key else "client")
    return Profile(d["id"], d["name"], client, d.get("auto_connect", False))


def default_profiles_path() -> Path:
    """<config dir>/profiles.toml."""
    return paths.config_dir() / PROFILES_FILE


# ------------------------------------------------------------------ the store

class ProfileStore:
    """Profiles on disk plus their passwords in the OS keyring."""

    def __init__(self, path: Path | None = None, keyring_service_prefix: str = "wmproxy-gui") -> None:
        self.path = Path(path) if path is not None else default_profiles_path()
        self.prefix = keyring_service_prefix
        self._profiles: list[Profile] | None = None

    # ---- file
    def load(self) -> list[Profile]:
        """Read the profiles file. A missing file is an empty list; a broken one raises ConfigError
        (the file is left untouched so nothing is lost)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._profiles = []
            return []
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"not valid TOML ({e})", file=str(self.path)) from None
        items = data.get("profiles", [])
        if not isinstance(items, list):
            raise ConfigError("expected [[profiles]] tables", file=str(self.path), key="profiles")
        profiles = [profile_from_dict(d, str(self.path), f"profiles[{i}]") for i, d in enumerate(items)]
        ids = [p.id for p in profiles]
        if len(set(ids)) != len(ids):
            raise ConfigError("two profiles share one id", file=str(self.path), key="profiles")
        self._profiles = profiles
        return copy.deepcopy(profiles)

    def profiles(self) -> list[Profile]:
        """Copies of the cached list (loads once); edit a copy, then upsert it."""
        if self._profiles is None:
            self.load()
        return copy.deepcopy(self._profiles or [])

    def save(self, profiles: Iterable[Profile]) -> None:
        profiles = list(profiles)
        for p in profiles:
            if p.client.password or any(px.password for px in p.client.proxies):
                raise ValueError("passwords belong in the keyring (upsert / set_password), not in the file")
        doc = {"profiles": [profile_to_dict(p) for p in profiles]}
        paths.atomic_write(self.path, tomli_w.dumps(doc).encode("utf-8"), 0o600)
        self._profiles = copy.deepcopy(profiles)

    def get(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles() if p.id == profile_id), None)

    def upsert(self, profile: Profile) -> Profile:
        """Add or replace (by id) and save. Proxy listener passwords found on the profile are moved
        to the keyring first, so the file never sees them."""
        client = profile.client
        for px in client.proxies:
            if px.password:
                self.set_proxy_password(profile.id, px.name, px.password)
        profile = dataclasses.replace(profile, client=dataclasses.replace(
            client, password=None, proxies=[dataclasses.replace(px, password=None) for px in client.proxies]))
        if client.password:
            self.set_password(profile.id, client.password)
        items = self.profiles()
        for i, p in enumerate(items):
            if p.id == profile.id:
                items[i] = profile
                kept = {px.name for px in profile.client.proxies}
                stale = [px.name for px in p.client.proxies if px.name not in kept]
                break
        else:
            items.append(profile)
            stale = []
        self.save(items)
        for name in stale:  # a removed listener's password must not linger in the keyring
            self._delete_secret(self.proxy_service(profile.id, name))
        return profile

    def delete(self, profile_id: str) -> None:
        """Remove the profile and every keyring entry it owns."""
        items = self.profiles()
        gone = [p for p in items if p.id == profile_id]
        self.save([p for p in items if p.id != profile_id])
        for p in gone:
            self._delete_secret(self.service(p.id))
            for px in p.client.proxies:
                self._delete_secret(self.proxy_service(p.id, px.name))

    def unique_name(self, name: str) -> str:
        """``name``, or ``name (2)``, ``name (3)``... (a copy of "A (2)" becomes "A (3)", not "A (2) (2)")."""
        taken = {p.name for p in self.profiles()}
        if name not in taken:
            return name
        m = re.fullmatch(r"(.*) \((\d+)\)", name)
        if m:
            name = m.group(1)
        n = 2
        while f"{name} ({n})" in taken:
            n += 1
        return f"{name} ({n})"

    # ---- keyring
    def service(self, profile_id: str) -> str:
        return f"{self.prefix}:{profile_id}"

    def proxy_service(self, profile_id: str, listener: str) -> str:
        return f"{self.prefix}:{profile_id}:proxy:{listener}"

    def server_service(self) -> str:
        """Keyring service of the GUI-run server's login password."""
        return f"{self.prefix}:server"

    def password(self, profile_id: str) -> str | None:
        return self.get_secret(self.service(profile_id))

    def set_password(self, profile_id: str, password: str | None) -> None:
        """Store (or, with None/"", forget) the center login password of a profile."""
        self.set_secret(self.service(profile_id), password)

    def proxy_password(self, profile_id: str, listener: str) -> str | None:
        return self.get_secret(self.proxy_service(profile_id, listener))

    def set_proxy_password(self, profile_id: str, listener: str, password: str | None) -> None:
        self.set_secret(self.proxy_service(profile_id, listener), password)

    def get_secret(self, service: str) -> str | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(service, _ACCOUNT)
        except KeyringError as e:
            raise SecretStoreError(f"cannot read from the OS keyring ({type(e).__name__}); "
                                   "unlock or install a keyring service (Secret Service, KWallet...)") from None

    def set_secret(self, service: str, password: str | None) -> None:
        import keyring
        from keyring.errors import KeyringError

        if not password:
            self._delete_secret(service)
            return
        try:
            keyring.set_password(service, _ACCOUNT, password)
        except KeyringError as e:
            raise SecretStoreError(f"the password was not saved: the OS keyring refused it ({type(e).__name__}); "
                                   "unlock or install a keyring service (Secret Service, KWallet...)") from None

    def _delete_secret(self, service: str) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(service, _ACCOUNT)
        except PasswordDeleteError:
            pass  # nothing stored: fine
        except KeyringError as e:
            raise SecretStoreError(f"cannot delete from the OS keyring ({type(e).__name__})") from None

    # ---- export / import
    def export_file(self, profile: Profile, path: Path | str) -> None:
        """A TOML file another user or machine can import. Holds no password."""
        d = profile_to_dict(profile)
        d.pop("id")
        paths.atomic_write(Path(path), tomli_w.dumps({EXPORT_MARKER: 1, "profile": d}).encode("utf-8"))

    def export_link(self, profile: Profile) -> str:
        """``wmproxy://user@host:port?name=..&tls=..&fp=..&c=..``: shareable, holds no password.

        Address, user, name and TLS choice stay readable; everything else (mappings,
        proxies, timers) travels compressed in ``c``. A profile with several servers is one
        link naming them all, comma-separated in the authority like a multi-host PostgreSQL
        URI (``wmproxy://user@a.example:8091,b.example:8091?...``); it imports back as one
        profile with the same servers in the same order. (A version of this app without
        multi-server profiles refuses such a link, saying the address is not HOST:PORT,
        rather than importing one server of it.)"""
        c = client_to_dict(profile.client)
        server, user = c.pop("server"), c.pop("username", None)
        if isinstance(server, list):
            server = ",".join(server)
        tls = c.pop("tls", {})
        q: dict[str, str] = {"name": profile.name, "tls": tls_mode(profile.client.tls)}
        if tls.get("fingerprint"):
            q["fp"] = tls.pop("fingerprint")
        if tls.get("server_name"):
            q["sni"] = tls.pop("server_name")
        for k in ("enabled", "tofu"):
            tls.pop(k, None)
        if tls:
            c["tls"] = tls
        if c:
            packed = zlib.compress(json.dumps(c, separators=(",", ":")).encode("utf-8"), 9)
            q["c"] = base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")
        userinfo = quote(user, safe="") + "@" if user else ""
        return f"{LINK_SCHEME}://{userinfo}{server}?{urlencode(q, quote_via=quote)}"

    def parse_link(self, text: str) -> Profile:
        """A Profile (fresh id, not stored) from a ``wmproxy://`` link; ConfigError if malformed.
        Several servers (``host:port,host:port``) make a multi-server profile."""
        text = text.strip()
        src = "link"
        try:
            parts = urlsplit(text)
        except ValueError as e:  # e.g. an unbalanced [ in an IPv6 address
            raise ConfigError(f"not a valid link ({e})", file=src) from None
        if parts.scheme != LINK_SCHEME or not parts.netloc:
            raise ConfigError(f"not a {LINK_SCHEME}:// link", file=src)
        user, _, server = parts.netloc.rpartition("@")
        if ":" in unquote(user):
            raise ConfigError("links never carry a password; remove it and enter it in the profile", file=src)
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        client: dict[str, Any] = {}
        if q.get("c"):
            try:
                raw = base64.urlsafe_b64decode(q["c"] + "=" * (-len(q["c"]) % 4))
                client = json.loads(zlib.decompress(raw, bufsize=1 << 16).decode("utf-8"))
            except (ValueError, zlib.error) as e:
                raise ConfigError(f"damaged settings ({type(e).__name__}); copy the whole link", file=src, key="c") from None
        servers = server.split(",")
        client["server"] = servers if len(servers) > 1 else server
        if user:
            client["username"] = unquote(user)
        cfg = client_from_dict(client, src, "c")
        mode = q.get("tls", "off")
        if mode not in TLS_MODES:
            raise ConfigError(f"unknown TLS mode {mode!r}", file=src, key="tls")
        if mode == "pin" and not q.get("fp"):
            raise ConfigError("TLS mode pin needs a fingerprint", file=src, key="fp")
        cfg.tls = with_tls_mode(cfg.tls, mode, ca_file=cfg.tls.ca_file, fingerprint=q.get("fp"))
        cfg.tls.server_name = q.get("sni") or cfg.tls.server_name
        return Profile(new_id(), q.get("name") or servers[0], _checked(cfg, src))

    def import_link(self, text: str) -> Profile:
        """Parse a link and add it as a new profile (name made unique)."""
        p = self.parse_link(text)
        p.name = self.unique_name(p.name)
        return self.upsert(p)

    def read_file(self, path: Path | str) -> Profile:
        """A draft profile (fresh id) from a native export or an upstream wmproxy TOML/YAML
        config. Nothing is stored; an upstream file's passwords stay on the draft for upsert."""
        path = Path(path)
        native = None
        if path.suffix.lower() == ".toml":
            try:
                doc = tomllib.loads(path.read_text("utf-8"))
                native = doc if EXPORT_MARKER in doc else None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                native = None  # let the upstream loader name the problem
        if native is not None:
            d = dict(native.get("profile", {}))
            d["id"] = new_id()
            p = profile_from_dict(d, str(path), "profile")
            _checked(p.client, str(path))
            return p
        from core.upstream import load_any

        cfg = load_any(path)
        if cfg.client is None:
            raise ConfigError("this file only configures a server; open it from the Server page", file=str(path))
        client = cfg.client
        name = path.stem if path.stem not in ("client", "config") else client.servers[0]
        return Profile(new_id(), name, client)

    def import_file(self, path: Path | str) -> Profile:
        """Add the profile of an export file or upstream config; its passwords go to the keyring."""
        p = self.read_file(path)
        p.name = self.unique_name(p.name)
        return self.upsert(p)
