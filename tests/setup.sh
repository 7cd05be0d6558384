#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian-like machine (run as root or with sudo):
# system packages (Qt's X11 libs, Xvfb + trayer for the tray test, gnome-keyring + dbus for the
# keyring tests, curl/openssl/iperf3 as real clients, nginx/HAProxy/h2load/redis as real peers in
# front of and behind the tunnel, nsis for the Windows installer check)
# and the project itself with its gui and test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  xvfb xauth x11-utils trayer dbus dbus-x11 gnome-keyring
  chromium curl openssl iperf3 socat openssh-client openssh-server wrk nsis p7zip-full desktop-file-utils systemd
  nginx-light haproxy nghttp2-client redis-server redis-tools
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-image0 libxcb-xkb1 libx11-xcb1 fonts-dejavu-core fonts-noto-cjk
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[gui,test,build]'
echo "setup: done ($("$PY" --version), $("$PY" -c 'import PySide6; print("PySide6", PySide6.__version__)'))"
