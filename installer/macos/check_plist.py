#!/usr/bin/env python3
"""Fill and validate the macOS Info.plist (template: installer/macos/Info.plist).

Runs anywhere (plistlib is stdlib), so Linux CI catches a broken template,
a missing key or a version macOS would reject before a Mac ever builds it.

  check_plist.py                      validate the template rendered with core.__version__
  check_plist.py --write OUT.plist    ... and write the rendered plist
  check_plist.py --app X.app          validate a built bundle (Contents/Info.plist, the icon,
                                      the executable) - used by build_dmg.sh on macOS
"""
from __future__ import annotations

import argparse
import plistlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TEMPLATE = HERE / "Info.plist"
ICNS = ROOT / "build" / "icons" / "wmproxy-gui.icns"
PLACEHOLDER = "@VERSION@"

sys.path.insert(0, str(HERE.parent))
from version import version, version_mac  # noqa: E402 - installer/version.py

# key -> expected type; values checked further in check().
REQUIRED = {
    "CFBundleIdentifier": str, "CFBundleName": str, "CFBundleDisplayName": str,
    "CFBundleExecutable": str, "CFBundleIconFile": str, "CFBundlePackageType": str,
    "CFBundleShortVersionString": str, "CFBundleVersion": str,
    "CFBundleInfoDictionaryVersion": str, "LSMinimumSystemVersion": str,
    "LSUIElement": bool, "NSHighResolutionCapable": bool,
}
BUNDLE_ID = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")  # reverse-DNS, Apple's allowed characters
MAC_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")  # CFBundleShortVersionString: up to three integers


class PlistError(Exception):
    """The Info.plist (or the bundle around it) would be rejected or misbehave on macOS."""


def render_info(ver: str | None = None, template: Path = TEMPLATE) -> dict:
    """The template with @VERSION@ replaced by the macOS form of core.__version__."""
    with open(template, "rb") as fh:
        try:
            info = plistlib.load(fh)
        except Exception as exc:  # plistlib raises several types (ExpatError, ValueError, InvalidFileException)
            raise PlistError(f"{template}: not a valid plist: {exc}") from None
    mac = version_mac(ver or version())
    return {k: (v.replace(PLACEHOLDER, mac) if isinstance(v, str) else v) for k, v in info.items()}


def check(info: dict, where: str) -> list[str]:
    """Raise PlistError on the first problem; return what was checked."""
    for key, typ in REQUIRED.items():
        if key not in info:
            raise PlistError(f"{where}: {key}: missing")
        if not isinstance(info[key], typ):
            raise PlistError(f"{where}: {key}: expected {typ.__name__}, got {type(info[key]).__name__}")
    left = [k for k, v in info.items() if isinstance(v, str) and PLACEHOLDER in v]
    if left:
        raise PlistError(f"{where}: {', '.join(left)}: {PLACEHOLDER} not filled")
    if info["LSUIElement"] is not True:
        raise PlistError(f"{where}: LSUIElement: must be true (tray-only app, no Dock icon)")
    if info["CFBundlePackageType"] != "APPL":
        raise PlistError(f"{where}: CFBundlePackageType: must be APPL")
    if not BUNDLE_ID.match(info["CFBundleIdentifier"]):
        raise PlistError(f"{where}: CFBundleIdentifier: {info['CFBundleIdentifier']!r} is not reverse-DNS")
    for key in ("CFBundleShortVersionString", "CFBundleVersion"):
        if not MAC_VERSION.match(info[key]):
            raise PlistError(f"{where}: {key}: {info[key]!r} is not 1-3 dot-separated integers")
    if not info["CFBundleIconFile"].endswith(".icns"):
        raise PlistError(f"{where}: CFBundleIconFile: {info['CFBundleIconFile']!r} must name an .icns file")
    return [f"{len(REQUIRED)} required keys present and typed", "LSUIElement true",
            f"id {info['CFBundleIdentifier']}", f"version {info['CFBundleShortVersionString']}"]


def check_icns(path: Path) -> str:
    from make_icons import IconError, parse_icns  # installer/make_icons.py: the writer's own reader

    if not path.is_file():
        raise PlistError(f"{path}: icon missing (run installer/make_icons.py)")
    try:
        chunks = parse_icns(path.read_bytes())
    except IconError as exc:
        raise PlistError(f"{path}: {exc}") from None
    if b"ic10" not in chunks or not chunks[b"ic10"].startswith(b"\x89PNG"):
        raise PlistError(f"{path}: no 1024px (ic10) PNG chunk")
    return f"icns {path.name}: {len(chunks)} chunks"


def check_app(app: Path) -> list[str]:
    plist = app / "Contents" / "Info.plist"
    if not plist.is_file():
        raise PlistError(f"{app}: Contents/Info.plist missing")
    with open(plist, "rb") as fh:
        info = plistlib.load(fh)
    done = check(info, str(plist))
    if info["CFBundleShortVersionString"] != version_mac():
        raise PlistError(f"{plist}: CFBundleShortVersionString {info['CFBundleShortVersionString']!r} "
                         f"!= core.__version__ {version_mac()!r}")
    exe = app / "Contents" / "MacOS" / info["CFBundleExecutable"]
    if not exe.is_file():
        raise PlistError(f"{app}: CFBundleExecutable {exe} missing")
    done.append(check_icns(app / "Contents" / "Resources" / info["CFBundleIconFile"]))
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fill and validate the macOS Info.plist")
    ap.add_argument("--write", type=Path, help="write the rendered plist here")
    ap.add_argument("--app", type=Path, help="validate a built .app bundle instead of the template")
    ap.add_argument("--icns", type=Path, default=ICNS, help="icon to check with the template")
    args = ap.parse_args(argv)
    try:
        if args.app:
            done = check_app(args.app)
        else:
            info = render_info()
            done = check(info, str(TEMPLATE)) + [check_icns(args.icns)]
            if args.write:
                args.write.write_bytes(plistlib.dumps(info))
                done.append(f"written to {args.write}")
    except PlistError as exc:
        print(f"check_plist: {exc}", file=sys.stderr)
        return 1
    print("check_plist: ok: " + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
