"""Speed, memory and the fast CPU path of the token models (the ViT family, the multi-frame and
spectral models, AgriFM) and of the precomputed products on this machine, all figures from one run.

For each model, in its own process (so peak memory is that model's):

- ROIs/s of a loop of ``get_embedding`` and of one ``get_embeddings_batch`` call on the
  same ROIs of the bundled sample (``backend="local"``), alternated ``--repeats`` times:
  the batch/loop ratio per repeat (median and spread; aim >= 1.0);
- peak resident memory of the process;
- achieved GFLOP/s of the batched forward (analytic FLOPs / measured time) against a
  plain ``torch.matmul`` measured in the same process, i.e. the fraction of what
  this machine's BLAS reaches;
- the fast path (``--precisions``, default ``bf16,int8``; ``model_options["precision"]``):
  forward speed-up over fp32 (forwards alternate), ROIs/s of the embed stage, and its
  accuracy against fp32 on the sample: cosine of the pooled vectors and of the grid cells
  (min and mean over ROIs / cells; aim >= 0.999). Aim: >= 1.5x fp32 for the ViTs. For int8,
  the activation bits this CPU's kernel takes exactly and the Linear layers the model's catalog
  entry keeps in fp32 (``int8_keep_fp32``; ``engine/precision.py``, *int8 accuracy*).

Products (precomputed embeddings) have no forward: loop and batch only. They are read from
files this script writes over the sample in their published layouts (the tests' writers:
GeoTessera tiles for 2022, a window of the Copernicus-Embed map). The batch reads each tile
(window of the map) once for a group of neighbouring ROIs and cuts every ROI from that read;
the ROIs here (480 m buffers ~200 m apart) overlap, as a study area's do.

Weights are random (``allow_random_weights=True``; no download), the same draw for every
precision (seeded): speed does not depend on the values, the results are marked
``random``. Sizes are chosen to fit 2 CPU cores in minutes; ``--full`` runs the published
sizes. ``--device cuda`` runs the same code on a GPU (precisions ``bf16,fp16`` there).

    PYTHONPATH=. python benchmarks/bench_models.py            # all models, 32 ROIs
    PYTHONPATH=. python benchmarks/bench_models.py --models prithvi --rois 8 --full
    PYTHONPATH=. python benchmarks/bench_models.py --models remoteclip --precisions fast
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchlib import (
    add_device_arg,
    check_device,
    matmul_gflops,
    median,
    peak_rss_mib,
    record,
    spread,
    synchronize,
)

# model id -> (model_options at the benchmark size, at the published size)
SIZES = {
    "remoteclip": ({"variant": "ViT-B-32"}, {"variant": "ViT-B-32"}),
    "prithvi": ({"variant": "100M", "frames": 2}, {"variant": "300M", "frames": 4}),
    "satmae": ({"arch": {"embed_dim": 768, "depth": 12, "num_heads": 12}}, {}),
    "satmaepp": ({"variant": "multispectral", "arch": {"embed_dim": 768, "depth": 12, "num_heads": 12,
                                                       "channel_embed": 192}}, {"variant": "multispectral"}),
    "scalemae": ({"arch": {"embed_dim": 768, "depth": 12, "num_heads": 12}}, {}),
    # multi-frame models: monthly frames over the year (the frame policy), empty bins as each model says
    "galileo": ({"variant": "nano"}, {"variant": "base"}),
    "olmoearth": ({"variant": "nano"}, {"variant": "base"}),
    # Model zoo III: the smallest published sizes are the bench sizes
    "terrafm": ({"variant": "B"}, {"variant": "B"}),
    "fomo": ({}, {}),
    "wildsat": ({}, {}),
    "dofa": ({"variant": "base"}, {"variant": "large"}),
    "clay": ({"arch": {"dim": 768, "depth": 6, "heads": 12}}, {}),
    "terramind": ({"variant": "small"}, {"variant": "base"}),
    "satvision": ({"arch": {"embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32]}}, {}),
    "agrifm": ({"frames": 4, "image_size": 112}, {"frames": 8, "image_size": 224}),
    "tessera": ({}, {}),
    "copernicus": ({}, {}),
}
CENTRE = (9.0200, 47.8398)  # the bundled sample (3 km x 3 km)
#: models whose input the bundled Sentinel-2 sample does not hold: MODIS, from a MOD021KM-like
#: granule written for the run (tests/engine/modis_util.py): ROI centre, spacing, half-side, window
MODIS_RUN = ((8.90, 48.0), 0.02, 5000, ("2022-06-01", "2022-06-02"))


def rois(n: int, centre=CENTRE, step=0.0022, buffer_m=480):
    """``n`` ROIs on a grid around ``centre``; by default ~170-250 m apart, all inside the sample."""
    from rs_embed_qgis.engine.specs import PointBuffer

    side = int(n ** 0.5 + 0.999)
    out = []
    for i in range(n):
        r, c = divmod(i, side)
        out.append(PointBuffer(centre[0] + (c - side / 2) * step, centre[1] + (r - side / 2) * step * 0.7, buffer_m))
    return out


def modis_folder() -> str:
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))
    from modis_util import write_mod021km

    return str(write_mod021km(Path(tempfile.mkdtemp(prefix="bench_modis_"))).parent)


def forward_flops(emb, x, side) -> float:
    """FLOPs of one sample of the model input batch ``x`` (with its side inputs)."""
    if hasattr(emb, "flops_per_input"):  # models whose cost depends on the frames fed
        return emb.flops_per_input(x, side)
    m = emb.model
    if hasattr(m, "flops_per_sample"):
        return m.flops_per_sample(emb.n_frames)
    return m.flops_per_image()


def product_files(model: str, folder) -> dict:
    """Product files over the sample, in their published layouts (the tests' writers)."""
    from pathlib import Path

    folder = Path(folder)
    if model == "tessera":
        from tests.engine.tessera_util import write_tile

        write_tile(folder, 2022, 9.05, 47.85, CENTRE, half_deg=0.03)
        return {"data_dir": str(folder), "download": False}
    from tests.engine.copernicus_util import cell_of, write_map

    r, c = cell_of(8.8, 48.2)
    return {"path": str(write_map(folder / "embed_map_310k.tif", c, r, 4, 4)), "download": False}


def cosines(a, b):
    """Cosine similarity of matching rows of two ``(N, D)`` arrays."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def build(model: str, opts: dict, device: str, precision: str):
    """The embedder at ``precision``, with the same random weights as every other precision."""
    import torch

    from rs_embed_qgis.engine.api import get_embedder

    torch.manual_seed(0)
    return get_embedder(model, device=device, model_options={**opts, "precision": precision})


def run_one(model: str, n_rois: int, full: bool, device: str, precisions: list[str], repeats: int) -> dict:
    import tempfile

    import numpy as np
    import torch

    from rs_embed_qgis.engine.api import get_embedding, get_embeddings_batch, get_provider
    from rs_embed_qgis.engine.catalog import get_entry
    from rs_embed_qgis.engine.specs import OutputSpec, TemporalSpec

    product = get_entry(model).kind == "precomputed"
    opts = dict(SIZES[model][1 if full else 0], allow_random_weights=True)
    if product:
        opts.update(product_files(model, tempfile.mkdtemp(prefix=f"bench_{model}_")))
    else:
        opts["download"] = False
    temporal = TemporalSpec.year(2022)
    spatials = rois(n_rois)
    emb = build(model, opts, device, "fp32")
    provider_options = None
    if emb.default_sensor().collection.startswith("MODIS/"):
        centre, step, buffer_m, window = MODIS_RUN
        spatials, temporal = rois(n_rois, centre, step, buffer_m), TemporalSpec.range(*window)
        provider_options = {"root": modis_folder()}
    kw = dict(temporal=temporal, output=OutputSpec.pooled(), backend="local", device=device,
              model_options={**opts, "precision": "fp32"}, provider_options=provider_options)
    get_embedding(model, spatial=spatials[0], **kw)  # warm-up: reader, BLAS, caches

    # loop and batch alternate, so both see the same machine (it may be shared)
    ratios, loop_rps, batch_rps = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        loop = [get_embedding(model, spatial=s, **kw) for s in spatials]
        t_loop = time.perf_counter() - t
        t = time.perf_counter()
        batch = get_embeddings_batch(model, spatials=spatials, **kw)
        t_batch = time.perf_counter() - t
        ratios.append(t_loop / t_batch)
        loop_rps.append(n_rois / t_loop)
        batch_rps.append(n_rois / t_batch)
    same = all(np.allclose(a.array, b.array, rtol=1e-4, atol=1e-4) for a, b in zip(loop, batch, strict=True))
    row = {"model": model, "size": "published" if full else "bench", "device": device, "rois": n_rois,
           "loop_rps": median(loop_rps), "batch_rps": median(batch_rps), "ratio": median(ratios),
           "ratio_spread": spread(ratios), "batch_equals_loop": same, "peak_rss_MiB": peak_rss_mib()}
    if product:  # read, not computed: no forward to time, no precision to choose
        return dict(row, variant="-", params_M=0.0, weights="product", batch_size=None, forward_gflops=None,
                    matmul_gflops=None, fraction_of_matmul=None, fraction_spread=None, gflop_per_roi=None,
                    fast={})

    # the embed stage alone, on patches fetched once
    patches = get_provider("local", provider_options).fetch_many(
        spatials, temporal, emb.default_sensor(), frames=emb.frames_for(temporal), num_workers=4)
    ref_pooled = np.stack([e.array for e in emb.embed_patches(patches, OutputSpec.pooled())])
    ref_grid = [e.array for e in emb.embed_patches(patches, OutputSpec.grid())]

    # the batched forward alone, on model inputs prepared as the adapter does
    first = patches[: emb.batch_size]
    xs = np.stack([emb._tiles(emb.preprocess(p), "resize")[0][0] for p in first])
    sides = [emb.side_inputs(p, 1, "resize") for p in first]
    side = {k: torch.from_numpy(np.concatenate([s[k] for s in sides])).to(device) for k in sides[0]}
    x = torch.from_numpy(xs).to(device)
    flops = forward_flops(emb, x, side)
    others = {p: build(model, opts, device, p) for p in precisions}

    def forward_s(e) -> float:
        t = time.perf_counter()
        with torch.inference_mode(), e.precision_scope():
            e.forward_batch(x, side)
        synchronize(device)
        return time.perf_counter() - t

    for e in (emb, *others.values()):
        forward_s(e)                                        # warm-up (oneDNN builds its kernels)
    fwd: dict[str, list[float]] = {"fp32": [], **{p: [] for p in others}}
    mms: list[float] = []
    for _ in range(max(3, repeats)):                        # forwards and matmul alternate
        fwd["fp32"].append(forward_s(emb))
        for p, e in others.items():
            fwd[p].append(forward_s(e))
        mms.append(matmul_gflops(device=device))
    fracs = [flops * x.shape[0] / t / 1e9 / m for t, m in zip(fwd["fp32"], mms, strict=True)]
    fast = {}
    for p, e in others.items():
        t = time.perf_counter()
        pooled = np.stack([r.array for r in e.embed_patches(patches, OutputSpec.pooled())])
        t_embed = time.perf_counter() - t
        grid = [r.array for r in e.embed_patches(patches, OutputSpec.grid())]
        cells = np.concatenate([cosines(a.reshape(a.shape[0], -1).T, b.reshape(b.shape[0], -1).T)
                                for a, b in zip(ref_grid, grid, strict=True)])
        pc = cosines(ref_pooled, pooled)
        speedups = [a / b for a, b in zip(fwd["fp32"], fwd[p], strict=True)]
        fast[p] = {"used": e.precision, "forward_speedup": median(speedups), "speedup_spread": spread(speedups),
                   "embed_rps": n_rois / t_embed, "pooled_cos_min": float(pc.min()),
                   "pooled_cos_mean": float(pc.mean()), "cell_cos_min": float(cells.min()),
                   "cell_cos_mean": float(cells.mean()), "peak_rss_MiB": peak_rss_mib(), "int8": e.int8_summary}
    return dict(row, variant=emb.variant, params_M=sum(p.numel() for p in emb.model.parameters()) / 1e6,
                weights=emb.weights_meta["status"], batch_size=emb.batch_size, peak_rss_MiB=peak_rss_mib(),
                forward_gflops=flops * x.shape[0] / min(fwd["fp32"]) / 1e9, matmul_gflops=median(mms),
                fraction_of_matmul=median(fracs), fraction_spread=spread(fracs), gflop_per_roi=flops / 1e9,
                fast=fast)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(SIZES))
    ap.add_argument("--rois", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="loop/batch alternations (the ratio's spread)")
    ap.add_argument("--precisions", default=None,
                    help="fast paths to compare with fp32, comma-separated (default: bf16,int8 on the CPU, "
                         "bf16,fp16 on a GPU; '' for none)")
    ap.add_argument("--full", action="store_true", help="published model sizes (slow on 2 cores)")
    add_device_arg(ap)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    device = check_device(a.device)
    if a.precisions is None:
        a.precisions = "bf16,int8" if device == "cpu" else "bf16,fp16"
    precisions = [p.strip() for p in a.precisions.split(",") if p.strip()]
    if a.one:
        print(json.dumps(run_one(a.one, a.rois, a.full, device, precisions, a.repeats)))
        return
    import torch

    from rs_embed_qgis.engine.precision import cpu_has_native_bf16

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
          f"(native bf16: {cpu_has_native_bf16()}); device {device}; {a.rois} ROIs of the bundled sample, "
          f"backend=local, TemporalSpec.year(2022), pooled output; fast paths: {precisions or 'none'}")
    rows, failed = [], []
    for m in a.models:
        cmd = [sys.executable, __file__, "--one", m, "--rois", str(a.rois), "--device", device,
               "--precisions", ",".join(precisions), "--repeats", str(a.repeats)] + (["--full"] if a.full else [])
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if out.returncode:
            print(f"{m}: failed\n{out.stderr[-2000:]}")
            failed.append(m)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        ctx = {"model": m, "size": r["size"], "variant": r["variant"], "device": device, "rois": a.rois}
        record("bench_models", "loop_rois_per_s", r["loop_rps"], "ROI/s", **ctx)
        record("bench_models", "batch_rois_per_s", r["batch_rps"], "ROI/s", **ctx)
        record("bench_models", "batch_over_loop", r["ratio"], "x", spread=r["ratio_spread"], **ctx)
        if r["fraction_of_matmul"] is not None:
            record("bench_models", "fraction_of_matmul", r["fraction_of_matmul"], "ratio",
                   spread=r["fraction_spread"], **ctx)
        for p, f in r["fast"].items():
            for k, unit in (("forward_speedup", "x"), ("embed_rps", "ROI/s"), ("pooled_cos_min", "cosine"),
                            ("cell_cos_min", "cosine"), ("cell_cos_mean", "cosine")):
                record("bench_models", f"{p}_{k}", f[k], unit, used=f["used"], int8=f["int8"], **ctx)
        frac = f", {r['fraction_of_matmul']:.0%} of matmul" if r["fraction_of_matmul"] is not None else ""
        fast = "; " + ", ".join(f"{p} x{f['forward_speedup']:.2f}" for p, f in r["fast"].items()) if r["fast"] else ""
        print(f"  done {m}: batch/loop {r['ratio']:.2f}x{frac}{fast}", flush=True)
    hdr = (f"{'model':<11}{'size':<10}{'variant':<15}{'params':>8}{'weights':>9}{'GFLOP/ROI':>10}{'loop ROI/s':>11}"
           f"{'batch ROI/s':>12}{'batch/loop (spread)':>26}{'same':>6}{'fwd GFLOP/s':>12}{'matmul':>8}{'frac':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if r["forward_gflops"] is None:
            fwd, tail = f"{'-':>10}", f"{'-':>12}{'-':>8}{'-':>6}"
        else:
            fwd = f"{r['gflop_per_roi']:>10.1f}"
            tail = f"{r['forward_gflops']:>12.1f}{r['matmul_gflops']:>8.1f}{r['fraction_of_matmul']:>6.0%}"
        print(f"{r['model']:<11}{r['size']:<10}{r['variant']:<15}{r['params_M']:>7.0f}M{r['weights']:>9}{fwd}"
              f"{r['loop_rps']:>11.2f}{r['batch_rps']:>12.2f}{r['ratio_spread']:>26}"
              f"{str(r['batch_equals_loop']):>6}{tail}")
    if precisions:
        hdr = (f"{'model':<11}{'precision':<10}{'ran':<6}{'int8 act, fp32 Linear':>23}{'fwd speed-up (spread)':>24}"
               f"{'embed ROI/s':>12}"
               f"{'pooled cos min':>15}{'cell cos min':>13}{'cell cos mean':>14}{'peak MiB':>9}")
        print("\nfast path vs fp32 (same weights, same patches)")
        print(hdr)
        print("-" * len(hdr))
        for r in rows:
            for p, f in r["fast"].items():
                i8 = f["int8"]
                i8 = (f"{i8['activation_bits']} bit, {i8['fp32_layers']} of {i8['fp32_layers'] + i8['int8_layers']}"
                      if i8 else "-")
                print(f"{r['model']:<11}{p:<10}{f['used']:<6}{i8:>23}{f['speedup_spread']:>24}{f['embed_rps']:>12.2f}"
                      f"{f['pooled_cos_min']:>15.6f}{f['cell_cos_min']:>13.6f}{f['cell_cos_mean']:>14.6f}"
                      f"{f['peak_rss_MiB']:>9.0f}")
    print("weights: random (allow_random_weights=True) - speed does not depend on the values; "
          "products: read from files written over the sample, no forward")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
