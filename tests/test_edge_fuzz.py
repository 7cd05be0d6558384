"""Fuzzing a real server process over plain TCP and TLS, with a memory bound, not just "no crash";
and what a logged-in client can make the server keep."""
from __future__ import annotations

import socket
import ssl
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _edge import PASSWORD, USER, ServerProcess, settle
from _strategies import frames, mutated_frames
from core import frames as F

pytestmark = pytest.mark.timeout(300)

_CTX = ssl.create_default_context()
_CTX.check_hostname, _CTX.verify_mode = False, ssl.CERT_NONE


def connect(srv: ServerProcess, tls: bool, timeout: float = 5, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(srv.addr("center"), timeout, source_address=(source, 0))
    return _CTX.wrap_socket(s) if tls else s


def logs_in(srv: ServerProcess, tls: bool) -> bool:
    """A client from another address (the fuzzer's guesses throttle and cap its own) logs in."""
    with connect(srv, tls, source="127.0.0.2") as s:
        s.sendall(F.encode(F.Token(USER, PASSWORD, F.Flag.EXT)))
        s.settimeout(5)
        out = F.decode(s.recv(4096))
        return out is not None and out[0].flag == F.Flag.EXT | F.Flag.ACK


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_fuzzed_links_leave_the_server_serving_and_small(tmp_path, tls) -> None:
    with ServerProcess(tmp_path, {"map_tcp_bind": "127.0.0.1:0"}, tls=tls, log_level="error") as srv:
        time.sleep(0.3)
        base_rss, base_fds = srv.rss_kib(), srv.fds()

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(payload=st.one_of(mutated_frames(), st.binary(max_size=2048),
                                 st.lists(frames, max_size=6).map(lambda fs: b"".join(map(F.encode, fs)))),
               login=st.booleans())
        def throw(payload: bytes, login: bool) -> None:
            try:
                with connect(srv, tls, 2) as s:
                    s.settimeout(0.3)
                    if login:
                        s.sendall(F.encode(F.Token(USER, PASSWORD)))
                    s.sendall(payload)
                    try:
                        while s.recv(65536):
                            pass
                    except (socket.timeout, OSError):
                        pass
            except OSError:
                pass  # refused or reset: the server's right

        throw()
        assert srv.proc is not None and srv.proc.p.poll() is None  # alive
        assert logs_in(srv, tls)
        fds = settle(srv.fds, lambda n: n <= base_fds + 2, timeout=30)
        assert fds <= base_fds + 2
        grown = srv.rss_kib() - base_rss
        assert grown < 30 * 1024, f"RSS grew {grown} KiB during the fuzz run"


def test_a_logged_in_client_cannot_grow_per_name_state_or_open_unbounded_channels(tmp_path) -> None:
    with ServerProcess(tmp_path, log_level="error") as srv:
        with connect(srv, False, 10) as s:
            s.sendall(F.encode(F.Token(USER, PASSWORD)) + F.encode(F.Mapping(())))
            time.sleep(0.3)
            base = srv.rss_kib()

            def round_of_channels(first_id: int) -> int:
                """50,000 proxy channels with distinct "domains", each opened and closed at once."""
                batch = bytearray()
                for i in range(first_id, first_id + 100_000, 2):
                    batch += F.encode(F.Create(i, f"d{i}.example")) + F.encode(F.Close(i))
                    if len(batch) > 1 << 20:
                        s.sendall(batch)
                        batch.clear()
                s.sendall(batch)
                time.sleep(3)
                return srv.rss_kib()

            first = round_of_channels(1)
            second = round_of_channels(100_001)
            third = round_of_channels(200_001)
            # bounded while it happens, and nothing kept: later rounds reuse the memory of the first
            # bounded while it happens (the working set of one read of frames, not of every channel
            # ever opened), and nothing kept: later rounds reuse what the earlier ones freed
            trail = f"RSS {base} -> {first} -> {second} -> {third} KiB"
            assert first - base < 160 * 1024, trail
            assert third - second < 4 * 1024, trail + ": memory kept per closed channel"
            # more channels open at once than a link may hold: the rest are refused with a Close
            from core.link import MAX_CHANNELS

            s.sendall(b"".join(F.encode(F.Create(i)) for i in range(1, 2 * (MAX_CHANNELS + 10), 2)))
            s.settimeout(20)
            dec = F.FrameDecoder()
            refused = 0
            deadline = time.monotonic() + 20
            while refused < 10 and time.monotonic() < deadline:
                for fr in dec.feed(s.recv(65536)):
                    if isinstance(fr, F.Close) and "too many open channels" in fr.reason:
                        refused += 1
            assert refused == 10
        assert logs_in(srv, False)
