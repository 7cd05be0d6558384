"""Property tests for the frame codec: hostile bytes only ever raise ProtocolError, memory stays
bounded, and every frame we can build survives encode -> decode under any chunking."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ProtocolError
from core.frames import HEADER_LEN, FrameDecoder, decode, encode
from _strategies import frames, legacy_frames, mutated_frames

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = st.sampled_from([0, 16, 300, 4096, (1 << 24) - 1])


def _decode_all(buf: bytes, max_payload: int) -> list:
    """Frames decode() finds in ``buf`` one after another; stops at the first incomplete one."""
    out, pos = [], 0
    while True:
        res = decode(buf[pos:], max_payload)
        if res is None:
            return out
        frame, used = res
        assert HEADER_LEN <= used <= len(buf) - pos
        out.append(frame)
        pos += used


def _check_hostile(buf: bytes, chunks: list[int], max_payload: int) -> None:
    """decode() and FrameDecoder agree on ``buf``; both fail only with ProtocolError;
    the decoder never holds more than one partial frame."""
    try:
        expected = _decode_all(buf, max_payload)
        decode_error = None
    except ProtocolError as e:
        expected, decode_error = None, e

    dec = FrameDecoder(max_payload)
    got = []
    pos = 0
    try:
        for size in chunks + [len(buf)]:
            piece = buf[pos:pos + size]
            pos += len(piece)
            got += dec.feed(piece)
            assert dec.buffered <= max_payload + HEADER_LEN
            if pos >= len(buf):
                break
    except ProtocolError:
        # the decoder may stop at the bad frame only where decode() did too
        assert decode_error is not None, "FrameDecoder refused bytes that decode() accepts"
        return
    assert decode_error is None, f"decode() refused ({decode_error}) what FrameDecoder accepted"
    assert got == expected


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20), LIMITS)
def test_random_bytes(buf, chunks, max_payload):
    _check_hostile(buf, chunks, max_payload)


@FUZZ
@given(st.lists(mutated_frames(), min_size=1, max_size=4).map(b"".join),
       st.lists(st.integers(1, 300), max_size=20), LIMITS)
def test_mutated_vectors_and_frames(buf, chunks, max_payload):
    _check_hostile(buf, chunks, max_payload)


@FUZZ
@given(st.binary(min_size=HEADER_LEN, max_size=HEADER_LEN), st.integers(0, 1 << 20))
def test_any_header_is_judged_before_its_payload(head, max_payload):
    # A lone header either asks for more bytes, is a complete empty frame, or is refused:
    # never an unbounded wait on a length above the limit.
    try:
        res = decode(head, max_payload)
    except ProtocolError:
        return
    length = int.from_bytes(head[:3], "big")
    assert length <= max_payload
    assert (res is None) == (length > 0)


@FUZZ
@given(frames)
def test_generated_frames_round_trip(frame):
    raw = encode(frame)
    res = decode(raw)
    assert res is not None
    back, used = res
    assert used == len(raw)
    assert back == frame
    assert encode(back) == raw


@FUZZ
@given(st.lists(frames, min_size=1, max_size=8), st.lists(st.integers(1, 512), max_size=30))
def test_arbitrary_chunking_yields_the_same_frames(batch, cuts):
    stream = b"".join(encode(f) for f in batch)
    dec = FrameDecoder()
    got, pos = [], 0
    for size in cuts:
        got += dec.feed(stream[pos:pos + size])
        pos += size
    got += dec.feed(stream[pos:])
    assert got == batch
    assert dec.buffered == 0


@FUZZ
@given(legacy_frames)
def test_legacy_frames_stay_within_legacy_kinds(frame):
    assert encode(frame)[3] in (0, 1, 2, 3, 4)
