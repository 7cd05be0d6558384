#!/usr/bin/env bash
# Runs the whole test suite the way CI does: inside a private D-Bus session with an unlocked
# gnome-keyring (the keyring tests need a real Secret Service), Qt offscreen (the tray test
# starts its own Xvfb). Extra arguments go to pytest, e.g. `bash tests/run.sh -k engine`.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
PY=${PYTHON:-python3}
exec dbus-run-session -- sh -c '
  echo -n wmproxy-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || true
  exec "$0" -m pytest -q -p no:cacheprovider -ra "$@"' "$PY" "$@"
