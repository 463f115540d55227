"""AnySat throughput: one batched call vs one call per ROI (same inputs, same model), where a
series' time goes, and the fast path (``precision``) against fp32.

    python benchmarks/bench_anysat_batch.py [--rois 16] [--size tiny] [--threads N] [--batch-size N]
                                            [--repeats 3] [--device cpu] [--precisions bf16,int8]

Loop and batch alternate ``--repeats`` times (the machine may be shared): the batch/loop
ratio is printed per repeat (median and spread; aim >= 1.0), in wall time and in the
process's CPU time (steadier on a shared machine). Then one batched forward is
split by part (temporal encoder, spatial encoder, transformer blocks; ms per series) and its
FLOPs (those of the matrix products; the fused attention is not counted) are set against a
plain matrix product measured in the same process: a forward near the matmul rate is
compute-bound, and batching can then only save the per-call work, whose size the forward of a
2 x 2 px series shows.
Random weights (pretrained=False, seeded): speed does not depend on the weights.

On a CPU shared with other jobs, torch's threads wait for each other at the end of every
operation (one scheduler slice when a core is taken), so there the loop, which runs more and
smaller operations, slows down far more than the batch: ``--threads 1`` measures the
arithmetic alone.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from benchlib import add_device_arg, check_device, matmul_gflops, median, record, spread, synchronize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rois", type=int, default=16)
    ap.add_argument("--size", default="tiny", choices=("tiny", "small", "base"))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--batch-size", type=int, default=None, help="series per forward (default: the device's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precisions", default="bf16,int8", help="fast paths to compare with fp32 ('' for none)")
    add_device_arg(ap)
    a = ap.parse_args()
    device = check_device(a.device)
    import torch

    from rs_embed_qgis.engine import api
    from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

    if a.threads:
        torch.set_num_threads(a.threads)
    n = a.rois
    rng = np.random.RandomState(0)
    arrays = [rng.uniform(0, 4000, (8, 10, 24, 24)).astype("f4") for _ in range(n)]
    rois = [PointBuffer(lon=9.0 + 0.001 * i, lat=47.84, buffer_m=120) for i in range(n)]
    t = TemporalSpec.range("2022-01-01", "2023-01-01")

    def options(precision: str) -> dict:
        opts = {"model_size": a.size, "pretrained": False, "precision": precision}
        if a.batch_size:
            opts["batch_size"] = a.batch_size
        return opts

    def kw(precision: str) -> dict:
        return dict(temporal=t, backend="local", device=device, output=OutputSpec.pooled(),
                    model_options=options(precision))

    api.get_embedding("anysat", spatial=rois[0], input_chw=arrays[0], **kw("fp32"))  # build + warm up
    loops, batches, cpu_ratios = [], [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for r, x in zip(rois, arrays, strict=True):
            api.get_embedding("anysat", spatial=r, input_chw=x, **kw("fp32"))
        loops.append(time.perf_counter() - t0)
        t0, c1 = time.perf_counter(), time.process_time()
        exact = api.get_embeddings_batch("anysat", spatials=rois, input_chws=arrays, **kw("fp32"))
        batches.append(time.perf_counter() - t0)
        cpu_ratios.append((c1 - c0) / (time.process_time() - c1))
    ratios = [lo / b for lo, b in zip(loops, batches, strict=True)]
    bs = exact[0].meta["batch_size"]
    ctx = {"model": "anysat", "size": a.size, "device": device, "rois": n, "batch_size": bs}
    print(f"anysat {a.size} on {device}: {n} ROIs, T=8, 24x24 px, patch 10 m, batch_size {bs}, "
          f"{torch.get_num_threads()} threads; {a.repeats} alternated repeats")
    print(f"  one call per ROI : {median(loops):.2f} s ({median(loops) / n * 1000:.1f} ms/ROI)")
    print(f"  batched          : {median(batches):.2f} s ({median(batches) / n * 1000:.1f} ms/ROI)")
    print(f"  batch / loop     : {spread(ratios)}x (CPU time of the process: {spread(cpu_ratios)}x)")
    record("bench_anysat_batch", "loop_rois_per_s", n / median(loops), "ROI/s", **ctx)
    record("bench_anysat_batch", "batch_rois_per_s", n / median(batches), "ROI/s", **ctx)
    record("bench_anysat_batch", "batch_over_loop", median(ratios), "x", spread=spread(ratios), **ctx)
    record("bench_anysat_batch", "batch_over_loop_cpu_time", median(cpu_ratios), "x", spread=spread(cpu_ratios),
           **ctx)

    parts(api, device, options("fp32"), arrays, bs, ctx)

    ref = np.stack([e.array for e in exact]).astype(np.float64)
    for p in [p.strip() for p in a.precisions.split(",") if p.strip()]:
        api.get_embeddings_batch("anysat", spatials=rois[:2], input_chws=arrays[:2], **kw(p))  # build + warm up
        speedups = []
        for _ in range(a.repeats):                   # fp32 and the fast path alternate
            t0 = time.perf_counter()
            api.get_embeddings_batch("anysat", spatials=rois, input_chws=arrays, **kw("fp32"))
            t1 = time.perf_counter()
            fast = api.get_embeddings_batch("anysat", spatials=rois, input_chws=arrays, **kw(p))
            speedups.append((t1 - t0) / (time.perf_counter() - t1))
        got = np.stack([e.array for e in fast]).astype(np.float64)
        cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
        used = fast[0].meta["precision"]["used"]
        print(f"  precision {p:5s} (ran {used}): batched x{spread(speedups)} vs fp32, pooled cosine min "
              f"{cos.min():.6f}")
        record("bench_anysat_batch", f"{p}_speedup", median(speedups), "x", spread=spread(speedups), used=used,
               **ctx)
        record("bench_anysat_batch", f"{p}_pooled_cos_min", float(cos.min()), "cosine", used=used, **ctx)


def parts(api, device: str, model_options: dict, arrays: list, bs: int, ctx: dict) -> None:
    """ms per series of each part of one batched forward, and the forward's share of matmul FLOP/s."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = api.get_embedder("anysat", device=device, model_options=model_options).model()
    x = torch.from_numpy(np.stack(arrays[:bs])).to(device)
    batch = {"s2": x, "s2_dates": torch.arange(8, device=device).repeat(bs, 1) * 45}
    named = {"temporal encoder (L-TAE)": model.projector_s2, "spatial encoder": model.spatial_encoder,
             **{f"block {i}": b for i, b in enumerate(model.blocks[:-1])}, "cross block": model.blocks[-1]}
    spent = dict.fromkeys(named, 0.0)

    def pre(name: str):
        def hook(_m, _a):
            synchronize(device)
            spent[name] -= time.perf_counter()
        return hook

    def post(name: str):
        def hook(_m, _a, _o):
            synchronize(device)
            spent[name] += time.perf_counter()
        return hook

    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            model(batch, patch_size=10)
        hooks = [h for name, mod in named.items()
                 for h in (mod.register_forward_pre_hook(pre(name)), mod.register_forward_hook(post(name)))]
        reps, totals = 3, []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(batch, patch_size=10)
            synchronize(device)
            totals.append(time.perf_counter() - t0)
        for h in hooks:
            h.remove()
        # a forward's fixed cost (Python, dispatch, thread fork/joins): one 2 x 2 px series
        empty = {"s2": x[:1, :, :, :2, :2].contiguous(), "s2_dates": batch["s2_dates"][:1]}
        fixed = []
        for _ in range(11):
            t0 = time.perf_counter()
            model(empty, patch_size=10)
            synchronize(device)
            fixed.append(time.perf_counter() - t0)
    total = median(totals)
    gflop = fc.get_total_flops() / bs / 1e9
    mm = matmul_gflops(device=device)
    frac = gflop * bs / total / mm
    print(f"  one forward of {bs}: {total / bs * 1000:.1f} ms per series, {gflop:.2f} GFLOP per series, "
          f"{gflop * bs / total:.0f} GFLOP/s = {frac:.0%} of matmul ({mm:.0f} GFLOP/s)")
    for name, sec in spent.items():
        print(f"    {name:<26}{sec / reps / bs * 1000:7.1f} ms/series ({sec / reps / total:.0%})")
    print(f"  a forward's fixed cost (one 2 x 2 px series): {median(fixed) * 1000:.1f} ms "
          f"(min {min(fixed) * 1000:.1f}); a batch of {bs} pays it once")
    record("bench_anysat_batch", "forward_fixed_ms", median(fixed) * 1000, "ms", min_ms=min(fixed) * 1000, **ctx)
    record("bench_anysat_batch", "forward_ms_per_series", total / bs * 1000, "ms", **ctx)
    record("bench_anysat_batch", "fraction_of_matmul", frac, "x", gflop_per_series=gflop, matmul_gflops=mm, **ctx)


if __name__ == "__main__":
    main()
