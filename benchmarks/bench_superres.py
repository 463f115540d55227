"""Super-resolution figures, printed (no assertions): run ``python benchmarks/bench_superres.py``.

1. Full-size S2x10NetS on CPU: output megapixels/s on a small input tile, and the
   FLOP/s it reached against a plain torch matmul measured in the same run.
2. Peak memory (VmHWM of a fresh process) while super-resolving rasters of 1x, 4x
   and 16x the area (and 64x for the baseline): should stay flat.
3. Peak memory of the streamed chunk loader against a naive torch.load +
   load_state_dict of the same weights (full-size decoder).
4. The overlap's cost at the tile and overlap the product uses by default (384 / 24):
   time with overlap / time without, and the area the tiles cover (the model's share
   of the work grows with it). Aim: <= 1.15x.

Options: --tile N (input tile of part 1, default 32), --base N (side of the 1x
raster, default 96), --skip 1,2,... , --workdir DIR, --device cpu|cuda|mps and
--dtype fp32|bf16|fp16 (autocast, channels-last: the raster pipeline's own path; fp16 on a
GPU only). Every figure is also a JSON line in out/bench/bench_superres.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, add_device_arg, check_device, matmul_gflops, peak_rss_mib, record, synchronize

_rss_mb = peak_rss_mib


def _child(args: list) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_raster(path: Path, side: int) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    yy, xx = np.mgrid[0:side, 0:side]
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=10, dtype="uint16",
                       crs="EPSG:32632", transform=from_origin(600000, 5100000, 10, 10), nodata=0,
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        for b in range(1, 11):
            dst.write((1500 + 800 * np.sin(xx / (4 + b)) * np.cos(yy / (6 + b)) + 50 * b).astype("uint16"), b)


# --- children: each measures one thing in a fresh process -----------------------------------

def child_main(argv: list) -> None:
    mode = argv[0]
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if mode == "idle":
        import safetensors.torch  # noqa: F401

        from rs_embed_qgis.engine.superres import decoder  # noqa: F401
        res = {}
    elif mode == "stream":
        from rs_embed_qgis.engine.superres.loader import load_s2x10_from_chunks

        t = time.perf_counter()
        net = load_s2x10_from_chunks(argv[1])
        res = {"seconds": time.perf_counter() - t, "params": sum(p.numel() for p in net.parameters())}
    elif mode == "naive":
        from rs_embed_qgis.engine.superres.decoder import S2x10NetS

        t = time.perf_counter()
        sd = torch.load(argv[1], map_location="cpu", weights_only=True)
        net = S2x10NetS()
        net.load_state_dict(sd)
        res = {"seconds": time.perf_counter() - t, "params": sum(p.numel() for p in net.parameters())}
    elif mode == "raster":
        from rs_embed_qgis.engine.superres.decoder import S2x10Config, S2x10NetS
        from rs_embed_qgis.engine.superres.models import LearnedUpsampler
        from rs_embed_qgis.engine.superres.raster import super_resolve_raster

        src, dst, model, tile, overlap = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
        device, dtype = (argv[6], argv[7]) if len(argv) > 7 else ("cpu", "fp32")
        if model == "small":
            torch.manual_seed(0)
            model = LearnedUpsampler(S2x10NetS(S2x10Config(num_feat=16, num_block=1, num_grow_ch=8)),
                                     weights_status="random", device=device, precision=dtype)
            model(torch.rand(1, 10, tile, tile))  # warm-up: oneDNN builds its kernels on the first call
        t, c = time.perf_counter(), time.process_time()
        meta = super_resolve_raster(src, dst, model=model, tile=tile, overlap=overlap, device=device)
        res = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
               "tiles": meta["tiles"], "covered_area": meta["covered_area"], "tile_hw": meta["tile_hw"]}
        Path(dst).unlink()
    else:
        raise SystemExit(f"unknown child mode {mode!r}")
    res["peak_rss_mb"] = _rss_mb()
    print(json.dumps(res))


# --- the four figures ------------------------------------------------------------------------

def bench_throughput(tile: int, device: str, dtype: str) -> None:
    import torch

    from rs_embed_qgis.engine.superres.decoder import S2x10NetS
    from rs_embed_qgis.engine.superres.models import InterpolationUpsampler, LearnedUpsampler

    print(f"\n[1] full-size S2x10NetS on {device} ({torch.get_num_threads()} threads), {dtype}, "
          f"input tile {tile}x{tile}")
    mm_dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[dtype]
    mm_before = matmul_gflops(2048, 5, device, mm_dtype) * 1e9
    torch.manual_seed(0)
    m = LearnedUpsampler(S2x10NetS(), weights_status="random", device=device, precision=dtype)
    x = torch.rand(1, 10, tile, tile) * 3000
    m(x)  # warm-up: oneDNN builds its kernels on the first call
    synchronize(device)
    t = time.perf_counter()
    m(x)
    synchronize(device)
    dt = time.perf_counter() - t
    flops = m.net.flops(tile, tile)
    mm_after = matmul_gflops(2048, 5, device, mm_dtype) * 1e9
    mm = (mm_before + mm_after) / 2
    mp = (tile * 10) ** 2 / 1e6
    print(f"    output {mp:.3f} MP in {dt:.2f} s  ->  {mp / dt:.4f} output MP/s")
    print(f"    {flops / 1e9:.1f} GFLOP per tile, {flops / mp / 1e12:.2f} TFLOP per output MP  ->  "
          f"{flops / dt / 1e9:.2f} GFLOP/s")
    print(f"    torch matmul 2048^2 {dtype} just before / after: {mm_before / 1e9:.2f} / {mm_after / 1e9:.2f} "
          f"GFLOP/s")
    print(f"    decoder / matmul (mean of the two): {flops / dt / mm:.2f}")
    print(f"    (a 480x480 tile would take about {m.net.flops(480, 480) / (flops / dt) / 60:.0f} min here)")
    ctx = {"device": device, "dtype": dtype, "tile": tile}
    record("bench_superres", "tflop_per_output_mp", flops / mp / 1e12, "TFLOP/MP", **ctx)
    record("bench_superres", "output_mp_per_s", mp / dt, "MP/s", **ctx)
    record("bench_superres", "decoder_gflops", flops / dt / 1e9, "GFLOP/s", **ctx)
    record("bench_superres", "decoder_over_matmul", flops / dt / mm, "ratio", **ctx)
    b = InterpolationUpsampler("bicubic", device=device)
    xb = torch.rand(1, 10, 256, 256)
    b(xb)
    t = time.perf_counter()
    b(xb)
    synchronize(device)
    mps = 2560 ** 2 / 1e6 / (time.perf_counter() - t)
    print(f"    bicubic baseline, 256x256 input: {mps:.1f} output MP/s")
    record("bench_superres", "bicubic_output_mp_per_s", mps, "MP/s", device=device)


def bench_flat_memory(work: Path, base: int) -> None:
    print("\n[2] peak memory (peak RSS of a fresh process) vs raster area; tile 64, overlap 16")
    idle = _child(["idle"])["peak_rss_mb"]
    print(f"    process with torch + engine imported: {idle:.0f} MB")
    for model, sides in (("bicubic", (1, 2, 4, 8)), ("small", (1, 2, 4))):
        for k in sides:
            side = base * k
            src = work / f"mem_{side}.tif"
            if not src.exists():
                _write_raster(src, side)
            r = _child(["raster", src, work / "mem_out.tif", model, 64, 16])
            label = "bicubic baseline" if model == "bicubic" else "S2x10NetS 16ch/1 block"
            print(f"    {label:24s} {k * k:2d}x area ({side}x{side} -> {side * 10}x{side * 10}, "
                  f"{r['tiles']:3d} tiles): peak {r['peak_rss_mb']:7.0f} MB "
                  f"(+{r['peak_rss_mb'] - idle:5.0f} MB), {r['seconds']:.1f} s")
            record("bench_superres", "raster_peak_rss", r["peak_rss_mb"], "MB", model=model, area=k * k,
                   side=side, tile=64, overlap=16)


def bench_loader(work: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from rs_embed_qgis.engine.superres.decoder import S2x10NetS

    print("\n[3] streamed chunk loader vs naive torch.load, full-size decoder")
    ck = work / "s2x10_chunks"
    pt = work / "s2x10.pt"
    if not pt.exists():
        torch.manual_seed(0)
        sd = S2x10NetS().state_dict()
        torch.save(sd, pt)
        ck.mkdir(exist_ok=True)
        keys = list(sd)
        n = 8
        weight_map = {}
        for i in range(n):
            part = keys[i * len(keys) // n:(i + 1) * len(keys) // n]
            name = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            save_file({k: sd[k].contiguous() for k in part}, str(ck / name))
            weight_map.update({k: name for k in part})
        (ck / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        del sd
    model_mb = pt.stat().st_size / 2 ** 20
    chunk_mb = max(f.stat().st_size for f in ck.glob("*.safetensors")) / 2 ** 20
    idle = _child(["idle"])["peak_rss_mb"]
    s = _child(["stream", ck])
    nv = _child(["naive", pt])
    print(f"    weights {model_mb:.0f} MB, largest of 8 chunks {chunk_mb:.0f} MB; idle process {idle:.0f} MB")
    print(f"    streamed load_s2x10_from_chunks: peak +{s['peak_rss_mb'] - idle:.0f} MB, "
          f"{s['seconds']:.1f} s")
    print(f"    naive torch.load + load_state_dict: peak +{nv['peak_rss_mb'] - idle:.0f} MB, "
          f"{nv['seconds']:.1f} s")
    print(f"    naive / streamed extra memory: {(nv['peak_rss_mb'] - idle) / (s['peak_rss_mb'] - idle):.2f}")
    record("bench_superres", "loader_streamed_extra", s["peak_rss_mb"] - idle, "MB")
    record("bench_superres", "loader_naive_extra", nv["peak_rss_mb"] - idle, "MB")


def bench_overlap(work: Path, device: str, dtype: str) -> None:
    from rs_embed_qgis.engine.superres.raster import OVERLAP, TILE

    side = 2 * TILE  # two default tiles a side: without overlap exactly 2x2 tiles
    src = work / f"mem_{side}.tif"
    if not src.exists():
        _write_raster(src, side)
    print(f"\n[4] overlap cost at the default tile {TILE} / overlap {OVERLAP}, S2x10NetS 16ch/1 block, "
          f"{side}x{side} input on {device} ({dtype}); best of 3 interleaved runs, CPU time (all threads) "
          f"and wall time: the machine is shared")
    best: dict = {}
    for _ in range(3):
        for ov in (0, OVERLAP):
            r = _child(["raster", src, work / "ov.tif", "small", TILE, ov, device, dtype])
            cpu, wall, _ = best.get(ov, (float("inf"), float("inf"), None))
            best[ov] = (min(cpu, r["cpu_seconds"]), min(wall, r["seconds"]), r)
    r = best[OVERLAP][2]
    cpu, wall = best[OVERLAP][0] / best[0][0], best[OVERLAP][1] / best[0][1]
    print(f"    overlap {OVERLAP}: {r['tiles']} tiles of {r['tile_hw'][0]}x{r['tile_hw'][1]}, CPU "
          f"{best[OVERLAP][0]:.1f} s vs {best[0][0]:.1f} s without -> x{cpu:.2f}; wall x{wall:.2f} "
          f"(the tiles cover x{r['covered_area']:.3f} the area; aim <= 1.15)")
    ctx = {"tile": TILE, "overlap": OVERLAP, "side": side, "device": device, "dtype": dtype}
    record("bench_superres", "overlap_cost_cpu", cpu, "x", **ctx)
    record("bench_superres", "overlap_cost_wall", wall, "x", **ctx)
    record("bench_superres", "overlap_covered_area", r["covered_area"], "x", **ctx)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--base", type=int, default=96)
    ap.add_argument("--skip", default="")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"))
    add_device_arg(ap)
    a = ap.parse_args()
    device = check_device(a.device)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        work = Path(tmp)
        if "1" not in skip:
            bench_throughput(a.tile, device, a.dtype)
        if "2" not in skip:
            bench_flat_memory(work, a.base)
        if "3" not in skip:
            bench_loader(work)
        if "4" not in skip:
            bench_overlap(work, device, a.dtype)


if __name__ == "__main__":
    main()
