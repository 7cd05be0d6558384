"""Form validation for the dialogs: {field: one-line problem}, computed before anything is saved.

The rules themselves are core.config's (parse_addr, check_fingerprint,
validate_config), so a form accepts exactly what a config file may say; this
module only turns them into per-field messages, checking each field on its own
first so the user sees every problem at once, then the whole config for the
cross-field rules (duplicate domains, ports, listeners).
"""
from __future__ import annotations

import re

from core.config import MAPPING_MODES, ClientConfig, MappingConfig, ProxyListenerConfig, check_fingerprint, parse_addr
from core.errors import ConfigError

from ..profiles import client_problem


def address_problem(text: str, *, listen: bool = False) -> str | None:
    try:
        parse_addr(text, listen=listen)
    except ConfigError as e:
        return e.problem
    return None


def fingerprint_problem(fp: str) -> str | None:
    try:
        check_fingerprint(fp)
    except ConfigError as e:
        return e.problem
    return None


def name_problem(name: str, taken: set[str]) -> str | None:
    if not name.strip():
        return "a name is required"
    if len(name.encode()) > 255:
        return "at most 255 bytes"
    if name != name.strip():
        return "no spaces at the start or end"
    if name in taken:
        return f"{name!r} is already used"
    return None


_ITEM_KEY = re.compile(r"^client\.(mappings|proxy)\[(\d+)\]\.(\w+)")


def _item_problem(client: ClientConfig, section: str, row: int) -> dict[str, str]:
    """Cross-field problems of item ``row`` of ``section`` found by validate_config, as {field: problem}."""
    err = client_problem(client)
    if err is None:
        return {}
    m = _ITEM_KEY.match(err.key or "")
    if m and m.group(1) == section and int(m.group(2)) == row:
        return {m.group(3): err.problem}
    return {}


def mapping_problems(m: MappingConfig, others: list[MappingConfig]) -> dict[str, str]:
    """Problems of mapping ``m`` given the profile's other mappings."""
    out: dict[str, str] = {}
    if p := name_problem(m.name, {o.name for o in others}):
        out["name"] = p
    if m.mode not in MAPPING_MODES:
        out["mode"] = f"choose one of {', '.join(MAPPING_MODES)}"
    if m.mode != "proxy" or m.local_addr:
        if not m.local_addr.strip():
            out["local_addr"] = f"a {m.mode} mapping forwards to a local HOST:PORT, e.g. 127.0.0.1:8080"
        elif p := address_problem(m.local_addr):
            out["local_addr"] = p
    if re.search(r"\s", m.domain):
        out["domain"] = "a domain has no spaces"
    if m.remote_port is not None:
        if m.mode not in ("tcp", "proxy"):
            out["remote_port"] = "only tcp and proxy mappings get a public port of their own"
        elif not 1 <= m.remote_port <= 65535:
            out["remote_port"] = "port must be 1-65535"
        elif any(o.remote_port == m.remote_port for o in others):
            out["remote_port"] = f"port {m.remote_port} is used by another mapping"
    if not out:
        out = _item_problem(ClientConfig(mappings=[*others, m]), "mappings", len(others))
    return out


def proxy_problems(p: ProxyListenerConfig, others: list[ProxyListenerConfig]) -> dict[str, str]:
    """Problems of local proxy listener ``p`` given the profile's other listeners."""
    out: dict[str, str] = {}
    if e := name_problem(p.name, {o.name for o in others}):
        out["name"] = e
    if e := address_problem(p.bind, listen=True):
        out["bind"] = e
    elif p.enabled and any(o.enabled and o.bind.strip() == p.bind.strip() for o in others):
        out["bind"] = f"{p.bind} is used by another listener"
    if not p.protocols:
        out["protocols"] = "choose at least one protocol"
    if p.password and not p.username:
        out["username"] = "a password needs a username"
    if not out:
        out = _item_problem(ClientConfig(proxies=[*others, p]), "proxy", len(others))
    return out
