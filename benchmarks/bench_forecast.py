#!/usr/bin/env python3
"""CPU figures of the reflectance forecaster: minicubes/s for inference, seconds per training
step, and peak resident memory of each case (each case runs in its own process, so peaks
do not mix).

    python benchmarks/bench_forecast.py                  # full 128x128 model and the small one
    python benchmarks/bench_forecast.py --threads 2 --repeats 5 --batch 2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_case(kind: str, small: bool, size: int, batch: int, repeats: int, threads: int) -> dict:
    import resource

    import torch

    sys.path.insert(0, str(ROOT))
    from rs_embed_qgis.engine.forecast.losses import DeltaRegressionLoss
    from rs_embed_qgis.engine.forecast.model import ForecastConfig, ReflectanceForecaster, count_parameters

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = ForecastConfig.small(height=size, width=size) if small else ForecastConfig(height=size, width=size)
    model = ReflectanceForecaster(cfg)
    x = {"sentinel2_sequence": torch.rand(batch, 10, 4, size, size),
         "landcover_map": torch.zeros(batch, 10, size, size),
         "temporal_metadata": torch.rand(batch, 3), "weather_sequence": torch.randn(batch, 20, 21),
         "target_start_doy": torch.rand(batch, 1)}
    y = torch.cat([torch.ones(batch, 20, 1, size, size), 0.1 * torch.randn(batch, 20, 8, size, size)], 2)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    if kind == "infer":
        model.eval()
        with torch.no_grad():
            model(x)                                     # warm-up
            for _ in range(repeats):
                t = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = DeltaRegressionLoss()
        for i in range(repeats + 1):
            t = time.perf_counter()
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            if i:                                        # the first step warms up
                times.append(time.perf_counter() - t)
    best = min(times)
    med = sorted(times)[len(times) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"case": kind, "model": "small" if small else "full", "params": count_parameters(model),
           "size": size, "batch": batch, "threads": threads, "median_s": med, "best_s": best,
           "peak_rss_mib": peak, "rss_before_mib": base_rss}
    if kind == "infer":
        out["minicubes_per_s"] = batch / med
    else:
        out["s_per_step"] = med
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--case", help=argparse.SUPPRESS)   # child-process entry
    a = ap.parse_args(argv)
    if a.case:
        kind, model = a.case.split(":")
        print(json.dumps(run_case(kind, model == "small", a.size, a.batch, a.repeats, a.threads)))
        return 0
    rows = []
    for case in ("infer:full", "train:full", "infer:small", "train:small"):
        r = subprocess.run([sys.executable, __file__, "--case", case, "--threads", str(a.threads),
                            "--repeats", str(a.repeats), "--batch", str(a.batch), "--size", str(a.size)],
                           capture_output=True, text=True, check=True)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"reflectance forecaster on CPU, {a.size}x{a.size} px, batch {a.batch}, {a.threads} threads, "
          f"median of {a.repeats}")
    for r in rows:
        speed = (f"{r['minicubes_per_s']:.3f} minicubes/s" if r["case"] == "infer"
                 else f"{r['s_per_step']:.2f} s/training step")
        print(f"  {r['case']:5s} {r['model']:5s} ({r['params']:,} params): {speed:26s} "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")
    full_i = next(r for r in rows if r["case"] == "infer" and r["model"] == "full")
    full_t = next(r for r in rows if r["case"] == "train" and r["model"] == "full")
    ratio = full_t["s_per_step"] * full_i["minicubes_per_s"] / a.batch
    print(f"  training step / inference time (full): {ratio:.1f}x")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
