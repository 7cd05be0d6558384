"""A QR code as a QPixmap (segno makes the matrix; Qt only paints squares), for phones and second PCs."""
from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap


def qr_pixmap(text: str, module: int = 4, border: int = 4) -> QPixmap:
    """``text`` as a black-on-white QR code, ``module`` pixels per module, a quiet zone of ``border``.

    Always dark on white whatever the theme: scanners need the contrast."""
    import segno

    qr = segno.make(text, error="m", micro=False)
    rows = [list(r) for r in qr.matrix]
    n = len(rows)
    size = (n + 2 * border) * module
    img = QImage(size, size, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("black"))
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                p.drawRect(QRect((x + border) * module, (y + border) * module, module, module))
    p.end()
    return QPixmap.fromImage(img)
