"""Tests of the release tooling that runs without building anything (< 2 s).

The bundle, installer and wheel themselves are exercised by installer/ci.sh
(smoke_test.py, build_windows.sh, check_wheel.sh): too slow for the unit suite.
"""
from __future__ import annotations

import os
import plistlib
import struct
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

INSTALLER = Path(__file__).resolve().parents[1]
for sub in ("", "macos", "linux"):
    sys.path.insert(0, str(INSTALLER / sub))

import check_plist  # noqa: E402
import check_unit  # noqa: E402
import make_icons  # noqa: E402
import version  # noqa: E402


# ------------------------------------------------------------------ version
@pytest.mark.parametrize("text, quad, mac", [
    ("0.1.0", "0.1.0.0", "0.1.0"),
    ("2", "2.0.0.0", "2.0.0"),
    ("1.2.3.4.5", "1.2.3.4", "1.2.3"),
    ("1.10.0rc1", "1.10.0.0", "1.10.0"),
])
def test_version_forms(text: str, quad: str, mac: str) -> None:
    assert version.version_quad(text) == quad
    assert version.version_mac(text) == mac


def test_version_is_core_version() -> None:
    init = (INSTALLER.parent / "core" / "__init__.py").read_text()
    assert f'__version__ = "{version.version()}"' in init


def test_version_without_number_is_refused() -> None:
    with pytest.raises(SystemExit, match="does not start with a number"):
        version.version_quad("dev")


# ------------------------------------------------------------------ icons
@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = tmp_path_factory.mktemp("icons")
    assert make_icons.main(["--out", str(out), "--verify"]) == 0
    return out


def test_icons_all_sizes_written(icons: Path) -> None:
    for size in make_icons.PNG_SIZES:
        data = (icons / f"wmproxy-gui-{size}.png").read_bytes()
        assert data.startswith(b"\x89PNG")
        assert struct.unpack(">II", data[16:24]) == (size, size)  # IHDR width, height


def test_ico_directory(icons: Path) -> None:
    data = (icons / "wmproxy-gui.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(make_icons.ICO_SIZES))
    sizes = []
    for i in range(count):
        w, h, _, _, planes, bpp, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i:22 + 16 * i])
        size = w or 256
        sizes.append(size)
        assert (w, planes, bpp) == (h, 1, 32)
        blob = data[offset:offset + length]
        assert len(blob) == length
        if size >= make_icons.ICO_PNG_MIN:
            assert blob.startswith(b"\x89PNG")
        else:  # BITMAPINFOHEADER, double height (XOR + AND), then pixels and a 1-bit mask
            hdr_size, bw, bh = struct.unpack("<Iii", blob[:12])
            assert (hdr_size, bw, bh) == (40, size, 2 * size)
            assert length == 40 + 4 * size * size + ((size + 31) // 32) * 4 * size
    assert sizes == list(make_icons.ICO_SIZES)


def test_dib_mask_marks_transparent_pixels_only() -> None:
    from PySide6.QtGui import QColor, QImage

    make_icons._qt()
    img = QImage(2, 1, QImage.Format.Format_ARGB32)
    img.setPixelColor(0, 0, QColor(0, 0, 0, 0))  # transparent
    img.setPixelColor(1, 0, QColor(10, 20, 30, 255))  # opaque
    dib = make_icons.dib_bytes(img)
    assert dib[40:48] == bytes([0, 0, 0, 0, 30, 20, 10, 255])  # BGRA
    assert dib[48] == 0x80  # AND bit for pixel 0 only


def test_icns_chunks_round_trip(icons: Path) -> None:
    data = (icons / "wmproxy-gui.icns").read_bytes()
    chunks = make_icons.parse_icns(data)
    assert [k for k, _ in make_icons.ICNS_TYPES] == list(chunks)
    for kind, size in make_icons.ICNS_TYPES:
        png = chunks[kind]
        assert png.startswith(b"\x89PNG") and struct.unpack(">II", png[16:24]) == (size, size)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"icnX" + d[4:], "bad header"),
    (lambda d: d[:-1], "bad header or total length"),
    (lambda d: d[:8] + d[8:12] + struct.pack(">I", 4) + d[16:], "bad length"),
])
def test_icns_parser_rejects_corruption(icons: Path, mutate, message: str) -> None:
    data = (icons / "wmproxy-gui.icns").read_bytes()
    with pytest.raises(make_icons.IconError, match=message):
        make_icons.parse_icns(mutate(data))


def test_missing_svg_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert make_icons.main(["--svg", str(tmp_path / "nope.svg"), "--out", str(tmp_path)]) == 1
    assert "source icon not found" in capsys.readouterr().err


# ------------------------------------------------------------------ macOS plist
def test_plist_template_renders_and_validates() -> None:
    info = check_plist.render_info("1.2.3rc1")
    assert info["CFBundleShortVersionString"] == info["CFBundleVersion"] == "1.2.3"
    assert info["LSUIElement"] is True
    check_plist.check(info, "template")


@pytest.mark.parametrize("change, message", [
    (lambda i: i.pop("CFBundleIconFile"), "CFBundleIconFile: missing"),
    (lambda i: i.update(LSUIElement=False), "LSUIElement: must be true"),
    (lambda i: i.update(LSUIElement="yes"), "LSUIElement: expected bool"),
    (lambda i: i.update(CFBundleVersion="@VERSION@"), "not filled"),
    (lambda i: i.update(CFBundleShortVersionString="1.2.3.4"), "1-3 dot-separated integers"),
    (lambda i: i.update(CFBundleIdentifier="wmproxy gui"), "not reverse-DNS"),
    (lambda i: i.update(CFBundleIconFile="icon.png"), "must name an .icns"),
])
def test_plist_problems_are_named(change, message: str) -> None:
    info = check_plist.render_info("0.1.0")
    change(info)
    with pytest.raises(check_plist.PlistError, match=message):
        check_plist.check(info, "x")


def test_plist_template_that_is_not_a_plist(tmp_path: Path) -> None:
    bad = tmp_path / "Info.plist"
    bad.write_text("<plist><dict><key>a</key></plist>")
    with pytest.raises(check_plist.PlistError, match="not a valid plist"):
        check_plist.render_info("0.1.0", template=bad)


def test_built_app_check(tmp_path: Path, icons: Path) -> None:
    app = tmp_path / "wmproxy-gui.app"
    (app / "Contents" / "MacOS").mkdir(parents=True)
    (app / "Contents" / "Resources").mkdir()
    info = check_plist.render_info()
    (app / "Contents" / "Info.plist").write_bytes(plistlib.dumps(info))
    (app / "Contents" / "Resources" / "wmproxy-gui.icns").write_bytes((icons / "wmproxy-gui.icns").read_bytes())
    with pytest.raises(check_plist.PlistError, match="CFBundleExecutable"):
        check_plist.check_app(app)
    (app / "Contents" / "MacOS" / "wmproxy-gui").write_bytes(b"\0")
    assert any("icns" in line for line in check_plist.check_app(app))


# ------------------------------------------------------------------ systemd unit
def test_unit_has_required_keys() -> None:
    sections = check_unit.parse_unit(check_unit.UNIT.read_text())
    check_unit.check_keys(sections)
    assert "--headless-server" in sections["Service"]["ExecStart"][-1]


@pytest.mark.parametrize("old, new, message", [
    ("ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"),
    ("NoNewPrivileges=yes\n", "", "NoNewPrivileges: missing"),
    ("Restart=on-failure", "Restart=always", "Restart"),
    ("[Install]", "[Instal]", r"\[Install\]: section missing"),
])
def test_unit_problems_are_named(old: str, new: str, message: str) -> None:
    text = check_unit.UNIT.read_text()
    assert old in text
    with pytest.raises(check_unit.UnitError, match=message):
        check_unit.check_keys(check_unit.parse_unit(text.replace(old, new)))


def test_unit_parser_rejects_stray_lines() -> None:
    with pytest.raises(check_unit.UnitError, match=":2: not a key=value"):
        check_unit.parse_unit("[Unit]\njunk\n")
