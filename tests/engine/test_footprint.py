"""One ROI footprint: the polygon the provider fetches, the dock draws and the exports store."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rs_embed_qgis.engine import BBox, OutputSpec, PointBuffer
from rs_embed_qgis.engine.geo import roi_bounds_4326, roi_footprint, roi_grid


def _ogr(wkt_or_wkb):
    from osgeo import ogr

    if isinstance(wkt_or_wkb, bytes):
        return ogr.CreateGeometryFromWkb(wkt_or_wkb)
    return ogr.CreateGeometryFromWkt(wkt_or_wkb)


def test_a_point_buffer_is_its_utm_square():
    pb = PointBuffer(9.02, 47.84, 150)
    fp = roi_footprint(pb)
    assert fp.crs == "EPSG:32632"
    sq = _ogr(fp.wkt(fp.crs))
    assert sq.GetArea() == pytest.approx(300.0 ** 2, rel=1e-12)
    x0, x1, y0, y1 = sq.GetEnvelope()
    assert (x1 - x0, y1 - y0) == pytest.approx((300.0, 300.0))
    assert fp.bounds == pytest.approx((x0, y0, x1, y1))
    c = sq.Centroid()
    lonlat = _ogr(fp.wkt())
    assert lonlat.Contains(_ogr(f"POINT ({pb.lon} {pb.lat})"))
    assert len(fp.ring) == len(fp.ring_4326) == 4 * 16 + 1 and fp.ring[0] == fp.ring[-1]
    from rs_embed_qgis.engine.geoio import transform_points

    cx, cy = transform_points([pb.lon], [pb.lat], "EPSG:4326", fp.crs)
    assert (c.GetX(), c.GetY()) == pytest.approx((cx[0], cy[0]), abs=1e-6)
    # WKT and WKB are the same polygon, and its lon/lat bounds are the ROI's
    assert _ogr(fp.wkb()).Equals(lonlat)
    assert fp.bounds_4326 == pytest.approx(roi_bounds_4326(pb), abs=1e-9)


def test_a_bbox_is_its_lonlat_rectangle():
    bb = BBox(9.005, 47.83, 9.015, 47.838)
    fp = roi_footprint(bb, densify=4)
    assert _ogr(fp.wkt()).GetEnvelope() == pytest.approx((9.005, 9.015, 47.83, 47.838))
    assert _ogr(fp.wkt()).GetArea() == pytest.approx(0.01 * 0.008)
    xs, ys = zip(*fp.ring, strict=True)  # the UTM ring lies inside the bounds the grid covers
    b = fp.bounds
    assert b[0] <= min(xs) and max(xs) <= b[2] and b[1] <= min(ys) and max(ys) <= b[3]
    assert min(xs) == pytest.approx(b[0], abs=1e-6) and max(ys) == pytest.approx(b[3], abs=1e-6)


@pytest.mark.parametrize("spatial", [PointBuffer(9.02, 47.84, 155), BBox(9.005, 47.83, 9.015, 47.838)])
def test_the_provider_grid_covers_the_footprint(spatial):
    fp = roi_footprint(spatial)
    for scale in (10, 30, 7.3):
        g = roi_grid(spatial, scale)
        gl, gb, gr, gt = g.bounds
        fl, fb, fr, ft = fp.bounds
        assert gl <= fl and gb <= fb + 1e-6 and fr <= gr + 1e-6 and ft <= gt
        assert fl - gl < scale and gt - ft < scale  # snapped outwards by less than a pixel


def test_export_geoparquet_and_gpkg_store_the_footprint(tmp_path):
    import pyarrow.parquet as pq

    from rs_embed_qgis.engine.export import export_batch

    rois = [PointBuffer(9.02, 47.84, 150), BBox(9.005, 47.83, 9.015, 47.838)]
    from rs_embed_qgis.engine import TemporalSpec

    kw = dict(spatials=rois, temporal=TemporalSpec.range("2022-06-01", "2022-09-01"), models=["mosaiks"],
              backend="local", output=OutputSpec.pooled(), model_options={"mosaiks": {"num_features": 8}},
              show_progress=False, save_inputs=False)
    export_batch(out_path=str(tmp_path / "all.parquet"), format="geoparquet", **kw)
    t = pq.read_table(tmp_path / "all.parquet")
    for wkb, sp in zip(t.column("geometry").to_pylist(), rois, strict=True):
        assert wkb == roi_footprint(sp).wkb()
    geo = json.loads(t.schema.metadata[b"geo"])["columns"]["geometry"]
    lo = np.min([roi_footprint(s).bounds_4326 for s in rois], axis=0)
    assert geo["bbox"][:2] == pytest.approx(lo[:2].tolist())
    export_batch(out_path=str(tmp_path / "all.gpkg"), format="gpkg", **kw)
    from rs_embed_qgis.engine.geoio.vector import open_gpkg

    ds = open_gpkg(tmp_path / "all.gpkg")
    for f, sp in zip(ds.GetLayer(0), rois, strict=True):
        assert f.GetGeometryRef().Equals(_ogr(roi_footprint(sp).wkb()))


def test_grids_of_a_batch_are_each_rois_own():
    """roi_grids transforms a batch's points per UTM zone in one call: the same grids as one by one."""
    from rs_embed_qgis.engine.geo import _rois_utm, _snapped, roi_grids

    rois = [PointBuffer(9.01, 47.83, 200), BBox(9.0, 47.82, 9.02, 47.84), PointBuffer(2.35, 48.85, 500),
            PointBuffer(-70.6, -33.4, 1000), PointBuffer(9.01, 47.83, 200), PointBuffer(12.01, 47.83, 35)]
    for scale in (10, 20, 60):
        alone = [_snapped(*_rois_utm([r])[0], float(scale)) for r in rois]
        assert roi_grids(rois, scale) == alone
        assert [g.crs for g in alone[:4]] == ["EPSG:32632", "EPSG:32632", "EPSG:32631", "EPSG:32719"]
