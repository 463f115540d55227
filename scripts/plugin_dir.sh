#!/usr/bin/env bash
# A development plugin folder build/plugin/rs_embed_qgis that links to the working
# tree (code, resources/, ui/, LICENSE), with metadata.txt rendered as the release zip
# has it (version and changelog filled in), for QGIS_PLUGINPATH and qgis_process.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/build/plugin/rs_embed_qgis"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
mkdir -p "$DEST"
for f in "$ROOT"/rs_embed_qgis/* "$ROOT/resources" "$ROOT/ui" "$ROOT/LICENSE"; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in __pycache__) continue;; esac
  ln -sfn "$f" "$DEST/$(basename "$f")"
done
"$PY" "$ROOT/scripts/package.py" --metadata "$DEST/metadata.txt"
# drop links whose target is gone (renamed modules)
find "$DEST" -maxdepth 1 -xtype l -delete
echo "$ROOT/build/plugin"
