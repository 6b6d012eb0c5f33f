#!/usr/bin/env bash
# Build the one-folder app dist/metst/ (metst-gui and metst, CPU torch) with PyInstaller, then smoke-test it.
#   bash packaging/build.sh            (or: make package)
# The build venv ($METST_BUILD_VENV, default build/venv-pack) gets this checkout and pyinstaller from PyPI;
# torch is the pinned CPU build from pyproject.toml. Takes several minutes and a few GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${METST_BUILD_VENV:-build/venv-pack}"
PY="${PYTHON:-python3.11}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e . "pyinstaller>=6.10" >&2

start=$(date +%s)
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" packaging/render_icon.py >/dev/null
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/metst.spec
echo "built dist/metst/ in $(( $(date +%s) - start )) s, $(du -sh dist/metst | cut -f1)" >&2

bash packaging/smoke_test.sh dist/metst
