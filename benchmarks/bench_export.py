"""Export throughput: 200 ROIs x 2 models from the bundled sample, three ways.

    PYTHONPATH=. python benchmarks/bench_export.py [--n 200] [--features 256] [--workers 2]

Prints items (ROIs, each with both models) per second for
  serial    one chunk after the other, one fetch thread, synchronous writes
  threads   the default: prefetch of the next chunk, num_workers fetch threads, async writes
  dask      chunks as tasks on a LocalCluster of --workers processes on 127.0.0.1
and the ratios to serial, all measured in this one run. Models: MOSAIKS (RGB)
and a MOSAIKS variant on B8/B11/B4 registered as ``mosaiks_nir`` (one shared fetch).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rs_embed_qgis.engine import OutputSpec, PointBuffer, TemporalSpec  # noqa: E402
from rs_embed_qgis.engine.catalog import ENTRIES, get_entry, register  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    ap.add_argument("--fetch-threads", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=16)
    args = ap.parse_args()

    if "mosaiks_nir" not in ENTRIES:
        base = get_entry("mosaiks")
        register(dataclasses.replace(base, id="mosaiks_nir", aliases=(),
                                     default_sensor=dataclasses.replace(base.default_sensor,
                                                                        bands=("B8", "B11", "B4"))))
    from rs_embed_qgis.engine.export import export_batch, load_export

    cols = 20
    spatials = [PointBuffer(9.003 + (i % cols) * 0.0017, 47.830 + (i // cols % 10) * 0.0021, 200)
                for i in range(args.n)]
    common = dict(spatials=spatials, temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                  models=["mosaiks", "mosaiks_nir"], backend="local", device="cpu", output=OutputSpec.pooled(),
                  model_options={"mosaiks": {"num_features": args.features},
                                 "mosaiks_nir": {"num_features": args.features, "seed": 1}},
                  chunk_size=args.chunk, show_progress=False, format="npz")
    print(f"export {args.n} ROIs (400 m squares, ~40x40 px, 5 bands fetched) x 2 MOSAIKS models "
          f"({args.features} features), {os.cpu_count()} CPUs")
    runs = [
        ("serial", dict(executor="serial", num_workers=1, async_write=False)),
        ("threads", dict(executor="threads", num_workers=args.fetch_threads, writer_workers=2)),
        (f"dask x{args.workers}", dict(executor="dask", num_workers=1)),
    ]
    from distributed import LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    print(f"dask LocalCluster start: {time.perf_counter() - t0:.1f} s (not counted below)")
    rates, outputs = {}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # warm-up (file cache, filter banks, worker imports) so no timed run pays it
            export_batch(out_dir=os.path.join(tmp, "warm"), **{**common, "spatials": spatials[:4]})
            export_batch(out_dir=os.path.join(tmp, "warm_dask"), executor="dask",
                         scheduler_address=cluster.scheduler_address,
                         **{**common, "spatials": spatials[:2 * args.workers], "chunk_size": 2})
            for label, kw in runs:
                out = os.path.join(tmp, label.split()[0])
                if kw["executor"] == "dask":
                    kw = {**kw, "scheduler_address": cluster.scheduler_address}
                t0 = time.perf_counter()
                res = export_batch(out_dir=out, **common, **kw)
                dt = time.perf_counter() - t0
                ok = sum(m["status"] == "ok" for m in res)
                rates[label] = args.n / dt
                outputs[label] = load_export(out)["embeddings"]
                import json

                tm = json.load(open(os.path.join(out, "export_run.json")))["timings"]
                print(f"{label:10s} {dt:7.2f} s  {rates[label]:7.2f} items/s  ({ok}/{args.n} ok)   "
                      f"summed over items: fetch {tm['fetch_s']:.1f} s, embed "
                      f"{sum(tm['embed_s'].values()):.1f} s, write {tm['write_s']:.1f} s", flush=True)
    finally:
        cluster.close()
    base = rates["serial"]
    print("speed-up vs serial: " + ", ".join(f"{k} x{v / base:.2f}" for k, v in rates.items()))
    import numpy as np

    same = all(np.array_equal(outputs["serial"][m], o[m]) for o in outputs.values() for m in o)
    print(f"identical embeddings across the three runs: {same}")
    print(f"load average while running: {os.getloadavg()[0]:.1f} (other jobs on the machine skew ratios)")


if __name__ == "__main__":
    main()
