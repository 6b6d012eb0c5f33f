#!/usr/bin/env bash
# The README's two commands:
#   bash packaging/dev.sh demo   install into .venv and open the bundled demo in metst-gui (CLI demo without a display)
#   bash packaging/dev.sh test   install into .venv (with the test and cluster extras) and run the whole suite
# Works on a fresh Debian machine with Python 3.11. As root (or with sudo) it installs
# the Debian libraries Qt needs; otherwise it prints the apt command to run.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"; shift || true
case "$what" in demo|test) ;; *) echo "usage: bash packaging/dev.sh {demo|test} [pytest args]" >&2; exit 2;; esac

APT_PACKAGES="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0"
need_apt=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || need_apt="$need_apt $p"; done
if [ -n "$need_apt" ] && command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
    if [ "$SUDO" = none ]; then
        echo "note: Qt needs these Debian packages; please run: apt-get install -y$need_apt" >&2
    else
        $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt >&2
    fi
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >&2
if [ "$what" = test ]; then
    .venv/bin/python -m pip install -q -e ".[test,cluster]" >&2   # cluster: Ray, so its tests run too
    export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
    exec .venv/bin/python -m pytest "$@"
else
    .venv/bin/python -m pip install -q -e . >&2
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        exec .venv/bin/metst-gui --demo "$@"
    fi
    echo "no display: running the command-line demo instead of the window (metst-gui --demo needs a screen)" >&2
    exec .venv/bin/metst demo "$@"
fi
