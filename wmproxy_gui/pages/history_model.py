"""Qt model for the History page's totals table, and the snapshot it is filled from.

``load_snapshot`` runs in an executor thread (SQLite reads never run on the
loop); the page hands its result to ``HistoryTotalsModel.apply`` on the Qt thread.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QModelIndex, QObject, QPersistentModelIndex, Qt

from core.history import HistoryReader, Key, Point, Total

from ..models import SORT_ROLE, _Table, fmt_bytes

_Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole
KINDS = {"mapping": QT_TRANSLATE_NOOP("models", "mapping"), "proxy": QT_TRANSLATE_NOOP("models", "proxy")}


@dataclass
class HistorySnapshot:
    """Everything the page shows, read in one go."""

    names: list[Key] = field(default_factory=list)
    day: dict[Key, Total] = field(default_factory=dict)  # last 24 hours
    month: dict[Key, Total] = field(default_factory=dict)  # last 30 days
    year: dict[Key, Total] = field(default_factory=dict)  # last 365 days
    hourly: list[Point] = field(default_factory=list)  # for the selected name (or all)
    daily: list[Point] = field(default_factory=list)
    taken: float = 0.0


def load_snapshot(path: Path, selected: Key | None) -> HistorySnapshot:
    """Blocking reads (call it in an executor)."""
    r = HistoryReader(path)
    now = time.time()

    def by_key(totals: list[Total]) -> dict[Key, Total]:
        return {(t.role, t.kind, t.name): t for t in totals}

    year = by_key(r.totals(days=365, now=now))
    return HistorySnapshot(sorted(year), by_key(r.totals(minutes=24 * 60, now=now)),
                           by_key(r.totals(days=30, now=now)), year, r.hourly(selected, 24, now),
                           r.daily(selected, 30, now), now)


class HistoryTotalsModel(_Table):
    """One row per mapping / proxy listener: 24 h, 30 d and 365 d totals."""

    NAME, KIND, DAY_UP, DAY_DOWN, MONTH, YEAR, CONNS = range(7)
    HEADERS = (
        QT_TRANSLATE_NOOP("models", "Mapping / proxy"),
        QT_TRANSLATE_NOOP("models", "Kind"),
        QT_TRANSLATE_NOOP("models", "24 h up"),
        QT_TRANSLATE_NOOP("models", "24 h down"),
        QT_TRANSLATE_NOOP("models", "30 days"),
        QT_TRANSLATE_NOOP("models", "365 days"),
        QT_TRANSLATE_NOOP("models", "Connections (24 h)"),
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[Key, Total | None, Total | None, Total]] = []

    def apply(self, snap: HistorySnapshot) -> None:
        self.beginResetModel()
        self._rows = [(k, snap.day.get(k), snap.month.get(k), snap.year[k]) for k in snap.names]
        self.endResetModel()

    def key(self, row: int) -> Key:
        return self._rows[row][0]

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        (role_, kind, name), d, m, y = self._rows[index.row()]
        col = index.column()
        raw = (name, kind, d.up if d else 0, d.down if d else 0, (m.up + m.down) if m else 0, y.up + y.down,
               d.conns if d else 0)
        if role == _DISPLAY:
            if col == self.NAME:
                return name if role_ == "client" else f"{name} ({role_})"
            if col == self.KIND:
                return KINDS.get(kind) and QCoreApplication.translate("models", KINDS[kind]) or kind
            if col == self.CONNS:
                return str(raw[col])
            return fmt_bytes(raw[col])  # type: ignore[arg-type]
        if role == SORT_ROLE:
            return raw[col]
        if role == Qt.ItemDataRole.ToolTipRole and col in (self.MONTH, self.YEAR):
            t = m if col == self.MONTH else y
            return f"↑ {fmt_bytes(t.up)}  ↓ {fmt_bytes(t.down)}  · {t.conns}" if t else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= self.DAY_UP:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
