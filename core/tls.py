"""TLS material and policy: certificates, contexts, pinning and trust-on-first-use.

Everything cryptographic is done by ``cryptography`` and the ``ssl`` module;
this module only decides *what* to generate and *whom* to trust:

- a server without configured cert gets a self-signed one, generated once
  into the data dir and reused (its fingerprint stays stable for clients);
- a client verifies the server with a CA bundle (classic PKI, hostname
  checked), or with a pinned SHA-256 fingerprint, or trust-on-first-use:
  the first fingerprint seen for ``host:port`` is recorded in known_hosts
  and a different one later is refused, like ssh.

Pin and TOFU checks happen after the handshake (``verify_server``) because
the ssl module cannot express "trust exactly this certificate" otherwise.
Private key bytes never appear in messages or logs: errors name files only.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .config import ClientTls, ServerConfig, check_fingerprint
from .errors import ConfigError, TlsError
from .paths import atomic_write, default_known_hosts_path

log = logging.getLogger("wmproxy.tls")

SERVER_CERT_DAYS = 3650  # auto-generated center cert: long-lived, clients pin/TOFU its fingerprint


# ---------------------------------------------------------------- generation

def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days: int) -> tuple[_dt.datetime, _dt.datetime]:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now - _dt.timedelta(hours=1), now + _dt.timedelta(days=days)  # an hour of clock skew


def generate_ca(common_name: str, days: int = 3650) -> tuple[bytes, bytes]:
    """A new CA (EC P-256) -> ``(cert_pem, key_pem)``; signs certs with ``generate_cert(ca=...)``."""
    key = _new_key()
    start, end = _validity(days)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _split_names(names: Iterable[str]) -> tuple[list[str], list[str]]:
    dns, ips = [], []
    for n in names:
        try:
            ips.append(str(ipaddress.ip_address(n)))
        except ValueError:
            dns.append(n)
    return dns, ips


def generate_cert(common_name: str, dns_names: Iterable[str] = (), ip_addresses: Iterable[str] = (),
                  days: int = 825, ca: tuple[bytes, bytes] | None = None) -> tuple[bytes, bytes]:
    """A new leaf certificate (EC P-256) for server and client use -> ``(cert_pem, key_pem)``.

    Self-signed when ``ca`` is None, else signed by ``ca = (ca_cert_pem, ca_key_pem)``.
    SANs carry every DNS name and IP (clients check those, not the CN).
    """
    key = _new_key()
    dns = list(dict.fromkeys(dns_names))
    ips = [ipaddress.ip_address(i) for i in dict.fromkeys(ip_addresses)]
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips]
    start, end = _validity(days)
    if ca is None:
        issuer_name, signing_key = _name(common_name), key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    else:
        ca_cert = x509.load_pem_x509_certificate(ca[0])
        try:
            signing_key = serialization.load_pem_private_key(ca[1], password=None)
        except (ValueError, TypeError):
            raise TlsError("the CA key is not an unencrypted PEM private key") from None
        issuer_name = ca_cert.subject
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


# ---------------------------------------------------------------- files

def write_private_key(path: str | os.PathLike[str], pem: bytes) -> None:
    """Write a private key: mode 0600 from the moment the file exists, replaced atomically."""
    atomic_write(path, pem, mode=0o600)


def write_cert(path: str | os.PathLike[str], pem: bytes) -> None:
    """Write a certificate (public): mode 0644, replaced atomically."""
    atomic_write(path, pem, mode=0o644)


# ---------------------------------------------------------------- inspection

@dataclass(frozen=True)
class CertInfo:
    """What a user needs to recognise a certificate."""

    subject: str
    issuer: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    fingerprint: str  # SHA-256 of the DER, lowercase hex, no colons
    dns_names: tuple[str, ...]
    ips: tuple[str, ...]
    is_ca: bool

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate: 64 lowercase hex digits (the pin and TOFU format)."""
    return hashlib.sha256(der).hexdigest()


def format_fingerprint(fp: str) -> str:
    """The one way a fingerprint is shown to people: ``AB:12:...`` (as ``openssl x509 -fingerprint``).

    Used by the server's output, the trust dialog, the Certificates page and known_hosts, so
    the comparison TOFU depends on is between identical strings. Any accepted spelling goes in.
    """
    try:
        fp = check_fingerprint(fp)
    except ConfigError:
        pass  # not a fingerprint: shown as it is, grouped
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()


def normalize_fingerprint(text: str) -> str:
    """Any common spelling (colons, spaces, uppercase, ``sha256:`` prefix) -> 64 lowercase hex."""
    try:
        return check_fingerprint(text)
    except ConfigError as e:
        raise TlsError(e.problem) from None


def _load_cert(pem_or_der: bytes | str) -> x509.Certificate:
    data = pem_or_der.encode() if isinstance(pem_or_der, str) else bytes(pem_or_der)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise TlsError(f"not a certificate: {e}") from None


def cert_info(pem_or_der: bytes | str) -> CertInfo:
    """Subject, validity, fingerprint and names of a PEM or DER certificate."""
    cert = _load_cert(pem_or_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        dns_names=dns,
        ips=ips,
        is_ca=is_ca,
    )


def cert_file_info(path: str | os.PathLike[str]) -> CertInfo:
    """cert_info of the first certificate in a file, TlsError naming the file if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TlsError(f"cannot read certificate {path}: {e.strerror or e}") from None
    try:
        return cert_info(data)
    except TlsError as e:
        raise TlsError(f"{path}: {e}") from None


# ---------------------------------------------------------------- server certificate

def default_cert_names() -> list[str]:
    """Names a generated server cert covers: this machine's name and loopback."""
    names = ["localhost", "127.0.0.1", "::1"]
    host = socket.gethostname()
    if host and host not in names:
        names.insert(0, host)
    return names


def ensure_server_cert(cert_file: str | None, key_file: str | None, data_dir: str | os.PathLike[str],
                       names: Iterable[str] | None = None, *, stem: str = "server") -> tuple[Path, Path]:
    """The cert/key pair a TLS listener should use.

    Configured files are returned as they are (they must exist). With none
    configured, ``data_dir/tls/<stem>.crt`` and ``.key`` are generated on the
    first run (self-signed, names from ``names``) and reused afterwards, so
    clients that pinned or TOFU-recorded the fingerprint keep working.
    """
    if cert_file or key_file:
        if not (cert_file and key_file):
            raise TlsError("cert_file and key_file must be set together")
        for p in (cert_file, key_file):
            if not Path(p).is_file():
                raise TlsError(f"certificate/key file not found: {p}")
        return Path(cert_file), Path(key_file)
    tls_dir = Path(data_dir) / "tls"
    cert_path, key_path = tls_dir / f"{stem}.crt", tls_dir / f"{stem}.key"
    with _GEN_LOCK:
        if cert_path.is_file() and key_path.is_file():
            info = cert_file_info(cert_path)
            if info.not_after < _dt.datetime.now(_dt.timezone.utc):
                log.warning("generated certificate %s expired on %s; delete it to get a new one "
                            "(clients will see a new fingerprint)", cert_path, info.not_after.date())
            return cert_path, key_path
        dns, ips = _split_names(names if names is not None else default_cert_names())
        cn = (dns or ips or ["wmproxy-gui"])[0]
        cert_pem, key_pem = generate_cert(cn, dns, ips, days=SERVER_CERT_DAYS)
        write_private_key(key_path, key_pem)  # key first: a cert without its key is useless
        write_cert(cert_path, cert_pem)
        log.info("generated a self-signed certificate %s (sha256 %s)", cert_path, cert_info(cert_pem).fingerprint)
        return cert_path, key_path


_GEN_LOCK = threading.Lock()


# ---------------------------------------------------------------- contexts

def _load_chain(ctx: ssl.SSLContext, cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> None:
    def no_password() -> bytes:  # never prompt on a terminal for an encrypted key
        raise TlsError(f"private key {key_file} is encrypted; wmproxy-gui needs an unencrypted key file")

    try:
        ctx.load_cert_chain(os.fspath(cert_file), os.fspath(key_file), password=no_password)
    except TlsError:
        raise
    except FileNotFoundError as e:
        raise TlsError(f"certificate/key file not found: {e.filename}") from None
    except OSError as e:  # SSLError is an OSError; its text names the OpenSSL reason, not key bytes
        reason = getattr(e, "reason", None) or e.strerror or type(e).__name__
        raise TlsError(f"cannot load certificate {cert_file} with key {key_file}: {reason}") from None


def _load_cas(ctx: ssl.SSLContext, ca_file: str | os.PathLike[str], what: str) -> None:
    try:
        ctx.load_verify_locations(cafile=os.fspath(ca_file))
    except FileNotFoundError:
        raise TlsError(f"{what} not found: {ca_file}") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
        raise TlsError(f"cannot load {what} {ca_file}: {reason}") from None


def server_context(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str],
                   client_ca: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """TLS 1.2+ server context; with ``client_ca`` clients must show a cert signed by it (mutual TLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # one TLS 1.3 session ticket per handshake (OpenSSL sends two): a client resumes with one,
    # and each ticket is an encryption the server pays on every (resumed) handshake
    ctx.num_tickets = 1
    # TLS 1.2 peers: ECDHE with AES-GCM first (AES-NI makes it the cheapest), 128-bit before 256
    ctx.set_ciphers("ECDHE+AESGCM+AES128:ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!RC4:!3DES")
    _load_chain(ctx, cert_file, key_file)
    if client_ca is not None:
        _load_cas(ctx, client_ca, "client CA file")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_context_for(cfg: ServerConfig, data_dir: str | os.PathLike[str]) -> tuple[ssl.SSLContext, str]:
    """The center listener's context and its cert fingerprint, from a ServerConfig.

    With ``two_way_tls`` clients must show a certificate signed by ``client_ca``
    (the upstream importer sets it to the server's own cert, as upstream does).
    """
    cert_path, key_path = ensure_server_cert(cfg.cert_file, cfg.key_file, data_dir)
    client_ca: str | None = None
    if cfg.two_way_tls:
        if not cfg.client_ca:
            raise TlsError("two_way_tls needs client_ca: the CA file that signs client certificates")
        client_ca = cfg.client_ca
    ctx = server_context(cert_path, key_path, client_ca)
    return ctx, cert_file_info(cert_path).fingerprint


def client_context(tls: ClientTls) -> ssl.SSLContext:
    """TLS 1.2+ client context for the center link.

    With ``ca_file`` the handshake verifies chain and hostname (against
    ``server_hostname(tls, host)``). Without it the handshake accepts any
    certificate and ``verify_server`` must be called right after it (pin or
    TOFU). A client certificate is presented when ``cert_file`` is set.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca_file:
        _load_cas(ctx, tls.ca_file, "CA file")
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # verified by fingerprint in verify_server()
    if tls.cert_file or tls.key_file:
        if not (tls.cert_file and tls.key_file):
            raise TlsError("client cert_file and key_file must be set together")
        _load_chain(ctx, tls.cert_file, tls.key_file)
    return ctx


def server_hostname(tls: ClientTls, host: str) -> str | None:
    """SNI / verification name: ``server_name`` (upstream ``domain``) if set, else the host dialled."""
    if tls.server_name:
        return tls.server_name
    return host


# ---------------------------------------------------------------- TOFU store

def _host_port_key(host_port: str) -> str:
    host, sep, port = host_port.rpartition(":")
    if not sep:
        return host_port.lower()
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


class KnownHosts:
    """``host:port fingerprint`` lines: the servers this client has trusted on first use.

    Loaded fresh for each lookup (several processes may share the file) and
    written atomically. Blank lines and ``#`` comments are kept.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_known_hosts_path()
        self._lock = threading.Lock()

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise TlsError(f"cannot read known hosts file {self.path}: {e.strerror or e}") from None

    def load(self) -> dict[str, str]:
        """host:port -> fingerprint, for every valid line (read fresh from the file)."""
        return self.entries()

    def entries(self) -> dict[str, str]:
        """host:port -> fingerprint, for every valid line."""
        out: dict[str, str] = {}
        for line in self._lines():
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#"):
                try:
                    out[_host_port_key(parts[0])] = normalize_fingerprint(parts[1])
                except TlsError:
                    log.warning("ignoring a malformed line in %s", self.path)
        return out

    def dated_entries(self) -> dict[str, tuple[str, str]]:
        """host:port -> (fingerprint, the date it was trusted as YYYY-MM-DD, or "" if not recorded)."""
        out: dict[str, tuple[str, str]] = {}
        for line in self._lines():
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#"):
                try:
                    fp = normalize_fingerprint(parts[1])
                except TlsError:
                    continue
                out[_host_port_key(parts[0])] = (fp, parts[2] if len(parts) > 2 else "")
        return out

    def get(self, host_port: str) -> str | None:
        return self.entries().get(_host_port_key(host_port))

    def set(self, host_port: str, fp: str) -> None:
        """Record (or replace) the fingerprint trusted for ``host_port``, with today's date.

        Written in the display format (``format_fingerprint``) so a person reading the file
        compares the same string the server printed."""
        key, fp = _host_port_key(host_port), normalize_fingerprint(fp)
        day = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
        with self._lock:
            lines = [ln for ln in self._lines() if not self._is_entry_for(ln, key)]
            lines.append(f"{key} {format_fingerprint(fp)} {day}")
            self._write(lines)

    def remove(self, host_port: str) -> bool:
        """Forget ``host_port``; True if it was there."""
        key = _host_port_key(host_port)
        with self._lock:
            lines = self._lines()
            kept = [ln for ln in lines if not self._is_entry_for(ln, key)]
            if len(kept) == len(lines):
                return False
            self._write(kept)
            return True

    @staticmethod
    def _is_entry_for(line: str, key: str) -> bool:
        parts = line.split()
        return bool(parts) and not parts[0].startswith("#") and _host_port_key(parts[0]) == key

    def _write(self, lines: list[str]) -> None:
        text = "".join(f"{ln}\n" for ln in lines)
        try:
            atomic_write(self.path, text.encode("utf-8"), mode=0o644)
        except OSError as e:
            raise TlsError(f"cannot write known hosts file {self.path}: {e.strerror or e}") from None


class UnknownServerError(TlsError):
    """TOFU: first contact with a server and the caller wants to ask the user first.

    The GUI shows ``fingerprint`` to the user and, if accepted, calls
    ``KnownHosts(path).set(host_port, fingerprint)`` and reconnects.
    """

    def __init__(self, host_port: str, fp: str, known_hosts: Path) -> None:
        self.host_port = host_port
        self.fingerprint = fp
        self.known_hosts = known_hosts
        super().__init__(f"{host_port} is not a known server; its certificate fingerprint is {fp}")


def verify_server(tls: ClientTls, host_port: str, der_cert: bytes | None,
                  known_hosts_path: str | os.PathLike[str] | None = None, *, accept_new: bool = True) -> str:
    """Check the server's certificate after the handshake; return its fingerprint or raise TlsError.

    Order: a pinned ``fingerprint`` must match; else with ``ca_file`` the
    handshake already verified it; else TOFU compares with known_hosts (the
    first sighting is recorded, or raised as UnknownServerError when
    ``accept_new`` is False so the GUI can ask).
    """
    if not der_cert:
        raise TlsError(f"{host_port} sent no certificate")
    fp = fingerprint(der_cert)
    if tls.fingerprint:
        pinned = normalize_fingerprint(tls.fingerprint)
        if fp != pinned:
            raise TlsError(f"server certificate fingerprint {format_fingerprint(fp)} does not match "
                           f"the pinned {format_fingerprint(pinned)}")
        return fp
    if tls.ca_file:
        return fp
    if not tls.tofu:
        raise TlsError("cannot verify the server: set a CA file or a fingerprint, or enable trust on first use")
    path = Path(known_hosts_path or tls.known_hosts or default_known_hosts_path())
    store = KnownHosts(path)
    known = store.get(host_port)
    if known is None:
        if not accept_new:
            raise UnknownServerError(host_port, fp, path)
        store.set(host_port, fp)
        log.info("trusting %s on first use: SHA-256 %s (recorded in %s)", host_port, format_fingerprint(fp), path)
        return fp
    if known != fp:
        raise CertificateChangedError(host_port, known, fp, path)
    return fp


class CertificateChangedError(TlsError):
    """TOFU: the server shows another certificate than the one trusted before.

    Carries both fingerprints so a GUI can show them side by side and offer to trust the new
    one (``KnownHosts(known_hosts).set(host_port, new)``) without parsing the message."""

    def __init__(self, host_port: str, old: str = "", new: str = "", known_hosts: Path | None = None) -> None:
        self.host_port, self.old, self.new, self.known_hosts = host_port, old, new, known_hosts
        if not old:  # re-raised from its message alone (CenterClient.wait_connected does that)
            super().__init__(host_port)
            return
        super().__init__(f"the certificate of {host_port} changed from {format_fingerprint(old)} to "
                         f"{format_fingerprint(new)}; if this is expected remove the line from {known_hosts}")


def peer_der(transport_or_ssl: object) -> bytes | None:
    """The peer's DER certificate from an asyncio transport / StreamWriter or an SSLSocket/SSLObject."""
    obj = transport_or_ssl
    get_extra = getattr(obj, "get_extra_info", None)
    if get_extra is not None:
        obj = get_extra("ssl_object")
        if obj is None:
            return None
    getpeercert = getattr(obj, "getpeercert", None)
    return getpeercert(binary_form=True) if getpeercert is not None else None
