#!/usr/bin/env python3
"""Render the app icon (resources/icons/wmproxy-gui.svg) to PNG, Windows .ico and macOS .icns.

Why hand-written containers: the only imaging library the project already
depends on is Qt, and Qt's image writers put one image in a file, while an
.ico/.icns must carry every size. Both formats are trivial containers (a
directory of PNG or DIB blobs), so writing them here keeps the build free of
an extra dependency (Pillow) that would only be needed for these ~60 lines.
The results are read back with Qt's own ico/icns readers (``--verify``).

Usage: python installer/make_icons.py [--out DIR] [--runtime] [--verify]
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_SVG = ROOT / "resources" / "icons" / "wmproxy-gui.svg"
RUNTIME_PNG = ROOT / "resources" / "icons" / "wmproxy-gui-256.png"
DEFAULT_OUT = ROOT / "build" / "icons"
NAME = "wmproxy-gui"

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_PNG_MIN = 256  # bigger entries as PNG (Vista+), smaller as classic DIB for old readers
# ICNS chunk types that hold PNG data, by pixel size (what Apple's iconutil emits).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"ic12", 64), (b"ic07", 128),
    (b"ic13", 256), (b"ic08", 256), (b"ic14", 512), (b"ic09", 512), (b"ic10", 1024),
)


class IconError(Exception):
    """The icon source is missing/invalid or a generated file does not read back."""


def _qt():
    """Import Qt lazily; an offscreen QGuiApplication is enough to render SVG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    if QGuiApplication.instance() is None:
        _qt.app = QGuiApplication([sys.argv[0]])  # keep a reference for the process lifetime
    return QBuffer, QByteArray, QIODevice, Qt, QImage, QPainter, QSvgRenderer


def render(svg: Path, sizes: tuple[int, ...]) -> dict[int, "QImage"]:
    """Render the SVG at each size into straight (non-premultiplied) ARGB32 images."""
    _, _, _, Qt, QImage, QPainter, QSvgRenderer = _qt()
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise IconError(f"{svg}: not a valid SVG (Qt could not parse it)")
    images = {}
    for size in sizes:
        img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        images[size] = img.convertToFormat(QImage.Format.Format_ARGB32)
    return images


def png_bytes(img) -> bytes:
    QBuffer, QByteArray, QIODevice, *_ = _qt()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not img.save(buf, "PNG"):
        raise IconError("Qt failed to encode a PNG")
    buf.close()
    return bytes(data.data())


def dib_bytes(img) -> bytes:
    """A 32-bit BGRA DIB as stored in .ico: header, bottom-up pixels, then the 1-bit AND mask."""
    w, h = img.width(), img.height()
    bits = bytes(img.constBits())  # ARGB32 on little-endian = B,G,R,A per pixel
    stride = img.bytesPerLine()
    rows = [bits[y * stride:y * stride + 4 * w] for y in range(h)]
    mask_stride = ((w + 31) // 32) * 4
    mask_rows = []
    for row in rows:
        mask = bytearray(mask_stride)
        for x in range(w):
            if row[4 * x + 3] == 0:  # fully transparent: set the AND bit for pre-alpha readers
                mask[x // 8] |= 0x80 >> (x % 8)
        mask_rows.append(bytes(mask))
    xor = b"".join(reversed(rows))
    and_mask = b"".join(reversed(mask_rows))
    header = struct.pack("<IiiHHIIiiII", 40, w, 2 * h, 1, 32, 0, len(xor) + len(and_mask), 0, 0, 0, 0)
    return header + xor + and_mask


def build_ico(images: dict[int, "QImage"]) -> bytes:
    """ICONDIR + ICONDIRENTRY per size + the image blobs."""
    blobs = [(s, png_bytes(images[s]) if s >= ICO_PNG_MIN else dib_bytes(images[s])) for s in ICO_SIZES]
    out = bytearray(struct.pack("<HHH", 0, 1, len(blobs)))
    offset = 6 + 16 * len(blobs)
    for size, blob in blobs:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
    for _, blob in blobs:
        out += blob
    return bytes(out)


def build_icns(pngs: dict[int, bytes]) -> bytes:
    """'icns' + total length, then (type, length incl. 8-byte header, PNG) chunks, all big-endian."""
    chunks = b"".join(t + struct.pack(">I", 8 + len(pngs[s])) + pngs[s] for t, s in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def parse_icns(data: bytes) -> dict[bytes, bytes]:
    """Split an .icns back into its chunks (for verification)."""
    if data[:4] != b"icns" or struct.unpack(">I", data[4:8])[0] != len(data):
        raise IconError("icns: bad header or total length")
    chunks, pos = {}, 8
    while pos < len(data):
        kind, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if length < 8 or pos + length > len(data):
            raise IconError(f"icns: chunk {kind!r} at {pos} has bad length {length}")
        chunks[kind] = data[pos + 8:pos + length]
        pos += length
    return chunks


def verify(out: Path) -> list[str]:
    """Read the outputs back with independent readers; return one line per checked file."""
    from PySide6.QtGui import QImage, QImageReader

    report = []
    for size in PNG_SIZES:
        img = QImage(str(out / f"{NAME}-{size}.png"))
        if img.isNull() or (img.width(), img.height()) != (size, size):
            raise IconError(f"{NAME}-{size}.png does not read back as {size}x{size}")
        if img.pixelColor(size // 2, size // 2).alpha() != 255 or img.pixelColor(0, 0).alpha() != 0:
            raise IconError(f"{NAME}-{size}.png: expected an opaque centre and transparent corner")
    report.append(f"png: {len(PNG_SIZES)} sizes {PNG_SIZES[0]}..{PNG_SIZES[-1]} ok")

    reader = QImageReader(str(out / f"{NAME}.ico"), b"ico")
    got = []
    for _ in range(reader.imageCount()):
        img = reader.read()
        if img.isNull():
            raise IconError(f"{NAME}.ico: entry {len(got)} unreadable: {reader.errorString()}")
        size = img.width()
        want = QImage(str(out / f"{NAME}-{size}.png")).convertToFormat(QImage.Format.Format_ARGB32)
        if img.convertToFormat(QImage.Format.Format_ARGB32) != want:
            raise IconError(f"{NAME}.ico: the {size}px entry differs from {NAME}-{size}.png")
        got.append(size)
        reader.jumpToNextImage()
    if sorted(got) != sorted(ICO_SIZES):
        raise IconError(f"{NAME}.ico: sizes {got}, expected {list(ICO_SIZES)}")
    report.append(f"ico: {len(got)} entries {sorted(got)} read back by Qt's ico reader, pixel-identical to the PNGs")

    data = (out / f"{NAME}.icns").read_bytes()
    chunks = parse_icns(data)
    for kind, size in ICNS_TYPES:
        img = QImage.fromData(chunks[kind], "PNG")
        if img.width() != size:
            raise IconError(f"{NAME}.icns: chunk {kind.decode()} is {img.width()}px, expected {size}")
    supported = [bytes(f.data()) for f in QImageReader.supportedImageFormats()]
    if b"icns" in supported:  # Qt's own icns plugin, an independent reader of the container
        img = QImage(str(out / f"{NAME}.icns"), "icns")
        if img.isNull():
            raise IconError(f"{NAME}.icns: Qt's icns reader rejects the file")
        report.append(f"icns: {len(chunks)} chunks, {len(data)} bytes, Qt's icns reader: {img.width()}px")
    else:
        report.append(f"icns: {len(chunks)} chunks, {len(data)} bytes (no Qt icns reader here)")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--svg", type=Path, default=SOURCE_SVG)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/icons)")
    ap.add_argument("--runtime", action="store_true",
                    help=f"also refresh the committed runtime icon {RUNTIME_PNG.relative_to(ROOT)}")
    ap.add_argument("--verify", action="store_true", help="read every output back and check it")
    args = ap.parse_args(argv)
    try:
        if not args.svg.is_file():
            raise IconError(f"{args.svg}: source icon not found")
        images = render(args.svg, PNG_SIZES)
        args.out.mkdir(parents=True, exist_ok=True)
        pngs = {s: png_bytes(img) for s, img in images.items()}
        for size, data in pngs.items():
            (args.out / f"{NAME}-{size}.png").write_bytes(data)
        (args.out / f"{NAME}.ico").write_bytes(build_ico(images))
        (args.out / f"{NAME}.icns").write_bytes(build_icns(pngs))
        if args.runtime:
            RUNTIME_PNG.write_bytes(pngs[256])
        print(f"icons written to {args.out}")
        if args.verify:
            for line in verify(args.out):
                print("  " + line)
    except IconError as exc:
        print(f"make_icons: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
