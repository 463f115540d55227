"""Fetch speed of the local and STAC backends, against reading the same pixels by hand.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_fetch.py [--repeat 15] [--rois 200]

1. Per ROI (1 km, B2/B3/B4/B8 and SCL of one scene): ``provider.fetch`` (scene
   selection, reading, radiometry, SCL masking, compositing, sanity checks) against a
   direct rasterio windowed read of the same windows of the same files, for a SAFE
   product with GeoTIFF bands, the same with JPEG2000 bands, and Earth Search COGs
   over HTTP from the loopback STAC server (GDAL's /vsicurl/ cache emptied before
   each run; no disk cache). Aim: within 1.5x of the direct read.
2. A batch of ``--rois`` small ROIs over one scene: ``fetch_many`` (scene-major: one
   reader keeps the files open for all ROIs) against one ``fetch`` per ROI
   (ROI-major: files opened for each ROI), for the same three sources. Aim: at least
   3x faster.

The STAC search is made once (the warm-up run) and reused, as within a batch.

Times are medians of ``--repeat`` runs, ours and the reference in turns, measured in
this one run (ratios, not absolute figures, are the point: the machine is shared). Each
figure also goes, as one JSON line, to ``out/bench/bench_fetch.jsonl`` (benchlib).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "engine"))
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import record  # noqa: E402

SOURCES = {"SAFE, GeoTIFF bands": "safe_tif", "SAFE, JPEG2000 bands": "safe_jp2",
           "STAC server, COGs over HTTP": "stac_cog"}  # figure names in the JSON lines


def median_times(fns, repeat: int, before=None) -> list[float]:
    """Median time of each function, run in turns (a load change hits them alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times, strict=True):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def direct_read(paths: list[str], grid, env: dict | None = None) -> list:
    """What a user would write: open each file, read the ROI's window, close."""
    import rasterio
    from rasterio.windows import from_bounds

    out = []
    with rasterio.Env(**(env or {})):
        for p in paths:
            with rasterio.open(p) as src:
                out.append(src.read(1, window=from_bounds(*grid.bounds, transform=src.transform)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--rois", type=int, default=200)
    args = ap.parse_args()

    import s2_products as P
    from osgeo import gdal
    from stac_test_server import STACTestServer

    from rs_embed_qgis.engine import PointBuffer, SensorSpec, TemporalSpec
    from rs_embed_qgis.engine.geo import roi_grid
    from rs_embed_qgis.engine.providers.local import LocalProvider
    from rs_embed_qgis.engine.providers.stac import STACProvider

    tmp = Path(tempfile.mkdtemp(prefix="bench_fetch_"))
    safe_tif = P.write_safe(tmp / "tif", fmt="tif")
    safe_jp2 = P.write_safe(tmp / "jp2")
    srv = STACTestServer(tmp / "es").start()
    srv.add_items(P.write_earth_search(tmp / "es", base_url=srv.base))

    july = TemporalSpec.range("2022-07-01", "2022-08-01")
    sensor = SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B2", "B3", "B4", "B8"))
    roi = PointBuffer(9.02, 47.84, 500)
    grid = roi_grid(roi, 10)
    print(f"1) one ROI of {grid.width}x{grid.height} px, bands {', '.join(sensor.bands)} + SCL, one scene; "
          f"median of {args.repeat} runs")
    stac = STACProvider(url=srv.url, cache_dir=None)
    cases = [("SAFE, GeoTIFF bands", LocalProvider(root=str(safe_tif)), None),
             ("SAFE, JPEG2000 bands", LocalProvider(root=str(safe_jp2)), None),
             ("STAC server, COGs over HTTP", stac, stac.gdal_env)]
    ratios = {}
    for label, prov, env in cases:
        scene = prov.select_scenes(roi, july, sensor)[0]
        paths = [scene.bands[b][0] for b in sensor.bands] + [scene.bands["SCL"][0]]
        clear = gdal.VSICurlClearCache if env else None
        prov.fetch(roi, july, sensor)  # warm: the scene index, pyproj, the search
        ours, ref = median_times([lambda p=prov: p.fetch(roi, july, sensor),
                                  lambda ps=paths, e=env: direct_read(ps, grid, e)], args.repeat, clear)
        ratios[label] = ours / ref
        print(f"   {label:30s} fetch {ours * 1000:7.1f} ms   direct read {ref * 1000:7.1f} ms   "
              f"ratio x{ours / ref:4.2f} (aim <= 1.5)")
        ctx = {"source": label, "repeat": args.repeat, "roi_px": grid.width}
        record("bench_fetch", f"{SOURCES[label]}_fetch_ms", ours * 1000, "ms", **ctx)
        record("bench_fetch", f"{SOURCES[label]}_fetch_over_direct", ours / ref, "x", **ctx)

    rois = [PointBuffer(9.004 + 0.032 * ((i * 37) % args.rois) / args.rois,
                        47.829 + 0.021 * ((i * 53) % args.rois) / args.rois, 100) for i in range(args.rois)]
    print(f"2) {args.rois} ROIs of 21x21 px over one scene, bands {', '.join(sensor.bands)} + SCL")
    batch = [("SAFE, GeoTIFF bands", LocalProvider(root=str(safe_tif))),
             ("SAFE, JPEG2000 bands", LocalProvider(root=str(safe_jp2))),
             ("STAC server, COGs over HTTP", STACProvider(url=srv.url, cache_dir=None))]
    for label, prov in batch:
        gdal.VSICurlClearCache()
        prov.fetch(rois[0], july, sensor)
        t0 = time.perf_counter()
        roi_major = [prov.fetch(r, july, sensor) for r in rois]
        t_roi = time.perf_counter() - t0
        t0 = time.perf_counter()
        scene_major = prov.fetch_many(rois, july, sensor, num_workers=1)
        t_scene = time.perf_counter() - t0
        assert all((a.data == b.data).all() for a, b in zip(roi_major, scene_major, strict=True))
        print(f"   {label:30s} ROI-major {t_roi:6.2f} s   scene-major {t_scene:6.2f} s   "
              f"speedup x{t_roi / t_scene:5.2f} (aim >= 3)")
        ctx = {"source": label, "rois": args.rois}
        record("bench_fetch", f"{SOURCES[label]}_scene_major_rois_per_s", args.rois / t_scene, "ROI/s", **ctx)
        record("bench_fetch", f"{SOURCES[label]}_scene_over_roi_major", t_roi / t_scene, "x", **ctx)
    srv.stop()
    warped_reads(safe_tif, sensor, july, roi, args.repeat)


def warped_reads(safe, sensor, temporal, roi, repeat: int) -> None:
    """3) A 20 m band warped (bilinear) onto a 10 m ROI grid: the provider warps from the file it
    holds open (``RasterReader.warp``) instead of opening it again for each read (``warp_read``)."""
    from rs_embed_qgis.engine import geoio
    from rs_embed_qgis.engine.geo import roi_grid
    from rs_embed_qgis.engine.providers.local import LocalProvider

    scene = LocalProvider(root=str(safe)).select_scenes(roi, temporal, sensor)[0]
    path = next(scene.bands[b][0] for b in ("B11", "B5", "SCL") if b in scene.bands)
    grid = roi_grid(roi, 10)
    with geoio.open_raster(path) as r:
        r.warp([1], grid)  # warm
        reopen, held = median_times([lambda: geoio.warp_read(path, [1], grid), lambda: r.warp([1], grid)], repeat)
    print(f"3) one 20 m band warped onto the {grid.width}x{grid.height} px ROI grid: opened per read "
          f"{reopen * 1000:6.2f} ms, from the open file {held * 1000:6.2f} ms, x{reopen / held:4.2f}")
    record("bench_fetch", "warp_reopen_over_open_reader", reopen / held, "x", repeat=repeat, roi_px=grid.width)


if __name__ == "__main__":
    main()
