"""Connection failures in the user's language: one line saying what is wrong and what to do next.

core.diagnose decides the kind (Qt-free); this module only words it, so every place
that shows a failure (Test connection, the Profiles table, the status bar, tray
notifications) says the same thing, translated, and never shows raw exception text.
"""
from __future__ import annotations

import asyncio

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from core import diagnose as D
from core.errors import WmproxyError


UNKNOWN_SERVER = "unknown_server"  # TOFU: a server whose certificate the user has not confirmed yet


def classify(exc: BaseException | None, addr: str, tls_enabled: bool, message: str = "") -> D.Diagnosis:
    """core.diagnose.classify, plus the GUI's own kind: a first contact the user must confirm (the GUI's
    clients never trust a new certificate silently; ``new_fingerprint`` is what the server shows)."""
    from core.tls import UnknownServerError

    if isinstance(exc, UnknownServerError):
        return D.Diagnosis(UNKNOWN_SERVER, exc.host_port or addr, new_fingerprint=exc.fingerprint)
    return D.classify(exc, addr, tls_enabled, message)


def _tr(text: str) -> str:
    """Translate a string marked with QT_TRANSLATE_NOOP("Diagnosis", ...)."""
    return QCoreApplication.translate("Diagnosis", text)


def describe(d: D.Diagnosis) -> str:
    """The translated line for ``d`` (addresses and fingerprints filled in)."""
    a = d.addr
    texts = {
        D.REFUSED: QT_TRANSLATE_NOOP("Diagnosis", "Nothing is listening on {addr}. Check the port, and that the server is running."),
        D.TIMEOUT: QT_TRANSLATE_NOOP("Diagnosis", "No answer from {addr}. Check the address, and any firewall between you and the server."),
        D.UNREACHABLE: QT_TRANSLATE_NOOP("Diagnosis", "{addr} cannot be reached from this network. Check the address and your connection."),
        D.DNS: QT_TRANSLATE_NOOP("Diagnosis", "The host name in {addr} is unknown. Check the spelling of the server address."),
        D.SERVER_TLS: QT_TRANSLATE_NOOP("Diagnosis", "{addr} uses TLS, but this profile has encryption off. Edit the profile and set "
                          "Encryption to \"Trust on first use\"."),
        D.SERVER_PLAIN: QT_TRANSLATE_NOOP("Diagnosis", "{addr} does not use TLS, but this profile does. Set Encryption to \"Off\", or turn "
                            "TLS on at the server."),
        D.AUTH: QT_TRANSLATE_NOOP("Diagnosis", "{addr} refused the username or password. Check both in the profile (the password is "
                    "case-sensitive)."),
        D.CERT_CHANGED: QT_TRANSLATE_NOOP("Diagnosis", "The certificate of {addr} has changed. If the server was reinstalled, compare the new "
                            "fingerprint with the server's and trust it on the Certificates page."),
        D.CERT_PIN: QT_TRANSLATE_NOOP("Diagnosis", "The certificate of {addr} does not match the pinned fingerprint. Check the fingerprint "
                        "in the profile against the server's."),
        D.CERT_INVALID: QT_TRANSLATE_NOOP("Diagnosis", "The certificate of {addr} could not be verified. Check the CA file in the profile, "
                            "or use \"Trust on first use\"."),
        D.CLOSED: QT_TRANSLATE_NOOP("Diagnosis", "{addr} closed the connection ({reason}). See the server's log for why."),
        UNKNOWN_SERVER: QT_TRANSLATE_NOOP("Diagnosis", "{addr} is not trusted yet: confirm its certificate "
                                                       "fingerprint to connect to it."),
    }
    text = _tr(texts.get(d.kind, QT_TRANSLATE_NOOP("Diagnosis", "Cannot connect to {addr}. See the Logs page for "
                                                               "details.")))
    reason = d.detail if d.detail != "no reason given" else QCoreApplication.translate("Diagnosis",
                                                                                          "no reason given")
    return text.format(addr=a, reason=reason)


def failure_text(exc: BaseException | None, addr: str, tls_enabled: bool, message: str = "") -> str:
    """``describe`` of what ``exc`` means for a connection to ``addr``."""
    if isinstance(exc, D.ConnectionProblem):
        return describe(exc.diagnosis)
    return describe(classify(exc, addr, tls_enabled, message))


def error_text(exc: BaseException) -> str:
    """One line for any exception a page caught: our own errors say what to do; others are worded
    by kind, never by their raw text."""
    if isinstance(exc, D.ConnectionProblem):
        return describe(exc.diagnosis)
    if isinstance(exc, WmproxyError):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return text or QCoreApplication.translate("Diagnosis", "Something went wrong. See the Logs page for details.")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return QCoreApplication.translate("Diagnosis", "Timed out. Check the address and your connection.")
    if isinstance(exc, PermissionError):
        return QCoreApplication.translate("Diagnosis", "Permission denied: {name}").format(name=exc.filename or "")
    if isinstance(exc, FileNotFoundError):
        return QCoreApplication.translate("Diagnosis", "No such file: {name}").format(name=exc.filename or "")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return QCoreApplication.translate("Diagnosis", "Something went wrong. See the Logs page for details.")
