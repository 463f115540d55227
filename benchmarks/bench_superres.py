"""Super-resolution figures, printed (no assertions): run ``python benchmarks/bench_superres.py``.

1. Full-size S2x10NetS on CPU: output megapixels/s on a small input tile, and the
   FLOP/s it reached against a plain torch matmul measured in the same run.
2. Peak memory (VmHWM of a fresh process) while super-resolving rasters of 1x, 4x
   and 16x the area (and 64x for the baseline): should stay flat.
3. Peak memory of the streamed chunk loader against a naive torch.load +
   load_state_dict of the same weights (full-size decoder).
4. The overlap's cost: time with overlap / time without, and the extra input area
   the tiles cover.

Options: --tile N (input tile of part 1, default 32), --base N (side of the 1x
raster, default 96), --skip 1,2,... , --workdir DIR.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss it does not
    inherit the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
        if model == "small":
            torch.manual_seed(0)
            model = LearnedUpsampler(S2x10NetS(S2x10Config(num_feat=16, num_block=1, num_grow_ch=8)),
                                     weights_status="random", device="cpu")
            model(torch.rand(1, 10, tile, tile))  # warm-up: oneDNN builds its kernels on the first call
        t, c = time.perf_counter(), time.process_time()
        meta = super_resolve_raster(src, dst, model=model, tile=tile, overlap=overlap, device="cpu")
        res = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
               "tiles": meta["tiles"]}
        Path(dst).unlink()
    else:
        raise SystemExit(f"unknown child mode {mode!r}")
    res["peak_rss_mb"] = _rss_mb()
    print(json.dumps(res))


# --- the four figures ------------------------------------------------------------------------

def bench_throughput(tile: int) -> None:
    import torch

    from rs_embed_qgis.engine.superres.decoder import S2x10NetS
    from rs_embed_qgis.engine.superres.models import InterpolationUpsampler, LearnedUpsampler

    print(f"\n[1] full-size S2x10NetS on CPU ({torch.get_num_threads()} threads), input tile {tile}x{tile}")
    a = torch.rand(2048, 2048)

    def matmul_flops() -> float:
        a @ a
        t = time.perf_counter()
        for _ in range(5):
            a @ a
        return 5 * 2 * 2048 ** 3 / (time.perf_counter() - t)

    mm_before = matmul_flops()
    torch.manual_seed(0)
    m = LearnedUpsampler(S2x10NetS(), weights_status="random", device="cpu")
    x = torch.rand(1, 10, tile, tile) * 3000
    m(x)  # warm-up: oneDNN builds its kernels on the first call
    t = time.perf_counter()
    m(x)
    dt = time.perf_counter() - t
    flops = m.net.flops(tile, tile)
    mm_after = matmul_flops()
    mm = (mm_before + mm_after) / 2
    mp = (tile * 10) ** 2 / 1e6
    print(f"    output {mp:.3f} MP in {dt:.2f} s  ->  {mp / dt:.4f} output MP/s")
    print(f"    {flops / 1e9:.1f} GFLOP per tile  ->  {flops / dt / 1e9:.2f} GFLOP/s")
    print(f"    torch matmul 2048^2 fp32 just before / after: {mm_before / 1e9:.2f} / {mm_after / 1e9:.2f} "
          f"GFLOP/s")
    print(f"    decoder / matmul (mean of the two): {flops / dt / mm:.2f}")
    print(f"    (a 480x480 tile would take about {m.net.flops(480, 480) / (flops / dt) / 60:.0f} min here)")
    b = InterpolationUpsampler("bicubic")
    xb = torch.rand(1, 10, 256, 256)
    b(xb)
    t = time.perf_counter()
    b(xb)
    mps = 2560 ** 2 / 1e6 / (time.perf_counter() - t)
    print(f"    bicubic baseline, 256x256 input: {mps:.1f} output MP/s")


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


def bench_overlap(work: Path, base: int) -> None:
    from rs_embed_qgis.engine.superres.raster import tile_starts

    side = base * 2
    src = work / f"mem_{side}.tif"
    if not src.exists():
        _write_raster(src, side)
    print(f"\n[4] overlap cost, S2x10NetS 16ch/1 block, {side}x{side} input, tile 64; best of 3 interleaved "
          f"runs, CPU time (all threads) and wall time: the machine is shared")
    best: dict = {}
    for _ in range(3):
        for ov in (0, 8, 16):
            r = _child(["raster", src, work / "ov.tif", "small", 64, ov])
            cpu, wall = best.get(ov, (float("inf"), float("inf")))
            best[ov] = (min(cpu, r["cpu_seconds"]), min(wall, r["seconds"]))
    for ov in (8, 16):
        area = (len(tile_starts(side, 64, ov)) * 64) ** 2 / side ** 2
        print(f"    overlap {ov:2d}: CPU {best[ov][0]:.1f} s vs {best[0][0]:.1f} s without -> "
              f"x{best[ov][0] / best[0][0]:.2f}; wall x{best[ov][1] / best[0][1]:.2f} "
              f"(the tiles cover x{area:.2f} the area)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--base", type=int, default=96)
    ap.add_argument("--skip", default="")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        work = Path(tmp)
        if "1" not in skip:
            bench_throughput(a.tile)
        if "2" not in skip:
            bench_flat_memory(work, a.base)
        if "3" not in skip:
            bench_loader(work)
        if "4" not in skip:
            bench_overlap(work, a.base)


if __name__ == "__main__":
    main()
