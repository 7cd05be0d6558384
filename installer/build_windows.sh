#!/usr/bin/env bash
# Compile the NSIS installer: installer/windows/wmproxy-gui.nsi -> <out>/wmproxy-gui-setup-<version>.exe
#
#   installer/build_windows.sh [PAYLOAD_DIR] [OUT_DIR]
#     PAYLOAD_DIR  PyInstaller one-folder bundle (default dist/wmproxy-gui)
#     OUT_DIR      where the setup .exe goes (default dist)
#   NSIS_COMPRESSOR=zlib  faster compression for CI checks (release default: solid lzma)
#
# On Windows (Git Bash in CI) it packs the real bundle. On Linux, CI runs it against the Linux
# bundle as a stand-in payload: that checks the script's syntax, includes, defines and paths.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PAYLOAD="${1:-$ROOT/dist/wmproxy-gui}"
OUT="${2:-$ROOT/dist}"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || PY=python

MAKENSIS="${MAKENSIS:-}"
if [ -z "$MAKENSIS" ]; then
  if command -v makensis >/dev/null 2>&1; then MAKENSIS=makensis
  elif [ -x "/c/Program Files (x86)/NSIS/makensis.exe" ]; then MAKENSIS="/c/Program Files (x86)/NSIS/makensis.exe"
  else echo "build_windows: makensis not found (Debian: apt-get install nsis; Windows: choco install nsis)" >&2; exit 1
  fi
fi
[ -d "$PAYLOAD" ] || { echo "build_windows: payload $PAYLOAD is not a directory (build the bundle first)" >&2; exit 1; }
mkdir -p "$OUT"
# makensis runs from the script's folder: hand it absolute paths.
PAYLOAD="$(cd "$PAYLOAD" && pwd)"
OUT="$(cd "$OUT" && pwd)"
ICON="$ROOT/build/icons/wmproxy-gui.ico"
[ -f "$ICON" ] || "$PY" "$ROOT/installer/make_icons.py" >/dev/null

VERSION="$("$PY" "$ROOT/installer/version.py")"
QUAD="$("$PY" "$ROOT/installer/version.py" --quad)"
SETUP="$OUT/wmproxy-gui-setup-$VERSION.exe"
rm -f "$SETUP"

# makensis on Windows wants Windows paths; cygpath exists in Git Bash/MSYS only.
winpath() { if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s' "$1"; fi; }
args=(-V2 -WX "-DVERSION=$VERSION" "-DVERSION_QUAD=$QUAD" "-DPAYLOAD=$(winpath "$PAYLOAD")"
      "-DICON=$(winpath "$ICON")" "-DOUTDIR=$(winpath "$OUT")")
[ -n "${NSIS_COMPRESSOR:-}" ] && args+=("-DCOMPRESSOR=$NSIS_COMPRESSOR")
"$MAKENSIS" "${args[@]}" "$(winpath "$ROOT/installer/windows/wmproxy-gui.nsi")"

[ -s "$SETUP" ] || { echo "build_windows: makensis succeeded but $SETUP is missing or empty" >&2; exit 1; }
# A PE file starts with 'MZ'; NSIS appends its data block after the stub.
[ "$(head -c 2 "$SETUP")" = "MZ" ] || { echo "build_windows: $SETUP is not a PE executable" >&2; exit 1; }

# If 7-Zip is here (Debian p7zip-full), open the installer and check that it carries the whole
# payload and the uninstaller: a wrong PAYLOAD path or File pattern shows up here, not on a user's PC.
if command -v 7z >/dev/null 2>&1; then
  listing="$(mktemp)"; want="$(mktemp)"
  # 7z.exe on Windows prints backslashes and CRLF: normalise before comparing.
  # shellcheck disable=SC1003 # tr '\\' is one literal backslash
  7z l -slt "$SETUP" | tr -d '\r' | sed -n 's/^Path = //p' | tr '\\' '/' | sort -u >"$listing"
  (cd "$PAYLOAD" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort -u) >"$want"
  missing="$(comm -23 "$want" "$listing" | head -5)"
  # shellcheck disable=SC2016 # $PLUGINSDIR is NSIS's folder name, literally
  for must in uninstall.exe '$PLUGINSDIR/nsExec.dll'; do
    grep -qxF "$must" "$listing" || missing="$missing $must"
  done
  n="$(wc -l <"$want")"; rm -f "$listing" "$want"
  [ -z "$missing" ] || { echo "build_windows: not in the installer: $missing" >&2; exit 1; }
  echo "build_windows: 7z lists all $n payload files + uninstaller in the installer"
fi
echo "build_windows: $SETUP ($(du -h "$SETUP" | cut -f1))"
