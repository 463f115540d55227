"""What the benchmark scripts share: one JSON line per figure, the machine's state, the
matrix-product yardstick and the ``--device`` flag.

Every figure a benchmark prints is also appended, as one JSON object per line, to
``out/bench/<benchmark>.jsonl`` (``RS_EMBED_BENCH_OUT`` names another folder):

    {"bench": "bench_models", "figure": "batch_over_loop", "value": 1.04, "unit": "x",
     "run": "20261129T231500", "time": "...", "cpus": 2, "load1": 7.9, "device": "cpu", ...}

``run`` is shared by every benchmark of one ``make bench`` (``RS_EMBED_BENCH_RUN``), so two
runs compare line by line (``jq``, pandas). The machine is often shared: ``load1`` (the
1-minute load average when the figure was taken) says how busy it was, and ratios
measured within one run are the figures to trust.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the working tree's rs_embed_qgis
RUN = os.environ.get("RS_EMBED_BENCH_RUN") or time.strftime("%Y%m%dT%H%M%S")
DEVICES = ("cpu", "cuda", "mps")


def out_dir() -> Path:
    return Path(os.environ.get("RS_EMBED_BENCH_OUT") or ROOT / "out" / "bench")


def record(bench: str, figure: str, value: Any, unit: str = "", **context: Any) -> dict[str, Any]:
    """Append one figure to ``out/bench/<bench>.jsonl`` and return the line written."""
    line = {"bench": bench, "figure": figure, "value": value, "unit": unit, "run": RUN,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": socket.gethostname(),
            "cpus": os.cpu_count(), "load1": round(os.getloadavg()[0], 2), **context}
    d = out_dir()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{bench}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line, default=str) + "\n")
    return line


def add_device_arg(ap, default: str = "cpu") -> None:
    """``--device cpu|cuda|mps``: the same code path on every device (batching pays most on a GPU)."""
    ap.add_argument("--device", default=default, choices=DEVICES,
                    help=f"device the models run on (default {default})")


def check_device(device: str) -> str:
    """The device, or exit with a clear message when this machine has none such."""
    from rs_embed_qgis.engine.device import resolve_device
    from rs_embed_qgis.engine.errors import DeviceError

    try:
        return resolve_device(device)
    except DeviceError as exc:
        sys.exit(f"--device {device}: {exc}")


def synchronize(device: str) -> None:
    """Wait for the device's queued work (GPU timings), nothing on the CPU."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def matmul_gflops(n: int = 1536, reps: int = 3, device: str = "cpu", dtype: str = "float32") -> float:
    """GFLOP/s of a plain ``n x n`` matrix product (best of ``reps``): what this machine's BLAS
    reaches now, the yardstick model forwards are measured against."""
    import torch

    dt = getattr(torch, dtype)
    a = torch.randn(n, n, device=device).to(dt)
    b = torch.randn(n, n, device=device).to(dt)
    a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM: not inherited across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def spread(values: list[float]) -> str:
    """``median (min-max, n=k)`` of repeated measurements."""
    v = sorted(values)
    med = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    return f"{med:.2f} ({v[0]:.2f}-{v[-1]:.2f}, n={len(v)})"


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
