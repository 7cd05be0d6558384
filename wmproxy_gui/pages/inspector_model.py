"""Qt models over the capture ring: the request table and its filter.

The ring lives in the core and never calls into Qt; the model polls its
``version`` on a timer and applies the difference (evicted rows off the front,
new rows onto the end), so selection and scrolling survive a busy tunnel.
"""
from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import (QT_TRANSLATE_NOOP, QCoreApplication, QModelIndex, QObject, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt, QTimer, Signal)
from PySide6.QtGui import QBrush, QColor

from core.inspect import CaptureRing, Exchange

from ..models import KEY_ROLE, SORT_ROLE, _Table, fmt_bytes

_Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole
STATUS_COLORS = {2: "#2e7d32", 3: "#607d8b", 4: "#b26a00", 5: "#c62828", 0: "#c62828"}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_time(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


class RequestTableModel(_Table):
    """Captured exchanges, oldest first (the view sorts newest first)."""

    TIME, MAPPING, METHOD, PATH, STATUS, DURATION, SIZE = range(7)
    HEADERS = (
        QT_TRANSLATE_NOOP("models", "Time"),
        QT_TRANSLATE_NOOP("models", "Mapping"),
        QT_TRANSLATE_NOOP("models", "Method"),
        QT_TRANSLATE_NOOP("models", "Path"),
        QT_TRANSLATE_NOOP("models", "Status"),
        QT_TRANSLATE_NOOP("models", "Duration"),
        QT_TRANSLATE_NOOP("models", "Size"),
    )

    changed = Signal()  # after rows were added or removed

    def __init__(self, ring: CaptureRing, parent: QObject | None = None, *, interval_ms: int = 500,
                 autostart: bool = True) -> None:
        super().__init__(parent)
        self.ring = ring
        self._rows: list[Exchange] = []
        self._version = -1
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        if autostart:
            self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        if self.ring.version == self._version:
            return
        self._version = self.ring.version
        new = self.ring.items()
        old = self._rows
        if not old or not new:
            self.beginResetModel()
            self._rows = new
            self.endResetModel()
            self.changed.emit()
            return
        # the ring only ever drops from the front and appends at the end (or is cleared)
        first = new[0].seq
        drop = next((i for i, e in enumerate(old) if e.seq >= first), len(old))
        if drop < len(old) and old[drop] is not new[0]:
            self.beginResetModel()
            self._rows = new
            self.endResetModel()
            self.changed.emit()
            return
        if drop:
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self._rows[:drop]
            self.endRemoveRows()
        have = len(self._rows)
        if len(new) > have:
            self.beginInsertRows(QModelIndex(), have, len(new) - 1)
            self._rows.extend(new[have:])
            self.endInsertRows()
        self.changed.emit()

    def exchange(self, row: int) -> Exchange | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, id: str) -> int:
        return next((i for i, e in enumerate(self._rows) if e.id == id), -1)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        ex = self._rows[index.row()]
        col = index.column()
        if role == _DISPLAY:
            if col == self.TIME:
                return time.strftime("%H:%M:%S", time.localtime(ex.start))
            if col == self.MAPPING:
                return ex.tunnel_name
            if col == self.METHOD:
                return ex.method
            if col == self.PATH:
                tag = QCoreApplication.translate("models", "replay")
                return f"{ex.uri}  ⟲ {tag}" if ex.replay_of else ex.uri
            if col == self.STATUS:
                return str(ex.status) if ex.status else QCoreApplication.translate("models", "error")
            if col == self.DURATION:
                return fmt_duration(ex.duration)
            if col == self.SIZE:
                return fmt_bytes(ex.response.size if ex.response else 0)
        elif role == SORT_ROLE:
            return (ex.seq, ex.tunnel_name, ex.method, ex.uri, ex.status, ex.duration or 0.0,
                    ex.response.size if ex.response else 0)[col]
        elif role == KEY_ROLE:
            return ex.id
        elif role == Qt.ItemDataRole.ForegroundRole and col == self.STATUS:
            return QBrush(QColor(STATUS_COLORS.get(ex.status // 100, "#607d8b")))
        elif role == Qt.ItemDataRole.ToolTipRole:
            if ex.error:
                return ex.error
            if col == self.PATH:
                return f"{ex.host}{ex.uri}"
            if col == self.TIME:
                return fmt_time(ex.start)
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in (self.STATUS, self.DURATION, self.SIZE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class RequestFilterModel(QSortFilterProxyModel):
    """Filter by path text, method, status class ("2xx"... or an exact code) and mapping."""

    def __init__(self, source: RequestTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.path = ""
        self.method = ""
        self.status = ""
        self.mapping = ""

    def set_filter(self, *, path: str | None = None, method: str | None = None, status: str | None = None,
                   mapping: str | None = None) -> None:
        has_begin = hasattr(self, "beginFilterChange")  # Qt >= 6.10 deprecates invalidateFilter
        if has_begin:
            self.beginFilterChange()
        for name, value in (("path", path), ("method", method), ("status", status), ("mapping", mapping)):
            if value is not None:
                setattr(self, name, value.strip())
        if has_begin:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: _Index) -> bool:
        src = self.sourceModel()
        assert isinstance(src, RequestTableModel)
        ex = src.exchange(row)
        if ex is None:
            return False
        if self.path and self.path.lower() not in ex.uri.lower():
            return False
        if self.method and ex.method != self.method.upper():
            return False
        if self.mapping and ex.tunnel_name != self.mapping:
            return False
        if self.status:
            s = self.status.lower()
            if len(s) == 3 and s.endswith("xx") and s[0].isdigit():
                if ex.status // 100 != int(s[0]):
                    return False
            elif s.isdigit() and ex.status != int(s):
                return False
        return True
