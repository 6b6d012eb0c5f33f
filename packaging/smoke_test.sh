#!/usr/bin/env bash
# Smoke-test a built one-folder app (default dist/metst): every step must exit 0.
#   bash packaging/smoke_test.sh [DIST_DIR]
# 1. the CLI reads the bundled demo video (PyAV);
# 2. the CLI makes a tiny synthetic data set and trains a tiny ME-TST on it, one LOSO epoch (torch, numba);
# 3. the GUI builds the demo project offscreen (synthesis, face alignment with the bundled 68-point model,
#    flow, spotter), shows an exact frame and saves a screenshot that is a real picture (metst-gui --smoke-test).
set -euo pipefail
dist="$(realpath "${1:-dist/metst}")"
work="$(mktemp -d)"
export METST_CACHE_DIR="$work/cache" QT_QPA_PLATFORM=offscreen
"$dist/metst" info "$dist/_internal/resources/demo/demo_face.mp4"
"$dist/metst" -q synth "$work/synth" --subjects 3 --videos-per-subject 1 --seconds 6 --seed 0 >/dev/null
"$dist/metst" -q train --dataset "$work/synth" --model metst --loso -o "$work/run" --window 30 --epochs 1 \
    --batch 16 --model-overrides '{"depth": 1, "dim": 16}' >/dev/null
test -f "$work/run/final/model.safetensors"
echo "packaged training run finished: $work/run" >&2
METST_DEMO_DIR="$work/demo" "$dist/metst-gui" --smoke-test "$work/smoke.png"
echo "smoke tests passed; screenshot: $work/smoke.png" >&2
