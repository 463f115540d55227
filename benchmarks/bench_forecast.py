#!/usr/bin/env python3
"""CPU (or GPU) figures of the reflectance forecaster: inference minicubes/s, GFLOP per
minicube and the GFLOP/s reached against a plain matrix product measured in the same
process, seconds per training step, and the peak resident memory of each case (each case
runs in its own process, so peaks do not mix).

    python benchmarks/bench_forecast.py                       # batch 4, full 128x128 model and the small one
    python benchmarks/bench_forecast.py --threads 2 --repeats 5 --batch 1 --device cpu
    python benchmarks/bench_forecast.py --compile             # also: the gate update through torch.compile

FLOPs are counted by ``torch.utils.flop_counter`` on the forward actually run (2 per
multiply-add: convolutions, matrix products); forward and matmul alternate, so both see
the same machine. Aim: inference >= 40 % of matmul FLOP/s for batch 4 on the CPU.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchlib import (
    ROOT,
    add_device_arg,
    check_device,
    matmul_gflops,
    median,
    peak_rss_mib,
    record,
    spread,
    synchronize,
)


def inputs(batch: int, size: int, device: str) -> dict:
    import torch

    lc = torch.nn.functional.one_hot(torch.randint(0, 10, (batch, size, size)), 10).permute(0, 3, 1, 2)
    x = {"sentinel2_sequence": torch.rand(batch, 10, 4, size, size), "landcover_map": lc.float(),
         "temporal_metadata": torch.rand(batch, 3), "weather_sequence": torch.randn(batch, 20, 21),
         "target_start_doy": torch.rand(batch, 1)}
    return {k: v.to(device) for k, v in x.items()}


def run_case(kind: str, small: bool, size: int, batch: int, repeats: int, threads: int, device: str,
             compiled: bool) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rs_embed_qgis.engine.forecast import model as fm
    from rs_embed_qgis.engine.forecast.losses import DeltaRegressionLoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = fm.ForecastConfig.small(height=size, width=size) if small else fm.ForecastConfig(height=size, width=size)
    model = fm.ReflectanceForecaster(cfg).to(device)
    x = inputs(batch, size, device)
    y = torch.cat([torch.ones(batch, 20, 1, size, size), 0.1 * torch.randn(batch, 20, 8, size, size)], 2).to(device)
    out = {"case": kind, "model": "small" if small else "full", "params": fm.count_parameters(model),
           "size": size, "batch": batch, "threads": threads, "device": device,
           "rss_before_mib": peak_rss_mib()}
    times, mms = [], []
    if kind == "infer":
        model.eval()
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            with counter:
                model(x)                                     # also the warm-up
            flops = counter.get_total_flops()
            variants = {"eager": fm.ConvLSTMCell.update}
            if compiled:
                variants["compiled"] = torch.compile(fm.ConvLSTMCell.update, dynamic=False)
                fm.ConvLSTMCell.update = variants["compiled"]
                t = time.perf_counter()
                model(x)
                out["compile_s"] = time.perf_counter() - t
            per = {k: [] for k in variants}
            for _ in range(repeats):                         # variants and matmul alternate
                for k, fn in variants.items():
                    fm.ConvLSTMCell.update = fn
                    t = time.perf_counter()
                    model(x)
                    synchronize(device)
                    per[k].append(time.perf_counter() - t)
                mms.append(matmul_gflops(device=device))
            fm.ConvLSTMCell.update = variants["eager"]
        times = per["eager"]
        out["gflop_per_minicube"] = flops / batch / 1e9
        out["matmul_gflops"] = median(mms)
        for k, ts in per.items():
            rates = [flops / t / 1e9 for t in ts]
            fracs = [r / m for r, m in zip(rates, mms, strict=True)]
            out[k] = {"minicubes_per_s": batch / median(ts), "gflops": median(rates),
                      "fraction_of_matmul": median(fracs), "fraction_spread": spread(fracs)}
        out["minicubes_per_s"] = out["eager"]["minicubes_per_s"]
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = DeltaRegressionLoss()
        for i in range(repeats + 1):
            t = time.perf_counter()
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            synchronize(device)
            if i:                                            # the first step warms up
                times.append(time.perf_counter() - t)
        out["s_per_step"] = median(times)
    out.update(median_s=median(times), best_s=min(times), peak_rss_mib=peak_rss_mib())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--compile", action="store_true", help="also time the gate update through torch.compile")
    add_device_arg(ap)
    ap.add_argument("--case", help=argparse.SUPPRESS)   # child-process entry
    a = ap.parse_args(argv)
    if a.case:
        kind, model = a.case.split(":")
        print(json.dumps(run_case(kind, model == "small", a.size, a.batch, a.repeats, a.threads, a.device,
                                  a.compile)))
        return 0
    device = check_device(a.device)
    rows = []
    for case in ("infer:full", "train:full", "infer:small", "train:small"):
        cmd = [sys.executable, __file__, "--case", case, "--threads", str(a.threads), "--repeats", str(a.repeats),
               "--batch", str(a.batch), "--size", str(a.size), "--device", device]
        if a.compile and case.startswith("infer"):
            cmd.append("--compile")
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if r.returncode:
            sys.exit(f"{case} failed:\n{r.stderr[-3000:]}")
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"reflectance forecaster on {device}, {a.size}x{a.size} px, batch {a.batch}, {a.threads} threads, "
          f"median of {a.repeats} (forward and matmul alternate)")
    for r in rows:
        if r["case"] == "infer":
            speed = f"{r['minicubes_per_s']:.3f} minicubes/s"
        else:
            speed = f"{r['s_per_step']:.2f} s/training step"
        print(f"  {r['case']:5s} {r['model']:5s} ({r['params']:,} params): {speed:26s} "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")
        ctx = {"model": r["model"], "batch": a.batch, "size": a.size, "threads": a.threads, "device": device}
        record("bench_forecast", f"{r['case']}_peak_rss", r["peak_rss_mib"], "MiB", **ctx)
        if r["case"] == "train":
            record("bench_forecast", "train_s_per_step", r["s_per_step"], "s", **ctx)
            continue
        print(f"        {r['gflop_per_minicube']:.1f} GFLOP per minicube; matmul {r['matmul_gflops']:.1f} GFLOP/s")
        record("bench_forecast", "gflop_per_minicube", r["gflop_per_minicube"], "GFLOP", **ctx)
        record("bench_forecast", "matmul_gflops", r["matmul_gflops"], "GFLOP/s", **ctx)
        for k in ("eager", "compiled"):
            if k not in r:
                continue
            v = r[k]
            print(f"        {k:8s}: {v['minicubes_per_s']:.3f} minicubes/s, {v['gflops']:.1f} GFLOP/s = "
                  f"{v['fraction_of_matmul']:.0%} of matmul (per repeat: {v['fraction_spread']})")
            record("bench_forecast", f"infer_minicubes_per_s_{k}", v["minicubes_per_s"], "minicubes/s", **ctx)
            record("bench_forecast", f"infer_gflops_{k}", v["gflops"], "GFLOP/s", **ctx)
            record("bench_forecast", f"infer_fraction_of_matmul_{k}", v["fraction_of_matmul"], "ratio",
                   spread=v["fraction_spread"], **ctx)
        if "compile_s" in r:
            print(f"        torch.compile of the gate update: {r['compile_s']:.0f} s once; "
                  f"{r['compiled']['minicubes_per_s'] / r['eager']['minicubes_per_s']:.2f}x eager")
            record("bench_forecast", "compile_s", r["compile_s"], "s", **ctx)
    full_i = next(r for r in rows if r["case"] == "infer" and r["model"] == "full")
    full_t = next(r for r in rows if r["case"] == "train" and r["model"] == "full")
    ratio = full_t["s_per_step"] * full_i["minicubes_per_s"] / a.batch
    print(f"  training step / inference time (full): {ratio:.1f}x")
    record("bench_forecast", "train_step_over_inference", ratio, "x", model="full", batch=a.batch, size=a.size,
           threads=a.threads, device=device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
