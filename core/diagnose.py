"""Why a connection to a center server failed, as one kind a user can act on.

``classify`` turns what the engine raised (``CenterClient.last_exception``) into a
``Diagnosis``: refused, timed out, unreachable, unknown host, server speaks TLS /
plain, wrong login, certificate changed / not matching / not verifiable. It is
pure, so the GUI translates by kind and the headless client can print ``text()``.

``probe`` answers the one question an exception cannot: does anything listen at
host:port, and does it speak TLS? A TLS client talking to a plain server just
waits (the server waits for frames, the client for a ServerHello), and a plain
client talking to a TLS server only sees the link closed; one short TLS
handshake attempt tells the two apart. It sends a ClientHello and nothing else:
no credentials, and the server sees one aborted connection.
"""
from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass

from .errors import AuthError, TlsError, WmproxyError

# kinds, in the order a user would check them
REFUSED = "refused"  # nothing listens on that port
TIMEOUT = "timeout"  # no answer at all (address, firewall)
UNREACHABLE = "unreachable"  # no route to that network / host
DNS = "dns"  # the host name does not resolve
SERVER_TLS = "server_tls"  # the server speaks TLS, the profile does not
SERVER_PLAIN = "server_plain"  # the profile speaks TLS, the server does not
AUTH = "auth"  # username or password refused
CERT_CHANGED = "cert_changed"  # TOFU: another certificate than the one trusted before
CERT_PIN = "cert_pin"  # the pinned fingerprint does not match
CERT_INVALID = "cert_invalid"  # CA verification or another TLS failure
CLOSED = "closed"  # the server closed the link and said why
OTHER = "other"

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Diagnosis:
    """One failure: ``kind`` (above), the ``addr`` tried, and what the kind needs to be explained."""

    kind: str
    addr: str
    detail: str = ""  # the server's reason for CLOSED / the engine's text for OTHER (no secrets)
    old_fingerprint: str = ""  # CERT_CHANGED: trusted before / CERT_PIN: the pinned one
    new_fingerprint: str = ""  # CERT_CHANGED, CERT_PIN: what the server shows now

    def text(self) -> str:
        """One English line with the next step (logs, the headless client)."""
        a = self.addr
        return {
            REFUSED: f"nothing is listening on {a}: check the port and that the server is running",
            TIMEOUT: f"no answer from {a}: check the address and any firewall on the way",
            UNREACHABLE: f"{a} cannot be reached from this network: check the address and your connection",
            DNS: f"the host name of {a} is unknown: check the server address",
            SERVER_TLS: f"{a} uses TLS but this client does not: turn TLS on (trust on first use)",
            SERVER_PLAIN: f"{a} does not use TLS but this client does: turn TLS off, or on at the server",
            AUTH: f"{a} refused the username or password: check both",
            CERT_CHANGED: f"the certificate of {a} changed: compare the new fingerprint with the server's, "
                          "then trust the new certificate",
            CERT_PIN: f"the certificate of {a} does not match the pinned fingerprint: check the fingerprint",
            CERT_INVALID: f"the certificate of {a} could not be verified: check the CA file, or use trust on "
                          "first use",
            CLOSED: f"{a} closed the connection: {self.detail}",
        }.get(self.kind, f"cannot connect to {a}" + (f": {self.detail}" if self.detail else ""))


class ConnectionProblem(WmproxyError):
    """A connection attempt failed for a known reason (``diagnosis``); raised by the GUI's test."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis
        super().__init__(diagnosis.text())


def _os_kind(e: OSError) -> str | None:
    if isinstance(e, socket.gaierror):
        return DNS
    if isinstance(e, ConnectionRefusedError) or e.errno == errno.ECONNREFUSED:
        return REFUSED
    if isinstance(e, TimeoutError) or e.errno == errno.ETIMEDOUT:
        return TIMEOUT
    if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
        return UNREACHABLE
    return None


def classify(exc: BaseException | None, addr: str, tls_enabled: bool, message: str = "") -> Diagnosis:
    """The kind of ``exc`` (what connecting to ``addr`` raised); ``message`` is the engine's text."""
    from . import tls as _tls

    if isinstance(exc, _tls.CertificateChangedError) and exc.old:
        return Diagnosis(CERT_CHANGED, addr, old_fingerprint=exc.old, new_fingerprint=exc.new)
    if isinstance(exc, AuthError):
        return Diagnosis(AUTH, addr)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Diagnosis(CERT_INVALID, addr)
    if isinstance(exc, ssl.SSLError):
        reason = (getattr(exc, "reason", "") or "").upper()
        if tls_enabled and reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                                      "UNKNOWN_PROTOCOL", "HTTP_REQUEST"):
            return Diagnosis(SERVER_PLAIN, addr)
        return Diagnosis(CERT_INVALID, addr)
    if isinstance(exc, TlsError):
        text = str(exc)
        if "pinned" in text:
            return Diagnosis(CERT_PIN, addr)
        return Diagnosis(CERT_INVALID, addr)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Diagnosis(TIMEOUT, addr)
    if isinstance(exc, OSError):
        kind = _os_kind(exc)
        if kind is not None:
            return Diagnosis(kind, addr)
        return Diagnosis(OTHER, addr, exc.strerror or "")
    if isinstance(exc, WmproxyError):
        text = str(exc)
        if "closed the link" in text or "lost:" in text:
            reason = text.rsplit(": ", 1)[-1]
            if reason in ("link closed by peer", "closed by server", "connection lost", ""):
                return Diagnosis(CLOSED, addr, "no reason given")
            return Diagnosis(CLOSED, addr, reason)
        return Diagnosis(OTHER, addr, text)
    return Diagnosis(OTHER, addr, message)


async def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str:
    """What is at host:port: REFUSED / TIMEOUT / UNREACHABLE / DNS, or "tls" / "plain" when it accepts.

    "tls": a TLS handshake completed (any certificate; nothing is verified or sent after it).
    "plain": the connection was accepted but no TLS answer came (a server waiting for frames),
    or the bytes that came back were not TLS."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return TIMEOUT
    except OSError as e:
        return _os_kind(e) or UNREACHABLE
    try:
        await asyncio.wait_for(w.start_tls(ctx, server_hostname=host if not _is_ip(host) else None), timeout)
        return "tls"
    except ssl.SSLError:
        return "plain"  # the answer was not TLS
    except (asyncio.TimeoutError, TimeoutError):
        return "plain"  # accepted, but no ServerHello: a plain server waiting for frames
    except (ConnectionError, OSError, EOFError):
        return "plain"  # closed at our ClientHello: not TLS on that port
    finally:
        w.transport.abort()


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


async def check_reachable(host: str, port: int, tls_enabled: bool,
                          timeout: float = PROBE_TIMEOUT) -> Diagnosis | None:
    """The reason a connection cannot work before logging in at all, or None when it can."""
    from .config import format_addr

    addr = format_addr(host, port)
    found = await probe(host, port, timeout)
    if found == "tls":
        return None if tls_enabled else Diagnosis(SERVER_TLS, addr)
    if found == "plain":
        return Diagnosis(SERVER_PLAIN, addr) if tls_enabled else None
    return Diagnosis(found, addr)
