#!/usr/bin/env bash
# Runs the whole test suite the way CI does: inside a private D-Bus session with a freshly
# unlocked gnome-keyring (the keyring tests need a real Secret Service), Qt offscreen (the tray
# test starts its own Xvfb). Extra arguments go to pytest, e.g. `bash tests/run.sh -k engine`.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
PY=${PYTHON:-python3}
# The keyring daemon gets a home of its own: a login keyring left in the real home with another
# password would stay locked and turn every keyring test into a failure.
KEYRING_HOME=$(mktemp -d)
trap 'rm -rf "$KEYRING_HOME"' EXIT
export KEYRING_HOME
dbus-run-session -- sh -c '
  echo -n wmproxy-test | HOME="$KEYRING_HOME" XDG_DATA_HOME="$KEYRING_HOME/share" \
    gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || true
  exec "$0" -m pytest -q -p no:cacheprovider -ra "$@"' "$PY" "$@"
