"""Neighbouring ROIs of a batch are read and composited once on the grid that bounds them
(the local backend's group composite, ``SceneProvider._fetch_group``): each ROI's patch must
be what fetching that ROI on its own gives - exactly where the files are read on their own
pixel grid and where 20 m bands are warped onto the 10 m grid (one CRS: the same affine map);
scenes in another UTM zone are read ROI by ROI."""
import math

import numpy as np
import pytest
import s2_products as P

from rs_embed_qgis.engine import PointBuffer, ProviderError, SensorSpec, TemporalSpec
from rs_embed_qgis.engine.providers.local import LocalProvider

S2 = "COPERNICUS/S2_SR_HARMONIZED"
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
LAT = 47.836
M_LON = 1 / (111_320 * math.cos(math.radians(LAT)))  # degrees of longitude per metre here
M_LAT = 1 / 111_320


def overlapping(n=10):
    """400 m squares 150 m apart along a row and 200 m between rows: each overlaps its neighbours."""
    return [PointBuffer(9.006 + (i % 5) * 150 * M_LON, LAT + (i // 5) * 200 * M_LAT, 200) for i in range(n)]


def tiling(n=6):
    """300 m squares side by side (a study area cut into tiles)."""
    return [PointBuffer(9.008 + (i % 3) * 300 * M_LON, LAT + (i // 3) * 300 * M_LAT, 150) for i in range(n)]


def sparse(n=4):
    """Small squares 900 m apart: their bounding grid is mostly not theirs."""
    return [PointBuffer(9.004 + i * 900 * M_LON, LAT, 100) for i in range(n)]


@pytest.fixture
def composites(monkeypatch):
    """The grids composited (one per group composite, one per ROI fetched alone)."""
    seen = []
    real = LocalProvider._composite_grid

    def spy(self, grid, scenes, sensor, bins):
        seen.append(grid)
        return real(self, grid, scenes, sensor, bins)

    monkeypatch.setattr(LocalProvider, "_composite_grid", spy)
    return seen


def alone_and_grouped(provider, rois, sensor, seen, temporal=SUMMER, frames=None):
    alone = [provider.fetch(r, temporal, sensor, frames=frames) for r in rois]
    del seen[:]
    grouped = provider.fetch_many(rois, temporal, sensor, frames=frames, num_workers=1)
    return alone, grouped


def assert_same_patch(a, b):
    assert a.grid == b.grid and a.bands == b.bands
    np.testing.assert_array_equal(a.data, b.data)
    fa, fb = (dict(f) for f in a.frames), (dict(f) for f in b.frames)
    for x, y in zip(fa, fb, strict=True):
        vx, vy = x.pop("valid_fraction"), y.pop("valid_fraction")
        assert x == y and vx == pytest.approx(vy, abs=1e-6)
    assert a.meta["radiometry"] == b.meta["radiometry"]
    assert a.meta["input_sanity"]["valid_fraction"] == pytest.approx(b.meta["input_sanity"]["valid_fraction"])


@pytest.mark.parametrize("layout", [overlapping, tiling], ids=["overlapping", "tiling"])
@pytest.mark.parametrize("composite", ["median", "mosaic"])
def test_a_group_composite_is_each_rois_own_composite(layout, composite, composites):
    rois = layout()
    sensor = SensorSpec(S2, ("B4", "B3", "B2", "B8", "B11", "SCL"), composite=composite)
    alone, grouped = alone_and_grouped(LocalProvider(), rois, sensor, composites)
    assert len(composites) < len(rois)  # the group was composited together
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)


def test_time_series_frames_too(composites):
    rois = tiling()
    sensor = SensorSpec(S2, ("B4", "B8"))
    alone, grouped = alone_and_grouped(LocalProvider(), rois, sensor, composites,
                                       temporal=TemporalSpec.range("2022-03-01", "2022-10-01"), frames=4)
    assert len(composites) < len(rois) and grouped[0].n_frames == 4
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)


def test_cloud_masked_pixels_count_per_roi(composites):
    """A winter scene with SCL-masked pixels: each ROI's valid fraction is its own."""
    rois = overlapping()
    sensor = SensorSpec(S2, ("B4", "B3", "B2"), cloudy_pct=100)
    winter = TemporalSpec.range("2022-01-01", "2022-03-01")
    alone, grouped = alone_and_grouped(LocalProvider(on_implausible="ignore", min_valid_fraction=0.0),
                                       rois, sensor, composites, temporal=winter)
    assert len(composites) < len(rois)
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)


def test_warped_20m_bands_are_the_roi_by_roi_read(tmp_path, composites):
    """A SAFE product: B11 and B5 are 20 m files warped (bilinear) onto the 10 m grid, SCL
    nearest; the 10 m bands are read as they are."""
    root = P.write_safe(tmp_path, fmt="tif")
    sensor = SensorSpec(S2, ("B2", "B4", "B5", "B11"))
    alone, grouped = alone_and_grouped(LocalProvider(root=str(root)), tiling(),
                                       sensor, composites, temporal=TemporalSpec.range("2022-07-01", "2022-08-01"))
    assert len(composites) < len(alone)
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)  # 20 m bands too: one CRS, so the warp is the same affine map


def test_scenes_in_another_utm_zone_are_read_roi_by_roi(tmp_path, composites):
    """Reprojection goes through GDAL's approximate transformer, whose result depends on the
    extent warped (here up to 30 units of reflectance x 10000 between a group's bounding grid
    and an ROI's own): such ROIs are read alone, so their pixels do not depend on the batch."""
    root = tmp_path / "zone31"
    root.mkdir()
    P.write_stack(root / "S2_L2A_20220715_sample.tif", crs="EPSG:32631")
    sensor = SensorSpec(S2, ("B4", "B8"))
    alone, grouped = alone_and_grouped(LocalProvider(root=str(root)), tiling(), sensor, composites,
                                       temporal=TemporalSpec.range("2022-07-01", "2022-08-01"))
    assert len(composites) == len(alone)
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)


def test_scattered_rois_are_fetched_one_by_one(composites):
    rois = sparse()
    alone, grouped = alone_and_grouped(LocalProvider(), rois, SensorSpec(S2, ("B4", "B8")), composites)
    assert len(composites) == len(rois)
    for a, b in zip(alone, grouped, strict=True):
        assert_same_patch(a, b)


def test_an_roi_outside_the_data_is_named_and_the_rest_still_share(composites):
    rois = tiling(4)
    rois.insert(2, PointBuffer(9.2, LAT, 150))  # 12 km east of the sample
    prov = LocalProvider()
    with pytest.raises(ProviderError, match=r"ROI #2: ROI is outside the local data"):
        prov.fetch_many(rois, SUMMER, SensorSpec(S2, ("B4",)), num_workers=1)
    assert len(composites) == 1  # the four others composited together before the lone one failed
