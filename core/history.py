"""Traffic history: bytes and connections per mapping / proxy listener, kept in SQLite.

Per minute for the last 24 hours and per (local) day for a year, in
``<data dir>/history.sqlite3`` (stdlib ``sqlite3``, WAL). The event loop only
adds numbers to a dict: every ``flush_interval`` seconds the deltas since the
last sample go to a writer thread, which upserts them in one transaction. A
crash or ``kill -9`` therefore loses at most one interval (10 s by default,
well under the minute promised), and WAL keeps the file consistent.

Reading (the GUI's History page, ``wmproxy-gui --stats``) opens its own
connection with ``HistoryReader``, from any thread; the GUI does it in an
executor so the loop never waits on the disk.
"""
from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import WmproxyError
from .stats import ChannelRecord, Stats

log = logging.getLogger("wmproxy.history")

HISTORY_FILE = "history.sqlite3"
SCHEMA_VERSION = 1
FLUSH_INTERVAL = 10.0  # seconds between writes (the most a crash loses)
ENV_FLUSH = "WMPROXY_GUI_HISTORY_FLUSH"  # override, in seconds (tests)
MINUTES_KEPT = 25 * 3600  # a little more than the 24 h shown
DAYS_KEPT = 366
PRUNE_EVERY = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS minute (
    ts INTEGER NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0, down INTEGER NOT NULL DEFAULT 0, conns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ts, role, kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day (
    day TEXT NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0, down INTEGER NOT NULL DEFAULT 0, conns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, role, kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_UPSERT = ("INSERT INTO {t} VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT ({t0}, role, kind, name) DO UPDATE SET "
           "up = up + excluded.up, down = down + excluded.down, conns = conns + excluded.conns")

Key = tuple[str, str, str]  # role, kind, name


class HistoryError(WmproxyError):
    """The history database cannot be used (the tunnel runs on without it)."""


def default_path() -> Path:
    from . import paths

    return paths.data_dir() / HISTORY_FILE


def local_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses nothing committed
    conn.executescript(_SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    return conn


def open_writer(path: Path) -> sqlite3.Connection:
    """Open (creating) the database; one that is not a database is moved aside and started anew."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        conn = _connect(path)
        conn.execute("SELECT count(*) FROM day").fetchone()
        return conn
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise HistoryError(f"{path}: locked by another process ({e})") from None
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.warning("%s: unreadable (%s); moved to %s and starting a new history", path, e, aside.name)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        try:
            return _connect(path)
        except sqlite3.Error as e2:
            raise HistoryError(f"{path}: cannot create the history database: {e2}") from None
    except sqlite3.Error as e:
        raise HistoryError(f"{path}: cannot open the history database: {e}") from None


class _Writer(threading.Thread):
    """Owns the write connection; takes batches from a queue, one transaction per batch."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="wmproxy-history", daemon=True)
        self.path = path
        self.q: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ready = threading.Event()
        self.error: Exception | None = None
        self._last_prune = 0.0

    def run(self) -> None:
        try:
            conn = open_writer(self.path)
        except (HistoryError, OSError) as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        try:
            while True:
                op, arg = self.q.get()
                if op == "stop":
                    break
                if op == "sync":
                    arg.set()
                    continue
                try:
                    self._write(conn, arg)
                except sqlite3.Error as e:  # a full disk must not kill the thread: try again next batch
                    log.warning("%s: cannot write traffic history: %s", self.path, e)
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, rows: list[tuple[int, str, str, str, int, int, int]]) -> None:
        now = time.time()
        days: dict[tuple[str, str, str, str], list[int]] = {}
        for ts, role, kind, name, up, down, conns in rows:
            acc = days.setdefault((local_day(ts), role, kind, name), [0, 0, 0])
            acc[0] += up
            acc[1] += down
            acc[2] += conns
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_UPSERT.format(t="minute", t0="ts"), rows)
        conn.executemany(_UPSERT.format(t="day", t0="day"), [(*k, *v) for k, v in days.items()])
        if now - self._last_prune > PRUNE_EVERY:
            conn.execute("DELETE FROM minute WHERE ts < ?", (int(now - MINUTES_KEPT),))
            conn.execute("DELETE FROM day WHERE day < ?", (local_day(now - DAYS_KEPT * 86400),))
            self._last_prune = now
        conn.execute("COMMIT")


class HistoryRecorder:
    """Samples a Stats registry into the history database. ``await start()`` / ``await stop()``."""

    def __init__(self, stats: Stats, path: Path | None = None, *, role: str = "client",
                 flush_interval: float | None = None) -> None:
        self.stats = stats
        self.path = Path(path) if path is not None else default_path()
        self.role = role
        env = os.environ.get(ENV_FLUSH, "").strip()
        self.flush_interval = flush_interval if flush_interval is not None else (
            float(env) if env.replace(".", "", 1).isdigit() and float(env) > 0 else FLUSH_INTERVAL)
        self._seen: dict[int, tuple[int, int]] = {}  # channel key -> (up, down) already counted
        self._keys: dict[int, Key] = {}
        self._acc: dict[tuple[int, str, str, str], list[int]] = {}  # (minute, role, kind, name) -> up, down, conns
        self._writer: _Writer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe = lambda: None
        self.error = ""

    @property
    def running(self) -> bool:
        return self._writer is not None

    async def start(self) -> bool:
        """False (and ``error`` set, a warning logged) when the database cannot be used."""
        writer = _Writer(self.path)
        writer.start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, writer.ready.wait)
        if writer.error is not None:
            self.error = str(writer.error)
            log.warning("traffic history is off: %s", self.error)
            return False
        self._writer = writer
        for rec in self.stats.channels.values():  # already open: count from now on
            self._seen[rec.key] = (rec.up, rec.down)
            self._keys[rec.key] = self._key_of(rec)
        self._unsubscribe = self.stats.subscribe(self._on_event)
        self._timer = loop.call_later(self.flush_interval, self._tick)
        return True

    async def stop(self) -> None:
        writer = self._writer
        if writer is None:
            return
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        self._writer = None
        writer.q.put(("stop", None))
        await asyncio.get_running_loop().run_in_executor(None, writer.join, 10)

    # ---- on the loop: only dict arithmetic
    def _key_of(self, rec: ChannelRecord) -> Key:
        link = self.stats.links.get(rec.link)
        return (link.role if link is not None else self.role, rec.kind, rec.name)

    def _add(self, key: Key, up: int, down: int, conns: int, now: float) -> None:
        if not (up or down or conns):
            return
        acc = self._acc.setdefault((int(now // 60 * 60), *key), [0, 0, 0])
        acc[0] += up
        acc[1] += down
        acc[2] += conns

    def _on_event(self, event: str, rec: Any) -> None:
        if event == "channel_open":
            key = self._key_of(rec)
            self._keys[rec.key] = key
            self._seen[rec.key] = (0, 0)
            self._add(key, 0, 0, 1, time.time())
        elif event == "channel_again":  # a kept channel's next public connection
            self._add(self._keys.get(rec.key) or self._key_of(rec), 0, 0, 1, time.time())
        elif event == "channel_close":
            key = self._keys.pop(rec.key, None) or self._key_of(rec)
            up0, down0 = self._seen.pop(rec.key, (0, 0))
            self._add(key, rec.up - up0, rec.down - down0, 0, time.time())

    def _sample(self) -> None:
        now = time.time()
        for rec in tuple(self.stats.channels.values()):
            key = self._keys.get(rec.key)
            if key is None:
                key = self._keys[rec.key] = self._key_of(rec)
            up0, down0 = self._seen.get(rec.key, (0, 0))
            if rec.up != up0 or rec.down != down0:
                self._seen[rec.key] = (rec.up, rec.down)
                self._add(key, rec.up - up0, rec.down - down0, 0, now)

    def flush(self) -> None:
        """Hand what was counted since the last flush to the writer thread (never waits for it)."""
        if self._writer is None:
            return
        self._sample()
        if self._acc:
            rows = [(ts, role, kind, name, v[0], v[1], v[2]) for (ts, role, kind, name), v in self._acc.items()]
            self._acc = {}
            self._writer.q.put(("rows", rows))

    async def sync(self) -> None:
        """Flush, then wait (in an executor, never on the loop) until the writer has committed it."""
        writer = self._writer
        if writer is None:
            return
        self.flush()
        done = threading.Event()
        writer.q.put(("sync", done))
        await asyncio.get_running_loop().run_in_executor(None, done.wait, 10)

    def _tick(self) -> None:
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._timer = asyncio.get_running_loop().call_later(self.flush_interval, self._tick)


# ---------------------------------------------------------------- reading

@dataclass(frozen=True, slots=True)
class Total:
    role: str
    kind: str
    name: str
    up: int
    down: int
    conns: int


@dataclass(frozen=True, slots=True)
class Point:
    """One bar of a chart: an hour (``label`` = epoch seconds as text) or a day (``YYYY-MM-DD``)."""

    label: str
    up: int
    down: int
    conns: int


class HistoryReader:
    """Queries on a database file; every call opens and closes its own read connection (any thread)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    @contextlib.contextmanager
    def _conn(self):  # type: ignore[no-untyped-def]
        if not self.path.exists():
            yield None
            return
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error as e:
            raise HistoryError(f"{self.path}: cannot read the history database: {e}") from None
        try:
            yield conn
        except sqlite3.Error as e:
            raise HistoryError(f"{self.path}: cannot read the history database: {e}") from None
        finally:
            conn.close()

    def names(self) -> list[Key]:
        with self._conn() as c:
            if c is None:
                return []
            return [tuple(r) for r in c.execute("SELECT DISTINCT role, kind, name FROM day ORDER BY 1, 3, 2")]  # type: ignore[misc]

    def totals(self, days: int | None = None, *, minutes: int | None = None, now: float | None = None) -> list[Total]:
        """Per (role, kind, name): over the last ``days`` days (by day rows, today included), the last
        ``minutes`` minutes (by minute rows), or everything kept (neither)."""
        now = time.time() if now is None else now
        with self._conn() as c:
            if c is None:
                return []
            if minutes is not None:
                q = ("SELECT role, kind, name, sum(up), sum(down), sum(conns) FROM minute WHERE ts >= ? "
                     "GROUP BY 1, 2, 3 ORDER BY 1, 3, 2")
                rows = c.execute(q, (int(now // 60 * 60 - (minutes - 1) * 60),))
            elif days is not None:
                q = ("SELECT role, kind, name, sum(up), sum(down), sum(conns) FROM day WHERE day >= ? "
                     "GROUP BY 1, 2, 3 ORDER BY 1, 3, 2")
                rows = c.execute(q, (local_day(now - (days - 1) * 86400),))
            else:
                rows = c.execute("SELECT role, kind, name, sum(up), sum(down), sum(conns) FROM day "
                                 "GROUP BY 1, 2, 3 ORDER BY 1, 3, 2")
            return [Total(*r) for r in rows]

    def hourly(self, name: Key | None = None, hours: int = 24, now: float | None = None) -> list[Point]:
        """``hours`` bars ending with the current hour; missing hours are zero."""
        now = time.time() if now is None else now
        first = int(now // 3600 * 3600) - (hours - 1) * 3600
        got: dict[int, tuple[int, int, int]] = {}
        with self._conn() as c:
            if c is not None:
                q = "SELECT ts / 3600 * 3600, sum(up), sum(down), sum(conns) FROM minute WHERE ts >= ?"
                args: list[Any] = [first]
                if name is not None:
                    q += " AND role = ? AND kind = ? AND name = ?"
                    args += list(name)
                for h, up, down, conns in c.execute(q + " GROUP BY 1", args):
                    got[int(h)] = (up, down, conns)
        return [Point(str(first + i * 3600), *got.get(first + i * 3600, (0, 0, 0))) for i in range(hours)]

    def daily(self, name: Key | None = None, days: int = 30, now: float | None = None) -> list[Point]:
        """``days`` bars ending today (local days); missing days are zero."""
        now = time.time() if now is None else now
        labels = [local_day(now - (days - 1 - i) * 86400) for i in range(days)]
        got: dict[str, tuple[int, int, int]] = {}
        with self._conn() as c:
            if c is not None:
                q = "SELECT day, sum(up), sum(down), sum(conns) FROM day WHERE day >= ?"
                args: list[Any] = [labels[0]]
                if name is not None:
                    q += " AND role = ? AND kind = ? AND name = ?"
                    args += list(name)
                for d, up, down, conns in c.execute(q + " GROUP BY 1", args):
                    got[d] = (up, down, conns)
        return [Point(d, *got.get(d, (0, 0, 0))) for d in labels]

    def export_csv(self, out: IO[str], table: str = "day") -> int:
        """Write ``table`` ("day" or "minute") as CSV; returns the number of data rows."""
        if table not in ("day", "minute"):
            raise ValueError(f"no history table {table!r}")
        w = csv.writer(out)
        first = "day" if table == "day" else "minute_utc"
        w.writerow([first, "role", "kind", "name", "bytes_up", "bytes_down", "connections"])
        n = 0
        with self._conn() as c:
            if c is None:
                return 0
            for row in c.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 4, 3"):
                if table == "minute":
                    row = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row[0])), *row[1:])
                w.writerow(row)
                n += 1
        return n

    def integrity(self) -> str:
        with self._conn() as c:
            if c is None:
                return "ok"
            return str(c.execute("PRAGMA integrity_check").fetchone()[0])


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (as the GUI shows sizes)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_table(rows: Iterable[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    """A plain text table, numbers right-aligned (for ``--stats``)."""
    data = [headers, *rows]
    widths = [max(len(r[i]) for r in data) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(data):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
