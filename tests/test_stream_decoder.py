"""StreamDecoder (the link's pass-through decoder) against the reference FrameDecoder.

Same wire, any chunking: the control frames must come out identical and in
order, and each channel's Data bytes must be the same byte stream; only
headers and small frames may ever be buffered.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import frames as F
from core.errors import ProtocolError

pytestmark = pytest.mark.timeout(120)


def frame_strategy() -> st.SearchStrategy[F.Frame]:
    sock = st.integers(1, 40)
    return st.one_of(
        st.builds(F.Data, sock, st.sampled_from([0, 1, 11, 12, 13, 4096, 70000]).map(lambda n: os.urandom(n))),
        st.builds(F.Create, sock, st.sampled_from([None, "svc", "example.com"])),
        st.builds(F.Close, sock, st.text(max_size=20), st.sampled_from([0, int(F.Flag.EOF)])),
        st.builds(F.Window, sock, st.integers(0, 2**32 - 1)),
        st.builds(F.Ping, st.integers(0, 2**64 - 1), st.sampled_from([0, int(F.Flag.ACK)])),
    )


def normalize(frames: list[F.Frame]) -> list[tuple]:
    """Data pieces of consecutive frames on one channel merged: what a channel sees is a byte stream."""
    out: list[tuple] = []
    for f in frames:
        if isinstance(f, F.Data):
            if out and out[-1][0] == "data" and out[-1][1] == f.sock_map:
                out[-1] = ("data", f.sock_map, out[-1][2] + bytes(f.data))
            else:
                out.append(("data", f.sock_map, bytes(f.data)))
        else:
            out.append(("frame", f))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(frame_strategy(), max_size=40), st.lists(st.integers(1, 100_000), min_size=1, max_size=50))
def test_any_chunking_gives_the_same_frames_and_byte_streams(frames: list[F.Frame], cuts: list[int]) -> None:
    wire = b"".join(F.encode(f) for f in frames)
    dec = F.StreamDecoder()
    got: list[F.Frame] = []
    pos, i = 0, 0
    largest_control = max([len(F.encode(f)) for f in frames if not isinstance(f, F.Data)] + [F.HEADER_LEN])
    while pos < len(wire):
        n = cuts[i % len(cuts)]
        got += dec.feed(wire[pos:pos + n])
        assert dec.buffered <= largest_control  # never a Data payload
        pos += n
        i += 1
    assert dec.buffered == 0
    assert normalize(got) == normalize(frames)


def test_whole_data_frame_in_one_chunk_is_one_uncopied_piece() -> None:
    payload = os.urandom(100_000)
    wire = F.encode(F.Data(7, payload)) + F.encode(F.Window(7, 5))
    out = F.StreamDecoder().feed(wire)
    assert [type(f) for f in out] == [F.Data, F.Window]
    assert isinstance(out[0].data, memoryview) and out[0].data.obj is wire  # a slice, not a copy
    assert bytes(out[0].data) == payload and out[0].sock_map == 7


def test_small_pieces_are_copied_and_stable_input_is_sliced() -> None:
    wire = F.encode(F.Data(1, b"tiny")) + F.encode(F.Data(3, os.urandom(50_000)))
    out = F.StreamDecoder().feed(wire)
    assert type(out[0].data) is bytes and out[0].data == b"tiny"
    buf = bytearray(wire)
    out = F.StreamDecoder().feed(memoryview(buf), stable=True)  # the caller promises not to rewrite buf
    assert type(out[0].data) is bytes and isinstance(out[1].data, memoryview) and out[1].data.obj is buf


def test_mutable_input_is_not_aliased() -> None:
    buf = bytearray(F.encode(F.Data(1, b"x" * 1000)))
    out = F.StreamDecoder().feed(buf)
    buf[:] = b"\0" * len(buf)
    assert bytes(out[0].data) == b"x" * 1000


def test_empty_data_frame_gives_one_empty_piece() -> None:
    out = F.StreamDecoder().feed(F.encode(F.Data(5, b"")) + F.encode(F.Data(5, b"a")))
    assert [(f.sock_map, bytes(f.data)) for f in out] == [(5, b""), (5, b"a")]


@pytest.mark.parametrize("split", [1, 5, 11, 12, 13])
def test_bad_headers_refused_before_any_payload(split: int) -> None:
    dec = F.StreamDecoder(max_payload=100)
    wire = F.header(101, 0, 0, 1) + b"x" * 101
    with pytest.raises(ProtocolError, match="exceeds the 100-byte limit"):
        dec.feed(wire[:split])
        dec.feed(wire[split:])
    with pytest.raises(ProtocolError, match="unknown frame kind 255"):
        F.StreamDecoder().feed(bytes.fromhex("000001ff0000000100000000") + b"x")


def test_malformed_control_payload_raises() -> None:
    bad = F.header(3, F.Kind.CLOSE, 0, 1) + b"\x05ab"  # reason says 5 bytes, 2 follow
    with pytest.raises(ProtocolError, match="truncated Close frame"):
        F.StreamDecoder().feed(bad)
