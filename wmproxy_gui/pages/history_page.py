"""History: traffic per mapping and proxy listener that outlives connections and restarts.

An hourly chart (last 24 hours) and a daily one (last 30 days) for one mapping or
all of them, a totals table, and CSV export. The data comes from the history
database that the controller's recorder writes; it is read in an executor every
few seconds while the page is visible, so the loop never waits on SQLite.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QSplitter, QTableView, QVBoxLayout, QWidget)

from core.history import HistoryError, HistoryReader, Key, Point, default_path

from ..models import fmt_bytes
from ..widgets.common import ERROR_COLOR, spawn
from .history_model import KINDS, HistorySnapshot, HistoryTotalsModel, load_snapshot

REFRESH_MS = 10_000  # the recorder writes every 10 s
UP_COLOR, DOWN_COLOR = "#1e88e5", "#43a047"


class BarChart(QWidget):
    """Paired up/down bars per point, a y scale in bytes, a few x labels."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.points: list[Point] = []
        self.labels: list[str] = []
        self.legend = ("↑", "↓")
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_points(self, points: list[Point], labels: list[str]) -> None:
        self.points, self.labels = points, labels
        self.update()

    def peak(self) -> int:
        return max((max(p.up, p.down) for p in self.points), default=0)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fm = p.fontMetrics()
        lh = fm.height()
        peak = max(1, self.peak())
        left = fm.horizontalAdvance(fmt_bytes(peak)) + 10
        plot = QRectF(left, lh * 2.1, self.width() - left - 8, self.height() - lh * 3.7)
        p.setPen(pal.windowText().color())
        p.drawText(QRectF(0, 0, self.width(), lh * 1.4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   self.title)
        lx = self.width() - 8
        for text, color in ((self.legend[1], DOWN_COLOR), (self.legend[0], UP_COLOR)):
            w = fm.horizontalAdvance(text)
            lx -= w
            p.setPen(pal.windowText().color())
            p.drawText(QRectF(lx, 0, w, lh * 1.4), Qt.AlignmentFlag.AlignVCenter, text)
            lx -= lh * 0.8 + 4
            p.fillRect(QRectF(lx, lh * 0.35, lh * 0.7, lh * 0.7), QColor(color))
            lx -= 12
        grid = QPen(pal.mid().color())
        grid.setStyle(Qt.PenStyle.DotLine)
        for frac in (0.0, 0.5, 1.0):
            y = plot.bottom() - plot.height() * frac
            p.setPen(grid)
            p.drawLine(plot.left(), y, plot.right(), y)
            p.setPen(pal.placeholderText().color())
            p.drawText(QRectF(0, y - lh / 2, left - 6, lh), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       fmt_bytes(peak * frac))
        n = len(self.points)
        if not n:
            return
        slot = plot.width() / n
        bar = max(1.0, slot * 0.38)
        for i, pt in enumerate(self.points):
            x = plot.left() + i * slot + slot * 0.1
            for j, (v, color) in enumerate(((pt.up, UP_COLOR), (pt.down, DOWN_COLOR))):
                h = plot.height() * v / peak
                if h > 0:
                    p.fillRect(QRectF(x + j * bar, plot.bottom() - max(1.0, h), bar, max(1.0, h)), QColor(color))
        p.setPen(pal.placeholderText().color())
        widest = max((fm.horizontalAdvance(t) for t in self.labels), default=10)
        step = max(1, -(-n * int(widest * 1.6) // max(1, int(plot.width()))))  # labels never touch
        for i in range(0, n, step):
            label = self.labels[i] if i < len(self.labels) else ""
            x = plot.left() + i * slot
            p.drawText(QRectF(x + slot / 2 - widest, plot.bottom() + 2, 2 * widest, lh), Qt.AlignmentFlag.AlignHCenter,
                       label)


class HistoryPage(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.snapshot = HistorySnapshot()
        self._loading: asyncio.Task | None = None

        self.which = QComboBox(objectName="which")
        self.which.addItem(self.tr("All mappings and proxies"), "")
        self.which.setMinimumContentsLength(24)
        self.which.currentIndexChanged.connect(lambda _i: self.refresh())
        self.summary = QLabel(objectName="summary")
        self.export_button = QPushButton(self.tr("Export CSV…"), objectName="export")
        self.export_button.setToolTip(self.tr("Save the daily totals (or the per-minute rows of the last day) "
                                              "as a CSV file"))
        self.export_button.clicked.connect(self.export)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Show:")))
        top.addWidget(self.which)
        top.addWidget(self.summary, 1)
        top.addWidget(self.export_button)

        self.hourly = BarChart(self.tr("Last 24 hours, per hour"))
        self.hourly.setObjectName("hourly")
        self.daily = BarChart(self.tr("Last 30 days, per day"))
        self.daily.setObjectName("daily")
        for chart in (self.hourly, self.daily):
            chart.legend = (self.tr("Up"), self.tr("Down"))
        self.totals = HistoryTotalsModel(self)
        self.table = QTableView(objectName="totals")
        self.table.setModel(self.totals)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda idx: self.show_key(self.totals.key(idx.row())))
        self.note = QLabel(objectName="note")
        self.note.setWordWrap(True)

        charts = QWidget()
        cl = QVBoxLayout(charts)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.hourly, 1)
        cl.addWidget(self.daily, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(charts)
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.note)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self._apply(self.snapshot)

    @property
    def path(self) -> Path:
        rec = getattr(self.controller, "history", None)
        return rec.path if rec is not None else default_path()

    def selected(self) -> Key | None:
        data = self.which.currentData()
        return tuple(data.split("\x1f")) if data else None  # type: ignore[return-value]

    def show_key(self, key: Key) -> None:
        i = self.which.findData("\x1f".join(key))
        if i >= 0:
            self.which.setCurrentIndex(i)

    # ---------------------------------------------------------------- loading
    def refresh(self) -> asyncio.Task | None:
        """Read the database in an executor, then show it (one read at a time)."""
        if self._loading is not None and not self._loading.done():
            return self._loading
        rec = getattr(self.controller, "history", None)
        path, sel = self.path, self.selected()

        async def load() -> HistorySnapshot:
            if rec is not None:
                await rec.sync()  # what was counted so far, committed by the writer thread
            return await asyncio.get_running_loop().run_in_executor(None, load_snapshot, path, sel)

        def failed(e: BaseException) -> None:
            self.note.setStyleSheet(f"color: {ERROR_COLOR};")
            self.note.setText(str(e))

        self._loading = spawn(load(), self._apply, failed)
        return self._loading

    def _apply(self, snap: HistorySnapshot) -> None:
        self.snapshot = snap
        known = {self.which.itemData(i) for i in range(1, self.which.count())}
        for key in snap.names:
            if "\x1f".join(key) not in known:  # a string: QVariant keeps tuples, but findData cannot match them
                role, kind, name = key
                label = name if role == "client" else f"{name} ({role})"
                shown = QCoreApplication.translate("models", KINDS[kind]) if kind in KINDS else kind
                self.which.addItem(f"{label} · {shown}", "\x1f".join(key))
        self.totals.apply(snap)
        self.hourly.set_points(snap.hourly, [time.strftime("%H:00", time.localtime(int(p.label)))
                                             for p in snap.hourly])
        self.daily.set_points(snap.daily, [p.label[5:] for p in snap.daily])
        up = sum(t.up for t in snap.day.values())
        down = sum(t.down for t in snap.day.values())
        self.summary.setText(self.tr("Last 24 hours: ↑ %1 ↓ %2").replace("%1", fmt_bytes(up))
                             .replace("%2", fmt_bytes(down)))
        rec = getattr(self.controller, "history", None)
        self.note.setStyleSheet("")
        if rec is not None and rec.error:
            self.note.setStyleSheet(f"color: {ERROR_COLOR};")
            self.note.setText(self.tr("Traffic history is off: %1").replace("%1", rec.error))
        elif not snap.names:
            self.note.setText(self.tr("No traffic recorded yet. Totals per mapping are kept per minute for a day "
                                      "and per day for a year, in %1.").replace("%1", str(self.path)))
        else:
            self.note.setText(self.tr("Kept per minute for a day and per day for a year, in %1.")
                              .replace("%1", str(self.path)))

    # ---------------------------------------------------------------- export
    def export(self) -> None:
        daily, minutes = self.tr("Daily totals (*.csv)"), self.tr("Per minute, last 24 hours (*.csv)")
        name, chosen = QFileDialog.getSaveFileName(self, self.tr("Export traffic history"),
                                                   str(Path.home() / "wmproxy-traffic.csv"), f"{daily};;{minutes}")
        if name:
            self.export_to(Path(name), "minute" if chosen == minutes else "day")

    def export_to(self, target: Path, table: str = "day") -> asyncio.Task:
        path = self.path

        def write() -> int:
            with open(target, "w", newline="", encoding="utf-8") as f:
                return HistoryReader(path).export_csv(f, table)

        def done(n: int) -> None:
            self.note.setStyleSheet("")
            self.note.setText(self.tr("Exported %1 rows to %2.").replace("%1", str(n)).replace("%2", str(target)))

        def failed(e: BaseException) -> None:
            self.note.setStyleSheet(f"color: {ERROR_COLOR};")
            msg = str(e) if isinstance(e, HistoryError) else getattr(e, "strerror", None) or str(e)
            self.note.setText(self.tr("Cannot export: %1").replace("%1", msg))

        return spawn(asyncio.get_running_loop().run_in_executor(None, write), done, failed)

    # ---------------------------------------------------------------- visibility
    def showEvent(self, event: Any) -> None:
        self.refresh()
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)
