"""Copernicus-Embed: the 0.25-degree cells under an ROI, with the product's cell semantics.

Maps here are windows of the product's global lattice (``copernicus_util``) whose cells
carry their own centre in bands 0 and 1, so every grid cell and every pooled vector is
checked against the ground it should come from.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from copernicus_util import cell_of, write_map

from rs_embed_qgis.engine import api, describe_model
from rs_embed_qgis.engine.errors import ModelError, ProviderError
from rs_embed_qgis.engine.specs import BBox, OutputSpec, PointBuffer, TemporalSpec


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("RS_EMBED_COP_DIR", raising=False)
    api.clear_caches()
    yield
    api.clear_caches()


@pytest.fixture
def cop_map(tmp_path) -> Path:
    """Cells around 9E 47.8N (the sample's area); the cell at (9.5E, 48.0N) is ocean (zeros)."""
    r, c = cell_of(8.9, 48.6)
    return write_map(tmp_path / "copernicus" / "embed_map_310k.tif", c, r, 8, 8, ocean=(cell_of(9.5, 48.0),))


def _embed(path, spatial, output=OutputSpec.pooled(), **opts):
    return api.get_embedding("copernicus", spatial=spatial, output=output, backend="local",
                             model_options={"path": str(path), "download": False, **opts})


def test_an_roi_inside_one_cell_gets_that_cells_vector(cop_map):
    roi = PointBuffer(lon=9.02, lat=47.84, buffer_m=300)   # cell 8.875..9.125 x 47.625..47.875
    pooled = _embed(cop_map, roi)
    assert pooled.array[:2].tolist() == [9.0, 47.75]
    assert pooled.meta["roi_within_one_cell"] is True and "that cell's vector" in pooled.meta["cell_note"]
    grid = _embed(cop_map, roi, OutputSpec.grid())
    assert grid.array.shape == (768, 1, 1) and np.array_equal(grid.array[:, 0, 0], pooled.array)
    assert grid.meta["crs"] == "EPSG:4326"
    assert grid.meta["transform"] == pytest.approx([0.25, 0.0, 8.875, 0.0, -0.25, 47.875])
    assert "not used" in grid.meta["temporal_note"]


def test_an_roi_across_cells_is_a_grid_of_cells_and_pools_by_area(cop_map):
    roi = BBox(9.1, 47.8, 9.2, 47.9)                        # 2 x 2 cells, unequal shares
    grid = _embed(cop_map, roi, OutputSpec.grid())
    assert grid.array.shape == (768, 2, 2)
    assert grid.array[0].tolist() == [[9.0, 9.25], [9.0, 9.25]]
    assert grid.array[1].tolist() == [[48.0, 48.0], [47.75, 47.75]]
    assert grid.meta["transform"] == pytest.approx([0.25, 0.0, 8.875, 0.0, -0.25, 48.125])
    assert grid.meta["bounds"] == pytest.approx([8.875, 47.625, 9.375, 48.125])
    # shares: longitude overlap x (sin(lat_hi) - sin(lat_lo)) of the ROI in each cell
    dlon = np.array([9.125 - 9.1, 9.2 - 9.125])
    dlat = np.array([math.sin(math.radians(47.9)) - math.sin(math.radians(47.875)),
                     math.sin(math.radians(47.875)) - math.sin(math.radians(47.8))])
    share = dlat[:, None] * dlon[None, :]
    share /= share.sum()
    pooled = _embed(cop_map, roi)
    expect = np.einsum("dhw,hw->d", grid.array.astype(np.float64), share)
    assert np.allclose(pooled.array, expect, rtol=1e-6)
    assert np.allclose(pooled.meta["pool_weights"], share, atol=1e-6)
    assert _embed(cop_map, roi, OutputSpec.pooled("max")).array[:2].tolist() == [9.25, 48.0]


def test_empty_ocean_cells_are_left_out(cop_map):
    roi = BBox(9.3, 47.9, 9.45, 48.1)                       # one land cell, one ocean cell (9.5E 48.0N)
    grid = _embed(cop_map, roi, OutputSpec.grid())
    assert grid.array.shape == (768, 1, 2) and np.isnan(grid.array[:, 0, 1]).all()
    assert grid.array[:2, 0, 0].tolist() == [9.25, 48.0]
    assert _embed(cop_map, roi).array[:2].tolist() == [9.25, 48.0]
    with pytest.raises(ModelError, match="empty"):                 # inside the ocean cell only
        _embed(cop_map, BBox(9.4, 47.95, 9.6, 48.05))


def test_cells_wrap_across_the_antimeridian(tmp_path):
    r, _ = cell_of(0.0, 0.2)
    full_width = write_map(tmp_path / "embed_map_310k.tif", 0, r, 1440, 2)
    grid = _embed(full_width, BBox(179.8, 0.01, 179.95, 0.2), OutputSpec.grid())
    assert grid.array[0, 0].tolist() == [179.75, -180.0]     # the last column, then the first
    assert grid.meta["transform"][2] == pytest.approx(179.625)


def test_a_batch_reads_the_map_once_for_neighbouring_rois_with_the_cells_of_roi_by_roi(cop_map, monkeypatch):
    from rs_embed_qgis.engine.catalog import get_entry
    from rs_embed_qgis.engine.providers.copernicus import CopernicusEmbedProvider

    provider = CopernicusEmbedProvider(cop_map)
    sensor = get_entry("copernicus").default_sensor
    rois = [PointBuffer(lon=9.02 + 0.02 * i, lat=47.84, buffer_m=300) for i in range(4)] + [
        BBox(9.1, 47.8, 9.2, 47.9), BBox(9.3, 47.9, 9.45, 48.1)]   # 2 x 2 cells; a land and an ocean cell
    alone = [provider.fetch(r, None, sensor) for r in rois]
    reads = []
    read = provider._read
    monkeypatch.setattr(provider, "_read", lambda src, info, grid: reads.append(grid) or read(src, info, grid))
    batch = provider.fetch_many(rois, None, sensor)
    assert len(reads) == 1 and (reads[0].height, reads[0].width) == (2, 3)   # the 6 cells under all of them
    for b, a in zip(batch, alone, strict=True):
        assert np.array_equal(b.data, a.data) and b.grid == a.grid and b.meta == a.meta and b.frames == a.frames
    kw = dict(output=OutputSpec.grid(), backend="local", model_options={"path": str(cop_map), "download": False})
    got = api.get_embeddings_batch("copernicus", spatials=rois, **kw)
    for g, r in zip(got, rois, strict=True):
        assert np.array_equal(g.array, api.get_embedding("copernicus", spatial=r, **kw).array, equal_nan=True)


def test_a_batch_across_the_antimeridian_wraps_its_one_read(tmp_path):
    from rs_embed_qgis.engine.catalog import get_entry
    from rs_embed_qgis.engine.providers.copernicus import CopernicusEmbedProvider

    r, _ = cell_of(0.0, 0.2)
    provider = CopernicusEmbedProvider(write_map(tmp_path / "embed_map_310k.tif", 0, r, 1440, 2))
    sensor = get_entry("copernicus").default_sensor
    rois = [BBox(179.8, 0.01, 179.95, 0.2), BBox(179.9, 0.05, 179.99, 0.15), BBox(179.6, 0.0, 179.7, 0.1)]
    batch = provider.fetch_many(rois, None, sensor)
    for b, roi in zip(batch, rois, strict=True):
        a = provider.fetch(roi, None, sensor)
        assert np.array_equal(b.data, a.data) and b.grid == a.grid and b.meta == a.meta
    assert batch[0].data[0, 0, 0].tolist() == [179.75, -180.0]   # the last column, then the first


def test_the_map_is_found_from_a_folder_the_environment_or_the_cache(cop_map, monkeypatch, tmp_path):
    roi = PointBuffer(lon=9.02, lat=47.84, buffer_m=300)
    assert _embed(cop_map.parent, roi).meta["weights"]["path"] == str(cop_map)
    api.clear_caches()
    monkeypatch.setenv("RS_EMBED_COP_DIR", str(cop_map.parent))
    e = api.get_embedding("copernicus", spatial=roi, backend="local", model_options={"download": False})
    assert e.meta["weights"]["source"] == "env:RS_EMBED_COP_DIR"
    monkeypatch.delenv("RS_EMBED_COP_DIR")
    api.clear_caches()
    cache = Path(__import__("os").environ["RS_EMBED_CACHE"]) / "weights" / "copernicus"
    cache.mkdir(parents=True)
    shutil.copy(cop_map, cache / "embed_map_310k.tif")
    e = api.get_embedding("copernicus", spatial=roi, backend="local", model_options={"download": False})
    assert e.meta["weights"]["source"] == "cache"
    assert describe_model("copernicus")["weights"]["status"] == "found"


def test_without_the_map_the_error_says_where_to_get_it(tmp_path):
    with pytest.raises(ModelError) as ei:
        api.get_embedder("copernicus", model_options={"download": False})
    msg = str(ei.value)
    assert "embed_map_310k.tif" in msg and "huggingface.co/datasets/torchgeo/copernicus_embed" in msg
    assert "435b4a7bdce6f6fdbf4272f9d6e54f2604f35fdb" in msg and "RS_EMBED_COP_DIR" in msg
    with pytest.raises(ModelError, match="embed_map_"):
        api.get_embedder("copernicus", model_options={"path": str(tmp_path), "download": False})


def test_the_download_asks_for_the_pinned_dataset_revision_and_checks_its_md5(cop_map, monkeypatch):
    import huggingface_hub

    asked = {}

    def hub(**kw):
        asked.update(kw)
        return str(cop_map)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    with pytest.raises(ModelError, match="md5"):          # our small map is not the published file
        api.get_embedder("copernicus", model_options={})
    assert asked["repo_id"] == "torchgeo/copernicus_embed" and asked["filename"] == "embed_map_310k.tif"
    assert asked["repo_type"] == "dataset" and asked["revision"] == "435b4a7bdce6f6fdbf4272f9d6e54f2604f35fdb"


def test_files_that_are_not_the_product_are_refused(tmp_path):
    import rasterio

    bad = tmp_path / "embed_map_bad.tif"
    with rasterio.open(bad, "w", driver="GTiff", width=4, height=4, count=3, dtype="float32", crs="EPSG:4326",
                       transform=rasterio.Affine(0.25, 0, 8.875, 0, -0.25, 48.125)) as dst:
        dst.write(np.ones((3, 4, 4), np.float32))
    with pytest.raises(ProviderError, match="3 bands"):
        _embed(bad, PointBuffer(lon=9.02, lat=47.84, buffer_m=300))



def test_options_are_checked_and_the_path_setting_is_the_map(cop_map):
    emb = api.get_embedder("copernicus", model_options={"weights": str(cop_map), "allow_random_weights": True,
                                                         "download": False})
    assert emb.path == cop_map and emb.weights_meta["status"] == "not needed"
    with pytest.raises(ModelError, match=r"unknown model_options \['frames'\]"):
        api.get_embedder("copernicus", model_options={"path": str(cop_map), "frames": 4})


def test_the_map_is_read_whatever_the_backend_and_the_window(cop_map):
    roi = PointBuffer(lon=9.02, lat=47.84, buffer_m=300)
    base = _embed(cop_map, roi)
    other = api.get_embedding("copernicus", spatial=roi, backend="auto", temporal=TemporalSpec.year(2021),
                              model_options={"path": str(cop_map), "download": False})
    assert np.array_equal(other.array, base.array) and other.meta["input"]["backend"] == "local:copernicus"
