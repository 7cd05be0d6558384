"""The request inspector end to end: real server + client on loopback, a local HTTP service that
records what it got, real curl for the public requests and for the ngrok-shaped local API."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from _servers import HttpTarget, make_cert
from _util import curl, run, until
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.inspect import CaptureRing
from core.inspect import api as api_mod
from core.inspect.api import InspectorApi, InspectorError
from core.server import CenterServer

pytestmark = pytest.mark.timeout(120)

WEBHOOK = {"action": "opened", "number": 7, "repository": {"full_name": "octo/hello"}, "note": "héllo"}


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


class Tunnel:
    def __init__(self, srv: CenterServer, cli: CenterClient, api: InspectorApi, ring: CaptureRing) -> None:
        self.srv, self.cli, self.api, self.ring = srv, cli, api, ring

    def public(self, path: str, mode: str = "http") -> str:
        host, port = self.srv.addresses[mode]
        return f"http://{host}:{port}{path}"

    async def get_json(self, path: str, *args: str) -> object:
        code, out, err = await curl(*args, self.api.url.rstrip("/") + path)
        assert code == 0, err
        return json.loads(out)

    async def api_call(self, method: str, path: str, body: object | None = None, *args: str) -> tuple[int, str]:
        extra = ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)] if body is not None else []
        code, out, err = await curl("-X", method, *extra, *args, "-w", "\n%{http_code}",
                                    self.api.url.rstrip("/") + path)
        assert code == 0, err
        text, _, status = out.rpartition("\n")
        return int(status), text


@contextlib.asynccontextmanager
async def tunnel(mappings: list[MappingConfig], ring: CaptureRing | None = None,
                 **server_kw: object) -> AsyncIterator[Tunnel]:
    srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p", map_http_bind="127.0.0.1:0",
                                    **server_kw))  # type: ignore[arg-type]
    await srv.start()
    ring = ring if ring is not None else CaptureRing()
    cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                    mappings=mappings), capture=ring)
    api = InspectorApi(ring, resolve_target=lambda name: next(
        (m.local_addr for m in cli.cfg.mappings if m.name == name and m.mode in ("http", "https")), None))
    try:
        await cli.start()
        await cli.wait_connected(10)
        for m in mappings:
            await until(lambda m=m: srv.router.for_host(m.mode, m.domain), f"mapping {m.name} routed")
        await api.start()
        yield Tunnel(srv, cli, api, ring)
    finally:
        await api.stop()
        await cli.stop()
        await srv.stop()


def hook_post(t: Tunnel, path: str = "/hook?source=gh") -> list[str]:
    body = json.dumps(WEBHOOK)
    return ["-H", "Host: app.test", "-H", "Content-Type: application/json", "-H", "X-Hub-Signature-256: sha256=abc123",
            "-H", "User-Agent: GitHub-Hookshot/test", "--data-binary", body, t.public(path)]


def test_curl_and_webhook_in_api_then_replay_and_edit() -> None:
    async def main() -> None:
        with HttpTarget() as service:
            m = MappingConfig(name="web", mode="http", local_addr=service.authority, domain="app.test")
            async with tunnel([m]) as t:
                code, out, err = await curl("-H", "Host: app.test", "-H", "X-Trace: t-1", t.public("/hello?x=1&y=two"))
                assert code == 0 and out == "hello /hello?x=1&y=two\n", err
                code, out, err = await curl(*hook_post(t))
                assert code == 0 and json.loads(out) == WEBHOOK, err
                await until(lambda: len(t.ring) == 2, "two exchanges captured")

                listing = await t.get_json("/api/requests/http")
                assert isinstance(listing, dict) and listing["uri"] == "/api/requests/http"
                post, get = listing["requests"]  # newest first, as ngrok
                body = json.dumps(WEBHOOK).encode()

                assert get["tunnel_name"] == "web" and get["request"]["method"] == "GET"
                assert get["request"]["uri"] == "/hello?x=1&y=two" and get["request"]["proto"] == "HTTP/1.1"
                assert get["request"]["headers"]["X-Trace"] == ["t-1"]
                assert get["request"]["headers"]["Host"] == ["app.test"]
                assert get["response"]["status_code"] == 200 and get["response"]["status"] == "200 OK"
                assert get["response"]["headers"]["Content-Length"] == [str(len("hello /hello?x=1&y=two\n"))]
                assert get["wm"]["response_size"] == len("hello /hello?x=1&y=two\n")
                assert get["remote_addr"].startswith("127.0.0.1:")  # the public client, told by our server
                assert get["duration"] > 0 and get["start"][:2] == "20"

                assert post["request"]["method"] == "POST" and post["request"]["uri"] == "/hook?source=gh"
                assert post["request"]["headers"]["Content-Type"] == ["application/json"]
                assert post["request"]["headers"]["X-Hub-Signature-256"] == ["sha256=abc123"]
                raw = base64.b64decode(post["request"]["raw"])
                assert raw.startswith(b"POST /hook?source=gh HTTP/1.1\r\n") and raw.endswith(b"\r\n\r\n" + body)
                resp_raw = base64.b64decode(post["response"]["raw"])
                assert resp_raw.endswith(b"\r\n\r\n" + body)  # the service echoes the body
                assert post["response"]["headers"]["X-Body-Length"] == [str(len(body))]
                assert post["wm"]["request_size"] == len(body) and not post["wm"]["request_truncated"]

                detail = await t.get_json(f"/api/requests/http/{post['id']}")
                assert isinstance(detail, dict) and detail["id"] == post["id"]
                rb = detail["wm"]["request_body"]
                assert rb["kind"] == "json" and rb["error"] == "" and json.loads(rb["text"]) == WEBHOOK
                assert rb["text"].startswith("{\n  ")  # pretty-printed
                assert detail["wm"]["query"] == [["source", "gh"]]
                assert "X-Hub-Signature-256: sha256=abc123" in detail["wm"]["curl"]

                # Replay: the service gets the same method, headers and body once more
                before = len(service.requests)
                status, _ = await t.api_call("POST", "/api/requests/http", {"id": post["id"], "tunnel_name": "web"})
                assert status == 204
                assert len(service.requests) == before + 1
                orig = next(r for r in service.requests if r.method == "POST")
                again = service.requests[-1]
                assert (again.method, again.path, again.headers, again.body) == \
                       (orig.method, orig.path, orig.headers, orig.body)
                assert again.conn != orig.conn  # a connection of its own, not the public client's
                listing = await t.get_json("/api/requests/http")
                newest = listing["requests"][0]  # type: ignore[index]
                assert newest["wm"]["replay_of"] == post["id"] and newest["response"]["status_code"] == 200
                assert newest["remote_addr"] == "replay"

                # Edit and replay: method, path, a header and the body change; Content-Length follows
                edited = {"action": "closed"}
                headers = [[k, v] for k, v in orig.headers if k.lower() != "x-hub-signature-256"] + [["X-Edited", "yes"]]
                status, _ = await t.api_call("POST", "/api/requests/http", {
                    "id": post["id"], "wm_edit": {"method": "PUT", "uri": "/hook?edited=1", "headers": headers,
                                                  "body": json.dumps(edited)}})
                assert status == 204
                got = service.requests[-1]
                assert (got.method, got.path) == ("PUT", "/hook?edited=1")
                assert got.header("X-Edited") == "yes" and got.header("X-Hub-Signature-256") is None
                assert json.loads(got.body) == edited
                assert got.header("Content-Length") == str(len(json.dumps(edited)))
                assert got.header("User-Agent") == "GitHub-Hookshot/test"  # unchanged headers stay

                # unknown ids and tunnels are refused with ngrok-style errors
                status, text = await t.api_call("POST", "/api/requests/http", {"id": "nope"})
                assert status == 404 and json.loads(text)["status_code"] == 404
                status, text = await t.api_call("POST", "/api/requests/http", {"id": post["id"], "tunnel_name": "x"})
                assert status == 404 and "no http/https mapping named 'x'" in json.loads(text)["msg"]

                status, _ = await t.api_call("DELETE", "/api/requests/http")
                assert status == 204
                listing = await t.get_json("/api/requests/http")
                assert listing["requests"] == []  # type: ignore[index]

    run(main(), 90)


def test_inspect_false_captures_nothing_while_its_neighbour_is_captured() -> None:
    async def main() -> None:
        with HttpTarget() as service:
            quiet = MappingConfig(name="quiet", mode="http", local_addr=service.authority, domain="quiet.test",
                                  inspect=False)
            loud = MappingConfig(name="loud", mode="http", local_addr=service.authority, domain="loud.test")
            async with tunnel([quiet, loud]) as t:
                for _ in range(3):
                    code, out, err = await curl("-H", "Host: quiet.test", "-d", "secret=1", t.public("/q"))
                    assert code == 0 and out == "secret=1", err
                code, out, err = await curl("-H", "Host: loud.test", t.public("/l"))
                assert code == 0, err
                await until(lambda: len(t.ring) == 1, "the loud request captured")
                await asyncio.sleep(0.2)
                assert [e.tunnel_name for e in t.ring.items()] == ["loud"]
                listing = await t.get_json("/api/requests/http?tunnel_name=quiet")
                assert listing["requests"] == []  # type: ignore[index]
                assert sum(1 for r in service.requests if r.path == "/q") == 3  # traffic itself unaffected

    run(main(), 60)


def test_https_mapping_is_captured_as_plain_http(tmp_path: Path) -> None:
    cert = make_cert(tmp_path / "map", dns_names=("secure.test",), ips=())

    async def main() -> None:
        with HttpTarget() as service:
            m = MappingConfig(name="site", mode="https", local_addr=service.authority, domain="secure.test")
            async with tunnel([m], map_https_bind="127.0.0.1:0", map_cert=str(cert.cert), map_key=str(cert.key)) as t:
                host, port = t.srv.addresses["https"]
                code, out, err = await curl("--resolve", f"secure.test:{port}:{host}", "--cacert", str(cert.cert),
                                            "-d", "a=1&b=two", f"https://secure.test:{port}/form")
                assert code == 0 and out == "a=1&b=two", err
                await until(lambda: len(t.ring) == 1, "captured")
                (ex,) = t.ring.items()
                assert ex.tunnel_name == "site" and ex.method == "POST" and ex.request.body == b"a=1&b=two"
                detail = await t.get_json(f"/api/requests/http/{ex.id}")
                assert detail["wm"]["request_body"]["kind"] == "form"  # type: ignore[index]
                assert detail["wm"]["request_body"]["text"] == "a = 1\nb = two"  # type: ignore[index]

    run(main(), 60)


class FastService:
    """A keep-alive HTTP responder on the test's loop (HttpTarget's unbuffered writes meet Nagle's
    algorithm and cost ~40 ms a request: too slow for 10,000). GET /bytes/N -> N bytes, else 2 bytes."""

    def __init__(self) -> None:
        self.count = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return "127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.count += 1
                path = head.split(b" ", 2)[1]
                n = int(path.split(b"?")[0].rsplit(b"/", 1)[1]) if path.startswith(b"/bytes/") else 2
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + b"x" * n)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def test_ring_stays_within_its_byte_budget_under_10000_requests(tmp_path: Path) -> None:
    # max_rate off: every one of the 10,000 is captured, so the byte budget does all the bounding
    ring = CaptureRing(max_requests=1000, max_bytes=256 * 1024, body_limit=2048, max_rate=1e9)
    peak = [0]
    ring.subscribe(lambda ex: peak.__setitem__(0, max(peak[0], ring.used_bytes)))
    n = 10_000
    urls = tmp_path / "urls.txt"

    async def main() -> None:
        service = FastService()
        m = MappingConfig(name="web", mode="http", local_addr=await service.start(), domain="app.test")
        try:
            async with tunnel([m], ring=ring) as t:
                lines = []
                for i in range(n):  # 1/4 of them with a 3000-byte body each way (cut at body_limit)
                    if i % 4 == 0:
                        lines.append(f'url = "{t.public(f"/bytes/3000?i={i}")}"\noutput = "/dev/null"')
                    else:
                        lines.append(f'url = "{t.public(f"/r?i={i}")}"\noutput = "/dev/null"')
                urls.write_text("\n".join(lines) + "\n")
                code, _out, err = await curl("-H", "Host: app.test", "-K", str(urls), max_time=300)
                assert code == 0, err
                await until(lambda: len(ring) + ring.evicted >= n, "all requests captured", timeout=30)
                assert service.count == n
        finally:
            await service.stop()

    run(main(), 400)
    assert len(ring) + ring.evicted == n
    assert peak[0] <= ring.max_bytes
    assert ring.used_bytes == sum(e.cost for e in ring.items()) <= ring.max_bytes
    assert ring.evicted > 0  # the budget, not the count, did the evicting
    assert len(ring) < ring.max_requests
    kept = ring.items()
    assert kept[-1].uri == f"/r?i={n - 1}" and all(len(e.response.body) <= 2048 for e in kept if e.response)


def test_api_security_token_host_origin_and_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        ring = CaptureRing()
        with pytest.raises(InspectorError, match="without a token"):
            await InspectorApi(ring, bind="0.0.0.0:0").start()

        api = InspectorApi(ring)  # loopback, no token
        await api.start()
        try:
            url = api.url + "api/requests/http"
            code, out, _ = await curl("-w", "%{http_code}", "-o", "/dev/null", url)
            assert out == "200"
            code, out, _ = await curl("-H", "Host: attacker.example:4040", "-w", "%{http_code}", "-o", "/dev/null", url)
            assert out == "403"  # DNS rebinding guard
            code, out, _ = await curl("-X", "DELETE", "-H", "Origin: http://evil.example", "-w", "%{http_code}",
                                      "-o", "/dev/null", url)
            assert out == "403"
            code, out, _ = await curl("-H", "Content-Type: text/plain", "-d", '{"id": "x"}', "-w", "%{http_code}",
                                      "-o", "/dev/null", url)
            assert out == "415"  # a cross-site form cannot send JSON without a preflight we never answer
            code, out, _ = await curl("-D", "-", "-o", "/dev/null", api.url)
            assert "content-security-policy: default-src 'none'" in out.lower()
            # a head that never completes is dropped at the deadline
            monkeypatch.setattr(api_mod, "HEAD_TIMEOUT", 0.3)
            host, port = api.address  # type: ignore[misc]
            r, w = await asyncio.open_connection(host, port)
            w.write(b"GET /api/requests/http HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert await asyncio.wait_for(r.read(), 5) == b""
            w.close()
            # an oversized head gets 431
            r, w = await asyncio.open_connection(host, port)
            w.write(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
            assert (await asyncio.wait_for(r.read(), 5)).startswith(b"HTTP/1.1 431 ")
            w.close()
        finally:
            await api.stop()

        api = InspectorApi(ring, bind="127.0.0.1:0", token="s3cret-token")
        await api.start()
        try:
            url = api.url + "api/requests/http"
            code, out, _ = await curl("-D", "-", "-o", "/dev/null", url)
            assert " 401 " in out.splitlines()[0] and "www-authenticate: basic" in out.lower()
            code, out, _ = await curl("-H", "Authorization: Bearer wrong", "-w", "%{http_code}", "-o", "/dev/null", url)
            assert out == "401"
            code, out, _ = await curl("-H", "Authorization: Bearer s3cret-token", url)
            assert json.loads(out)["requests"] == []
            code, out, _ = await curl("-u", "anyone:s3cret-token", "-H", "Host: inspector.example", url)
            assert json.loads(out)["requests"] == []  # with a token any Host name is fine
        finally:
            await api.stop()

    run(main(), 60)


def test_headless_client_serves_the_api_and_refuses_an_open_bind(tmp_path: Path) -> None:
    import subprocess

    from _cli_util import Proc, cli_env, run_cli

    (tmp_path / "server.toml").write_text('[server]\nbind = "127.0.0.1:0"\nusername = "u"\npassword = "p"\n'
                                          'map_http_bind = "127.0.0.1:0"\n')
    with HttpTarget() as service:
        server = Proc(["--headless-server", "-c", str(tmp_path / "server.toml")], cli_env(tmp_path / "s"))
        try:
            center = server.wait_line(r"center listening on (\S+)").group(1)
            http = server.wait_line(r"http mapping listening on (\S+)").group(1)
            cfg = tmp_path / "client.toml"
            cfg.write_text(f'[client]\nserver = "{center}"\nusername = "u"\npassword = "p"\n'
                           '[client.inspect]\nbind = "127.0.0.1:0"\n'
                           f'[[client.mappings]]\nname = "web"\nlocal_addr = "{service.authority}"\n')
            client = Proc(["--headless-client", "-c", str(cfg)], cli_env(tmp_path / "c"))
            try:
                api = client.wait_line(r"inspector listening on (http://\S+)").group(1)
                client.wait_line(r"connected to")
                for _ in range(50):
                    r = subprocess.run(["curl", "-sS", "-d", '{"k": 1}', "-H", "Content-Type: application/json",
                                        f"http://{http}/from-headless"], capture_output=True, text=True, timeout=30)
                    if r.stdout == '{"k": 1}':
                        break
                    time.sleep(0.1)  # the mapping is routed a moment after "connected"
                r = subprocess.run(["curl", "-sS", api + "api/requests/http"], capture_output=True, text=True,
                                   timeout=30)
                (entry,) = json.loads(r.stdout)["requests"]
                assert entry["request"]["uri"] == "/from-headless" and entry["response"]["status_code"] == 200
                r = subprocess.run(["curl", "-sS", api + "api/tunnels"], capture_output=True, text=True, timeout=30)
                assert json.loads(r.stdout)["tunnels"][0]["config"]["addr"] == service.authority
                page = subprocess.run(["curl", "-sS", api], capture_output=True, text=True, timeout=30).stdout
                assert "<title>wmproxy-gui inspector</title>" in page
            finally:
                assert client.stop() == 0
        finally:
            assert server.stop() == 0

    cfg.write_text(cfg.read_text().replace('bind = "127.0.0.1:0"', 'bind = "0.0.0.0:4040"'))
    out = run_cli(["--headless-client", "-c", str(cfg), "--check"], cli_env(tmp_path / "c"))
    assert out.returncode == 2
    assert f"{cfg}: client.inspect.token: missing: an inspector API on 0.0.0.0:4040" in out.stderr
