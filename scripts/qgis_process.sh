#!/usr/bin/env bash
# qgis_process (QGIS 3.22's binary; Debian's /usr/bin/qgis_process wrapper passes a flag
# 3.22 rejects) headless, with this plugin enabled in a project-local profile and the
# venv's Python packages on the path.  Usage: scripts/qgis_process.sh run rs_embed:embed_extent -- ...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLUGIN_PATH=$(bash "$ROOT/scripts/plugin_dir.sh")
SITE=$("$ROOT/.venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
export QGIS_PLUGINPATH="$PLUGIN_PATH"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QGIS_CUSTOM_CONFIG_PATH=${QGIS_CUSTOM_CONFIG_PATH:-$ROOT/build/qgis-profile}
mkdir -p "$QGIS_CUSTOM_CONFIG_PATH"
/usr/bin/qgis_process.bin plugins enable rs_embed_qgis >/dev/null 2>&1 || true
exec /usr/bin/qgis_process.bin "$@"
