#!/usr/bin/env bash
# Render a screenshot of the RS Embed dock beside a map with a result layer, under Xvfb:
# resources/screenshots/dock.png (shown in the README). Usage: bash scripts/screenshot.sh [out.png]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QGIS_CUSTOM_CONFIG_PATH=${QGIS_CUSTOM_CONFIG_PATH:-$ROOT/build/qgis-profile-screenshot}
export RS_EMBED_CACHE=${RS_EMBED_CACHE:-$ROOT/build/screenshot-cache}
OUT=${1:-resources/screenshots/dock.png}
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
  xvfb-run -a -s "-screen 0 1600x1000x24" "$PY" scripts/screenshot.py "$OUT"
echo "$OUT"
