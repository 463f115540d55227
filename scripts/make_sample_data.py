#!/usr/bin/env python
"""Build the bundled sample: a 2022 Sentinel-2 L2A-like time series over one 3 km square.

What is real and what is derived (also written into every file's tags and
``resources/sample_data/README.md``):

* REAL: bands B02, B03, B04, B08 of the Sentinel-2 image that ``spyndex`` ships
  (``spyndex.datasets.open("sentinel")``, 300 x 300 px at 10 m, surface
  reflectance x 10000). spyndex gives it no georeference and no date.
* ASSIGNED: its placement and date. We place it, as a documented convention
  and not as its true location, in WGS 84 / UTM zone 32N (EPSG:32632) with its
  upper-left corner at E 500000 m, N 5300000 m (about 9.000 E, 47.846 N), north
  up, 10 m pixels; and we date it 2022-07-15 (the season's peak).
* DERIVED, with a simple, stated model:
  - vegetation fraction f = clip((NDVI - 0.15) / 0.65, 0, 1) from the real image;
  - phenology s(doy): a double logistic (green-up at day 120, senescence at day 270,
    width 12 days, floor 0.15), scaled so that s(2022-07-15) = 1;
  - for each date and band: R(d) = R_ref + f * (s(d) - 1) * (R_ref - soil), i.e.
    vegetated pixels move towards bare soil out of season, others stay as they are;
  - red edge by interpolation in wavelength between B04 (665 nm) and B08 (842 nm):
    B05 = B04 + 0.25 (B08 - B04), B06 = B04 + 0.60 (B08 - B04), B07 = B04 + 0.85 (B08 - B04);
    B8A = 1.02 * B08; SWIR as a mix of soil and vegetation endmembers weighted by f*s(d)
    (B11: 2800 soil / 1700 vegetation; B12: 2300 / 800);
  - SCL from the same quantities (4 vegetation, 5 bare soil, 6 water) and synthetic
    clouds (smooth blobs, SCL 9, bright in every band) on some dates, so that cloud
    masking and ``cloudy_pct`` filtering have something real to do;
  - Gaussian noise (sigma 15, seeded) per date;
  - the 60 m bands, after noise and clouds: B01 (coastal aerosol) = 0.92 B02 + 90 and
    B09 (water vapour) = 0.72 B8A, each averaged over 6 x 6 pixel blocks (60 m).

Run ``python scripts/make_sample_data.py`` (needs spyndex); the output is committed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CRS = "EPSG:32632"
LEFT, TOP, RES = 500000.0, 5300000.0, 10.0
REF_DATE = dt.date(2022, 7, 15)
DATES = [dt.date(2022, m, d) for m, d in
         [(1, 20), (2, 24), (3, 21), (4, 15), (5, 10), (5, 30), (6, 24), (7, 15),
          (8, 9), (9, 3), (10, 13), (11, 22)]]
# date -> (cloud blob count, cloud fraction target): some clean, some cloudy, one very cloudy
CLOUDS = {dt.date(2022, 2, 24): 3, dt.date(2022, 5, 30): 2, dt.date(2022, 8, 9): 1,
          dt.date(2022, 11, 22): 6}
#: B1 and B9 come after SCL so the band numbers of the first eleven stay as they were.
BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "SCL", "B1", "B9")
RES_60M = 6  # B1 and B9 are 60 m bands: 6 x 6 blocks of the 10 m grid
SOIL = {"B2": 900.0, "B3": 1100.0, "B4": 1300.0, "B8": 2100.0}
SEED = 20220715


def phenology(doy: np.ndarray | float) -> np.ndarray:
    def raw(d):
        up = 1.0 / (1.0 + np.exp(-(d - 120.0) / 12.0))
        down = 1.0 / (1.0 + np.exp(-(d - 270.0) / 12.0))
        return 0.15 + 0.85 * (up - down)
    return raw(np.asarray(doy, float)) / raw(REF_DATE.timetuple().tm_yday)


def load_real() -> dict:
    import spyndex

    da = spyndex.datasets.open("sentinel")
    # spyndex's dims are ("band", "x", "y") with the first spatial axis the row axis of
    # the original image; keep rows as they come.
    arr = np.asarray(da.values, dtype=np.float64)
    return {b: arr[i] for i, b in enumerate(["B2", "B3", "B4", "B8"])}


def cloud_mask(rng: np.random.Generator, n_blobs: int, shape) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    field = np.zeros(shape)
    for _ in range(n_blobs):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(25, 60)
        field += np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    return field


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """A coarser band on the same grid: the mean of each k x k block, repeated (edges padded)."""
    h, w = a.shape
    H, W = -(-h // k) * k, -(-w // k) * k
    p = np.pad(a, ((0, H - h), (0, W - w)), mode="edge")
    m = p.reshape(H // k, k, W // k, k).mean(axis=(1, 3))
    return np.repeat(np.repeat(m, k, axis=0), k, axis=1)[:h, :w]


def build(out_dir: Path) -> list:
    import rasterio
    from rasterio.transform import Affine

    from rs_embed_qgis.engine.geo import transform_bounds
    from rs_embed_qgis.engine.providers.local import Scene, write_stac_catalog

    real = load_real()
    h, w = real["B2"].shape
    rng = np.random.default_rng(SEED)
    ndvi = (real["B8"] - real["B4"]) / np.maximum(real["B8"] + real["B4"], 1.0)
    f = np.clip((ndvi - 0.15) / 0.65, 0.0, 1.0)
    water = (ndvi < 0.0) & (real["B8"] < 1000)
    transform = Affine(RES, 0, LEFT, 0, -RES, TOP)
    bounds = transform_bounds((LEFT, TOP - h * RES, LEFT + w * RES, TOP), CRS, "EPSG:4326")
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes = []
    for date in DATES:
        s = float(phenology(date.timetuple().tm_yday))
        bands = {}
        for b in ("B2", "B3", "B4", "B8"):
            bands[b] = real[b] + f * (s - 1.0) * (real[b] - SOIL[b])
        b4, b8 = bands["B4"], bands["B8"]
        bands["B5"] = b4 + 0.25 * (b8 - b4)
        bands["B6"] = b4 + 0.60 * (b8 - b4)
        bands["B7"] = b4 + 0.85 * (b8 - b4)
        bands["B8A"] = 1.02 * b8
        fv = f * s
        bands["B11"] = 2800.0 * (1 - fv) + 1700.0 * fv
        bands["B12"] = 2300.0 * (1 - fv) + 800.0 * fv
        for b in bands:
            bands[b] = np.where(water, real.get(b, bands[b]), bands[b])
            bands[b] = bands[b] + rng.normal(0.0, 15.0, size=(h, w))
        scl = np.where(water, 6, np.where(fv > 0.3, 4, 5)).astype(np.uint16)
        n_blobs = CLOUDS.get(date, 0)
        cloud_pct = 0.0
        if n_blobs:
            field = cloud_mask(rng, n_blobs, (h, w))
            cloud = field > 0.5
            opacity = np.clip(field, 0, 1)
            for b in bands:
                bands[b] = bands[b] * (1 - opacity) + 7000.0 * opacity
            scl[cloud] = 9
            cloud_pct = float(100.0 * cloud.mean())
        # 60 m bands from the final (clouded) 10 m ones, with no random draws, so the other
        # bands are the same as before these two existed.
        bands["B1"] = block_mean(0.92 * bands["B2"] + 90.0, RES_60M)
        bands["B9"] = block_mean(0.72 * bands["B8A"], RES_60M)
        arr = np.stack([scl if b == "SCL" else np.clip(np.rint(bands[b]), 1, 10000) for b in BANDS])
        arr = arr.astype(np.uint16)
        name = f"S2_L2A_{date:%Y%m%d}_sample.tif"
        path = out_dir / name
        profile = dict(driver="GTiff", width=w, height=h, count=len(BANDS), dtype="uint16",
                       crs=CRS, transform=transform, nodata=0, tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate", predictor=2, zlevel=9)
        fd, tmp = tempfile.mkstemp(suffix=".tif", dir=out_dir)
        os.close(fd)
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(arr)
            for i, b in enumerate(BANDS, start=1):
                dst.set_band_description(i, b)
            dst.update_tags(
                ACQUISITION_DATE=date.isoformat(),
                CLOUDY_PIXEL_PERCENTAGE=f"{cloud_pct:.2f}",
                SPACECRAFT="Sentinel-2 (sample)",
                PROCESSING_LEVEL="L2A-like, reflectance x 10000",
                PROVENANCE=("B2,B3,B4,B8: real spyndex Sentinel-2 sample (phenology-scaled for "
                            "this date); B5,B6,B7,B8A,B11,B12,SCL,B1,B9 (60 m), clouds, date and placement: "
                            "derived/assigned by scripts/make_sample_data.py"),
                PHENOLOGY_SCALE=f"{s:.4f}")
        os.replace(tmp, path)
        scenes.append(Scene(id=path.stem, date=date,
                            bands={b: (str(path), i + 1) for i, b in enumerate(BANDS)},
                            bounds_4326=tuple(bounds), cloudy_pct=round(cloud_pct, 2)))
    write_stac_catalog(out_dir, scenes)
    info = {
        "crs": CRS, "upper_left": [LEFT, TOP], "pixel_size_m": RES, "shape": [h, w],
        "bounds_4326": list(bounds), "dates": [d.isoformat() for d in DATES],
        "bands": list(BANDS), "reference_date_of_real_image": REF_DATE.isoformat(),
        "cloudy_pct": {s.id: s.cloudy_pct for s in scenes},
        "real": "B2,B3,B4,B8 of spyndex.datasets.open('sentinel')",
        "assigned": "placement (EPSG:32632, UL 500000/5300000) and date 2022-07-15",
        "derived": "all other bands, other dates (phenology), SCL, clouds; see scripts/make_sample_data.py",
    }
    (out_dir / "sample_info.json").write_text(json.dumps(info, indent=2))
    return scenes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "resources" / "sample_data"))
    args = ap.parse_args()
    scenes = build(Path(args.out))
    for s in scenes:
        print(s.date, s.id, f"cloudy_pct={s.cloudy_pct}")


if __name__ == "__main__":
    main()
