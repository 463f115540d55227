#!/usr/bin/env bash
# A development plugin folder build/plugin/rs_embed_qgis that links to the working
# tree (code, metadata.txt, resources/, ui/), for QGIS_PLUGINPATH and qgis_process.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/build/plugin/rs_embed_qgis"
mkdir -p "$DEST"
for f in "$ROOT"/rs_embed_qgis/* "$ROOT/metadata.txt" "$ROOT/resources" "$ROOT/ui" "$ROOT/LICENSE"; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in __pycache__) continue;; esac
  ln -sfn "$f" "$DEST/$(basename "$f")"
done
# drop links whose target is gone (renamed modules)
find "$DEST" -maxdepth 1 -xtype l -delete
echo "$ROOT/build/plugin"
