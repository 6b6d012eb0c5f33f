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

# Smoke test: the packaged CLI reads the bundled demo video; the packaged GUI builds the demo project
# (synthesis, face alignment, flow, spotter), shows an exact frame offscreen and saves a screenshot.
smoke="$(mktemp -d)"
dist/metst/metst info dist/metst/_internal/resources/demo/demo_face.mp4
QT_QPA_PLATFORM=offscreen METST_DEMO_DIR="$smoke/demo" METST_CACHE_DIR="$smoke/cache" \
    dist/metst/metst-gui --smoke-test "$smoke/smoke.png"
echo "smoke test passed; screenshot: $smoke/smoke.png" >&2
