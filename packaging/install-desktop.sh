#!/usr/bin/env bash
# Add metst to the desktop's application menu for this user: the .desktop file (Exec pointing at the
# built dist/metst/metst-gui, or at a metst-gui given as $1) and the icon in the hicolor theme.
#   bash packaging/install-desktop.sh [PATH/TO/metst-gui]
set -euo pipefail
cd "$(dirname "$0")/.."
exe="$(realpath "${1:-dist/metst/metst-gui}")"
[ -x "$exe" ] || { echo "error: $exe: not an executable (build it first: bash packaging/build.sh)" >&2; exit 1; }
data="${XDG_DATA_HOME:-$HOME/.local/share}"
install -D -m 644 resources/icons/metst.png "$data/icons/hicolor/256x256/apps/metst.png"
install -D -m 644 resources/icons/metst.svg "$data/icons/hicolor/scalable/apps/metst.svg"
mkdir -p "$data/applications"
sed -e "s|^Exec=metst-gui|Exec=\"$exe\"|" -e "s|^TryExec=metst-gui|TryExec=$exe|" packaging/metst.desktop \
    > "$data/applications/metst.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
echo "installed $data/applications/metst.desktop (Exec: $exe)" >&2
