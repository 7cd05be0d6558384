#!/usr/bin/env bash
# CI wrapper around installer/smoke_test.py for the Linux (or macOS/Windows Git Bash) bundle.
#
#   installer/smoke_test.sh [BUNDLE]   test BUNDLE (default: build dist/wmproxy-gui first)
# The test itself (version, --check, server+client tunnel moving bytes, SIGTERM, GUI offscreen)
# is the portable Python script, so the release workflow runs the same checks on all three OSes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || PY=python
cd "$ROOT"
BUNDLE="${1:-}"
if [ -z "$BUNDLE" ]; then
  "$PY" installer/make_icons.py
  "$PY" -m PyInstaller --noconfirm --clean --log-level WARN --workpath build/pyinstaller --distpath dist \
    installer/wmproxy-gui.spec
  BUNDLE="dist/wmproxy-gui"
fi
exec "$PY" installer/smoke_test.py --bundle "$BUNDLE"
