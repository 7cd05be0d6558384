#!/usr/bin/env bash
# CI entry point for packaging (called by .ci/run after the test suite), as root on Debian,
# after `pip install -e .[gui,test,build]` (tests/setup.sh). Installs the few apt tools it
# needs if they are missing. (installer/tests run with the main pytest suite: testpaths.)
# Steps, each timed:
#   icons (PNG/ICO/ICNS, read back) -> Linux bundle (PyInstaller, size reported)
#   -> smoke test of the bundle -> NSIS installer against the bundle (makensis, payload listed
#   with 7z) -> macOS plist + icns -> systemd unit (systemd-analyze) + desktop entry
#   -> wheel without the gui extra in a fresh venv + headless smoke test from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
export QT_QPA_PLATFORM=offscreen
T0=$(date +%s)
declare -a TIMES=()

# --- tools: required (nsis) and checks that are skipped without them (7z, systemd-analyze,
# desktop-file-validate). Installed here when missing, so a fresh machine runs every check.
need=()
command -v makensis >/dev/null 2>&1 || need+=(nsis)
command -v 7z >/dev/null 2>&1 || need+=(p7zip-full)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v desktop-file-validate >/dev/null 2>&1 || need+=(desktop-file-utils)
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ci: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || echo "ci: WARNING: apt-get install ${need[*]} failed; checks needing them may be skipped"
fi
command -v makensis >/dev/null 2>&1 || { echo "ci: makensis missing (apt-get install nsis)" >&2; exit 1; }

run_step() {  # run_step NAME CMD... : run, time, and stop the whole script on failure
  local name="$1"; shift
  local t
  t=$(date +%s)
  echo "ci: === $name"
  "$@"
  TIMES+=("$(printf '%-28s %4ds' "$name" $(( $(date +%s) - t )))")
}

run_step "icons" "$PY" installer/make_icons.py --verify
run_step "pyinstaller bundle" "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist installer/wmproxy-gui.spec
BUNDLE=dist/wmproxy-gui
SIZE_KB=$(du -sk "$BUNDLE" | cut -f1)
TGZ="dist/wmproxy-gui-$("$PY" installer/version.py)-linux-$(uname -m).tar.gz"
tar -C dist -czf "$TGZ" wmproxy-gui
echo "ci: bundle $BUNDLE: $((SIZE_KB / 1024)) MiB unpacked, $(( $(stat -c %s "$TGZ") / 1048576 )) MiB as $TGZ"
run_step "smoke test (bundle)" "$PY" installer/smoke_test.py --bundle "$BUNDLE"
run_step "nsis installer" env NSIS_COMPRESSOR="${NSIS_COMPRESSOR:-zlib}" installer/build_windows.sh "$BUNDLE" dist
run_step "macOS plist + icns" "$PY" installer/macos/check_plist.py
run_step "systemd unit" "$PY" installer/linux/check_unit.py --cli "$ROOT/$BUNDLE/wmproxy-gui"
if command -v desktop-file-validate >/dev/null 2>&1; then
  run_step "desktop entry" desktop-file-validate installer/linux/wmproxy-gui.desktop
fi
run_step "wheel without gui extra" installer/check_wheel.sh "$ROOT/build/wheel-check"

echo "ci: ---- packaging timings"
printf 'ci:   %s\n' "${TIMES[@]}"
echo "ci: packaging ok in $(( $(date +%s) - T0 ))s (bundle $((SIZE_KB / 1024)) MiB)"
