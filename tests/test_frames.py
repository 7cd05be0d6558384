"""The frame codec against upstream wmproxy's wire vectors, plus its error and limit behaviour."""
from __future__ import annotations

import pytest

from core.errors import ProtocolError
from core.frames import (
    HEADER_LEN, MAX_PAYLOAD, Close, Create, Data, FrameDecoder, HeaderOp, Kind, Mapping, Token, decode, encode,
)
from _strategies import fields_of, frame_from_vector, load_vector_file, load_vectors, raw_frame, short

pytestmark = pytest.mark.timeout(60)

VECTORS = load_vectors()
BY_NAME = {v["name"]: v for v in VECTORS}
NAMES = list(BY_NAME)


def _bytes(name: str) -> bytes:
    return bytes.fromhex(BY_NAME[name]["hex"])


def test_vector_file_covers_every_legacy_kind(data_dir):
    # Guards against a truncated vector file silently shrinking the tests below.
    assert (data_dir / "wmproxy_frames.json").is_file()
    assert {v["kind_byte"] for v in VECTORS} == {0, 1, 2, 3, 4}
    assert len(NAMES) == len(VECTORS) >= 10


# ------------------------------------------------------------------ round trips

@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes_to_its_fields(name):
    vec = BY_NAME[name]
    raw = _bytes(name)
    out = decode(raw)
    assert out is not None
    frame, consumed = out
    assert consumed == len(raw)
    assert int(frame.kind) == vec["kind_byte"]
    assert type(frame).__name__ == vec["kind"]
    assert frame.sock_map == vec.get("sock_map", 0)
    assert frame.server_id == vec.get("server_id", 0)
    assert frame.flag == 0
    assert fields_of(frame) == vec["fields"]


@pytest.mark.parametrize("name", NAMES)
def test_vector_fields_encode_to_its_bytes(name):
    frame = frame_from_vector(BY_NAME[name])  # built from JSON fields, not from a decode
    assert encode(frame).hex() == BY_NAME[name]["hex"]


@pytest.mark.parametrize("name", NAMES)
def test_vector_decode_equals_frame_built_from_fields(name):
    frame, _ = decode(_bytes(name))
    assert frame == frame_from_vector(BY_NAME[name])


def test_decode_leaves_following_bytes_alone():
    a, b = _bytes("token"), _bytes("data_small")
    frame, consumed = decode(a + b)
    assert isinstance(frame, Token) and consumed == len(a)
    frame2, consumed2 = decode((a + b)[consumed:])
    assert isinstance(frame2, Data) and bytes(frame2.data) == b"hello" and consumed2 == len(b)


# ------------------------------------------------------------------ incomplete input

@pytest.mark.parametrize("name", NAMES)
def test_every_strict_prefix_needs_more_bytes(name):
    raw = _bytes(name)
    for n in range(len(raw)):
        assert decode(raw[:n]) is None, f"prefix of {n}/{len(raw)} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_decoder_fed_byte_by_byte(name):
    raw = _bytes(name)
    dec = FrameDecoder()
    got = []
    for i in range(len(raw)):
        out = dec.feed(raw[i:i + 1])
        if i < len(raw) - 1:
            assert out == [], f"frame emitted early at byte {i}"
        got += out
    assert got == [frame_from_vector(BY_NAME[name])]
    assert dec.buffered == 0


def test_decoder_fed_all_vectors_concatenated():
    stream = b"".join(_bytes(n) for n in NAMES)
    expected = [frame_from_vector(BY_NAME[n]) for n in NAMES]
    assert FrameDecoder().feed(stream) == expected

    dec = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += dec.feed(stream[i:i + 1])
    assert got == expected
    assert dec.buffered == 0


def test_decoder_keeps_partial_tail():
    a, b = _bytes("create_domain"), _bytes("close_reason")
    dec = FrameDecoder()
    assert dec.feed(a + b[:5]) == [frame_from_vector(BY_NAME["create_domain"])]
    assert dec.buffered == 5
    assert dec.feed(b[5:]) == [frame_from_vector(BY_NAME["close_reason"])]
    assert dec.buffered == 0


# ------------------------------------------------------------------ errors

def _both_raise(raw: bytes, match: str, max_payload: int = MAX_PAYLOAD) -> None:
    """decode() and FrameDecoder.feed() both refuse ``raw`` with a ProtocolError."""
    with pytest.raises(ProtocolError, match=match):
        decode(raw, max_payload)
    with pytest.raises(ProtocolError, match=match):
        FrameDecoder(max_payload).feed(raw)


@pytest.mark.parametrize("kind", range(8, 256))
def test_unknown_kind(kind):
    _both_raise(raw_frame(kind, b"xyz"), "unknown frame kind")
    # refused from the header alone, before the payload arrives
    _both_raise(raw_frame(kind, length=100), "unknown frame kind")


def test_length_over_max_payload_refused_from_header_alone():
    head = raw_frame(Kind.DATA, length=0xFFFFFF)  # a 12-byte header claiming ~16 MiB
    assert len(head) == HEADER_LEN
    _both_raise(head, "exceeds", max_payload=1 << 20)
    dec = FrameDecoder(1 << 20)
    with pytest.raises(ProtocolError):
        dec.feed(head)
    assert dec.buffered <= HEADER_LEN


def test_length_at_max_payload_is_accepted():
    limit = 1000
    payload = bytes(limit)
    frame, n = decode(raw_frame(Kind.DATA, payload, sock_map=1), limit)
    assert bytes(frame.data) == payload and n == HEADER_LEN + limit
    _both_raise(raw_frame(Kind.DATA, payload + b"x", sock_map=1), "exceeds", max_payload=limit)


def test_length_check_applies_to_every_kind():
    for kind in (Kind.CREATE, Kind.CLOSE, Kind.MAPPING, Kind.TOKEN):
        _both_raise(raw_frame(kind, length=5000), "exceeds", max_payload=4096)


TRUNCATED = {
    "create domain past end": raw_frame(Kind.CREATE, b"\x05ab"),
    "create empty payload": raw_frame(Kind.CREATE, b""),
    "close reason past end": raw_frame(Kind.CLOSE, b"\x09not"),
    "close empty payload": raw_frame(Kind.CLOSE, b""),
    "token password missing": raw_frame(Kind.TOKEN, short("alice")),
    "token password past end": raw_frame(Kind.TOKEN, short("alice") + b"\x04pw"),
    "mapping count past end": raw_frame(Kind.MAPPING, b"\x00"),
    "mapping count larger than present": raw_frame(
        Kind.MAPPING, b"\x00\x02" + short("web") + short("http") + short("x") + b"\x00\x00"),
    "mapping header count too large": raw_frame(
        Kind.MAPPING, b"\x00\x01" + short("web") + short("http") + short("x") + b"\x00\x03"
        + b"\x01\x04" + short("k") + short("v")),
    "mapping header key past end": raw_frame(
        Kind.MAPPING, b"\x00\x01" + short("web") + short("http") + short("x") + b"\x00\x01" + b"\x01\x04\x09k"),
    "mapping header count missing": raw_frame(Kind.MAPPING, b"\x00\x01" + short("web") + short("http") + short("x")),
    "ping nonce short": raw_frame(Kind.PING, b"\x00\x01"),
    "window increment short": raw_frame(Kind.WINDOW, b"\x00"),
}


@pytest.mark.parametrize("case", list(TRUNCATED))
def test_truncated_inner_fields(case):
    _both_raise(TRUNCATED[case], "truncated")


TRAILING = {
    "create": raw_frame(Kind.CREATE, short("a.example") + b"!"),
    "create no domain": raw_frame(Kind.CREATE, b"\x00\x00"),
    "close": raw_frame(Kind.CLOSE, short("bye") + b"\x00"),
    "token": raw_frame(Kind.TOKEN, short("u") + short("p") + b"junk"),
    "mapping": raw_frame(Kind.MAPPING, b"\x00\x00\xff"),
}


@pytest.mark.parametrize("case", list(TRAILING))
def test_trailing_bytes(case):
    _both_raise(TRAILING[case], "trailing")


BAD_UTF8 = b"\xff\xfe"
INVALID_UTF8 = {
    "create domain": raw_frame(Kind.CREATE, short(BAD_UTF8)),
    "close reason": raw_frame(Kind.CLOSE, short(b"ok\xc3")),
    "token username": raw_frame(Kind.TOKEN, short(BAD_UTF8) + short("p")),
    "token password": raw_frame(Kind.TOKEN, short("u") + short(b"\xed\xa0\x80")),  # a UTF-16 surrogate
    "mapping name": raw_frame(Kind.MAPPING, b"\x00\x01" + short(BAD_UTF8) + short("http") + short("") + b"\x00\x00"),
    "header val": raw_frame(Kind.MAPPING, b"\x00\x01" + short("n") + short("http") + short("") + b"\x00\x01"
                            + b"\x00\x01" + short("k") + short(BAD_UTF8)),
}


@pytest.mark.parametrize("case", list(INVALID_UTF8))
def test_invalid_utf8(case):
    _both_raise(INVALID_UTF8[case], "UTF-8")


def test_error_messages_never_carry_the_password():
    raw = raw_frame(Kind.TOKEN, short("alice") + short("s3cret-pw") + b"x")
    with pytest.raises(ProtocolError) as err:
        decode(raw)
    assert "s3cret" not in str(err.value)
    assert "s3cret" not in repr(Token("alice", "s3cret-pw"))


def test_decoder_raises_when_a_bad_frame_follows_a_good_one():
    # The link is closed on a bad frame, so the bad one must never be skipped silently.
    good, bad = _bytes("data_small"), raw_frame(9)
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(good + bad)


# ------------------------------------------------------------------ oper bytes and flags

@pytest.mark.parametrize("oper_byte, expected", [
    (1, HeaderOp.ADD), (2, HeaderOp.DEL), (3, HeaderOp.DEFAULT), (4, HeaderOp.REPLACE),
    (0, HeaderOp.REPLACE), (5, HeaderOp.REPLACE), (0x7F, HeaderOp.REPLACE), (0xFF, HeaderOp.REPLACE),
])
def test_unknown_oper_bytes_read_as_replace(oper_byte, expected):
    assert "Replace" in load_vector_file()["header_oper_note"]
    payload = (b"\x00\x01" + short("web") + short("http") + short("localhost") + b"\x00\x01"
               + bytes((1, oper_byte)) + short("x-a") + short("b"))
    frame, _ = decode(raw_frame(Kind.MAPPING, payload))
    assert isinstance(frame, Mapping)
    (rule,) = frame.mappings[0].headers
    assert rule.oper is expected
    assert (rule.is_proxy, rule.key, rule.val) == (True, "x-a", "b")


def test_is_proxy_any_nonzero_byte_is_true():
    payload = b"\x00\x01" + short("n") + short("http") + short("") + b"\x00\x01" + b"\x07\x01" + short("k") + short("")
    frame, _ = decode(raw_frame(Kind.MAPPING, payload))
    assert frame.mappings[0].headers[0].is_proxy is True


@pytest.mark.parametrize("flag", [0x01, 0x0F, 0x80, 0xFF])
def test_flag_byte_is_carried(flag):
    frame, _ = decode(raw_frame(Kind.CLOSE, short("r"), flag=flag, sock_map=7, server_id=9))
    assert (frame.flag, frame.sock_map, frame.server_id, frame.reason) == (flag, 7, 9, "r")
    assert encode(frame) == raw_frame(Kind.CLOSE, short("r"), flag=flag, sock_map=7, server_id=9)


def test_sock_map_wider_than_24_bits_is_masked():
    assert encode(Data(0x1234567, b""))[5:8] == bytes.fromhex("234567")


# ------------------------------------------------------------------ encoding limits

@pytest.mark.parametrize("make", [
    lambda s: Token(s, "pw"),
    lambda s: Token("user", s),
    lambda s: Create(2, s),
    lambda s: Close(2, s),
])
def test_short_strings_over_255_bytes_refused(make):
    encode(make("u" * 255))  # the limit itself is fine
    with pytest.raises(ProtocolError, match="255"):
        encode(make("u" * 256))
    with pytest.raises(ProtocolError, match="255"):
        encode(make("é" * 128))  # 128 characters, 256 UTF-8 bytes


def test_256_byte_username_refused_without_echoing_password():
    with pytest.raises(ProtocolError) as err:
        encode(Token("a" * 256, "hunter2"))
    assert "username" in str(err.value) and "hunter2" not in str(err.value)


def test_mapping_field_over_255_bytes_refused():
    from core.frames import HeaderRule, MappingEntry
    with pytest.raises(ProtocolError):
        encode(Mapping((MappingEntry("n" * 256, "http"),)))
    with pytest.raises(ProtocolError):
        encode(Mapping((MappingEntry("n", "http", "", (HeaderRule(False, HeaderOp.ADD, "k", "v" * 300),)),)))


def test_data_over_frame_limit_refused():
    with pytest.raises(ProtocolError):
        encode(Data(1, bytes(MAX_PAYLOAD + 1)))
    assert len(encode(Data(1, bytes(MAX_PAYLOAD)))) == HEADER_LEN + MAX_PAYLOAD


# ------------------------------------------------------------------ extension frames (version 2)

def test_create_with_meta_carries_mode_and_addresses_after_the_domain():
    from core.frames import Flag

    fr = Create(9, "a.test", int(Flag.EXT | Flag.META), 0, "https", "203.0.113.5:40000", "[2001:db8::1]:443")
    raw = encode(fr)
    payload = short("a.test") + short("https") + short("203.0.113.5:40000") + short("[2001:db8::1]:443")
    assert raw == raw_frame(Kind.CREATE, payload, flag=0xC0, sock_map=9)
    assert decode(raw) == (fr, len(raw))
    # without META the same fields are trailing bytes: refused (a legacy sender never sends them)
    with pytest.raises(ProtocolError, match="trailing"):
        decode(raw_frame(Kind.CREATE, payload, flag=0x80, sock_map=9))
    with pytest.raises(ProtocolError, match="truncated"):
        decode(raw_frame(Kind.CREATE, short("a.test") + short("https"), flag=0xC0, sock_map=9))


def test_status_frame_layout_and_long_messages_are_cut_on_a_character():
    from core.frames import MappingState, Status

    fr = Status((MappingState("web", True, 8001), MappingState("ssh", False, 0, "é" * 200)))
    raw = encode(fr)
    cut = "é" * 127  # 254 bytes: a 255th would split a character
    payload = (b"\x00\x02" + short("web") + b"\x01" + (8001).to_bytes(2, "big") + short("")
               + short("ssh") + b"\x00\x00\x00" + short(cut))
    assert raw == raw_frame(Kind.STATUS, payload)
    back, _ = decode(raw)
    assert back.mappings == (MappingState("web", True, 8001), MappingState("ssh", False, 0, cut))
    with pytest.raises(ProtocolError, match="truncated Status"):
        decode(raw_frame(Kind.STATUS, b"\x00\x01" + short("web") + b"\x01"))
