"""Traffic history: sampling Stats into SQLite off the loop, reading it back, surviving kill -9.

The crash tests run the real headless server and client as subprocesses, with real traffic (curl through
an http mapping), and kill the client with SIGKILL while bytes flow."""
from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from _cli_util import Proc, cli_env, run_cli
from _servers import HttpTarget
from _util import curl, run, until
from core import history as H
from core.client import CenterClient
from core.config import ClientConfig, MappingConfig, ServerConfig
from core.history import HistoryReader, HistoryRecorder
from core.server import CenterServer
from core.stats import Stats

pytestmark = pytest.mark.timeout(240)


def test_recorder_counts_deltas_opens_and_closes(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"

    async def main() -> None:
        stats = Stats()
        early = stats.open_channel(1, "mapping", "web", "p", "t", "L")
        early.up = 999  # before the recorder started: not counted
        rec = HistoryRecorder(stats, db, role="client", flush_interval=3600)
        assert await rec.start()
        early.up += 1
        a = stats.open_channel(2, "mapping", "web", "p", "t", "L")
        b = stats.open_channel(3, "proxy", "socks", "p", "t", "L")
        a.up, a.down, b.down = 100, 2000, 30
        rec.flush()
        a.up += 5
        stats.close_channel(a)
        stats.close_channel(early)
        rec.flush()
        b.down += 70  # still open at stop: counted by the final flush
        await rec.stop()

    run(main())
    r = HistoryReader(db)
    totals = {(t.kind, t.name): (t.up, t.down, t.conns) for t in r.totals()}
    assert totals == {("mapping", "web"): (106, 2000, 1), ("proxy", "socks"): (0, 100, 1)}
    assert {(t.name, t.up) for t in r.totals(minutes=24 * 60)} == {("web", 106), ("socks", 0)}
    hours = r.hourly(("client", "mapping", "web"))
    assert len(hours) == 24 and hours[-1].up == 106 and sum(p.up for p in hours) == 106
    days = r.daily(days=30)
    assert len(days) == 30 and days[-1].label == H.local_day(time.time()) and days[-1].down == 2100
    out = io.StringIO()
    assert r.export_csv(out) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "day,role,kind,name,bytes_up,bytes_down,connections"
    assert f"{H.local_day(time.time())},client,mapping,web,106,2000,1" in lines
    out = io.StringIO()
    assert r.export_csv(out, "minute") == 2 and out.getvalue().count("Z,client,") == 2
    assert r.integrity() == "ok"
    assert r.names() == [("client", "proxy", "socks"), ("client", "mapping", "web")]
    assert H.FLUSH_INTERVAL <= 60  # the most a crash may lose is the last minute


def test_the_loop_never_waits_for_the_disk(tmp_path: Path) -> None:
    """A writer stuck on a locked database does not stall flushes on the loop."""
    db = tmp_path / "h.sqlite3"

    async def main() -> None:
        stats = Stats()
        rec = HistoryRecorder(stats, db, flush_interval=3600)
        assert await rec.start()
        blocker = sqlite3.connect(str(db), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the writer's next transaction waits (busy timeout)
        ch = stats.open_channel(1, "mapping", "web", "p", "t", "L")
        loop = asyncio.get_running_loop()
        lags = []
        for i in range(20):
            ch.up += 10
            t0 = loop.time()
            rec.flush()
            await asyncio.sleep(0)
            lags.append(loop.time() - t0)
        blocker.execute("ROLLBACK")
        blocker.close()
        await rec.stop()
        return max(lags)

    worst = run(main())
    assert HistoryReader(db).totals()[0].up == 200  # everything arrived once the lock was gone
    assert worst < 1.0  # a blocked loop would have waited for sqlite's busy timeout (10 s)


def test_corrupt_database_is_moved_aside(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)

    async def main() -> bool:
        rec = HistoryRecorder(Stats(), db)
        ok = await rec.start()
        await rec.stop()
        return ok

    assert run(main())
    assert any(p.name.startswith("h.sqlite3.corrupt-") for p in tmp_path.iterdir())
    assert HistoryReader(db).integrity() == "ok"


def test_real_traffic_recorded_on_both_sides(tmp_path: Path) -> None:
    async def main() -> None:
        with HttpTarget() as service:
            srv = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                            map_http_bind="127.0.0.1:0"))
            await srv.start()
            cli = CenterClient(ClientConfig(server="%s:%d" % srv.addresses["center"], username="u", password="p",
                                            mappings=[MappingConfig(name="web", mode="http",
                                                                    local_addr=service.authority, domain="app.test")]))
            hs = HistoryRecorder(srv.stats, tmp_path / "server.sqlite3", role="server", flush_interval=0.2)
            hc = HistoryRecorder(cli.stats, tmp_path / "client.sqlite3", role="client", flush_interval=0.2)
            await hs.start()
            await hc.start()
            try:
                await cli.start()
                await cli.wait_connected(10)
                await until(lambda: srv.router.for_host("http", "app.test"), "routed")
                host, port = srv.addresses["http"]
                for _ in range(3):
                    code, out, err = await curl("-H", "Host: app.test", "-o", "/dev/null", "-w", "%{size_download}",
                                                f"http://{host}:{port}/bytes/300000")
                    assert code == 0 and out == "300000", err
                await until(lambda: not cli.stats.channels and not srv.stats.channels, "channels closed")
                sent = cli.stats.snapshot().per_name["web"]
            finally:
                await cli.stop()
                await srv.stop()
                await hc.stop()
                await hs.stop()
            (c,) = [t for t in HistoryReader(tmp_path / "client.sqlite3").totals() if t.name == "web"]
            assert (c.role, c.kind, c.up, c.down, c.conns) == ("client", "mapping", sent[0], sent[1], 3)
            assert c.up > 900_000  # the responses went up the tunnel from the client
            (s,) = [t for t in HistoryReader(tmp_path / "server.sqlite3").totals() if t.name == "web"]
            assert s.role == "server" and s.conns == 3 and s.down == c.up  # what one side sent, the other got

    run(main(), 90)


# ---------------------------------------------------------------- crashes (real processes)

def _server(tmp: Path) -> tuple[Proc, str, str]:
    (tmp / "server.toml").write_text('[server]\nbind = "127.0.0.1:0"\nusername = "u"\npassword = "p"\n'
                                     'map_http_bind = "127.0.0.1:0"\n')
    p = Proc(["--headless-server", "-c", str(tmp / "server.toml")], cli_env(tmp / "srv", **{H.ENV_FLUSH: "0.3"}))
    center = p.wait_line(r"center listening on (\S+)").group(1)
    http = p.wait_line(r"http mapping listening on (\S+)").group(1)
    return p, center, http


def _client_config(tmp: Path, center: str, service: HttpTarget) -> Path:
    path = tmp / "client.toml"
    path.write_text(f'[client]\nserver = "{center}"\nusername = "u"\npassword = "p"\n'
                    f'[[client.mappings]]\nname = "web"\nmode = "http"\nlocal_addr = "{service.authority}"\n'
                    'domain = "app.test"\n')
    return path


def _downloads(http: str, size: int, stop: threading.Event, done: list[int]) -> None:
    while not stop.is_set():
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", "Host: app.test", "-o", "/dev/null", "-w",
                            "%{size_download}", f"http://{http}/bytes/{size}"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout == str(size):
            done.append(size)


def _client_up(db: Path) -> int:
    return sum(t.up for t in HistoryReader(db).totals() if t.name == "web" and t.role == "client")


def _wait(cond, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_kill_9_loses_at_most_the_last_interval_and_stats_cli(tmp_path: Path) -> None:
    flush = 0.5  # seconds (default 10): only so the test is short; the logic is the same
    with HttpTarget() as service:
        server, center, http = _server(tmp_path)
        env = cli_env(tmp_path / "cli", **{H.ENV_FLUSH: str(flush)})
        db = tmp_path / "cli" / "xdg-data" / "wmproxy-gui" / H.HISTORY_FILE
        cfg = _client_config(tmp_path, center, service)
        try:
            client = Proc(["--headless-client", "-c", str(cfg)], env)
            client.wait_line(r"connected to")
            time.sleep(0.3)  # the mapping reaches the server's router
            for _ in range(4):  # phase A: 4 x 500 kB down to the public client = up from the client
                r = subprocess.run(["curl", "-sS", "-H", "Host: app.test", "-o", "/dev/null",
                                    f"http://{http}/bytes/500000"], capture_output=True, timeout=60)
                assert r.returncode == 0, r.stderr
            _wait(lambda: db.exists() and _client_up(db) >= 2_000_000, "phase A in the history")
            phase_a = _client_up(db)
            r = subprocess.run(["curl", "-sS", "-H", "Host: app.test", "-o", "/dev/null",
                                f"http://{http}/bytes/700000"], capture_output=True, timeout=60)
            assert r.returncode == 0
            client.p.send_signal(signal.SIGKILL)  # phase B may or may not have been flushed
            client.p.wait(30)
            after_kill = _client_up(db)
            assert phase_a <= after_kill <= phase_a + 700_000 + 10_000
            assert HistoryReader(db).integrity() == "ok"

            client = Proc(["--headless-client", "-c", str(cfg)], env)  # restart: adds on top
            client.wait_line(r"connected to")
            time.sleep(0.3)
            r = subprocess.run(["curl", "-sS", "-H", "Host: app.test", "-o", "/dev/null",
                                f"http://{http}/bytes/100000"], capture_output=True, timeout=60)
            assert r.returncode == 0
            assert client.stop() == 0  # a clean stop flushes everything
            assert _client_up(db) >= after_kill + 100_000

            out = run_cli(["--stats", "-c", str(cfg)], env)
            assert out.returncode == 0, out.stderr
            lines = out.stdout.splitlines()
            assert lines[0].startswith("wmproxy-gui: traffic history in ") and str(db) in lines[0]
            assert lines[1].split() == ["role", "kind", "name", "24h", "up", "24h", "down", "24h", "conns",
                                        "365d", "up", "365d", "down", "365d", "conns"]
            row = next(ln.split() for ln in lines if " web " in f" {ln} ")
            # six downloads; the one killed before its flush may be missing (that is the loss allowed)
            assert row[:3] == ["client", "mapping", "web"] and row[-1] in ("5", "6")
            assert row[3:5] == row[8:10] and row[4] == "MiB"  # 24 h and year agree: all of it is from today
        finally:
            assert server.stop() == 0
    srv_db = tmp_path / "srv" / "xdg-data" / "wmproxy-gui" / H.HISTORY_FILE
    (s,) = [t for t in HistoryReader(srv_db).totals() if t.name == "web"]
    assert s.role == "server" and s.conns == 6 and s.down >= 2_800_000
    out = run_cli(["--stats"], cli_env(tmp_path / "srv"))
    assert out.returncode == 0 and any(ln.split()[:3] == ["server", "mapping", "web"] for ln in out.stdout.splitlines())


def test_database_consistent_after_20_kills_during_traffic(tmp_path: Path) -> None:
    rnd = random.Random(20)
    with HttpTarget() as service:
        server, center, http = _server(tmp_path)
        env = cli_env(tmp_path / "cli", **{H.ENV_FLUSH: "0.05"})  # write all the time: kills land mid-write
        db = tmp_path / "cli" / "xdg-data" / "wmproxy-gui" / H.HISTORY_FILE
        cfg = _client_config(tmp_path, center, service)
        seen = []
        try:
            for i in range(20):
                client = Proc(["--headless-client", "-c", str(cfg)], env)
                client.wait_line(r"connected to")
                stop, done = threading.Event(), []
                t = threading.Thread(target=_downloads, args=(http, 200_000, stop, done), daemon=True)
                t.start()
                # traffic flows before the kill (on a loaded machine the routing can take a while)
                _wait(lambda: done, "a download through the mapping", 30)
                time.sleep(0.3 + rnd.random() * 0.7)
                os.kill(client.p.pid, signal.SIGKILL)
                client.p.wait(30)
                stop.set()
                t.join(30)
                seen.append(_client_up(db) if db.exists() else 0)
        finally:
            assert server.stop() == 0
    conn = sqlite3.connect(str(db))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert seen == sorted(seen) and seen[-1] > 0  # totals only ever grew, and traffic was recorded
