"""Shared test data for the frame codec: the upstream wire vectors and hypothesis strategies.

Import from test modules as ``from _strategies import frames, mutated_frames, load_vectors``.
``mutated_frames()`` yields hostile byte strings (vector and generated frames with flipped
bytes, truncation, junk, bogus length/kind fields): feed them to anything that reads frames.
"""
from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from core.frames import (
    Close, Create, Data, Flag, Frame, HeaderOp, HeaderRule, Mapping, MappingEntry, MappingState, Ping, Status,
    Token, Window, encode,
)

# upstream wmproxy's frames as its Rust encoder writes them (copied into the suite's own data)
VECTORS_PATH = Path(__file__).resolve().parent / "data" / "wmproxy_frames.json"

KIND_BYTES = {"Data": 0, "Create": 1, "Close": 2, "Mapping": 3, "Token": 4}


# ------------------------------------------------------------------ vectors

@cache
def load_vector_file() -> dict[str, Any]:
    """The parsed vector file."""
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def load_vectors() -> list[dict[str, Any]]:
    return list(load_vector_file()["vectors"])


def frame_from_vector(vec: dict[str, Any]) -> Frame:
    """Build the frame a vector describes from its JSON fields (not from its bytes)."""
    f = vec["fields"]
    sock_map = vec.get("sock_map", 0)
    server_id = vec.get("server_id", 0)
    kind = vec["kind"]
    if kind == "Data":
        return Data(sock_map=sock_map, data=bytes.fromhex(f["data_hex"]), server_id=server_id)
    if kind == "Create":
        return Create(sock_map=sock_map, domain=f["domain"], server_id=server_id)
    if kind == "Close":
        return Close(sock_map=sock_map, reason=f["reason"], server_id=server_id)
    if kind == "Token":
        return Token(username=f["username"], password=f["password"], sock_map=sock_map, server_id=server_id)
    if kind == "Mapping":
        entries = tuple(
            MappingEntry(m["name"], m["mode"], m["domain"], tuple(
                HeaderRule(bool(h["is_proxy"]), HeaderOp(h["oper"]), h["key"], h["val"])
                for h in m["headers"]))
            for m in f["mappings"])
        return Mapping(mappings=entries, sock_map=sock_map, server_id=server_id)
    raise ValueError(f"vector {vec['name']}: unknown kind {kind}")


def fields_of(frame: Frame) -> dict[str, Any]:
    """A decoded frame's payload in the vector file's JSON shape."""
    if isinstance(frame, Data):
        return {"data_hex": bytes(frame.data).hex()}
    if isinstance(frame, Create):
        return {"domain": frame.domain}
    if isinstance(frame, Close):
        return {"reason": frame.reason}
    if isinstance(frame, Token):
        return {"username": frame.username, "password": frame.password}
    if isinstance(frame, Mapping):
        return {"mappings": [
            {"name": m.name, "mode": m.mode, "domain": m.domain,
             "headers": [{"is_proxy": h.is_proxy, "oper": int(h.oper), "key": h.key, "val": h.val}
                         for h in m.headers]}
            for m in frame.mappings]}
    raise TypeError(f"no vector shape for {type(frame).__name__}")


# ------------------------------------------------------------------ raw bytes

def raw_frame(kind: int, payload: bytes = b"", *, flag: int = 0, sock_map: int = 0, server_id: int = 0,
              length: int | None = None) -> bytes:
    """Hand-built frame bytes (independent of the codec); ``length`` can lie about the payload."""
    n = len(payload) if length is None else length
    return n.to_bytes(3, "big") + bytes((kind, flag)) + sock_map.to_bytes(3, "big") + struct.pack(">I", server_id) + payload


def short(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return bytes((len(b),)) + b


# ------------------------------------------------------------------ strategies

def _cut_utf8(s: str, limit: int = 255) -> str:
    return s.encode("utf-8")[:limit].decode("utf-8", "ignore")


# Any Unicode text (no surrogates) that fits a short string: at most 255 UTF-8 bytes.
short_text = st.text(st.characters(codec="utf-8"), max_size=255).map(_cut_utf8)
sock_maps = st.integers(0, 0xFFFFFF)
server_ids = st.integers(0, 0xFFFFFFFF)
flags = st.integers(0, 0xFF)

data_frames = st.builds(Data, sock_map=sock_maps, data=st.binary(max_size=2048), flag=flags, server_id=server_ids)
# An empty domain travels as "no domain", so a round-trippable domain is None or non-empty.
create_frames = st.builds(Create, sock_map=sock_maps, domain=st.none() | short_text.filter(bool),
                          flag=flags, server_id=server_ids)


@st.composite
def meta_create_frames(draw: st.DrawFn) -> Create:
    """Creates flagged META (an extension): mode and public addresses travel after the domain."""
    return Create(draw(sock_maps), draw(st.none() | short_text.filter(bool)), draw(flags) | int(Flag.META),
                  draw(server_ids), draw(short_text), draw(short_text), draw(short_text))


close_frames = st.builds(Close, sock_map=sock_maps, reason=short_text, flag=flags, server_id=server_ids)
token_frames = st.builds(Token, username=short_text, password=short_text, flag=flags,
                         sock_map=sock_maps, server_id=server_ids)
header_rules = st.builds(HeaderRule, is_proxy=st.booleans(), oper=st.sampled_from(list(HeaderOp)),
                         key=short_text, val=short_text)
mapping_entries = st.builds(MappingEntry, name=short_text, mode=short_text, domain=short_text,
                            headers=st.lists(header_rules, max_size=4).map(tuple))


# The flag bit that says "a ports block follows" on Mapping (an extension; see core/PROTOCOL.md).
PORTS_FLAG = int(getattr(Flag, "PORTS", Flag.EXT))


@st.composite
def mapping_frames(draw: st.DrawFn) -> Mapping:
    """Mapping frames; the ports block (an extension) only travels when its flag bit is set."""
    flag = draw(flags)
    ports = ()
    options = ()
    if flag & PORTS_FLAG:
        ports = tuple(draw(st.lists(st.tuples(short_text, st.integers(0, 0xFFFF)), max_size=4)))
    if flag & Flag.OPTS:
        options = tuple(draw(st.lists(st.tuples(short_text, short_text), max_size=4)))
    return Mapping(mappings=tuple(draw(st.lists(mapping_entries, max_size=4))), ports=ports,
                   sock_map=draw(sock_maps), flag=flag, server_id=draw(server_ids), options=options)


ping_frames = st.builds(Ping, nonce=st.integers(0, 2**64 - 1), flag=flags, sock_map=sock_maps, server_id=server_ids)
window_frames = st.builds(Window, sock_map=sock_maps, increment=st.integers(0, 0xFFFFFFFF), flag=flags,
                          server_id=server_ids)

mapping_states = st.builds(MappingState, name=short_text, ok=st.booleans(), port=st.integers(0, 0xFFFF),
                           message=short_text)
status_frames = st.builds(Status, mappings=st.lists(mapping_states, max_size=4).map(tuple), flag=flags,
                          sock_map=sock_maps, server_id=server_ids)

# legacy: what upstream sends (a Create with a random flag may carry META fields: bytes upstream never sends)
legacy_frames = st.one_of(data_frames, create_frames.filter(lambda c: not c.flag & Flag.META), close_frames,
                          mapping_frames(), token_frames)
frames = st.one_of(legacy_frames, create_frames, meta_create_frames(), ping_frames, window_frames, status_frames)


@st.composite
def mutated_frames(draw: st.DrawFn, base: st.SearchStrategy[bytes] | None = None) -> bytes:
    """Frame bytes with one to three mutations: byte flips, truncation, junk appended,
    a random length field, a random kind byte. Starts from a wire vector or a generated frame."""
    if base is None:
        vectors = [bytes.fromhex(v["hex"]) for v in load_vectors()]
        base = st.sampled_from(vectors) | frames.map(encode)
    buf = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "length", "kind"]))
        if op == "flip" and buf:
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= draw(st.integers(1, 255))
        elif op == "truncate" and buf:
            del buf[draw(st.integers(0, len(buf) - 1)):]
        elif op == "extend":
            buf += draw(st.binary(min_size=1, max_size=64))
        elif op == "length" and len(buf) >= 3:
            buf[0:3] = draw(st.integers(0, 0xFFFFFF)).to_bytes(3, "big")
        elif op == "kind" and len(buf) >= 4:
            buf[3] = draw(st.integers(0, 255))
    return bytes(buf)
