"""Form validation for the dialogs: {field: one-line problem}, computed before anything is saved,
in the user's language.

The rules themselves are core.config's (parse_addr, check_fingerprint,
validate_config), so a form accepts exactly what a config file may say; this
module only turns them into per-field messages, checking each field on its own
first so the user sees every problem at once, then the whole config for the
cross-field rules (duplicate domains, ports, listeners).

The core words its problems in English (config files, logs and tests rely on
that text, so it stays as it is); ``translate_problem`` recognises each of those
messages by its shape and says it again through Qt's translations (context
"Validation"), with the values (addresses, names, numbers) carried over. A message
it does not know is shown as the core wrote it.
"""
from __future__ import annotations

import re

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from core.config import MAPPING_MODES, ClientConfig, MappingConfig, ProxyListenerConfig, check_fingerprint, parse_addr
from core.errors import ConfigError

from ..core_text import CoreMessages, quoted
from ..profiles import client_problem


def _tr(text: str) -> str:
    return QCoreApplication.translate("Validation", text)


# ------------------------------------------------------------------ the core's messages, translated

_q = quoted


# (the core's message as a regex, its translatable wording with the same {names}); the first match wins
_CORE_MESSAGES: tuple[tuple[str, str], ...] = (
    # addresses (parse_addr)
    (r"expected HOST:PORT, got an empty value",
     QT_TRANSLATE_NOOP("Validation", "enter HOST:PORT, e.g. example.com:8091")),
    (rf"{_q('text')} is not HOST:PORT \(IPv6 is written \[::1\]:80\)",
     QT_TRANSLATE_NOOP("Validation", "{text} is not HOST:PORT (IPv6 is written [::1]:80)")),
    (rf"{_q('text')}: {_q('host')} in brackets is not an IPv6 address",
     QT_TRANSLATE_NOOP("Validation", "{text}: {host} in brackets is not an IPv6 address")),
    (rf"{_q('text')} is not HOST:PORT",
     QT_TRANSLATE_NOOP("Validation", "{text} is not HOST:PORT")),
    (rf"{_q('text')}: {_q('host')} is not a host name or IPv4 address",
     QT_TRANSLATE_NOOP("Validation", "{text}: {host} is not a host name or IPv4 address")),
    (rf"{_q('text')}: port {_q('port')} is not a number",
     QT_TRANSLATE_NOOP("Validation", "{text}: port {port} is not a number")),
    (rf"{_q('text')}: port (?P<port>\d+) is out of range (?P<low>\d+)-65535",
     QT_TRANSLATE_NOOP("Validation", "{text}: port {port} is out of range {low}-65535")),
    # fingerprints
    (rf"{_q('text')} is not a SHA-256 fingerprint \(64 hex digits, ':' allowed\)",
     QT_TRANSLATE_NOOP("Validation", "{text} is not a SHA-256 fingerprint (64 hex digits, ':' allowed)")),
    # header rules
    (rf"header rule {_q('rule')}: unbalanced quote",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule}: a quote is not closed")),
    (rf"header rule {_q('rule')} is not {_q('form')} \(quote values with spaces\)",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule} is not {form} (quote values with spaces)")),
    (rf"header rule {_q('rule')}: {_q('name')} is not a header name",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule}: {name} is not a header name")),
    (rf"header rule {_q('rule')}: value contains a line break or NUL",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule}: the value contains a line break or NUL")),
    (rf"header rule {_q('rule')}\.\.\.: name is longer than (?P<n>\d+) bytes",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule}…: the name is longer than {n} bytes")),
    (rf"header rule {_q('rule')}\.\.\.: value is longer than (?P<n>\d+) bytes",
     QT_TRANSLATE_NOOP("Validation", "header rule {rule}…: the value is longer than {n} bytes")),
    (r"empty header rule", QT_TRANSLATE_NOOP("Validation", "the header rule is empty")),
    # the client section (validate_config)
    (r"is an empty list: name at least one server",
     QT_TRANSLATE_NOOP("Validation", "name at least one server")),
    (r"(?P<server>\S+) is already server\[(?P<i>\d+)\]",
     QT_TRANSLATE_NOOP("Validation", "{server} is listed twice")),
    (r"must not be empty \(leave it out instead\)", QT_TRANSLATE_NOOP("Validation", "must not be empty")),
    (r"must not be empty", QT_TRANSLATE_NOOP("Validation", "must not be empty")),
    (r"is longer than (?P<n>\d+) bytes", QT_TRANSLATE_NOOP("Validation", "at most {n} bytes")),
    (rf"{_q('name')} is already the name of mappings\[(?P<i>\d+)\]",
     QT_TRANSLATE_NOOP("Validation", "{name} is already the name of another mapping")),
    (rf"{_q('name')} is already the name of proxy\[(?P<i>\d+)\]",
     QT_TRANSLATE_NOOP("Validation", "{name} is already the name of another local proxy")),
    (rf"{_q('value')} is not one of (?P<allowed>.+)",
     QT_TRANSLATE_NOOP("Validation", "{value} is not one of {allowed}")),
    (r"missing: a (?P<mode>\w+) mapping forwards to a local HOST:PORT",
     QT_TRANSLATE_NOOP("Validation", "a {mode} mapping forwards to a local HOST:PORT, e.g. 127.0.0.1:8080")),
    (rf"{_q('domain')} is not a domain name", QT_TRANSLATE_NOOP("Validation", "{domain} is not a domain name")),
    (rf"domain {_q('domain')} is already routed to (?P<mode>\w+) mapping {_q('name')}",
     QT_TRANSLATE_NOOP("Validation", "domain {domain} is already routed to {mode} mapping {name}")),
    (rf"the catch-all \(empty\) domain is already routed to (?P<mode>\w+) mapping {_q('name')}",
     QT_TRANSLATE_NOOP("Validation", "the catch-all (empty) domain is already routed to {mode} mapping {name}")),
    (r"is only for tcp, http and https mappings",
     QT_TRANSLATE_NOOP("Validation", "only for tcp, http and https mappings")),
    (r"is only for https mappings \(HTTP/2 is negotiated in TLS\)",
     QT_TRANSLATE_NOOP("Validation", "only for https mappings (HTTP/2 is negotiated in TLS)")),
    (r"is only for proxy mappings", QT_TRANSLATE_NOOP("Validation", "only for proxy mappings")),
    (r"missing: a proxy mapping's credentials need both username and password",
     QT_TRANSLATE_NOOP("Validation", "a proxy mapping's credentials need both a username and a password")),
    (r"is only for tcp and proxy mappings",
     QT_TRANSLATE_NOOP("Validation", "only tcp and proxy mappings get a public port of their own")),
    (r"port (?P<port>\d+) is out of range 1-65535",
     QT_TRANSLATE_NOOP("Validation", "port {port} is out of range 1-65535")),
    (r"port (?P<port>\d+) is already used by mappings\[(?P<i>\d+)\]",
     QT_TRANSLATE_NOOP("Validation", "port {port} is used by another mapping")),
    (r"must name at least one of (?P<allowed>.+)",
     QT_TRANSLATE_NOOP("Validation", "choose at least one of {allowed}")),
    (rf"{_q('value')} is listed twice", QT_TRANSLATE_NOOP("Validation", "{value} is listed twice")),
    (r"missing: password is set, so username is needed too",
     QT_TRANSLATE_NOOP("Validation", "a password needs a username")),
    (r"missing: (?:cert_file is set, so key_file|map_cert is set, so map_key) is needed too",
     QT_TRANSLATE_NOOP("Validation", "a certificate needs its key file too")),
    (r"missing: (?:key_file is set, so cert_file|map_key is set, so map_cert) is needed too",
     QT_TRANSLATE_NOOP("Validation", "a key needs its certificate file too")),
    (r"missing: (?P<have>\w+) is set, so (?P<missing>\w+) is needed too",
     QT_TRANSLATE_NOOP("Validation", "{have} is set, so {missing} is needed too")),
    (rf"{_q('name')} is not a host name", QT_TRANSLATE_NOOP("Validation", "{name} is not a host name")),
    (r"(?P<addr>\S+) is already used by (?P<other>\S+)",  # other: a config key (client.proxy[0].bind)
     QT_TRANSLATE_NOOP("Validation", "{addr} is used by another listener")),
    (r"must be greater than 0, got (?P<value>\S+)",
     QT_TRANSLATE_NOOP("Validation", "must be greater than 0, got {value}")),
)
_MESSAGES = CoreMessages("Validation", _CORE_MESSAGES)


def translate_problem(problem: str) -> str:
    """A core.config problem in the user's language (the core's English when it is not one it knows)."""
    return _MESSAGES.translate(problem)


def known_problem(problem: str) -> bool:
    """Whether ``translate_problem`` has a translation for ``problem`` (for tests)."""
    return _MESSAGES.knows(problem)


# ------------------------------------------------------------------ field checks

def address_problem(text: str, *, listen: bool = False) -> str | None:
    try:
        parse_addr(text, listen=listen)
    except ConfigError as e:
        return translate_problem(e.problem)
    return None


def fingerprint_problem(fp: str) -> str | None:
    try:
        check_fingerprint(fp)
    except ConfigError as e:
        return translate_problem(e.problem)
    return None


def name_problem(name: str, taken: set[str]) -> str | None:
    if not name.strip():
        return QCoreApplication.translate("Validation", "a name is required")
    if len(name.encode()) > 255:
        return QCoreApplication.translate("Validation", "at most 255 bytes")
    if name != name.strip():
        return QCoreApplication.translate("Validation", "no spaces at the start or end")
    if name in taken:
        return QCoreApplication.translate("Validation", "{name} is already used").format(name=repr(name))
    return None


_ITEM_KEY = re.compile(r"^client\.(mappings|proxy)\[(\d+)\]\.(\w+)")


def _item_problem(client: ClientConfig, section: str, row: int) -> dict[str, str]:
    """Cross-field problems of item ``row`` of ``section`` found by validate_config, as {field: problem}."""
    err = client_problem(client)
    if err is None:
        return {}
    m = _ITEM_KEY.match(err.key or "")
    if m and m.group(1) == section and int(m.group(2)) == row:
        return {m.group(3): translate_problem(err.problem)}
    return {}


def mapping_problems(m: MappingConfig, others: list[MappingConfig]) -> dict[str, str]:
    """Problems of mapping ``m`` given the profile's other mappings."""
    out: dict[str, str] = {}
    if p := name_problem(m.name, {o.name for o in others}):
        out["name"] = p
    if m.mode not in MAPPING_MODES:
        out["mode"] = QCoreApplication.translate("Validation", "choose one of {modes}").format(
            modes=", ".join(MAPPING_MODES))
    if m.mode != "proxy" or m.local_addr:
        if not m.local_addr.strip():
            out["local_addr"] = QCoreApplication.translate(
                "Validation", "a {mode} mapping forwards to a local HOST:PORT, e.g. 127.0.0.1:8080").format(mode=m.mode)
        elif p := address_problem(m.local_addr):
            out["local_addr"] = p
    if re.search(r"\s", m.domain):
        out["domain"] = QCoreApplication.translate("Validation", "a domain has no spaces")
    if m.remote_port is not None:
        if m.mode not in ("tcp", "proxy"):
            out["remote_port"] = QCoreApplication.translate(
                "Validation", "only tcp and proxy mappings get a public port of their own")
        elif not 1 <= m.remote_port <= 65535:
            out["remote_port"] = QCoreApplication.translate("Validation", "port must be 1-65535")
        elif any(o.remote_port == m.remote_port for o in others):
            out["remote_port"] = QCoreApplication.translate(
                "Validation", "port {port} is used by another mapping").format(port=m.remote_port)
    if not out:
        out = _item_problem(ClientConfig(mappings=[*others, m]), "mappings", len(others))
    return out


def header_problem(line_no: int, problem: str) -> str:
    """A header rule line that does not parse: which line, and why."""
    return QCoreApplication.translate("Validation", "line {n}: {problem}").format(
        n=line_no, problem=translate_problem(problem))


def proxy_problems(p: ProxyListenerConfig, others: list[ProxyListenerConfig]) -> dict[str, str]:
    """Problems of local proxy listener ``p`` given the profile's other listeners."""
    out: dict[str, str] = {}
    if e := name_problem(p.name, {o.name for o in others}):
        out["name"] = e
    if e := address_problem(p.bind, listen=True):
        out["bind"] = e
    elif p.enabled and any(o.enabled and o.bind.strip() == p.bind.strip() for o in others):
        out["bind"] = QCoreApplication.translate("Validation", "{addr} is used by another listener").format(
            addr=p.bind)
    if not p.protocols:
        out["protocols"] = QCoreApplication.translate("Validation", "choose at least one protocol")
    if p.password and not p.username:
        out["username"] = QCoreApplication.translate("Validation", "a password needs a username")
    if not out:
        out = _item_problem(ClientConfig(proxies=[*others, p]), "proxy", len(others))
    return out
