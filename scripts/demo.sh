#!/usr/bin/env bash
# The demo: embed the bundled sample's region with the default model (MOSAIKS) through
# the Processing algorithm, headless (qgis_process), writing the embedding GeoTIFF and
# a PNG quick-look of its first three principal components into out/demo/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/out/demo}
mkdir -p "$OUT"
echo "[demo] qgis_process run rs_embed:embed_extent on the bundled sample (2022-06-01..2022-09-01)"
bash scripts/qgis_process.sh run rs_embed:embed_extent -- \
  EXTENT="9.002,9.038,47.8275,47.852 [EPSG:4326]" MODEL=mosaiks BACKEND=local \
  START=2022-06-01 END=2022-09-01 GRID_SCALE=50 \
  OUTPUT="$OUT/embedding_mosaiks.tif" QUICKLOOK="$OUT/embedding_mosaiks_pca.png" \
  2>&1 | grep -vE "^(QStandardPaths|<string>)"
.venv/bin/python - "$OUT" <<'PY'
import sys, json, rasterio
out = sys.argv[1]
with rasterio.open(f"{out}/embedding_mosaiks.tif") as src:
    print(f"[demo] {src.name}: {src.count} bands, {src.width}x{src.height} cells of "
          f"{src.res[0]:.0f} m, {src.crs}, bounds {tuple(round(v) for v in src.bounds)}")
    print(f"[demo] model: {src.tags()['RS_EMBED_MODEL']}, random weights: {src.tags()['RS_EMBED_RANDOM_WEIGHTS']}")
print(f"[demo] quick-look: {out}/embedding_mosaiks_pca.png")
PY
