"""The export job of export_job.py in a process whose files cannot grow past LIMIT bytes
(RLIMIT_FSIZE): every write beyond it fails with EFBIG, as on a full disk, inside numpy,
GDAL, HDF5, Arrow or SQLite alike. Prints one JSON line: the error that reached the caller.

    python tests/engine/disk_full_job.py OUT LAYOUT FORMAT MODE LIMIT [SAVE_INPUTS]
"""
from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import export_job  # noqa: E402

from rs_embed_qgis.engine import OutputSpec  # noqa: E402


def output(mode: str) -> OutputSpec:
    return OutputSpec.grid(scale_m=20) if mode == "grid" else OutputSpec.pooled()


if __name__ == "__main__":
    out, layout, fmt, mode, limit = sys.argv[1:6]
    save_inputs = sys.argv[6] != "0" if len(sys.argv) > 6 else True
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    try:
        export_job.run(out, layout, 2, format=fmt, output=output(mode), save_inputs=save_inputs)
        print(json.dumps({"error": None}))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "type": type(exc).__name__}))
