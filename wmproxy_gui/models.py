"""Qt item models over the core's data: live channels, totals, links, and editable mapping/proxy lists.

The live models never walk the core's dicts themselves: once a second one
``Stats.snapshot()`` is taken (by ChannelTableModel's timer) and handed to every
model that wants it via the ``refreshed`` signal, so a thousand channels cost one
copy, not one per view. Refreshes are diffs keyed by ``ChannelRecord.key``:
rows are inserted/removed/changed in place, so selections and scroll positions
survive and the views repaint only what moved.
"""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtCore import (QAbstractTableModel, QCoreApplication, QModelIndex, QObject, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt, QTimer, Signal)
from PySide6.QtGui import QBrush, QColor

from core.config import MappingConfig, ProxyListenerConfig, format_header_rule
from core.stats import ChannelRecord, LinkRecord, Snapshot, Stats

from .server_reasons import translate_reason

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # raw values (ints, floats) so numbers sort as numbers
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # ChannelRecord.key / LinkRecord.id of the row
_Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole


# ------------------------------------------------------------------ formatting

def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - loop always returns


def fmt_rate(bps: float) -> str:
    return fmt_bytes(bps) + "/s"


def fmt_age(seconds: float) -> str:
    """12 -> '12s', 75 -> '1m 15s', 7300 -> '2h 01m'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


# ------------------------------------------------------------------ live channels

RATE_WINDOW = 3.0  # seconds a rate is averaged over


class RateWindow:
    """Bytes/s over the last ``span`` seconds of cumulative (time, up, down) samples.

    Rates from two successive samples alone swing between 0 and twice the truth whenever
    the 1 s timer and the data's own rhythm drift apart; a few seconds' window does not."""

    __slots__ = ("span", "samples")

    def __init__(self, span: float = RATE_WINDOW) -> None:
        self.span = span
        self.samples: deque[tuple[float, int, int]] = deque()

    def add(self, taken: float, up: int, down: int) -> tuple[float, float]:
        s = self.samples
        if s and taken <= s[-1][0]:
            s[-1] = (s[-1][0], up, down)  # no time passed: the newest sample gets the newest totals
        else:
            s.append((taken, up, down))
        while len(s) > 2 and taken - s[1][0] >= self.span:
            s.popleft()
        t0, u0, d0 = s[0]
        dt = taken - t0
        if dt <= 0:
            return 0.0, 0.0
        return max(0.0, (up - u0) / dt), max(0.0, (down - d0) / dt)


class _Row:
    """A channel row: the last record copy plus its rates over the last few seconds."""

    __slots__ = ("rec", "rate", "up_rate", "down_rate", "window")

    def __init__(self, rec: ChannelRecord) -> None:
        self.rec = rec
        self.rate = 0.0
        self.up_rate = 0.0
        self.down_rate = 0.0
        self.window = RateWindow()


class _Table(QAbstractTableModel):
    """Columns from ``HEADERS`` (translated), rows from ``_rows``: what every table here shares."""

    HEADERS: tuple[str, ...] = ()
    _rows: list[Any]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            return QCoreApplication.translate("models", self.HEADERS[section])
        return None


class ChannelTableModel(_Table):
    """Open channels of a Stats registry, refreshed once a second by diffing on record key."""

    NAME, PEER, TARGET, UP, DOWN, RATE, AGE = range(7)
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "Mapping / proxy"),
        QT_TRANSLATE_NOOP("models", "Peer"),
        QT_TRANSLATE_NOOP("models", "Target"),
        QT_TRANSLATE_NOOP("models", "Up"),
        QT_TRANSLATE_NOOP("models", "Down"),
        QT_TRANSLATE_NOOP("models", "Rate"),
        QT_TRANSLATE_NOOP("models", "Age"),
    )

    refreshed = Signal(object)  # the Snapshot just applied, for graphs and totals

    def __init__(self, stats: Stats, parent: QObject | None = None, *, interval_ms: int = 1000,
                 autostart: bool = True) -> None:
        super().__init__(parent)
        self.stats = stats
        self._rows: list[_Row] = []
        self._pos: dict[int, int] = {}  # key -> row
        self._taken = 0.0
        self.last: Snapshot | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        if autostart:
            self.timer.start()

    # ---- Qt API

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        rec, col = row.rec, index.column()
        if role == _DISPLAY:
            if col == self.NAME:
                return f"{rec.name} ({rec.kind})" if rec.kind != "mapping" else rec.name
            if col == self.PEER:
                return rec.peer if rec.peer != "unknown" else QCoreApplication.translate("models", "unknown")
            if col == self.TARGET:
                return rec.target or "…"
            if col == self.UP:
                return fmt_bytes(rec.up)
            if col == self.DOWN:
                return fmt_bytes(rec.down)
            if col == self.RATE:
                return fmt_rate(row.rate)
            if col == self.AGE:
                return fmt_age(self._taken - rec.started)
        elif role == SORT_ROLE:
            return (rec.name, rec.peer, rec.target, rec.up, rec.down, row.rate, self._taken - rec.started)[col]
        elif role == KEY_ROLE:
            return rec.key
        elif role == Qt.ItemDataRole.TextAlignmentRole and col >= self.UP:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.ToolTipRole and col == self.NAME:
            return f"{rec.kind} {rec.name} · channel {rec.id} on link {rec.link} · {rec.state}"
        return None

    # ---- feeding
    def record(self, key: int) -> ChannelRecord | None:
        i = self._pos.get(key)
        return self._rows[i].rec if i is not None else None

    def rates(self, key: int) -> tuple[float, float]:
        """(up, down) bytes/s of a channel over the last refresh, (0, 0) if unknown."""
        i = self._pos.get(key)
        return (self._rows[i].up_rate, self._rows[i].down_rate) if i is not None else (0.0, 0.0)

    def refresh(self) -> None:
        self.apply(self.stats.snapshot())

    def apply(self, snap: Snapshot) -> None:
        """Bring the rows in line with ``snap``: remove closed, update changed, append new."""
        self._taken = snap.taken
        incoming = {c.key: c for c in snap.channels}

        # 1. removals, in contiguous runs from the bottom so row numbers stay valid
        gone = sorted((i for k, i in self._pos.items() if k not in incoming), reverse=True)
        if gone:
            run_end = run_start = gone[0]
            for i in gone[1:] + [-2]:
                if i == run_start - 1:
                    run_start = i
                    continue
                self.beginRemoveRows(QModelIndex(), run_start, run_end)
                del self._rows[run_start:run_end + 1]
                self.endRemoveRows()
                run_end = run_start = i
            self._pos = {r.rec.key: n for n, r in enumerate(self._rows)}

        # 2. updates: changed rows get dataChanged on the byte/rate columns, in runs
        changed: list[int] = []
        for n, row in enumerate(self._rows):
            new = incoming.pop(row.rec.key)
            old = row.rec
            had_rate = row.rate
            row.up_rate, row.down_rate = row.window.add(snap.taken, new.up, new.down)
            row.rate = row.up_rate + row.down_rate
            row.rec = new
            if new.up != old.up or new.down != old.down or new.target != old.target or had_rate or row.rate:
                changed.append(n)
        for a, b in _runs(changed):
            self.dataChanged.emit(self.index(a, self.TARGET), self.index(b, self.RATE), [_DISPLAY, SORT_ROLE])
        if self._rows:  # ages move for everyone: one signal for the whole column
            self.dataChanged.emit(self.index(0, self.AGE), self.index(len(self._rows) - 1, self.AGE),
                                  [_DISPLAY, SORT_ROLE])

        # 3. insertions at the end (what is left in ``incoming`` is new), oldest first
        if incoming:
            new_rows = sorted(incoming.values(), key=lambda c: c.key)
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new_rows) - 1)
            for c in new_rows:
                self._pos[c.key] = len(self._rows)
                row = _Row(c)
                row.window.add(snap.taken, c.up, c.down)
                self._rows.append(row)
            self.endInsertRows()
        self.last = snap
        self.refreshed.emit(snap)


def _runs(sorted_rows: Sequence[int]) -> Iterable[tuple[int, int]]:
    """[1,2,3,7,8] -> (1,3), (7,8)."""
    if not sorted_rows:
        return
    start = prev = sorted_rows[0]
    for r in sorted_rows[1:]:
        if r != prev + 1:
            yield start, prev
            start = r
        prev = r
    yield start, prev


class ChannelFilterModel(QSortFilterProxyModel):
    """Sort by raw values, filter by a case-insensitive substring over every text column."""

    def __init__(self, source: QAbstractTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)


class ClosedTableModel(_Table):
    """The most recently closed channels (Stats.recent_closed), newest first, with why they closed."""

    NAME, PEER, TARGET, UP, DOWN, DURATION, CLOSED_AT, REASON = range(8)
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "Mapping / proxy"),
        QT_TRANSLATE_NOOP("models", "Peer"),
        QT_TRANSLATE_NOOP("models", "Target"),
        QT_TRANSLATE_NOOP("models", "Up"),
        QT_TRANSLATE_NOOP("models", "Down"),
        QT_TRANSLATE_NOOP("models", "Duration"),
        QT_TRANSLATE_NOOP("models", "Closed"),
        QT_TRANSLATE_NOOP("models", "Reason"),
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ChannelRecord] = []
        self._newest = 0  # key of the newest record shown: nothing changed, nothing to do

    def records(self) -> list[ChannelRecord]:
        return list(self._rows)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        rec, col = self._rows[index.row()], index.column()
        duration = max(0.0, rec.ended - rec.started)
        if role == _DISPLAY:
            if col == self.NAME:
                return f"{rec.name} ({rec.kind})" if rec.kind != "mapping" else rec.name
            if col == self.PEER:
                return rec.peer if rec.peer != "unknown" else QCoreApplication.translate("models", "unknown")
            return (None, None, rec.target or "-", fmt_bytes(rec.up), fmt_bytes(rec.down), fmt_age(duration),
                    time.strftime("%H:%M:%S", time.localtime(rec.ended)), rec.reason or "-")[col]
        if role == SORT_ROLE:
            return (rec.name, rec.peer, rec.target, rec.up, rec.down, duration, rec.ended, rec.reason)[col]
        if role == KEY_ROLE:
            return rec.key
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.UP, self.DOWN, self.DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.REASON:
            return rec.reason or None
        return None

    def apply(self, stats: Stats) -> None:
        recent = stats.recent_closed
        newest = recent[-1].key if recent else 0
        if newest == self._newest and len(recent) == len(self._rows):
            return
        self.beginResetModel()
        self._rows = list(reversed(recent))
        self._newest = newest
        self.endResetModel()


# ------------------------------------------------------------------ totals and links

class TotalsModel(_Table):
    """Bytes per mapping/proxy name since start (closed channels included) and open channel count."""

    NAME, OPEN, UP, DOWN = range(4)
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "Mapping / proxy"),
        QT_TRANSLATE_NOOP("models", "Open"),
        QT_TRANSLATE_NOOP("models", "Up"),
        QT_TRANSLATE_NOOP("models", "Down"),
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, int, int, int]] = []


    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == _DISPLAY:
            return row[0] if col == self.NAME else str(row[1]) if col == self.OPEN else fmt_bytes(row[col])
        if role == SORT_ROLE:
            return row[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col != self.NAME:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def totals(self) -> dict[str, tuple[int, int, int]]:
        return {n: (o, u, d) for n, o, u, d in self._rows}

    def apply(self, snap: Snapshot) -> None:
        open_count: dict[str, int] = {}
        for c in snap.channels:
            open_count[c.name] = open_count.get(c.name, 0) + 1
        rows = sorted((n, open_count.get(n, 0), u, d) for n, (u, d) in snap.per_name.items())
        if [r[0] for r in rows] != [r[0] for r in self._rows]:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
        elif rows != self._rows:
            self._rows = rows
            self.dataChanged.emit(self.index(0, 1), self.index(len(rows) - 1, len(self.HEADERS) - 1))


class LinkTableModel(_Table):
    """Center links of one role: on the server page, every connected client."""

    PEER, USER, MAPPINGS, TLS, UP, DOWN, SINCE = range(7)
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "Peer"),
        QT_TRANSLATE_NOOP("models", "Username"),
        QT_TRANSLATE_NOOP("models", "Mappings"),
        QT_TRANSLATE_NOOP("models", "TLS"),
        QT_TRANSLATE_NOOP("models", "Up"),
        QT_TRANSLATE_NOOP("models", "Down"),
        QT_TRANSLATE_NOOP("models", "Connected"),
    )

    def __init__(self, role: str = "server", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self._rows: list[LinkRecord] = []
        self._taken = time.time()


    def link(self, row: int) -> LinkRecord:
        return self._rows[row]

    def links(self) -> list[LinkRecord]:
        return list(self._rows)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        rec, col = self._rows[index.row()], index.column()
        if role == _DISPLAY:
            tls = QCoreApplication.translate("models", "yes") if rec.tls else QCoreApplication.translate("models", "no")
            return (rec.peer, rec.username or "-", ", ".join(rec.mappings) or "-", tls,
                    fmt_bytes(rec.up), fmt_bytes(rec.down), fmt_age(self._taken - rec.started))[col]
        if role == SORT_ROLE:
            return (rec.peer, rec.username, len(rec.mappings), rec.tls, rec.up, rec.down, rec.started)[col]
        if role == KEY_ROLE:
            return rec.id
        return None

    def apply(self, snap: Snapshot) -> None:
        self._taken = snap.taken
        rows = sorted((l for l in snap.links if l.role == self.role), key=lambda l: l.started)
        if [l.id for l in rows] != [l.id for l in self._rows]:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
        else:
            self._rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.HEADERS) - 1))


# ------------------------------------------------------------------ editable config lists

T = TypeVar("T")


class _ConfigListModel(_Table, Generic[T]):
    """A list of config dataclasses with an "enabled" checkbox in column 0."""

    HEADERS: tuple[str, ...] = ()
    changed = Signal()  # any edit: the page marks itself dirty / applies

    def __init__(self, items: Iterable[T] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[T] = list(items)

    def _cell(self, item: T, col: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)


    def flags(self, index: _Index) -> Qt.ItemFlag:
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0:
            return Qt.CheckState.Checked if item.enabled else Qt.CheckState.Unchecked  # type: ignore[attr-defined]
        if role in (_DISPLAY, SORT_ROLE):
            return self._cell(item, index.column())
        if role == Qt.ItemDataRole.ForegroundRole and not item.enabled:  # type: ignore[attr-defined]
            return QBrush(QColor("#888888"))
        return None

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if index.isValid() and index.column() == 0 and role == Qt.ItemDataRole.CheckStateRole:
            on = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
            self.set_enabled(index.row(), on)
            return True
        return False

    # ---- list API used by the pages
    def items(self) -> list[T]:
        return list(self._items)

    def item(self, row: int) -> T:
        return self._items[row]

    def set_items(self, items: Iterable[T]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def names(self, skip_row: int | None = None) -> set[str]:
        return {it.name for i, it in enumerate(self._items) if i != skip_row}  # type: ignore[attr-defined]

    def add(self, item: T) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()
        self.changed.emit()
        return row

    def replace(self, row: int, item: T) -> None:
        self._items[row] = item
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))
        self.changed.emit()

    def remove(self, row: int) -> T:
        self.beginRemoveRows(QModelIndex(), row, row)
        item = self._items.pop(row)
        self.endRemoveRows()
        self.changed.emit()
        return item

    def duplicate(self, row: int, rename: Callable[[str, set[str]], str]) -> int:
        """Insert a copy below ``row`` with a fresh name (``rename(name, taken)``)."""
        src = self._items[row]
        copy = dataclasses.replace(src, name=rename(src.name, self.names()))  # type: ignore[type-var]
        self.beginInsertRows(QModelIndex(), row + 1, row + 1)
        self._items.insert(row + 1, copy)
        self.endInsertRows()
        self.changed.emit()
        return row + 1

    def set_enabled(self, row: int, on: bool) -> None:
        item = self._items[row]
        if item.enabled != on:  # type: ignore[attr-defined]
            self.replace(row, dataclasses.replace(item, enabled=on))  # type: ignore[type-var]


def copy_name(name: str, taken: set[str]) -> str:
    """'web' -> 'web-copy', then 'web-copy2', ... (first free)."""
    base = f"{name}-copy"
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


class MappingTableModel(_ConfigListModel[MappingConfig]):
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "On"),
        QT_TRANSLATE_NOOP("models", "Name"),
        QT_TRANSLATE_NOOP("models", "Mode"),
        QT_TRANSLATE_NOOP("models", "Local address"),
        QT_TRANSLATE_NOOP("models", "Domain"),
        QT_TRANSLATE_NOOP("models", "Remote port"),
        QT_TRANSLATE_NOOP("models", "Header rules"),
        QT_TRANSLATE_NOOP("models", "Public address"),
        QT_TRANSLATE_NOOP("models", "Server status"),
    )

    PUBLIC, STATUS = 7, 8  # live columns: where the servers publish it, and whether each could

    def __init__(self, items: Iterable[MappingConfig] = (), parent: QObject | None = None) -> None:
        super().__init__(items, parent)
        self.live: list[ServerLive] = []  # one per server of the profile, in its order

    # ---- the running tunnel's view, per server
    def set_servers(self, live: Iterable["ServerLive"]) -> None:
        """Each server's view of these mappings (its link up or not, its verdict per name); repaints the
        live columns when it changed."""
        live = list(live)
        if live == self.live:
            return
        self.live = live
        if self._items:
            self.dataChanged.emit(self.index(0, self.PUBLIC), self.index(len(self._items) - 1, self.STATUS))

    def set_live(self, server_host: str, connected: bool, status: dict[str, Any]) -> None:
        """One server's view (a profile with a single server)."""
        self.set_servers([ServerLive(server_host, server_host, connected, dict(status))])

    @property
    def connected(self) -> bool:
        return any(sv.up for sv in self.live)

    @property
    def several(self) -> bool:
        return len(self.live) > 1

    @staticmethod
    def _address(m: MappingConfig, sv: "ServerLive") -> str:
        """Where ``sv`` publishes ``m``: URL for http/https, host:port otherwise; "" when it does not."""
        st = sv.status.get(m.name)
        if not m.enabled or not sv.up or not sv.host or (st is not None and not st.ok):
            return ""
        port = st.port if st is not None and st.port else (m.remote_port or 0)
        if not port:
            return ""
        from core.config import format_addr

        if m.mode in ("http", "https"):
            host = m.domain or sv.host
            default = 80 if m.mode == "http" else 443
            return f"{m.mode}://{format_addr(host, port) if port != default else host}/"
        return format_addr(sv.host, port)

    def public_addresses(self, m: MappingConfig) -> list[tuple[str, str]]:
        """(server, address) for each server that publishes ``m`` now, in the profile's order."""
        return [(sv.server, a) for sv in self.live if (a := self._address(m, sv))]

    def public_address(self, m: MappingConfig) -> str:
        """The first server's address of ``m`` (URL or host:port); "" while none is known."""
        found = self.public_addresses(m)
        return found[0][1] if found else ""

    def failures(self, m: MappingConfig) -> list[tuple[str, str]]:
        """(server, its reason) for each server whose link is up and that refused ``m``."""
        out = []
        for sv in self.live:
            st = sv.status.get(m.name)
            if sv.up and st is not None and not st.ok:
                out.append((sv.server, translate_reason(st.message)))
        return out

    def failure(self, m: MappingConfig) -> str:
        found = self.failures(m)
        return found[0][1] if found else ""

    def _verdict(self, m: MappingConfig, sv: "ServerLive") -> str:
        if not sv.up:
            return QCoreApplication.translate("models", "link down")
        st = sv.status.get(m.name)
        if st is None:
            return QCoreApplication.translate("models", "unknown")  # a legacy server says nothing
        if st.ok:
            return QCoreApplication.translate("models", "open")
        return QCoreApplication.translate("models", "failed: {reason}").format(reason=translate_reason(st.message))

    def _status_text(self, m: MappingConfig) -> str:
        if not m.enabled:
            return QCoreApplication.translate("models", "off")
        if not self.connected:
            return ""
        if not self.several:
            return self._verdict(m, self.live[0])
        return "\n".join(f"{self.label(sv)}: {self._verdict(m, sv)}" for sv in self.live)

    def label(self, sv: "ServerLive") -> str:
        """How a status line names its server: the host (where the public ports are) when the profile's
        servers have distinct hosts, else the center address."""
        hosts = [x.host for x in self.live]
        return sv.host if sv.host and len(set(hosts)) == len(hosts) else sv.server

    def _public_text(self, m: MappingConfig) -> str:
        if not self.several or not m.enabled or not self.connected:
            return self.public_address(m) or "-"
        return "\n".join(self._address(m, sv) or "-" for sv in self.live)

    def _status_color(self, m: MappingConfig) -> str | None:
        """Green: open everywhere; red: refused (and open nowhere); amber: open at some servers only."""
        if not self.connected or not m.enabled:
            return None
        verdicts = [sv.status.get(m.name) for sv in self.live]
        opened = [sv.up and st is not None and st.ok for sv, st in zip(self.live, verdicts)]
        if all(opened):
            return "#2e7d32"
        if any(opened):
            return "#b26a00"
        if self.failures(m):
            return "#c62828"
        return None

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if index.isValid() and index.column() == self.STATUS and role == Qt.ItemDataRole.ForegroundRole:
            color = self._status_color(self._items[index.row()])
            return QBrush(QColor(color)) if color else None
        if index.isValid() and index.column() in (self.STATUS, self.PUBLIC) and role == Qt.ItemDataRole.ToolTipRole:
            m = self._items[index.row()]
            if index.column() == self.PUBLIC:
                return "\n".join(f"{a}  ({s})" if self.several else a for s, a in self.public_addresses(m)) or None
            return self._status_text(m) or None
        return super().data(index, role)

    def _cell(self, m: MappingConfig, col: int) -> Any:
        if col == self.PUBLIC:
            return self._public_text(m)
        if col == self.STATUS:
            return self._status_text(m)
        return ("", m.name, m.mode, m.local_addr or "-", m.domain or "-",
                str(m.remote_port) if m.remote_port else "-",
                "; ".join(format_header_rule(h) for h in m.headers) or "-")[col]


@dataclasses.dataclass(frozen=True)
class ServerLive:
    """One server of a running profile, as the Mappings page shows it."""

    server: str  # as the profile lists it (host:port of the center)
    host: str  # where that server's public ports are
    up: bool  # its link is up
    status: dict[str, Any]  # its verdict per mapping name (core.frames.MappingState)


class ProxyTableModel(_ConfigListModel[ProxyListenerConfig]):
    HEADERS = (  # column titles: marked for lupdate, translated when shown
        QT_TRANSLATE_NOOP("models", "On"),
        QT_TRANSLATE_NOOP("models", "Name"),
        QT_TRANSLATE_NOOP("models", "Listen on"),
        QT_TRANSLATE_NOOP("models", "Protocols"),
        QT_TRANSLATE_NOOP("models", "Authentication"),
    )

    def _cell(self, p: ProxyListenerConfig, col: int) -> Any:
        auth = (QCoreApplication.translate("models", "user {name}").format(name=p.username) if p.username
                else QCoreApplication.translate("models", "none"))
        return ("", p.name, p.bind, " ".join(p.protocols).upper(), auth)[col]
