"""The legacy (upstream-only) peer talking to itself: proves the interop harness before it is
pointed at our engine. Real sockets on 127.0.0.1, real TLS, bounded by timeouts."""
from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import struct

import pytest

from core.config import MappingConfig
from core.frames import Close, Flag, HeaderOp, HeaderRule, Mapping, MappingEntry, Token, encode
from core.streams import ByteStream
from _util import run
from _strategies import PORTS_FLAG, frame_from_vector, load_vectors, raw_frame, short
from legacy_peer import (
    NOT_VERIFIED, LegacyClient, LegacyDecoder, LegacyServer, UpstreamError, UpstreamPanic, legacy_encode,
)

pytestmark = pytest.mark.timeout(60)


async def until(pred, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait for ``pred()`` to hold (an event, not a timing assertion)."""
    async def loop() -> None:
        while not pred():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def decode_all(data: bytes) -> list:
    dec = LegacyDecoder()
    dec.push(data)
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    return out


# ------------------------------------------------------------------ the legacy codec itself

@pytest.mark.parametrize("vec", load_vectors(), ids=lambda v: v["name"])
def test_legacy_codec_matches_vectors(vec):
    expected = frame_from_vector(vec)
    assert legacy_encode(expected).hex() == vec["hex"]
    assert decode_all(bytes.fromhex(vec["hex"])) == [expected]


def test_legacy_codec_is_as_lenient_as_upstream():
    # unknown flag bits -> flag 0 (ProtFlag::new), known ones kept
    (f,) = decode_all(raw_frame(2, short("r"), flag=0x80, sock_map=3))
    assert f.flag == 0 and f.reason == "r"
    (f,) = decode_all(raw_frame(2, short("r"), flag=0x40 | 0x04, sock_map=3))
    assert f.flag == 0
    (f,) = decode_all(raw_frame(2, short("r"), flag=0x09, sock_map=3))
    assert f.flag == 0x09
    # trailing bytes ignored, invalid UTF-8 replaced
    (f,) = decode_all(raw_frame(4, short("u") + short("p") + b"junk"))
    assert (f.username, f.password) == ("u", "p")
    (f,) = decode_all(raw_frame(1, short(b"a\xffb"), sock_map=2))
    assert f.domain == "a\ufffdb"


def test_upstream_ignores_our_mapping_ports_block():
    # Our extension appends a ports block to Mapping when EXT is set; upstream must still read
    # the mappings and ignore the rest.
    entries = (MappingEntry("web", "http", "w.example", (HeaderRule(True, HeaderOp.ADD, "a", "b"),)),
               MappingEntry("ssh", "tcp"))
    ours = encode(Mapping(mappings=entries, ports=(("ssh", 2222),), flag=Flag.EXT | PORTS_FLAG))
    assert ours.endswith(short("ssh") + struct.pack(">H", 2222))  # the block is really there
    (f,) = decode_all(ours)
    assert f.mappings == entries and f.flag == 0


def test_unknown_kind_panics_only_once_the_frame_is_whole():
    dec = LegacyDecoder()
    frame = raw_frame(5, b"\x00" * 8)
    dec.push(frame[:-1])
    assert dec.next_frame() is None
    dec.push(frame[-1:])
    with pytest.raises(UpstreamPanic, match="kind 5"):
        dec.next_frame()


def test_short_field_is_an_error_not_a_panic():
    with pytest.raises(UpstreamError):
        decode_all(raw_frame(4, short("alice")))


# ------------------------------------------------------------------ helpers

def tcp_mapping(name: str, addr: tuple[str, int], **kw) -> MappingConfig:
    return MappingConfig(name=name, mode=kw.pop("mode", "tcp"), local_addr=f"{addr[0]}:{addr[1]}", **kw)


async def roundtrip(ch: ByteStream, payload: bytes) -> bytes:
    ch.write(payload)
    await ch.drain()
    out = bytearray()
    while len(out) < len(payload):
        chunk = await ch.read()
        if not chunk:
            break
        out += chunk
    return bytes(out)


async def read_http_head(ch: ByteStream) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = await ch.read()
        if not chunk:
            break
        buf += chunk
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if rest:
        ch.unread(rest)
    return head


# ------------------------------------------------------------------ mapping channels

def test_mapping_channel_by_name_to_echo_server(echo_server):
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", echo_server)]) as client:
            entries = await server.wait_mappings()
            assert [(m.name, m.mode) for m in entries] == [("tcp", "tcp")]
            ch = await server.open_channel("tcp")
            assert isinstance(ch, ByteStream)
            assert ch.sock_map == 2
            assert await roundtrip(ch, b"hello legacy") == b"hello legacy"
            big = bytes(range(256)) * 1024  # 256 KiB: several Data frames each way
            assert await roundtrip(ch, big) == big
            ch.close()
            # upstream's TransStream answers our Close with its own
            await until(lambda: server.kinds_seen[2] >= 1, what="the client's answering Close")
            assert server.panics == client.panics == []
            assert server.errors == client.errors == []
    run(main())


def test_http_mapping_by_domain_with_headers(echo_server):
    headers = [HeaderRule(True, HeaderOp.REPLACE, "x-forward-for", "{client_ip}")]
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address, mappings=[
                tcp_mapping("web", echo_server, mode="http", domain="web.example", headers=headers)]) as client:
            (entry,) = await server.wait_mappings()
            assert (entry.name, entry.domain, entry.headers) == ("web", "web.example", tuple(headers))
            ch = await server.open_channel("web.example")
            req = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n"
            assert await roundtrip(ch, req) == req
            ch.close()
            assert client.panics == [] and server.panics == []
    run(main())


def test_unknown_mapping_is_answered_with_close(echo_server):
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", echo_server)]) as client:
            await server.wait_mappings()
            ch = await server.open_channel("nope.example")
            assert await asyncio.wait_for(ch.read(), 5) == b""
            assert ch.peer_closed
            assert client.panics == []
    run(main())


def test_unreachable_local_service_is_answered_with_close():
    async def main() -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        dead = probe.sockets[0].getsockname()[:2]
        probe.close()
        await probe.wait_closed()
        async with LegacyServer() as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", dead)]) as client:
            await server.wait_mappings()
            ch = await server.open_channel("tcp")
            assert await asyncio.wait_for(ch.read(), 15) == b""
            assert client.panics == []
    run(main())


def test_fifty_concurrent_mapping_channels(echo_server):
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", echo_server)]) as client:
            await server.wait_mappings()

            async def one(i: int) -> bool:
                ch = await server.open_channel("tcp")
                payload = f"channel {i} ".encode() * (i + 1)
                ok = await roundtrip(ch, payload) == payload
                ch.close()
                return ok

            results = await asyncio.gather(*(one(i) for i in range(50)))
            assert all(results)
            ids = {link.next_id for link in server.links}
            assert ids == {2 + 2 * 50}
            assert client.panics == [] and server.panics == []
    run(main())


def test_server_routes_channels_to_the_client_owning_the_mapping(echo_server):
    async def main() -> None:
        other = await asyncio.start_server(lambda r, w: (w.write(b"other service"), w.close()), "127.0.0.1", 0)
        other_addr = other.sockets[0].getsockname()[:2]
        try:
            async with LegacyServer() as server, \
                    LegacyClient(server.address, mappings=[tcp_mapping("a", echo_server)]) as ca, \
                    LegacyClient(server.address, mappings=[tcp_mapping("b", other_addr)]) as cb:
                await until(lambda: sum(ln.got_mapping.is_set() for ln in server.live_links()) == 2,
                            what="both clients' mappings")
                ch_b = await server.open_channel("b")
                assert await asyncio.wait_for(ch_b.read_exactly(13), 5) == b"other service"
                ch_a = await server.open_channel("a")
                assert await roundtrip(ch_a, b"echo from a") == b"echo from a"
                assert ch_a.link is not ch_b.link
                assert ca.panics == cb.panics == server.panics == []
        finally:
            other.close()
            await other.wait_closed()
    run(main())


# ------------------------------------------------------------------ client-opened proxy channels

def test_client_channel_http_connect_to_echo(echo_server):
    host, port = echo_server
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address) as client:
            ch = await client.open_channel()
            assert ch.sock_map == 1
            ch.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = await asyncio.wait_for(read_http_head(ch), 10)
            assert head.startswith(b"HTTP/1.1 200")
            assert await roundtrip(ch, b"through the tunnel") == b"through the tunnel"
            ch2 = await client.open_channel()
            assert ch2.sock_map == 3
            ch.close()
            ch2.close()
            assert server.panics == [] and client.panics == []
    run(main())


def test_client_channel_socks5_to_echo(echo_server):
    host, port = echo_server
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address) as client:
            ch = await client.open_channel()
            ch.write(b"\x05\x01\x00")
            assert await ch.read_exactly(2) == b"\x05\x00"
            ch.write(b"\x05\x01\x00\x01" + bytes(map(int, host.split("."))) + struct.pack(">H", port))
            reply = await ch.read_exactly(10)
            assert reply[:2] == b"\x05\x00"
            assert await roundtrip(ch, b"socks payload") == b"socks payload"
            ch.close()
            assert server.panics == []
    run(main())


def test_proxy_channels_need_proxy_auth_when_server_has_credentials(echo_server):
    host, port = echo_server
    connect = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server, \
                LegacyClient(server.address, username="wm", password="pw") as client:
            ch = await client.open_channel()
            ch.write(connect + b"\r\n")
            assert (await asyncio.wait_for(read_http_head(ch), 10)).startswith(b"HTTP/1.1 407")
            ch.close()
            ch = await client.open_channel()
            cred = base64.b64encode(b"wm:pw").decode()
            ch.write(connect + f"Proxy-Authorization: Basic {cred}\r\n\r\n".encode())
            assert (await asyncio.wait_for(read_http_head(ch), 10)).startswith(b"HTTP/1.1 200")
            assert await roundtrip(ch, b"authed") == b"authed"
            ch.close()
            assert server.refused == 0 and server.panics == [] and client.panics == []
    run(main())


def test_proxy_mode_mapping_serves_connect_with_client_credentials(echo_server):
    host, port = echo_server
    async def main() -> None:
        async with LegacyServer(username="wm", password="pw") as server, LegacyClient(
                server.address, "wm", "pw", mappings=[MappingConfig(name="px", mode="proxy")]) as client:
            await server.wait_mappings()
            ch = await server.open_channel("px")
            cred = base64.b64encode(b"wm:pw").decode()
            ch.write(f"CONNECT {host}:{port} HTTP/1.1\r\nProxy-Authorization: Basic {cred}\r\n\r\n".encode())
            assert (await asyncio.wait_for(read_http_head(ch), 10)).startswith(b"HTTP/1.1 200")
            assert await roundtrip(ch, b"proxy mapping") == b"proxy mapping"
            ch.close()
            assert client.panics == [] and server.panics == []
    run(main())


# ------------------------------------------------------------------ auth

def test_right_token_is_accepted(echo_server):
    async def main() -> None:
        async with LegacyServer(username="wmproxy", password="wmproxy") as server, LegacyClient(
                server.address, "wmproxy", "wmproxy", mappings=[tcp_mapping("tcp", echo_server)]) as client:
            link = await server.wait_link()
            assert link.verified
            await server.wait_mappings()
            ch = await server.open_channel("tcp")
            assert await roundtrip(ch, b"x") == b"x"
            assert client.closed_reason is None and server.refused == 0
    run(main())


def test_wrong_token_is_closed_with_reason_and_server_keeps_serving(echo_server):
    async def main() -> None:
        async with LegacyServer(username="wmproxy", password="right") as server:
            async with LegacyClient(server.address, "wmproxy", "wrong",
                                    mappings=[tcp_mapping("tcp", echo_server)]) as bad:
                await bad.wait_closed()
                assert bad.closed_reason == NOT_VERIFIED
                assert server.refused == 1
                assert not bad.connected
            async with LegacyClient(server.address, "wmproxy", "right",
                                    mappings=[tcp_mapping("tcp", echo_server)]) as good:
                await server.wait_mappings()
                ch = await server.open_channel("tcp")
                assert await roundtrip(ch, b"still serving") == b"still serving"
                assert good.closed_reason is None
            assert server.panics == []
    run(main())


def test_missing_token_is_refused_on_first_frame(echo_server):
    async def main() -> None:
        async with LegacyServer(username="u", password="p") as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", echo_server)]) as client:
            await client.wait_closed()
            assert client.closed_reason == NOT_VERIFIED
            assert server.refused == 1 and server.mappings == ()
    run(main())


def test_token_flag_bits_are_ignored_by_upstream():
    async def main() -> None:
        async with LegacyServer(username="u", password="p") as server, LegacyClient(server.address) as client:
            client.send_raw(encode(Token(username="u", password="p", flag=Flag.EXT)))
            link = await server.wait_link()
            assert link.verified
            await until(lambda: 0x80 in link.decoder.raw_flags, what="the raw flag to be recorded")
            assert server.refused == 0 and server.panics == []
    run(main())


# ------------------------------------------------------------------ panics

def test_kind_5_from_server_panics_the_client():
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address) as client:
            await server.wait_link()
            server.send_raw(raw_frame(5, struct.pack(">Q", 1)))
            await client.wait_closed()
            assert len(client.panics) == 1 and "kind 5" in client.panics[0]
            assert server.panics == []
    run(main())


def test_kind_6_from_client_panics_the_server():
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address) as client:
            link = await server.wait_link()
            client.send_raw(raw_frame(6, struct.pack(">I", 65536), sock_map=1))
            await asyncio.wait_for(link.ended.wait(), 5)
            assert len(server.panics) == 1 and "kind 6" in server.panics[0]
            await client.wait_closed()
    run(main())


def test_token_to_client_panics_it():
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address) as client:
            await server.wait_link()
            server.send_raw(legacy_encode(Token(username="a", password="b")))
            await client.wait_closed()
            assert client.panics and "Token" in client.panics[0]
    run(main())


def test_token_to_server_without_credentials_panics_it():
    # upstream: a server with no credentials starts verified, so a Token hits unreachable!()
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(server.address, "u", "p") as client:
            await client.wait_closed()
            assert server.panics and "unreachable" in server.panics[0]
    run(main())


def test_half_close_flag_reads_as_full_close(echo_server):
    # our Close+EOF (0x40) is a plain Close to upstream: the channel ends both ways
    async def main() -> None:
        async with LegacyServer() as server, LegacyClient(
                server.address, mappings=[tcp_mapping("tcp", echo_server)]) as client:
            await server.wait_mappings()
            ch = await server.open_channel("tcp")
            assert await roundtrip(ch, b"a") == b"a"
            ch.link.send_raw(encode(Close(sock_map=ch.sock_map, flag=0x40)))
            assert await asyncio.wait_for(ch.read(), 5) == b""  # the client's answering Close
            assert client.panics == []
    run(main())


# ------------------------------------------------------------------ lifecycle and TLS

def test_closing_the_server_ends_every_channel(echo_server):
    async def main() -> None:
        server = await LegacyServer().start()
        client = await LegacyClient(server.address, mappings=[tcp_mapping("tcp", echo_server)]).start()
        try:
            await server.wait_mappings()
            chans = [await server.open_channel("tcp") for _ in range(3)]
            for ch in chans:
                assert await roundtrip(ch, b"z") == b"z"
            await server.close()
            for ch in chans:
                assert await asyncio.wait_for(ch.read(), 5) == b""
            await client.wait_closed()
        finally:
            await client.close()
            await server.close()
    run(main())


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def test_tls_link_with_upstream_default_server_name(tmp_path, echo_server):
    cert, key = _self_signed(tmp_path, "soft.wm-proxy.com")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)  # verifies the name soft.wm-proxy.com

    async def main() -> None:
        async with LegacyServer(ssl=server_ctx, username="u", password="p") as server, LegacyClient(
                server.address, "u", "p", mappings=[tcp_mapping("tcp", echo_server)], ssl=client_ctx) as client:
            await server.wait_mappings()
            ch = await server.open_channel("tcp")
            assert await roundtrip(ch, b"over tls") == b"over tls"
            assert client.panics == server.panics == []
    run(main())
