"""core/tls.py: generated certs in real TLS handshakes on 127.0.0.1, pinning, TOFU, mutual TLS."""
from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import threading
from dataclasses import dataclass
import re
from pathlib import Path

import pytest

from core import tls
from core.config import ClientTls, ServerConfig
from core.errors import TlsError

pytestmark = pytest.mark.timeout(60)

IO_TIMEOUT = 10.0


@dataclass
class Outcome:
    client_error: BaseException | None = None
    server_error: BaseException | None = None
    reply: bytes = b""
    server_der: bytes | None = None  # the server cert the client saw
    client_der: bytes | None = None  # the client cert the server saw


def tls_exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str | None) -> Outcome:
    """One real TLS connection over 127.0.0.1: handshake, client sends b'ping', server answers b'pong'."""
    out = Outcome()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IO_TIMEOUT)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(IO_TIMEOUT)
            with server_ctx.wrap_socket(conn, server_side=True) as s:
                out.client_der = s.getpeercert(binary_form=True)
                if s.recv(4) == b"ping":
                    s.sendall(b"pong")
        except (OSError, ssl.SSLError) as e:
            out.server_error = e
        finally:
            listener.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        with client_ctx.wrap_socket(raw, server_hostname=hostname) as c:
            out.server_der = c.getpeercert(binary_form=True)
            c.sendall(b"ping")
            out.reply = c.recv(4)
            if not out.reply:
                raise ConnectionResetError("server closed the connection without answering")
    except (OSError, ssl.SSLError) as e:
        out.client_error = e
    t.join(IO_TIMEOUT)
    assert not t.is_alive(), "TLS server thread hung"
    return out


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return tls.generate_ca("wmproxy test CA")


@pytest.fixture
def pki(tmp_path: Path, ca: tuple[bytes, bytes]) -> dict[str, Path]:
    """CA, a CA-signed server cert for localhost/127.0.0.1, a CA-signed client cert, a self-signed cert."""
    files: dict[str, Path] = {}

    def put(name: str, pair: tuple[bytes, bytes]) -> None:
        files[f"{name}_cert"] = tmp_path / f"{name}.crt"
        files[f"{name}_key"] = tmp_path / f"{name}.key"
        tls.write_cert(files[f"{name}_cert"], pair[0])
        tls.write_private_key(files[f"{name}_key"], pair[1])

    put("ca", ca)
    put("server", tls.generate_cert("server", ["localhost"], ["127.0.0.1"], ca=ca))
    put("client", tls.generate_cert("client-1", [], [], ca=ca))
    put("selfsigned", tls.generate_cert("self", ["localhost"], ["127.0.0.1", "::1"]))
    put("other", tls.generate_cert("self", ["localhost"], ["127.0.0.1"]))
    return files


# ---------------------------------------------------------------- generation and inspection

def test_generated_cert_fields(ca: tuple[bytes, bytes]) -> None:
    cert_pem, key_pem = tls.generate_cert("srv", ["localhost", "example.test"], ["127.0.0.1", "::1"], days=30, ca=ca)
    info = tls.cert_info(cert_pem)
    assert info.subject == "CN=srv"
    assert info.issuer == "CN=wmproxy test CA"
    assert info.dns_names == ("localhost", "example.test")
    assert info.ips == ("127.0.0.1", "::1")
    assert not info.is_ca and not info.self_signed
    assert 29 <= (info.not_after - info.not_before).days <= 31
    ca_info = tls.cert_info(ca[0])
    assert ca_info.is_ca and ca_info.self_signed
    assert b"PRIVATE KEY" in key_pem and b"ENCRYPTED" not in key_pem


def test_fingerprint_matches_openssl_and_der_equals_pem(tmp_path: Path) -> None:
    cert_pem, _ = tls.generate_cert("fp", ["localhost"], [])
    path = tmp_path / "c.pem"
    path.write_bytes(cert_pem)
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    openssl_fp = out.strip().split("=", 1)[1]
    info = tls.cert_info(cert_pem)
    assert tls.normalize_fingerprint(openssl_fp) == info.fingerprint
    assert tls.format_fingerprint(info.fingerprint) == openssl_fp.upper()
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
    assert tls.fingerprint(der) == info.fingerprint == tls.cert_info(der).fingerprint


@pytest.mark.parametrize("text", [
    "AB:" * 31 + "AB", "ab" * 32, " " + "AB " * 32, "sha256:" + "ab" * 32, "SHA256/" + "Ab" * 32,
])
def test_normalize_fingerprint_spellings(text: str) -> None:
    assert tls.normalize_fingerprint(text) == "ab" * 32


@pytest.mark.parametrize("text", ["", "ab" * 31, "zz" * 32, "ab" * 33])
def test_normalize_fingerprint_rejects(text: str) -> None:
    with pytest.raises(TlsError, match="not a SHA-256 fingerprint"):
        tls.normalize_fingerprint(text)


def test_cert_info_rejects_garbage() -> None:
    with pytest.raises(TlsError, match="not a certificate"):
        tls.cert_info(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


# ---------------------------------------------------------------- files

def test_key_written_0600_cert_0644(tmp_path: Path) -> None:
    cert_pem, key_pem = tls.generate_cert("x", ["localhost"], [])
    tls.write_private_key(tmp_path / "sub" / "k.pem", key_pem)
    tls.write_cert(tmp_path / "sub" / "c.pem", cert_pem)
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "sub" / "k.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "sub" / "c.pem").stat().st_mode) == 0o644
    assert (tmp_path / "sub" / "k.pem").read_bytes() == key_pem
    assert [p.name for p in (tmp_path / "sub").iterdir() if p.name.endswith(".tmp")] == []


def test_key_rewritten_over_world_readable_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("old")
    os.chmod(path, 0o644)
    tls.write_private_key(path, b"new key")
    assert path.read_bytes() == b"new key"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_ensure_server_cert_generates_once_and_reuses(tmp_path: Path) -> None:
    cert, key = tls.ensure_server_cert(None, None, tmp_path, names=["myhost", "127.0.0.1"])
    assert cert == tmp_path / "tls" / "server.crt" and key == tmp_path / "tls" / "server.key"
    info = tls.cert_file_info(cert)
    assert info.dns_names == ("myhost",) and info.ips == ("127.0.0.1",)
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = tls.ensure_server_cert(None, None, tmp_path)
    assert again == (cert, key)
    assert tls.cert_file_info(cert).fingerprint == info.fingerprint  # not regenerated


def test_ensure_server_cert_uses_configured_files(pki: dict[str, Path], tmp_path: Path) -> None:
    got = tls.ensure_server_cert(str(pki["server_cert"]), str(pki["server_key"]), tmp_path / "data")
    assert got == (pki["server_cert"], pki["server_key"])
    assert not (tmp_path / "data" / "tls").exists()
    with pytest.raises(TlsError, match="not found"):
        tls.ensure_server_cert(str(tmp_path / "missing.crt"), str(pki["server_key"]), tmp_path)
    with pytest.raises(TlsError, match="together"):
        tls.ensure_server_cert(str(pki["server_cert"]), None, tmp_path)


# ---------------------------------------------------------------- contexts in real handshakes

def test_ca_verified_handshake(pki: dict[str, Path]) -> None:
    sctx = tls.server_context(pki["server_cert"], pki["server_key"])
    cctx = tls.client_context(ClientTls(enabled=True, ca_file=str(pki["ca_cert"])))
    out = tls_exchange(sctx, cctx, "localhost")
    assert out.client_error is None and out.server_error is None
    assert out.reply == b"pong"
    assert tls.fingerprint(out.server_der or b"") == tls.cert_file_info(pki["server_cert"]).fingerprint
    # also by IP SAN
    assert tls_exchange(sctx, cctx, "127.0.0.1").reply == b"pong"


def test_ca_verification_refuses_wrong_name_and_unknown_issuer(pki: dict[str, Path]) -> None:
    sctx = tls.server_context(pki["server_cert"], pki["server_key"])
    tls_cfg = ClientTls(enabled=True, ca_file=str(pki["ca_cert"]), server_name="other.example")
    out = tls_exchange(sctx, tls.client_context(tls_cfg), tls.server_hostname(tls_cfg, "127.0.0.1"))
    assert isinstance(out.client_error, ssl.SSLCertVerificationError)
    assert "other.example" in str(out.client_error) or "mismatch" in str(out.client_error).lower()
    # a self-signed server is not trusted by the CA bundle
    sctx2 = tls.server_context(pki["selfsigned_cert"], pki["selfsigned_key"])
    out2 = tls_exchange(sctx2, tls.client_context(ClientTls(enabled=True, ca_file=str(pki["ca_cert"]))), "localhost")
    assert isinstance(out2.client_error, ssl.SSLCertVerificationError)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_contexts_require_tls12(pki: dict[str, Path]) -> None:
    sctx = tls.server_context(pki["server_cert"], pki["server_key"])
    cctx = tls.client_context(ClientTls(enabled=True))
    assert sctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert cctx.minimum_version == ssl.TLSVersion.TLSv1_2
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    try:
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    out = tls_exchange(sctx, old, "localhost")
    assert out.client_error is not None and out.reply == b""


def test_pin_accepts_matching_and_refuses_other(pki: dict[str, Path]) -> None:
    sctx = tls.server_context(pki["selfsigned_cert"], pki["selfsigned_key"])
    real_fp = tls.cert_file_info(pki["selfsigned_cert"]).fingerprint
    good = ClientTls(enabled=True, fingerprint=tls.format_fingerprint(real_fp))
    out = tls_exchange(sctx, tls.client_context(good), "localhost")
    assert out.reply == b"pong"
    assert tls.verify_server(good, "127.0.0.1:1", out.server_der) == real_fp

    other_fp = tls.cert_file_info(pki["other_cert"]).fingerprint
    bad = ClientTls(enabled=True, fingerprint=other_fp)
    out = tls_exchange(sctx, tls.client_context(bad), "localhost")
    with pytest.raises(TlsError) as err:
        tls.verify_server(bad, "127.0.0.1:1", out.server_der)
    f = tls.format_fingerprint
    assert str(err.value) == f"server certificate fingerprint {f(real_fp)} does not match the pinned {f(other_fp)}"


def test_tofu_records_then_refuses_changed_cert(pki: dict[str, Path], tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    cfg = ClientTls(enabled=True, known_hosts=str(known))
    first = tls.server_context(pki["selfsigned_cert"], pki["selfsigned_key"])
    fp1 = tls.cert_file_info(pki["selfsigned_cert"]).fingerprint

    out = tls_exchange(first, tls.client_context(cfg), "localhost")
    assert out.reply == b"pong"
    assert tls.verify_server(cfg, "127.0.0.1:8091", out.server_der) == fp1
    # written as people see it elsewhere (server output, trust dialog), with the date it was trusted
    recorded = known.read_text()
    assert re.fullmatch(rf"127\.0\.0\.1:8091 {tls.format_fingerprint(fp1)} \d{{4}}-\d\d-\d\d\n", recorded)
    assert tls.KnownHosts(known).dated_entries()["127.0.0.1:8091"] == (fp1, recorded.split()[2])

    # same cert again: accepted, file unchanged
    out = tls_exchange(first, tls.client_context(cfg), "localhost")
    assert tls.verify_server(cfg, "127.0.0.1:8091", out.server_der) == fp1
    assert known.read_text() == recorded

    # the server's cert changes: refused with ssh-like advice
    changed = tls.server_context(pki["other_cert"], pki["other_key"])
    fp2 = tls.cert_file_info(pki["other_cert"]).fingerprint
    out = tls_exchange(changed, tls.client_context(cfg), "localhost")
    with pytest.raises(tls.CertificateChangedError) as err:
        tls.verify_server(cfg, "127.0.0.1:8091", out.server_der)
    assert (err.value.old, err.value.new) == (fp1, fp2)
    f = tls.format_fingerprint
    assert str(err.value) == (f"the certificate of 127.0.0.1:8091 changed from {f(fp1)} to {f(fp2)}; "
                              f"if this is expected remove the line from {known}")
    assert "\n" not in str(err.value)
    # another port of the same host is a different server
    assert tls.verify_server(cfg, "127.0.0.1:9000", out.server_der) == fp2


def test_tofu_can_defer_to_the_user(pki: dict[str, Path], tmp_path: Path) -> None:
    known = tmp_path / "kh"
    cfg = ClientTls(enabled=True)
    der = ssl.PEM_cert_to_DER_cert(pki["selfsigned_cert"].read_text())
    with pytest.raises(tls.UnknownServerError) as err:
        tls.verify_server(cfg, "[::1]:8091", der, known, accept_new=False)
    assert err.value.fingerprint == tls.fingerprint(der) and err.value.host_port == "[::1]:8091"
    assert not known.exists()
    tls.KnownHosts(known).set(err.value.host_port, err.value.fingerprint)  # the user said yes
    assert tls.verify_server(cfg, "[::1]:8091", der, known, accept_new=False) == tls.fingerprint(der)


def test_no_verification_method_is_refused() -> None:
    der = ssl.PEM_cert_to_DER_cert(tls.generate_cert("x", ["localhost"], [])[0].decode())
    with pytest.raises(TlsError, match="cannot verify"):
        tls.verify_server(ClientTls(enabled=True, tofu=False), "h:1", der)
    with pytest.raises(TlsError, match="no certificate"):
        tls.verify_server(ClientTls(enabled=True), "h:1", None)


def test_mutual_tls_refuses_client_without_cert(pki: dict[str, Path]) -> None:
    sctx = tls.server_context(pki["server_cert"], pki["server_key"], client_ca=pki["ca_cert"])
    anonymous = ClientTls(enabled=True, ca_file=str(pki["ca_cert"]))
    out = tls_exchange(sctx, tls.client_context(anonymous), "localhost")
    assert isinstance(out.server_error, ssl.SSLError), out
    assert out.client_error is not None and out.reply == b""
    assert out.client_der is None

    # a self-signed client cert (not from the CA) is refused too
    stranger = ClientTls(enabled=True, ca_file=str(pki["ca_cert"]), cert_file=str(pki["selfsigned_cert"]),
                         key_file=str(pki["selfsigned_key"]))
    out = tls_exchange(sctx, tls.client_context(stranger), "localhost")
    assert isinstance(out.server_error, ssl.SSLError) and out.reply == b""

    member = ClientTls(enabled=True, ca_file=str(pki["ca_cert"]), cert_file=str(pki["client_cert"]),
                       key_file=str(pki["client_key"]))
    out = tls_exchange(sctx, tls.client_context(member), "localhost")
    assert out.server_error is None and out.reply == b"pong"
    assert tls.cert_info(out.client_der or b"").subject == "CN=client-1"


def test_two_way_tls_with_the_servers_own_cert_as_client_ca(pki: dict[str, Path], tmp_path: Path) -> None:
    """Upstream semantics (what the importer produces): both ends share one cert; clients must present it."""
    cfg = ServerConfig(bind="127.0.0.1:0", tls=True, two_way_tls=True, client_ca=str(pki["selfsigned_cert"]),
                       cert_file=str(pki["selfsigned_cert"]), key_file=str(pki["selfsigned_key"]))
    sctx, fp = tls.server_context_for(cfg, tmp_path)
    assert fp == tls.cert_file_info(pki["selfsigned_cert"]).fingerprint
    sharing = ClientTls(enabled=True, fingerprint=fp, cert_file=str(pki["selfsigned_cert"]),
                        key_file=str(pki["selfsigned_key"]))
    assert tls_exchange(sctx, tls.client_context(sharing), "localhost").reply == b"pong"
    other = ClientTls(enabled=True, fingerprint=fp, cert_file=str(pki["other_cert"]), key_file=str(pki["other_key"]))
    out = tls_exchange(sctx, tls.client_context(other), "localhost")
    assert out.server_error is not None and out.reply == b""
    with pytest.raises(TlsError, match="needs client_ca"):
        tls.server_context_for(ServerConfig(bind="127.0.0.1:0", tls=True, two_way_tls=True), tmp_path)


def test_server_context_for_generates_into_data_dir(tmp_path: Path) -> None:
    sctx, fp = tls.server_context_for(ServerConfig(bind="127.0.0.1:0", tls=True), tmp_path)
    assert fp == tls.cert_file_info(tmp_path / "tls" / "server.crt").fingerprint
    cfg = ClientTls(enabled=True, fingerprint=fp)
    out = tls_exchange(sctx, tls.client_context(cfg), "localhost")
    assert out.reply == b"pong" and tls.verify_server(cfg, "x:1", out.server_der) == fp


# ---------------------------------------------------------------- errors never show key material

def test_load_errors_name_files_not_key_bytes(pki: dict[str, Path], tmp_path: Path) -> None:
    key_text = pki["server_key"].read_text()
    key_body = "".join(key_text.splitlines()[1:-1])
    mismatched = [
        lambda: tls.server_context(pki["server_cert"], pki["other_key"]),
        lambda: tls.client_context(ClientTls(enabled=True, cert_file=str(pki["client_cert"]),
                                             key_file=str(pki["server_key"]))),
        lambda: tls.server_context(pki["server_key"], pki["server_key"]),
    ]
    for make in mismatched:
        with pytest.raises(TlsError) as err:
            make()
        msg = str(err.value)
        assert "\n" not in msg and "PRIVATE KEY" not in msg
        assert key_body[:20] not in msg and key_body[-20:] not in msg
    with pytest.raises(TlsError, match="not found"):
        tls.server_context(tmp_path / "nope.crt", pki["server_key"])
    with pytest.raises(TlsError, match="CA file not found"):
        tls.client_context(ClientTls(enabled=True, ca_file=str(tmp_path / "none.pem")))


def test_encrypted_key_is_refused_without_prompting(pki: dict[str, Path], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki["server_key"].read_bytes(), password=None)
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"secret-pass"))
    path = tmp_path / "enc.key"
    tls.write_private_key(path, enc)
    with pytest.raises(TlsError) as err:
        tls.server_context(pki["server_cert"], path)
    assert "encrypted" in str(err.value) and "secret-pass" not in str(err.value)


# ---------------------------------------------------------------- known_hosts store

def test_known_hosts_store(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# my servers\n\nexample.com:8091 " + "AA:" * 31 + "AA\nbroken line\n")
    kh = tls.KnownHosts(path)
    assert kh.get("EXAMPLE.com:8091") == "aa" * 32
    assert kh.get("example.com:1") is None
    kh.set("::1:8091", "bb" * 32)  # unbracketed IPv6 is normalized
    assert kh.get("[::1]:8091") == "bb" * 32
    kh.set("example.com:8091", "cc" * 32)
    assert kh.entries() == {"example.com:8091": "cc" * 32, "[::1]:8091": "bb" * 32}
    assert path.read_text().startswith("# my servers\n")
    assert kh.remove("example.com:8091") is True
    assert kh.remove("example.com:8091") is False
    assert kh.entries() == {"[::1]:8091": "bb" * 32} == tls.KnownHosts(path).load()
    with pytest.raises(TlsError):
        kh.set("h:1", "not-a-fingerprint")
