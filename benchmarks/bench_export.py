"""Export throughput from the bundled sample: serial vs threads vs Dask, and how it scales.

    PYTHONPATH=. python benchmarks/bench_export.py [--n 200] [--features 256] [--workers 2] [--repeats 2]
    PYTHONPATH=. python benchmarks/bench_export.py --scale [--sizes 100,1000,10000]

Default: ``--n`` ROIs x 2 MOSAIKS models (RGB, and a variant on B8/B11/B4 registered as
``mosaiks_nir``: one shared fetch), three ways, alternated ``--repeats`` times:

  serial    one chunk after the other in this thread, the libraries' own thread pools
  threads   the default: one lane per core, each fetching, embedding and writing whole chunks,
            torch/BLAS/GDAL held to the lane's share of the cores
  dask      chunks as tasks on a LocalCluster of --workers processes (1 thread each) on 127.0.0.1

For each: items (ROIs, each with both models) per second, the ratio to serial (median and
spread over the repeats), and how the time splits: seconds summed over items for fetch,
embed and write, and ROIs per second of each stage (items / its summed seconds). Summed
fetch time under workers vs serial says whether the workers contend (aim: within 1.2x);
aim: threads and Dask >= 1.5x serial. Cluster start and every worker's first imports and
scene index are warmed up before timing (they happen once per worker, not per chunk).

``--scale``: MOSAIKS on 100, 1,000 and 10,000 synthetic ROIs spread over the sample (the
default threads executor), each size in a fresh process: items/s and peak resident memory.
Aim: items/s does not fall, peak memory from 1,000 to 10,000 within 1.2x.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

from benchlib import add_device_arg, check_device, median, peak_rss_mib, record, spread

STAGES = ("fetch", "embed", "write")


def register_nir() -> None:
    """The second model: MOSAIKS on B8/B11/B4 (its own filter bank; one fetch with the RGB one)."""
    from rs_embed_qgis.engine.catalog import ENTRIES, get_entry, register

    if "mosaiks_nir" not in ENTRIES:
        base = get_entry("mosaiks")
        register(dataclasses.replace(base, id="mosaiks_nir", aliases=(),
                                     default_sensor=dataclasses.replace(base.default_sensor,
                                                                        bands=("B8", "B11", "B4"))))


def warm_worker() -> None:
    """What a Dask worker does once (imports, the sample's scene index, filter banks)."""
    register_nir()
    from rs_embed_qgis.engine.api import get_embedder
    from rs_embed_qgis.engine.providers import get_provider

    get_provider("local").scenes()
    for m in ("mosaiks", "mosaiks_nir"):
        get_embedder(m, device="cpu")


def grid_rois(n: int):
    from rs_embed_qgis.engine import PointBuffer

    cols = 20
    return [PointBuffer(9.003 + (i % cols) * 0.0017, 47.830 + (i // cols % 10) * 0.0021, 200) for i in range(n)]


def spread_rois(n: int):
    """``n`` ROIs spread evenly over the sample (a Halton sequence), 400 m squares."""
    from rs_embed_qgis.engine import PointBuffer

    def halton(i: int, b: int) -> float:
        f, r = 1.0, 0.0
        while i:
            f /= b
            r += f * (i % b)
            i //= b
        return r

    return [PointBuffer(9.006 + 0.028 * halton(i + 1, 2), 47.829 + 0.020 * halton(i + 1, 3), 200) for i in range(n)]


def stage_split(run_json: dict, n: int) -> dict:
    tm = run_json["timings"]
    s = {"fetch": tm["fetch_s"], "embed": sum(tm["embed_s"].values()), "write": tm["write_s"]}
    return {**{f"{k}_s": v for k, v in s.items()}, **{f"{k}_rps": n / v if v else None for k, v in s.items()}}


def compare(a) -> None:
    import numpy as np

    from rs_embed_qgis.engine import OutputSpec, TemporalSpec
    from rs_embed_qgis.engine.export import export_batch, load_export

    device = check_device(a.device)
    register_nir()
    spatials = grid_rois(a.n)
    common = dict(spatials=spatials, temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                  models=["mosaiks", "mosaiks_nir"], backend="local", device=device, output=OutputSpec.pooled(),
                  model_options={"mosaiks": {"num_features": a.features},
                                 "mosaiks_nir": {"num_features": a.features, "seed": 1}},
                  chunk_size=a.chunk, show_progress=False, format="npz")
    print(f"export {a.n} ROIs (400 m squares, ~40x40 px, 5 bands fetched) x 2 MOSAIKS models "
          f"({a.features} features), {os.cpu_count()} CPUs, chunks of {a.chunk}; {a.repeats} alternated repeats")
    runs = [("serial", dict(executor="serial", async_write=False)),
            ("threads", dict(executor="threads")),
            ("dask", dict(executor="dask"))]
    from distributed import Client

    from rs_embed_qgis.engine.export.executors import local_cluster

    t0 = time.perf_counter()
    cluster = local_cluster({"n_workers": a.workers})  # the cluster export_batch would start
    client = Client(cluster)
    client.run(warm_worker)
    print(f"dask LocalCluster of {a.workers} worker processes started and warmed: "
          f"{time.perf_counter() - t0:.1f} s (not counted below)")
    rates: dict[str, list[float]] = {k: [] for k, _ in runs}
    splits: dict[str, list[dict]] = {k: [] for k, _ in runs}
    outputs: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            export_batch(out_dir=os.path.join(tmp, "warm"), **{**common, "spatials": spatials[:8]})
            for rep in range(a.repeats):
                for label, kw in runs:
                    out = os.path.join(tmp, f"{label}{rep}")
                    if label == "dask":
                        kw = {**kw, "scheduler_address": client}
                    t = time.perf_counter()
                    res = export_batch(out_dir=out, **common, **kw)
                    dt = time.perf_counter() - t
                    ok = sum(m["status"] == "ok" for m in res)
                    with open(os.path.join(out, "export_run.json")) as f:
                        sp = stage_split(json.load(f), a.n)
                    rates[label].append(a.n / dt)
                    splits[label].append(sp)
                    outputs[label] = load_export(out)["embeddings"]
                    print(f"  {label:8s} {dt:6.2f} s {a.n / dt:7.1f} items/s ({ok}/{a.n} ok)  summed: "
                          + ", ".join(f"{k} {sp[k + '_s']:.2f} s ({sp[k + '_rps']:.0f} ROI/s)" for k in STAGES),
                          flush=True)
    finally:
        client.close()
        cluster.close()
    print("\nmedian over repeats (spread):")
    ctx = {"rois": a.n, "models": 2, "chunk": a.chunk, "workers": a.workers, "device": device}
    for label in rates:
        sp = {k: median([s[k] for s in splits[label]]) for k in splits[label][0]}
        ratios = [r / s for r, s in zip(rates[label], rates["serial"], strict=True)]
        fetch_ratio = [s["fetch_s"] / b["fetch_s"] for s, b in zip(splits[label], splits["serial"], strict=True)]
        print(f"  {label:8s} {median(rates[label]):7.1f} items/s  x{spread(ratios)} serial;  summed fetch "
              f"x{spread(fetch_ratio)} serial;  " + ", ".join(f"{k} {sp[k + '_rps']:.0f} ROI/s" for k in STAGES))
        record("bench_export", f"{label}_items_per_s", median(rates[label]), "items/s", **ctx)
        record("bench_export", f"{label}_over_serial", median(ratios), "x", spread=spread(ratios), **ctx)
        record("bench_export", f"{label}_fetch_over_serial", median(fetch_ratio), "x", spread=spread(fetch_ratio),
               **ctx)
        for k in STAGES:
            record("bench_export", f"{label}_{k}_s", sp[f"{k}_s"], "s summed over items", **ctx)
            record("bench_export", f"{label}_{k}_rois_per_s", sp[f"{k}_rps"], "ROI/s", **ctx)
    worst = max(float(np.max(np.abs(o[m] - outputs["serial"][m]))) for o in outputs.values() for m in o)
    print(f"embeddings of the three executors: largest difference {worst:.1e} "
          f"(BLAS threads sum in another order; identical: {worst == 0})")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other jobs skew the ratios)")


def scale_one(n: int, features: int, device: str) -> dict:
    """One size, in this (fresh) process: the product's default executor."""
    from rs_embed_qgis.engine import OutputSpec, TemporalSpec
    from rs_embed_qgis.engine.export import export_batch

    spatials = spread_rois(n)
    common = dict(temporal=TemporalSpec.range("2022-06-01", "2022-09-01"), models=["mosaiks"], backend="local",
                  device=device, output=OutputSpec.pooled(), model_options={"num_features": features},
                  show_progress=False, format="npz")
    with tempfile.TemporaryDirectory() as tmp:
        export_batch(spatials=spatials[:8], out_dir=os.path.join(tmp, "warm"), **common)
        base = peak_rss_mib()
        t = time.perf_counter()
        res = export_batch(spatials=spatials, out_dir=os.path.join(tmp, "run"), **common)
        dt = time.perf_counter() - t
        ok = sum(r["status"] == "ok" for r in res.records)
        with open(os.path.join(tmp, "run", "export_run.json")) as f:
            sp = stage_split(json.load(f), n)
    return {"n": n, "seconds": dt, "items_per_s": n / dt, "ok": ok, "peak_rss_mib": peak_rss_mib(),
            "rss_before_mib": base, **sp}


def scale(a) -> None:
    device = check_device(a.device)
    sizes = [int(s) for s in a.sizes.split(",")]
    print(f"scaling: MOSAIKS ({a.features} features), synthetic 400 m ROIs spread over the sample, default "
          f"executor (threads), {os.cpu_count()} CPUs; each size in a fresh process")
    rows = []
    for n in sizes:
        r = subprocess.run([sys.executable, __file__, "--scale-one", str(n), "--features", str(a.features),
                            "--device", device], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{n} ROIs failed:\n{r.stderr[-3000:]}")
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {n:>7,d} ROIs: {row['seconds']:7.1f} s  {row['items_per_s']:6.1f} items/s  peak RSS "
              f"{row['peak_rss_mib']:6.0f} MiB (before the run {row['rss_before_mib']:.0f})  "
              + ", ".join(f"{k} {row[k + '_rps']:.0f} ROI/s" for k in STAGES), flush=True)
        ctx = {"rois": n, "model": "mosaiks", "device": device}
        record("bench_export", "scale_items_per_s", row["items_per_s"], "items/s", **ctx)
        record("bench_export", "scale_peak_rss", row["peak_rss_mib"], "MiB", **ctx)
    by = {r["n"]: r for r in rows}
    if 1000 in by and 10000 in by:
        mem = by[10000]["peak_rss_mib"] / by[1000]["peak_rss_mib"]
        speed = by[10000]["items_per_s"] / by[1000]["items_per_s"]
        # what is left growing: the run's slim record of each ROI (docs/export.md, Scaling)
        per_roi = (by[10000]["peak_rss_mib"] - by[1000]["peak_rss_mib"]) * 1024 / 9000
        print(f"  1,000 -> 10,000 ROIs: items/s x{speed:.2f}, peak memory x{mem:.2f} (aim: >= 1, <= 1.2); "
              f"{per_roi:.1f} KiB more per extra ROI")
        record("bench_export", "scale_memory_10k_over_1k", mem, "x")
        record("bench_export", "scale_speed_10k_over_1k", speed, "x")
        record("bench_export", "scale_memory_per_roi", per_roi, "KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scale", action="store_true", help="the scaling curve instead")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)
    add_device_arg(ap)
    a = ap.parse_args()
    if a.scale_one:
        print(json.dumps(scale_one(a.scale_one, a.features, a.device)))
    elif a.scale:
        scale(a)
    else:
        compare(a)


if __name__ == "__main__":
    main()
