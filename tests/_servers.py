"""Small real target servers for tests: HTTP/1.1 and HTTPS, and a test cert maker.

They run in a thread of their own (blocking sockets), so they serve the same
whether the test drives them from asyncio, curl or plain sockets. Each
records what it saw (requests, connections) for the test to check.

    with HttpTarget() as t:                      # http://127.0.0.1:PORT
        t.url("/x")  t.requests  t.connections
    cert = make_cert(tmp_path)                   # self-signed, SAN localhost/127.0.0.1/::1
    with HttpTarget(tls=cert.server_context()) as t: ...   # https://
(A TCP echo server is in conftest.py: ``EchoServer`` / the ``echo_server`` fixture.)

Routes of HttpTarget (GET and HEAD):
    /anything           200 "hello /anything\\n" with Content-Length
    /bytes/N            200, N bytes (pattern), Content-Length
    /chunked/N          200, N bytes sent chunked (several chunks)
    /close/N            200, N bytes, no length: body ends when the connection closes
    /status/NNN         that status, no body (204, 304, 404...)
POST / PUT: echo the body back; X-Body-Length, X-Body-Sha256 and
X-Request-Chunked (yes/no) headers tell what arrived.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path


def pattern(n: int) -> bytes:
    """N deterministic bytes (so a test can compare what arrived)."""
    block = bytes(range(256)) * 64
    return (block * (n // len(block) + 1))[:n]


@dataclass
class SeenRequest:
    conn: int  # connection number (same number = same TCP connection)
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.conn_count += 1
            self.conn_no = self.server.conn_count

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _record(self, body: bytes = b"") -> None:
        with self.server.lock:
            self.server.seen.append(SeenRequest(self.conn_no, self.command, self.path, list(self.headers.items()), body))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _get(self) -> None:
        self._record()
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "bytes" and len(parts) == 2:
            self._send(200, pattern(int(parts[1])), {"Content-Type": "application/octet-stream"})
        elif parts[0] == "chunked" and len(parts) == 2:
            body = pattern(int(parts[1]))
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                step = max(1, len(body) // 7 + 1)
                for i in range(0, len(body), step):
                    c = body[i : i + step]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.write(b"0\r\nX-Trailer: done\r\n\r\n")
        elif parts[0] == "close" and len(parts) == 2:
            self.close_connection = True
            self._send(200, pattern(int(parts[1])), {"Connection": "close"}, length=False)
        elif parts[0] == "status" and len(parts) == 2:
            status = int(parts[1])
            self._send(status, b"", length=status not in (204, 304) and status >= 200)
        else:
            self._send(200, f"hello {self.path}\n".encode(), {"Content-Type": "text/plain"})

    do_GET = _get
    do_HEAD = _get

    def _read_body(self) -> tuple[bytes, bool]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out), True
                out += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n), False

    def _post(self) -> None:
        body, chunked = self._read_body()
        self._record(body)
        self._send(
            200,
            body,
            {
                "X-Body-Length": str(len(body)),
                "X-Body-Sha256": hashlib.sha256(body).hexdigest(),
                "X-Request-Chunked": "yes" if chunked else "no",
            },
        )

    do_POST = _post
    do_PUT = _post


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, host: str, tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tls = tls
        self.lock = threading.Lock()
        self.seen: list[SeenRequest] = []
        self.conn_count = 0
        self.open_socks: set[socket.socket] = set()
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        if self.tls is not None:  # handshake happens in the handler thread, on first read
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.lock:
            self.open_socks.add(sock)
        return sock, addr

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.lock:
            self.open_socks.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that go away mid-request are normal in proxy tests


class _ThreadedServer:
    """Start/stop plumbing shared by the servers here."""

    _srv: socketserver.BaseServer

    def start(self) -> "_ThreadedServer":
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        for s in list(getattr(self._srv, "open_socks", ())):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._thread.join(5)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._srv.server_address[1]  # type: ignore[index]

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class HttpTarget(_ThreadedServer):
    """A real HTTP/1.1 (or HTTPS with ``tls``) server on loopback with keep-alive."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls
        self._srv = _Server(host, tls)

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        h = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{h}:{self.port}{path}"

    @property
    def requests(self) -> list[SeenRequest]:
        with self._srv.lock:
            return list(self._srv.seen)

    @property
    def connections(self) -> int:
        """How many TCP connections were accepted so far."""
        with self._srv.lock:
            return self._srv.conn_count


# ---------------------------------------------------------------- certificates
@dataclass
class CertFiles:
    cert: Path  # PEM certificate (self-signed; also the CA to trust)
    key: Path  # PEM private key, mode 0600
    names: list[str] = field(default_factory=list)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx


def make_cert(
    directory: str | os.PathLike[str],
    dns_names: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1", "::1"),
    name: str = "test",
) -> CertFiles:
    """A fresh self-signed EC certificate for the given names, written to ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else ips[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = d / f"{name}.crt", d / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return CertFiles(cert_path, key_path, [*dns_names, *ips])
