#!/usr/bin/env bash
# Idempotent setup on Debian 12: QGIS and friends from Debian, a venv on Debian's
# Python (system site packages, so QGIS bindings and python3-rasterio are shared),
# and the Python packages pinned by requirements/constraints.txt (CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
SYS_PY=/usr/bin/python3
APT_PKGS="qgis python3-qgis qgis-providers python3-pyqt5 xvfb python3-venv python3-pip python3-rasterio python3-pyproj python3-scipy python3-matplotlib python3-pil gdal-bin"

need_apt=0
$SYS_PY -c "import qgis.core, rasterio, pyproj, scipy, PyQt5" >/dev/null 2>&1 || need_apt=1
[ -x /usr/bin/qgis_process.bin ] || need_apt=1
command -v xvfb-run >/dev/null 2>&1 || need_apt=1
command -v gdalinfo >/dev/null 2>&1 || need_apt=1
$SYS_PY -m venv --help >/dev/null 2>&1 || need_apt=1
if [ "$need_apt" = 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "[setup] installing Debian packages: $APT_PKGS"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PKGS >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV on $SYS_PY (with system site packages)"
  $SYS_PY -m venv --system-site-packages "$VENV"
fi

stamp="$VENV/.rs_embed_requirements.sha256"
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python packages into $VENV"
  mkdir -p build
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check -c requirements/constraints.txt \
      -r requirements/base.txt -r requirements/extras.txt -r requirements/dev.txt > build/pip-install.log 2>&1; then
    grep -v "is ignored: it is neither" build/pip-install.log; echo "[setup] pip install failed"; exit 1
  fi
  echo "$want" > "$stamp"
fi
"$VENV/bin/python" - <<'PY'
import numpy, torch, rasterio, qgis.core  # noqa: F401
print(f"[setup] ok: numpy {numpy.__version__}, torch {torch.__version__}, "
      f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), QGIS {qgis.core.Qgis.QGIS_VERSION}")
PY
