"""Speed and memory of the token models (the ViT family, the multi-frame and spectral models,
AgriFM) and of the precomputed products on this machine, all figures from one run.

For each model, in its own process (so peak memory is that model's):

- ROIs/s of a loop of ``get_embedding`` and of one ``get_embeddings_batch`` call on the
  same ROIs of the bundled sample (``backend="local"``), and their ratio;
- peak resident memory of the process;
- achieved GFLOP/s of the batched forward (analytic FLOPs / measured time) against a
  plain ``torch.matmul`` measured in the same process, i.e. the fraction of what
  this machine's BLAS reaches (on-the-fly models; products have no forward).

Products are read from files this script writes over the sample in their published layouts
(the tests' writers: GeoTessera tiles for 2022, a window of the Copernicus-Embed map).

Weights are random (``allow_random_weights=True``; no download): speed does not
depend on the values, and the results are marked ``random`` in the table. Sizes
are chosen to fit 2 CPU cores in minutes; ``--full`` runs the published sizes.

    PYTHONPATH=. python benchmarks/bench_models.py            # all models, 32 ROIs
    PYTHONPATH=. python benchmarks/bench_models.py --models prithvi --rois 8 --full
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))  # the working tree

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


def matmul_gflops(n: int = 1536, reps: int = 6) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


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


def run_one(model: str, n_rois: int, full: bool) -> dict:
    import tempfile

    import numpy as np
    import torch

    from rs_embed_qgis.engine.api import get_embedder, get_embedding, get_embeddings_batch
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
    emb = get_embedder(model, device="cpu", model_options=opts)
    provider_options = None
    if emb.default_sensor().collection.startswith("MODIS/"):
        centre, step, buffer_m, window = MODIS_RUN
        spatials, temporal = rois(n_rois, centre, step, buffer_m), TemporalSpec.range(*window)
        provider_options = {"root": modis_folder()}
    kw = dict(temporal=temporal, output=OutputSpec.pooled(), backend="local", device="cpu", model_options=opts,
              provider_options=provider_options)
    get_embedding(model, spatial=spatials[0], **kw)  # warm-up: reader, BLAS, caches

    t = time.perf_counter()
    loop = [get_embedding(model, spatial=s, **kw) for s in spatials]
    t_loop = time.perf_counter() - t
    t = time.perf_counter()
    batch = get_embeddings_batch(model, spatials=spatials, **kw)
    t_batch = time.perf_counter() - t
    same = all(np.allclose(a.array, b.array, rtol=1e-4, atol=1e-4) for a, b in zip(loop, batch, strict=True))
    row = {"model": model, "size": "published" if full else "bench", "rois": n_rois,
           "loop_rps": n_rois / t_loop, "batch_rps": n_rois / t_batch, "ratio": t_loop / t_batch,
           "batch_equals_loop": same, "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if product:  # read, not computed: no forward to time
        return dict(row, variant="-", params_M=0.0, weights="product", batch_size=None, forward_gflops=None,
                    matmul_gflops=None, fraction_of_matmul=None, gflop_per_roi=None)

    # the batched forward alone, on model inputs prepared as the adapter does
    from rs_embed_qgis.engine.api import get_provider

    patches = get_provider("local", provider_options).fetch_many(
        spatials[: emb.batch_size], temporal, emb.default_sensor(), frames=emb.frames_for(temporal), num_workers=4)
    xs = np.stack([emb._tiles(emb.preprocess(p), "resize")[0][0] for p in patches])
    sides = [emb.side_inputs(p, 1, "resize") for p in patches]
    side = {k: torch.from_numpy(np.concatenate([s[k] for s in sides])) for k in sides[0]}
    x = torch.from_numpy(xs)
    # forward and matmul alternate, best of each: both see the same machine (it may be shared)
    best, mm = float("inf"), 0.0
    with torch.inference_mode():
        emb.forward_batch(x, side)
        for _ in range(4):
            t = time.perf_counter()
            emb.forward_batch(x, side)
            best = min(best, time.perf_counter() - t)
            mm = max(mm, matmul_gflops(reps=3))
    fwd_gflops = forward_flops(emb, x, side) * x.shape[0] / best / 1e9
    return dict(row, variant=emb.variant, params_M=sum(p.numel() for p in emb.model.parameters()) / 1e6,
                weights=emb.weights_meta["status"], batch_size=emb.batch_size,
                peak_rss_MiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                forward_gflops=fwd_gflops, matmul_gflops=mm, fraction_of_matmul=fwd_gflops / mm,
                gflop_per_roi=forward_flops(emb, x, side) / 1e9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(SIZES))
    ap.add_argument("--rois", type=int, default=32)
    ap.add_argument("--full", action="store_true", help="published model sizes (slow on 2 cores)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.rois, a.full)))
        return
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"{a.rois} ROIs of the bundled sample, backend=local, TemporalSpec.year(2022), pooled output")
    rows, failed = [], []
    for m in a.models:
        cmd = [sys.executable, __file__, "--one", m, "--rois", str(a.rois)] + (["--full"] if a.full else [])
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if out.returncode:
            print(f"{m}: failed\n{out.stderr[-2000:]}")
            failed.append(m)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        frac = f", {r['fraction_of_matmul']:.0%} of matmul" if r["fraction_of_matmul"] is not None else ""
        print(f"  done {m}: {r['ratio']:.2f}x{frac}", flush=True)
    hdr = (f"{'model':<11}{'size':<10}{'variant':<15}{'params':>8}{'weights':>9}{'GFLOP/ROI':>10}{'loop ROI/s':>11}"
           f"{'batch ROI/s':>12}{'ratio':>7}{'same':>6}{'peak MiB':>9}{'fwd GFLOP/s':>12}{'matmul':>8}{'frac':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if r["forward_gflops"] is None:
            fwd = f"{'-':>10}"
            tail = f"{'-':>12}{'-':>8}{'-':>6}"
        else:
            fwd = f"{r['gflop_per_roi']:>10.1f}"
            tail = f"{r['forward_gflops']:>12.1f}{r['matmul_gflops']:>8.1f}{r['fraction_of_matmul']:>6.0%}"
        print(f"{r['model']:<11}{r['size']:<10}{r['variant']:<15}{r['params_M']:>7.0f}M{r['weights']:>9}{fwd}"
              f"{r['loop_rps']:>11.2f}{r['batch_rps']:>12.2f}{r['ratio']:>6.2f}x{str(r['batch_equals_loop']):>6}"
              f"{r['peak_rss_MiB']:>9.0f}{tail}")
    print("weights: random (allow_random_weights=True) - speed does not depend on the values; "
          "products: read from files written over the sample, no forward")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
