"""Throughput graph drawn with QPainter (no QtCharts in PySide6-Essentials).

Keeps a fixed-size ring of per-second samples per series; painting is
O(visible samples) and happens only when a sample arrives or the widget resizes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..models import fmt_rate


@dataclass
class Series:
    label: str
    color: QColor
    samples: deque[float] = field(default_factory=deque)
    dashed: bool = False


class ThroughputGraph(QWidget):
    """Rates (bytes/s) over the last ``span`` seconds for a few named series."""

    def __init__(self, span: int = 300, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.span = span
        self.series: dict[str, Series] = {}
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, key: str, label: str, color: str, dashed: bool = False) -> None:
        s = self.series.get(key)
        if s is None:
            self.series[key] = Series(label, QColor(color), deque(maxlen=self.span), dashed)
        else:
            s.label = label

    def remove_series(self, key: str) -> None:
        self.series.pop(key, None)
        self.update()

    def clear_series(self, key: str) -> None:
        if key in self.series:
            self.series[key].samples.clear()

    def add(self, values: dict[str, float]) -> None:
        """One tick: append a value to each series (missing ones get 0) and repaint."""
        for key, s in self.series.items():
            s.samples.append(max(0.0, float(values.get(key, 0.0))))
        self.update()

    def peak(self) -> float:
        return max((max(s.samples, default=0.0) for s in self.series.values()), default=0.0)

    def scale_top(self) -> float:
        """The axis maximum: a robust peak, so one start-up spike does not flatten the next minutes.

        The 95th percentile of the visible samples, with head room; a spike above it is drawn
        clipped at the top. With few samples (or a flat line) it is just the peak."""
        values = sorted(v for s in self.series.values() for v in s.samples if v > 0)
        if len(values) < 20:
            return _nice_ceiling(values[-1] if values else 0.0)
        robust = values[min(len(values) - 1, int(len(values) * 0.95))] * 1.2
        return _nice_ceiling(min(values[-1], robust))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        left = fm.horizontalAdvance("999.9 MiB/s") + 8
        plot = QRectF(left, 8, max(10, self.width() - left - 8), max(10, self.height() - 8 - fm.height() * 2 - 8))
        top_value = self.scale_top()

        grid = QPen(pal.mid().color())
        grid.setStyle(Qt.PenStyle.DotLine)
        p.setPen(grid)
        for i in range(5):
            y = plot.bottom() - plot.height() * i / 4
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(pal.text().color())
            p.drawText(QRectF(0, y - fm.height() / 2, left - 6, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, fmt_rate(top_value * i / 4))
            p.setPen(grid)
        p.setPen(pal.text().color())
        minutes = self.span / 60
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
                   Qt.AlignmentFlag.AlignLeft, self.tr("{n} min ago").format(n=f"{minutes:g}"))
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
                   Qt.AlignmentFlag.AlignRight, self.tr("now"))

        step = plot.width() / max(1, self.span - 1)
        x_legend = plot.left()
        for s in self.series.values():
            n = len(s.samples)
            if n:
                path = QPainterPath()
                x0 = plot.right() - (n - 1) * step
                for i, v in enumerate(s.samples):
                    pt = QPointF(x0 + i * step, plot.bottom() - plot.height() * min(1.0, v / top_value))
                    path.moveTo(pt) if i == 0 else path.lineTo(pt)
                pen = QPen(s.color, 2)
                if s.dashed:
                    pen.setStyle(Qt.PenStyle.DashLine)
                p.setPen(pen)
                p.drawPath(path)
            # legend: swatch + label + current value
            y = plot.bottom() + fm.height() + 4
            p.fillRect(QRectF(x_legend, y + fm.height() / 2 - 2, 12, 4), s.color)
            text = f"{s.label}: {fmt_rate(s.samples[-1] if n else 0)}"
            p.setPen(pal.text().color())
            p.drawText(QPointF(x_legend + 16, y + fm.ascent()), text)
            x_legend += 16 + fm.horizontalAdvance(text) + 16
        p.end()


def _nice_ceiling(v: float) -> float:
    """A round axis maximum >= v (1, 2, 5 x 1024^k), never 0."""
    if v <= 0:
        return 1024.0
    base = 1.0
    while base * 1024 <= v:
        base *= 1024
    for m in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1024):
        if base * m >= v:
            return base * m
    return base * 1024
