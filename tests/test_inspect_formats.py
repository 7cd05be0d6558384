"""How captured bodies are shown (JSON/XML/form pretty-printing, syntax-error marker, chunked, gzip),
query parameters, curl commands, the ngrok JSON shape, and building replays (pure parts)."""
from __future__ import annotations

import base64
import gzip
import json
import shlex

import pytest

from core.inspect.exchange import Exchange, Message
from core.inspect.formats import body_of, canonical_header, curl_command, dechunk, hexdump, query_params, to_json
from core.inspect.replay import ReplayEdit, ReplayError, build_request, parse_header_lines
from core.http1 import parse_request_head


def ex_with(head: bytes, body: bytes = b"", size: int | None = None, complete: bool = True) -> Exchange:
    h = parse_request_head(head)
    assert h is not None
    return Exchange("web", "203.0.113.5:999", "127.0.0.1:8080", 1_700_000_000.5, h.method, h.target, h.version,
                    Message(head, body, len(body) if size is None else size, complete), id="abc00000001", seq=1)


def body(ctype: str, data: bytes, extra: bytes = b"", truncated_to: int | None = None):
    head = b"POST /x HTTP/1.1\r\nContent-Type: " + ctype.encode() + b"\r\n" + extra + b"\r\n"
    ex = ex_with(head, data[:truncated_to] if truncated_to else data, size=len(data))
    return body_of(ex.request, ex.request_head())


def test_json_pretty_and_syntax_error_marker() -> None:
    b = body("application/json", b'{"a":1,"b":[true,null]}')
    assert b.kind == "json" and b.error == "" and b.text == '{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}'
    bad = body("application/json; charset=utf-8", b'{"a": 1 "b": 2}')
    assert bad.kind == "json" and bad.error.startswith("line 1 column 9:") and bad.error_offset == 8
    assert bad.text == '{"a": 1 "b": 2}'  # shown as it came
    cut = body("application/json", b'{"long": "' + b"x" * 100 + b'"}', truncated_to=50)
    assert cut.truncated and "capture limit" in cut.error


def test_xml_form_text_binary() -> None:
    x = body("application/xml", b"<a><b>1</b><c/></a>")
    assert x.kind == "xml" and x.text.strip() == "<a>\n  <b>1</b>\n  <c/>\n</a>"
    assert body("text/xml", b"<a><b></a>").error
    f = body("application/x-www-form-urlencoded", b"name=J%C3%BCrgen&tags=a&tags=b&empty=")
    assert f.kind == "form" and f.text == "name = Jürgen\ntags = a\ntags = b\nempty = "
    assert body("text/plain", b"just text").kind == "text"
    assert body("application/octet-stream", bytes(range(256))).kind == "binary"


def test_chunked_and_gzip_are_decoded() -> None:
    payload = json.dumps({"zipped": True}).encode()
    z = gzip.compress(payload)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(z), z)
    b = body("application/json", chunked, b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")
    assert b.kind == "json" and json.loads(b.text) == {"zipped": True}
    assert dechunk(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n") == (b"abcde", True)
    assert dechunk(b"5\r\nab") == (b"ab", False)


def test_query_curl_hexdump_and_headers() -> None:
    assert query_params("/p?a=1&b=&a=two") == [("a", "1"), ("b", ""), ("a", "two")]
    ex = ex_with(b"POST /hook?x=1 HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 9\r\nX-Sig: it's\r\n\r\n", b'{"a": 1}\n')
    cmd = curl_command(ex)
    assert shlex.split(cmd) == ["curl", "-X", "POST", "-H", "Content-Type: application/json", "-H", "X-Sig: it's",
                                "--data-binary", '{"a": 1}\n', "http://app.test/hook?x=1"]
    assert shlex.split(curl_command(ex, "http://127.0.0.1:8080"))[-1] == "http://127.0.0.1:8080/hook?x=1"
    assert hexdump(b"AB\x00")[:40].startswith("00000000  41 42 00")
    assert canonical_header("x-hub-SIGNATURE") == "X-Hub-Signature"


def test_ngrok_json_shape() -> None:
    ex = ex_with(b"GET /a?b=1 HTTP/1.1\r\nhost: app.test\r\naccept: */*\r\naccept: text/html\r\n\r\n")
    ex.response = Message(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n", b"no", 2, True)
    ex.status, ex.reason, ex.duration, ex.ttfb = 404, "Not Found", 0.0125, 0.01
    j = to_json(ex)
    assert set(j) >= {"uri", "id", "tunnel_name", "remote_addr", "start", "duration", "request", "response"}
    assert j["duration"] == 12_500_000  # nanoseconds, as ngrok
    assert j["request"]["headers"] == {"Host": ["app.test"], "Accept": ["*/*", "text/html"]}
    assert set(j["request"]) == {"method", "proto", "headers", "uri", "raw"}
    assert set(j["response"]) == {"status", "status_code", "proto", "headers", "raw"}
    assert j["response"]["status"] == "404 Not Found" and j["response"]["proto"] == "HTTP/1.1"
    assert base64.b64decode(j["response"]["raw"]).endswith(b"\r\n\r\nno")
    assert j["start"].startswith("2023-11-1") and j["start"][19:23] == ".500"
    json.dumps(j)  # serializable


def test_build_request_replays_bytes_and_applies_edits() -> None:
    head = b"POST /h HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    raw_body = b"4\r\nwiki\r\n0\r\n\r\n"
    ex = ex_with(head, raw_body)
    assert build_request(ex) == head + raw_body  # byte for byte, chunked framing included
    out = build_request(ex, ReplayEdit(method="put", uri="/other", body=b'{"n": 2}'))
    h = parse_request_head(out)
    assert h is not None and (h.method, h.target) == ("PUT", "/other")
    assert not h.has("transfer-encoding") and h.get("content-length") == "8" and out.endswith(b'\r\n\r\n{"n": 2}')
    out = build_request(ex, ReplayEdit(headers=[("Host", "a"), ("X-B", "2")], body=b""))
    assert b"X-A" not in out and b"X-B: 2\r\n" in out
    cut = ex_with(b"POST /h HTTP/1.1\r\nContent-Length: 100\r\n\r\n", b"x" * 10, size=100, complete=False)
    with pytest.raises(ReplayError, match="body_limit"):
        build_request(cut)
    assert build_request(cut, ReplayEdit(body=b"whole")).endswith(b"Content-Length: 5\r\n\r\nwhole")
    for bad in (ReplayEdit(method="G T"), ReplayEdit(uri="/a b"), ReplayEdit(headers=[("X\r\nY", "1")])):
        with pytest.raises(ReplayError):
            build_request(ex, bad)
    assert parse_header_lines("A: 1\n\nB:two\n") == [("A", "1"), ("B", "two")]
    with pytest.raises(ReplayError, match="line 1"):
        parse_header_lines("no colon here")
