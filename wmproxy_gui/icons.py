"""Icons drawn with QPainter, so the app ships no image files and stays crisp at any DPI.

State icons differ in colour *and* shape (for colour-blind users and monochrome
trays): stopped = grey power symbol, connecting = amber open arc, connected =
green up/down arrows, degraded (connected, but one of the profile's servers is
down) = orange disc with one arrow and an exclamation mark, error = red
exclamation mark.  Navigation icons are line
drawings in the palette's text colour, so they follow light and dark themes.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QIcon,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
)

STATES = ("stopped", "connecting", "connected", "degraded", "error")

# (top, bottom) of the disc gradient per state
STATE_COLORS: dict[str, tuple[str, str]] = {
    "stopped": ("#9aa3ad", "#6b7580"),
    "connecting": ("#ffc247", "#e08a00"),
    "connected": ("#3ccf6e", "#1b9a48"),
    "degraded": ("#ff9a3c", "#d9600b"),
    "error": ("#ff6b6b", "#d42b2b"),
}
SIZES = (16, 20, 24, 32, 48, 64, 128, 256)

Painter = Callable[[QPainter, float], None]


def state_color(state: str) -> QColor:
    """The representative (bottom) colour of a state, for text and graphs."""
    return QColor(STATE_COLORS.get(state, STATE_COLORS["stopped"])[1])


def _pixmap(size: int, paint: Painter, dpr: float = 1.0) -> QPixmap:
    pm = QPixmap(int(size * dpr), int(size * dpr))
    pm.setDevicePixelRatio(dpr)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        paint(p, float(size))
    finally:
        p.end()
    return pm


def _icon(paint: Painter) -> QIcon:
    icon = QIcon()
    for s in SIZES:
        icon.addPixmap(_pixmap(s, paint))
    return icon


def _disc(p: QPainter, s: float, colors: tuple[str, str]) -> None:
    """A round badge with a soft vertical gradient and a thin darker rim."""
    m = s * 0.04
    rect = QRectF(m, m, s - 2 * m, s - 2 * m)
    grad = QLinearGradient(rect.topLeft(), rect.bottomLeft())
    grad.setColorAt(0.0, QColor(colors[0]))
    grad.setColorAt(1.0, QColor(colors[1]))
    p.setBrush(QBrush(grad))
    rim = QColor(colors[1]).darker(125)
    p.setPen(QPen(rim, max(1.0, s * 0.03)))
    p.drawEllipse(rect)


def _glyph_pen(s: float, width: float = 0.09) -> QPen:
    pen = QPen(QColor("white"), max(1.4, s * width))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _arrow(p: QPainter, s: float, x: float, y0: float, y1: float) -> None:
    """A vertical arrow from y0 to y1 (head at y1), in fractions of s."""
    p.drawLine(QPointF(x * s, y0 * s), QPointF(x * s, y1 * s))
    d = 0.12 if y1 < y0 else -0.12
    p.drawLine(QPointF(x * s, y1 * s), QPointF((x - 0.1) * s, (y1 + d) * s))
    p.drawLine(QPointF(x * s, y1 * s), QPointF((x + 0.1) * s, (y1 + d) * s))


def _paint_state(state: str) -> Painter:
    def paint(p: QPainter, s: float) -> None:
        _disc(p, s, STATE_COLORS.get(state, STATE_COLORS["stopped"]))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(_glyph_pen(s))
        if state == "connected":  # traffic flows both ways
            _arrow(p, s, 0.37, 0.72, 0.28)
            _arrow(p, s, 0.63, 0.28, 0.72)
        elif state == "degraded":  # still flowing (one arrow), but something needs a look (!)
            _arrow(p, s, 0.36, 0.72, 0.28)
            p.drawLine(QPointF(0.64 * s, 0.27 * s), QPointF(0.64 * s, 0.54 * s))
            p.setBrush(QColor("white"))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QPointF(0.64 * s, 0.7 * s), 0.06 * s, 0.06 * s)
        elif state == "connecting":  # an open arc with an arrow head: "working on it"
            r = QRectF(0.27 * s, 0.27 * s, 0.46 * s, 0.46 * s)
            p.drawArc(r, 90 * 16, 270 * 16)
            tip = QPointF(0.5 * s, 0.27 * s)
            p.drawLine(tip, QPointF(0.62 * s, 0.18 * s))
            p.drawLine(tip, QPointF(0.62 * s, 0.36 * s))
        elif state == "error":  # exclamation mark
            p.drawLine(QPointF(0.5 * s, 0.25 * s), QPointF(0.5 * s, 0.56 * s))
            p.setBrush(QColor("white"))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QPointF(0.5 * s, 0.72 * s), 0.065 * s, 0.065 * s)
        else:  # stopped: power symbol ("press to start")
            r = QRectF(0.28 * s, 0.3 * s, 0.44 * s, 0.44 * s)
            p.drawArc(r, 125 * 16, 290 * 16)
            p.drawLine(QPointF(0.5 * s, 0.22 * s), QPointF(0.5 * s, 0.48 * s))

    return paint


def _paint_app(p: QPainter, s: float) -> None:
    """The brand mark, same geometry as resources/icons/wmproxy-gui.svg (a tunnel portal with an
    arrow passing through), so window, tray menu and installer icons match."""
    p.save()
    p.scale(s / 256.0, s / 256.0)
    bg = QLinearGradient(0, 12, 0, 244)
    bg.setColorAt(0, QColor("#2b8ce6"))
    bg.setColorAt(1, QColor("#1553a8"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(bg))
    p.drawRoundedRect(QRectF(12, 12, 232, 232), 52, 52)
    portal = QLinearGradient(0, 58, 0, 208)
    portal.setColorAt(0, QColor("#0a1f3d"))
    portal.setColorAt(1, QColor("#123a6b"))
    arch = QPainterPath()
    arch.moveTo(58, 208)
    arch.lineTo(58, 128)
    arch.arcTo(QRectF(58, 58, 140, 140), 180, -180)
    arch.lineTo(198, 208)
    arch.closeSubpath()
    rim = QPen(QColor("#e8f3ff"), 14)
    rim.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(rim)
    p.setBrush(QBrush(portal))
    p.drawPath(arch)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#e8f3ff"))
    p.drawRoundedRect(QRectF(34, 204, 188, 14), 7, 7)
    arrow = QPainterPath()
    for i, (x, y) in enumerate(((40, 146), (150, 146), (150, 116), (212, 162), (150, 208), (150, 178), (40, 178))):
        arrow.moveTo(x, y) if i == 0 else arrow.lineTo(x, y)
    arrow.closeSubpath()
    edge = QPen(QColor("#0a1f3d"), 6)
    edge.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(edge)
    p.setBrush(QColor("#4fe0b0"))
    p.drawPath(arrow)
    p.restore()


@lru_cache(maxsize=None)
def state_icon(state: str) -> QIcon:
    """Tray / menu icon for a tunnel state ("stopped"|"connecting"|"connected"|"degraded"|"error")."""
    return _icon(_paint_state(state))


@lru_cache(maxsize=None)
def info_state_icon(state: str) -> QIcon:
    """``state_icon`` that keeps its colour on a disabled (information-only) menu entry."""
    icon = QIcon()
    paint = _paint_state(state)
    for sz in SIZES:
        pm = _pixmap(sz, paint)
        icon.addPixmap(pm, QIcon.Mode.Normal)
        icon.addPixmap(pm, QIcon.Mode.Disabled)
    return icon


def state_pixmap(state: str, size: int = 64) -> QPixmap:
    return _pixmap(size, _paint_state(state))


@lru_cache(maxsize=None)
def app_icon() -> QIcon:
    return _icon(_paint_app)


def app_pixmap(size: int = 64) -> QPixmap:
    return _pixmap(size, _paint_app)


# ---------------------------------------------------------------- navigation icons
def _line_pen(s: float, color: QColor) -> QPen:
    pen = QPen(color, max(1.3, s * 0.075))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _nav_profiles(p: QPainter, s: float) -> None:
    p.drawEllipse(QPointF(0.5 * s, 0.36 * s), 0.15 * s, 0.15 * s)
    body = QPainterPath()
    body.moveTo(0.2 * s, 0.82 * s)
    body.cubicTo(0.22 * s, 0.56 * s, 0.78 * s, 0.56 * s, 0.8 * s, 0.82 * s)
    p.drawPath(body)


def _nav_mappings(p: QPainter, s: float) -> None:
    for y, d in ((0.36, 1), (0.64, -1)):
        x0, x1 = (0.18, 0.82) if d > 0 else (0.82, 0.18)
        p.drawLine(QPointF(x0 * s, y * s), QPointF(x1 * s, y * s))
        p.drawLine(QPointF(x1 * s, y * s), QPointF((x1 - d * 0.12) * s, (y - 0.1) * s))
        p.drawLine(QPointF(x1 * s, y * s), QPointF((x1 - d * 0.12) * s, (y + 0.1) * s))


def _nav_certificates(p: QPainter, s: float) -> None:
    shield = QPainterPath()
    shield.moveTo(0.5 * s, 0.14 * s)
    shield.lineTo(0.8 * s, 0.26 * s)
    shield.cubicTo(0.8 * s, 0.58 * s, 0.66 * s, 0.76 * s, 0.5 * s, 0.86 * s)
    shield.cubicTo(0.34 * s, 0.76 * s, 0.2 * s, 0.58 * s, 0.2 * s, 0.26 * s)
    shield.closeSubpath()
    p.drawPath(shield)
    tick = QPainterPath()
    tick.moveTo(0.37 * s, 0.5 * s)
    tick.lineTo(0.47 * s, 0.6 * s)
    tick.lineTo(0.64 * s, 0.4 * s)
    p.drawPath(tick)


def _nav_traffic(p: QPainter, s: float) -> None:
    p.drawLine(QPointF(0.16 * s, 0.84 * s), QPointF(0.84 * s, 0.84 * s))
    line = QPainterPath()
    pts = [(0.16, 0.66), (0.34, 0.46), (0.5, 0.6), (0.66, 0.28), (0.84, 0.4)]
    line.moveTo(pts[0][0] * s, pts[0][1] * s)
    for x, y in pts[1:]:
        line.lineTo(x * s, y * s)
    p.drawPath(line)


def _nav_server(p: QPainter, s: float) -> None:
    for y in (0.18, 0.52):
        p.drawRoundedRect(QRectF(0.18 * s, y * s, 0.64 * s, 0.28 * s), 0.06 * s, 0.06 * s)
        p.drawPoint(QPointF(0.32 * s, (y + 0.14) * s))
        p.drawLine(QPointF(0.48 * s, (y + 0.14) * s), QPointF(0.68 * s, (y + 0.14) * s))


def _nav_logs(p: QPainter, s: float) -> None:
    page = QPainterPath()
    page.moveTo(0.24 * s, 0.12 * s)
    page.lineTo(0.62 * s, 0.12 * s)
    page.lineTo(0.78 * s, 0.28 * s)
    page.lineTo(0.78 * s, 0.88 * s)
    page.lineTo(0.24 * s, 0.88 * s)
    page.closeSubpath()
    p.drawPath(page)
    for y in (0.42, 0.56, 0.7):
        p.drawLine(QPointF(0.35 * s, y * s), QPointF(0.67 * s, y * s))


def _nav_settings(p: QPainter, s: float) -> None:
    c = QPointF(0.5 * s, 0.5 * s)
    teeth = 8
    gear = QPainterPath()
    for i in range(teeth * 2):
        a0 = 2 * math.pi * i / (teeth * 2)
        a1 = 2 * math.pi * (i + 1) / (teeth * 2)
        r = 0.36 if i % 2 == 0 else 0.27
        for a in (a0, a1):
            pt = QPointF(c.x() + r * s * math.cos(a), c.y() + r * s * math.sin(a))
            if gear.elementCount() == 0:
                gear.moveTo(pt)
            else:
                gear.lineTo(pt)
    gear.closeSubpath()
    p.drawPath(gear)
    p.drawEllipse(c, 0.1 * s, 0.1 * s)


def _nav_inspector(p: QPainter, s: float) -> None:
    p.drawEllipse(QPointF(0.44 * s, 0.44 * s), 0.24 * s, 0.24 * s)
    p.drawLine(QPointF(0.62 * s, 0.62 * s), QPointF(0.84 * s, 0.84 * s))


def _nav_history(p: QPainter, s: float) -> None:
    p.drawLine(QPointF(0.14 * s, 0.86 * s), QPointF(0.86 * s, 0.86 * s))
    for x, top in ((0.24, 0.56), (0.42, 0.34), (0.6, 0.48), (0.78, 0.2)):
        p.drawLine(QPointF(x * s, 0.78 * s), QPointF(x * s, top * s))


NAV_PAINTERS: dict[str, Painter] = {
    "profiles": _nav_profiles,
    "mappings": _nav_mappings,
    "certificates": _nav_certificates,
    "traffic": _nav_traffic,
    "inspector": _nav_inspector,
    "history": _nav_history,
    "server": _nav_server,
    "logs": _nav_logs,
    "settings": _nav_settings,
}


def nav_icon(name: str, color: QColor | None = None) -> QIcon:
    """A line icon for a navigation entry, in ``color`` (default: the palette's text colour)."""
    if color is None:
        app = QGuiApplication.instance()
        color = app.palette().windowText().color() if app else QColor("#333")  # type: ignore[union-attr]
    draw = NAV_PAINTERS[name]

    def paint(p: QPainter, s: float) -> None:
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(_line_pen(s, color))
        draw(p, s)

    return _icon(paint)
