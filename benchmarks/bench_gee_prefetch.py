"""Prefetch throughput of the Earth Engine backend: ROIs per second for
num_workers 1, 4, 8 against the loopback EE server with 100 ms injected latency
per computation (a round trip to Earth Engine is usually slower still). Each figure also
goes, as one JSON line, to ``out/bench/bench_gee_prefetch.jsonl`` (benchlib).

    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/bench_gee_prefetch.py [--rois 32] [--latency 0.1]

Each ROI costs two requests (the scene listing and the pixels); the real
earthengine-api client runs the whole path. Target: >= 5x at 8 workers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "engine"))
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import record  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rois", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--workers", default="1,4,8")
    args = ap.parse_args()

    import ee.deprecation

    ee.deprecation._FetchDataCatalogStac = lambda: {}  # no call to storage.googleapis.com
    from ee_test_server import TEST_PROJECT, EETestServer, make_credentials

    from rs_embed_qgis.engine import PointBuffer, SensorSpec, TemporalSpec
    from rs_embed_qgis.engine.providers.gee import GEEProvider

    srv = EETestServer().start()
    creds = make_credentials()
    rois = [PointBuffer(9.004 + 0.032 * ((i * 7) % args.rois) / args.rois,
                        47.829 + 0.021 * ((i * 11) % args.rois) / args.rois, 150)
            for i in range(args.rois)]
    sensor = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B2", "B3", "B4", "B8"),
                        scale_m=10)
    temporal = TemporalSpec.range("2022-05-01", "2022-09-01")
    GEEProvider(project=TEST_PROJECT, credentials=creds, opt_url=srv.url, cache_dir=None).initialize()
    srv.latency = args.latency
    print(f"{args.rois} ROIs of 31x31 px x 4 bands, {args.latency * 1000:.0f} ms latency per request, "
          f"2 requests per ROI")
    base = None
    for n in [int(w) for w in args.workers.split(",")]:
        srv.catalog._cache.clear()  # every run reads the scenes afresh
        prov = GEEProvider(project=TEST_PROJECT, credentials=creds, opt_url=srv.url, cache_dir=None,
                           num_workers=n)
        t0 = time.perf_counter()
        patches = prov.fetch_many(rois, temporal, sensor)
        dt = time.perf_counter() - t0
        assert len(patches) == len(rois) and all(p.frames[0]["n_scenes"] for p in patches)
        rate = len(rois) / dt
        base = base or rate
        print(f"num_workers={n:2d}: {dt:6.2f} s  {rate:6.2f} ROIs/s  speedup x{rate / base:4.2f}  "
              f"({prov.stats['requests']} requests, {prov.stats['retries']} retries)")
        ctx = {"num_workers": n, "rois": args.rois, "latency_s": args.latency}
        record("bench_gee_prefetch", f"workers_{n}_rois_per_s", rate, "ROI/s", **ctx)
        record("bench_gee_prefetch", f"workers_{n}_speedup", rate / base, "x", **ctx)
    srv.stop()


if __name__ == "__main__":
    main()
