#!/usr/bin/env bash
# All tests: lint and security scans, (1) engine tests in a process where qgis cannot be
# imported, (2) the desktop tests (the release zip in the real qgis binary, tests/desktop),
# (3) plugin tests inside a headless QGIS (pytest-qgis). Pass "lint", "engine", "desktop" or
# "plugin" to run one part.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=.venv/bin/python
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QGIS_CUSTOM_CONFIG_PATH=${QGIS_CUSTOM_CONFIG_PATH:-$ROOT/build/qgis-profile-tests}
what=${1:-all}
rc=0
if [ "$what" = all ] || [ "$what" = lint ]; then
  echo "== lint (ruff, the rules in pyproject.toml)"
  $PY -m ruff check rs_embed_qgis tests scripts benchmarks || rc=$?
  echo "== lint (flake8-qgis, the QGIS and Qt rules in .flake8, on the plugin's code)"
  $PY -m flake8 rs_embed_qgis || rc=$?
  echo "== security (bandit on the plugin's code, as plugins.qgis.org scans uploads)"
  # every finding fails; a low one may be kept with '# nosec Bxxx - reason' on its line
  # (bandit warns about each word of the reason: those warnings are dropped, a mistyped id is not)
  out=$($PY -m bandit -q -r rs_embed_qgis 2>&1) || rc=$?
  grep -vE "Test in comment: ([^B ]|B[^0-9 ])[^ ]* is not a test name or id, ignoring" <<<"$out" || true
  if bare=$(grep -rnP '#\s*nosec(?!\s+B\d{3}(,\s*B\d{3})*\s+-\s+\S)' rs_embed_qgis --include='*.py'); then
    echo "a '# nosec' needs the test id and a reason ('# nosec B110 - why'):"; echo "$bare"; rc=1
  fi
fi
if [ "$what" = all ] || [ "$what" = engine ]; then
  echo "== engine tests (qgis blocked)"
  RS_EMBED_BLOCK_QGIS=1 $PY -m pytest tests/engine -q -p no:pytest_qgis -p no:pytestqt "${@:2}" || rc=$?
fi
if [ "$what" = all ] || [ "$what" = desktop ]; then
  echo "== desktop tests (the release zip in the real qgis binary under Xvfb, on QGIS's own Python)"
  $PY -m pytest tests/desktop -q -p no:pytest_qgis -p no:pytestqt "${@:2}" || rc=$((rc ? rc : $?))
fi
if [ "$what" = all ] || [ "$what" = plugin ]; then
  echo "== plugin tests (QGIS $($PY -c 'from qgis.core import Qgis; print(Qgis.QGIS_VERSION)' 2>/dev/null))"
  $PY -m pytest tests/plugin -q "${@:2}" || rc=$((rc ? rc : $?))
fi
exit $rc
