#!/usr/bin/env bash
# macOS: build wmproxy-gui.app (PyInstaller BUNDLE from installer/wmproxy-gui.spec) and
# dist/wmproxy-gui-<version>.dmg (drag-to-Applications image, made with hdiutil).
#
#   installer/macos/build_dmg.sh [--skip-build]
#     --skip-build          reuse dist/wmproxy-gui.app from an earlier pyinstaller run
#   MACOS_SIGN_IDENTITY     "Developer ID Application: ..." in the keychain: sign the .app
#                           (hardened runtime) and the .dmg; unset: unsigned (CI without secrets)
# Notarization is a separate CI step (xcrun notarytool), run only when its secrets exist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
[ "$(uname -s)" = Darwin ] || { echo "build_dmg: needs macOS (hdiutil, codesign)" >&2; exit 1; }

VERSION="$("$PY" installer/version.py)"
APP="dist/wmproxy-gui.app"
DMG="dist/wmproxy-gui-$VERSION.dmg"

"$PY" installer/make_icons.py --verify
"$PY" installer/macos/check_plist.py
if [ "${1:-}" != "--skip-build" ]; then
  "$PY" -m PyInstaller --noconfirm --clean installer/wmproxy-gui.spec
fi
[ -d "$APP" ] || { echo "build_dmg: $APP was not built" >&2; exit 1; }
"$PY" installer/macos/check_plist.py --app "$APP"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  # Inside-out signing is what --deep approximates; PyInstaller already ad-hoc signed each binary,
  # --force replaces those signatures with the Developer ID one. Hardened runtime for notarization.
  codesign --force --deep --options runtime --timestamp \
    --entitlements installer/macos/entitlements.plist --sign "$MACOS_SIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
else
  echo "build_dmg: MACOS_SIGN_IDENTITY not set: the .app stays ad-hoc signed (Gatekeeper will warn)"
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "wmproxy-gui $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG"
fi
hdiutil verify "$DMG"
echo "build_dmg: $DMG ($(du -h "$DMG" | cut -f1))"
