"""Why a server refused a mapping (extension "status"), in the user's language.

The server words its reasons in English (core/server.py ``mapping_state``,
core/mapping.py, ``listen_error``); these are their shapes. A reason from a
newer or foreign server that is not listed here is shown as it came.
"""
from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP

from .core_text import CoreMessages, quoted

_TAKES_OVER = r" is served by another client \((?P<peer>[^)]*)\); this mapping takes over when it disconnects"

REASONS = CoreMessages("ServerReason", (
    (r"this server has no (?P<mode>\w+) listener \((?P<key>map_\w+_bind)\)",
     QT_TRANSLATE_NOOP("ServerReason", "this server has no {mode} listener (server setting {key})")),
    (r"the catch-all \((?P<mode>\w+)\)" + _TAKES_OVER,
     QT_TRANSLATE_NOOP("ServerReason", "the catch-all {mode} mapping is served by another client ({peer}); "
                                       "this mapping takes over when it disconnects")),
    (r"(?P<domain>\S+) \((?P<mode>\w+)\)" + _TAKES_OVER,
     QT_TRANSLATE_NOOP("ServerReason", "{domain} ({mode}) is served by another client ({peer}); "
                                       "this mapping takes over when it disconnects")),
    (r"this server has no shared (?P<mode>\w+) listener \((?P<key>map_\w+_bind)\); give the mapping a remote_port",
     QT_TRANSLATE_NOOP("ServerReason", "this server has no shared {mode} port (server setting {key}); "
                                       "give the mapping a remote port")),
    (rf"the shared (?P<mode>\w+) port serves the newer mapping {quoted('name')}; give this one a remote_port",
     QT_TRANSLATE_NOOP("ServerReason", "the shared {mode} port serves the newer mapping {name}; "
                                       "give this one a remote port")),
    (rf"unknown mapping mode {quoted('mode')}",
     QT_TRANSLATE_NOOP("ServerReason", "the server does not know the mapping mode {mode}")),
    (r"remote_port (?P<port>\d+) is used by another client's mapping",
     QT_TRANSLATE_NOOP("ServerReason", "remote port {port} is used by another client's mapping")),
    (r"remote_port (?P<port>\d+) is below (?P<low>\d+): refused",
     QT_TRANSLATE_NOOP("ServerReason", "remote port {port} is refused: the server takes ports from {low} up")),
    (r"cannot listen on (?P<addr>\S+): address already in use",
     QT_TRANSLATE_NOOP("ServerReason", "{addr} is in use on the server")),
    (r"cannot listen on (?P<addr>\S+): permission denied \(ports below 1024 need privileges\)",
     QT_TRANSLATE_NOOP("ServerReason", "the server cannot open {addr}: permission denied "
                                       "(ports below 1024 need privileges)")),
    (r"cannot listen on (?P<addr>\S+): this machine has no such address",
     QT_TRANSLATE_NOOP("ServerReason", "the server cannot open {addr}: it has no such address")),
    (r"cannot listen on (?P<addr>\S+): (?P<why>.+)",  # the operating system's own words
     QT_TRANSLATE_NOOP("ServerReason", "the server cannot open {addr}: {why}")),
))


def translate_reason(reason: str) -> str:
    """A server's refusal of a mapping in the user's language (as it came when unknown)."""
    return REASONS.translate(reason)
