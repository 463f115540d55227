"""Tessera: GeoTessera tiles in geotessera's layout, mosaicked across tiles and UTM zones
onto the ROI's grid, dequantised as published, downloaded (sha256-checked) when missing.

The ROI straddles lon 12.0: the tile ``grid_11.95_47.85`` lies in UTM 32N, its
neighbour ``grid_12.05_47.85`` in UTM 33N (the ROI's grid: its centre is in 33N). The
test tiles encode each pixel's ground position in two dimensions (``tessera_util``),
so the georeference of every output pixel is checked against where it should be.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from tessera_util import SCALE, write_tile

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.errors import ModelError, ProviderError, SpecError
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.specs import BBox, OutputSpec, TemporalSpec

REF = (12.0, 47.85)
ROI = BBox(11.996, 47.848, 12.004, 47.852)
Y2024 = TemporalSpec.year(2024)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("RS_EMBED_TESSERA_CACHE", raising=False)
    monkeypatch.delenv("RS_EMBED_TESSERA_URL", raising=False)
    api.clear_caches()
    yield
    api.clear_caches()


@pytest.fixture
def tiles(tmp_path) -> Path:
    root = tmp_path / "tessera"
    write_tile(root, 2024, 11.95, 47.85, REF, tile_id=1, scales_3d=True)   # UTM 32N, (H, W, 128) scales
    write_tile(root, 2024, 12.05, 47.85, REF, tile_id=2)                   # UTM 33N, (H, W) scales
    return root


def _grid(root, roi=ROI, **kw):
    return api.get_embedding("tessera", spatial=roi, temporal=Y2024, output=OutputSpec.grid(), backend="local",
                             model_options={"data_dir": str(root), "download": False}, **kw)


def _pixel_lonlat(emb):
    a, _, c, _, e, f = emb.meta["transform"]
    _, h, w = emb.array.shape
    gx, gy = np.meshgrid(c + a * (np.arange(w) + 0.5), f + e * (np.arange(h) + 0.5))
    return Transformer.from_crs(emb.meta["crs"], "EPSG:4326", always_xy=True).transform(gx, gy)


def test_roi_across_tiles_and_utm_zones_is_one_grid_on_the_roi(tiles):
    emb = _grid(tiles)
    g = roi_grid(ROI, 10)
    assert emb.meta["crs"] == "EPSG:32633" == g.crs
    assert emb.array.shape == (128, g.height, g.width)
    assert emb.meta["transform"] == pytest.approx(list(g.transform))
    assert np.isfinite(emb.array).all() and emb.meta["valid_fraction"] == 1.0
    lon, lat = _pixel_lonlat(emb)
    # every pixel came from the tile whose 0.1-degree cell holds it ...
    tile_id = np.where(lon < 12.0, 1, 2)
    assert np.array_equal(emb.array[2], (10 * tile_id).astype(np.float32) * np.float32(SCALE))
    assert (lon < 12.0).any() and (lon >= 12.0).any()
    # ... and from the right place in it: nearest pixel (<= half a 10 m pixel) plus the quantisation step
    assert np.abs(emb.array[0] - (lon - REF[0])).max() < 1.3e-4
    assert np.abs(emb.array[1] - (lat - REF[1])).max() < 1.0e-4
    assert sorted(emb.meta["tile_crs"]) == ["EPSG:32632", "EPSG:32633"]
    assert emb.meta["tiles"] == ["grid_11.95_47.85", "grid_12.05_47.85"] and emb.meta["year"] == 2024


def test_dequantisation_is_int8_times_scales(tiles):
    emb = _grid(tiles)
    pattern = ((np.arange(3, 128) * 7) % 200 - 100).astype(np.int8).astype(np.float32) * np.float32(SCALE)
    assert np.array_equal(emb.array[3:, 0, 0], pattern)   # int8 * float32 scale, exactly
    pooled = api.get_embedding("tessera", spatial=ROI, temporal=Y2024, backend="local",
                               model_options={"data_dir": str(tiles), "download": False})
    assert np.allclose(pooled.array, emb.array.reshape(128, -1).mean(axis=1, dtype=np.float64), atol=1e-9)
    assert pooled.meta["pooled_from"] == "product pixels (mean)"


def test_the_geotiff_layout_of_geotessera_gives_the_same_grid(tiles, tmp_path):
    root = tmp_path / "tiffs"
    write_tile(root, 2024, 11.95, 47.85, REF, tile_id=1, scales_3d=True, fmt="tiff")
    write_tile(root, 2024, 12.05, 47.85, REF, tile_id=2, fmt="tiff")
    assert np.array_equal(_grid(root).array, _grid(tiles).array)


def test_coarser_output_scale_averages_blocks(tiles):
    fine, coarse = _grid(tiles), api.get_embedding(
        "tessera", spatial=ROI, temporal=Y2024, output=OutputSpec.grid(scale_m=30), backend="local",
        model_options={"data_dir": str(tiles), "download": False})
    h, w = fine.array.shape[1:]
    assert coarse.array.shape == (128, -(-h // 3), -(-w // 3))
    assert np.allclose(coarse.array[:, 0, 0], fine.array[:, :3, :3].mean(axis=(1, 2)), atol=1e-7)
    assert coarse.meta["transform"][0] == 30.0


def test_a_missing_tile_leaves_its_pixels_empty_and_says_so(tiles):
    for f in (tiles / "global_0.1_degree_representation" / "2024" / "grid_12.05_47.85").iterdir():
        f.unlink()
    emb = _grid(tiles)
    lon, _ = _pixel_lonlat(emb)
    assert np.isnan(emb.array[:, lon >= 12.0]).all() and np.isfinite(emb.array[:, lon < 12.0]).all()
    assert emb.meta["tiles_missing"] == ["grid_12.05_47.85"] and 0 < emb.meta["valid_fraction"] < 1


# overlapping ROIs across both tiles (centres east of 12.0: all on the UTM 33N grid)
NEIGHBOURS = [BBox(11.996 + dx, 47.848 + dy, 12.004 + dx, 47.852 + dy)
              for dx, dy in ((0, 0), (0.002, 0), (0.001, 0.001), (0.0005, -0.0015))]
FAR = BBox(12.02, 47.85, 12.03, 47.856)   # beyond the test tiles' pixels: read alone, all filled


def _same_patches(batch, alone):
    for b, a in zip(batch, alone, strict=True):
        assert np.array_equal(b.data, a.data) and b.grid == a.grid
        assert b.meta == a.meta and b.frames == a.frames


def test_a_batch_samples_each_tile_once_for_neighbouring_rois_with_the_pixels_of_roi_by_roi(tiles, monkeypatch):
    from rs_embed_qgis.engine.catalog import get_entry
    from rs_embed_qgis.engine.providers import tessera

    provider = tessera.TesseraProvider(tiles)
    sensor = get_entry("tessera").default_sensor
    rois = [*NEIGHBOURS, FAR]
    alone = [provider.fetch(r, Y2024, sensor) for r in rois]
    calls = []
    sample = tessera._Tile.sample
    monkeypatch.setattr(tessera._Tile, "sample", lambda self, x, y: calls.append(self.name) or sample(self, x, y))
    batch = provider.fetch_many(rois, Y2024, sensor)
    _same_patches(batch, alone)
    # the four neighbours: each of their two tiles sampled once; the far ROI alone (one tile)
    assert sorted(calls) == ["grid_11.95_47.85", "grid_12.05_47.85", "grid_12.05_47.85"]
    assert alone[-1].meta["tiles"] == ["grid_12.05_47.85"] and alone[-1].frames[0]["valid_fraction"] == 0
    # through the API: the batch's embeddings are those of one call per ROI, exactly
    kw = dict(temporal=Y2024, output=OutputSpec.grid(), backend="local",
              model_options={"data_dir": str(tiles), "download": False})
    got = api.get_embeddings_batch("tessera", spatials=NEIGHBOURS, **kw)
    for g, r in zip(got, NEIGHBOURS, strict=True):
        assert np.array_equal(g.array, api.get_embedding("tessera", spatial=r, **kw).array, equal_nan=True)


def test_a_batch_records_the_missing_tiles_of_each_roi_as_roi_by_roi(tiles):
    from rs_embed_qgis.engine.catalog import get_entry
    from rs_embed_qgis.engine.providers.tessera import TesseraProvider

    for f in (tiles / "global_0.1_degree_representation" / "2024" / "grid_12.05_47.85").iterdir():
        f.unlink()
    provider, sensor = TesseraProvider(tiles), get_entry("tessera").default_sensor
    west = BBox(11.990, 47.848, 11.996, 47.852)   # inside the present tile only
    rois = [*NEIGHBOURS, west]
    batch = provider.fetch_many(rois, Y2024, sensor)
    _same_patches(batch, [provider.fetch(r, Y2024, sensor) for r in rois])
    assert batch[0].meta["tiles_missing"] == ["grid_12.05_47.85"] and batch[-1].meta["tiles_missing"] == []


def test_no_tile_at_all_explains_where_they_go_and_how_to_get_them(tmp_path):
    with pytest.raises(ProviderError) as ei:
        _grid(tmp_path / "empty")
    msg = str(ei.value)
    assert "grid_11.95_47.85" in msg and "global_0.1_degree_tiff_all" in msg
    assert "geotessera download --bbox" in msg and "--year 2024" in msg and "--format npy" in msg
    assert "'download': True" in msg


def test_the_year_is_the_windows_and_any_backend_reads_the_folder(tiles):
    emb = api.get_embedding("tessera", spatial=ROI, temporal=TemporalSpec.range("2024-03-01", "2024-09-01"),
                            backend="local", model_options={"data_dir": str(tiles), "download": False})
    assert emb.meta["year"] == 2024
    with pytest.raises(SpecError, match=r"spans the years 2023..2024.*\[2024\]"):
        api.get_embedding("tessera", spatial=ROI, temporal=TemporalSpec.range("2023-06-01", "2024-06-01"),
                          backend="local", model_options={"data_dir": str(tiles), "download": False})
    with pytest.raises(ProviderError, match="for 2023"):
        api.get_embedding("tessera", spatial=ROI, temporal=TemporalSpec.year(2023), backend="local",
                          model_options={"data_dir": str(tiles), "download": False})
    # the tiles are read from the folder whatever the backend (rs-embed asks for "auto")
    via_auto = api.get_embedding("tessera", spatial=ROI, temporal=Y2024, backend="auto",
                                 model_options={"data_dir": str(tiles), "download": False})
    assert via_auto.meta["input"]["backend"] == "local:tessera" and np.array_equal(via_auto.array, emb.array)


def test_the_data_folder_comes_from_the_environment(tiles, monkeypatch):
    monkeypatch.setenv("RS_EMBED_TESSERA_CACHE", str(tiles))
    emb = api.get_embedding("tessera", spatial=ROI, temporal=Y2024, backend="local",
                            model_options={"download": False})
    assert emb.meta["weights"]["data_dir"] == str(tiles)


# -- download ------------------------------------------------------------------------------------
@pytest.fixture
def server(tiles, tmp_path):
    """geotessera's server layout (https://dl2.geotessera.org/v1/...) on loopback, with its registries."""
    import pandas as pd

    site = tmp_path / "site"
    (site / "v1").mkdir(parents=True)
    tiles.rename(site / "v1" / "data")
    data = site / "v1" / "data"
    for sub in ("global_0.1_degree_representation", "global_0.1_degree_tiff_all"):
        (data / sub).rename(site / "v1" / sub)

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    emb, masks = site / "v1" / "global_0.1_degree_representation", site / "v1" / "global_0.1_degree_tiff_all"
    rows, mrows = [], []
    for lon in (11.95, 12.05):
        name = f"grid_{lon:.2f}_47.85"
        rows.append({"year": 2024, "lon": lon, "lat": 47.85, "hash": sha(emb / "2024" / name / f"{name}.npy"),
                     "scales_hash": sha(emb / "2024" / name / f"{name}_scales.npy"), "file_size": 0})
        mrows.append({"lon": lon, "lat": 47.85, "hash": sha(masks / f"{name}.tiff"), "file_size": 0})
    pd.DataFrame(rows).to_parquet(site / "v1" / "registry.parquet")
    pd.DataFrame(mrows).to_parquet(site / "v1" / "landmasks.parquet")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(site)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    httpd.shutdown()


def test_missing_tiles_are_downloaded_from_the_server_with_their_sha256(server, tmp_path, monkeypatch):
    url, site = server
    monkeypatch.setenv("RS_EMBED_TESSERA_URL", url)
    local = tmp_path / "downloaded"
    emb = api.get_embedding("tessera", spatial=ROI, temporal=Y2024, output=OutputSpec.grid(), backend="local",
                            model_options={"data_dir": str(local)})
    assert emb.meta["tiles"] == ["grid_11.95_47.85", "grid_12.05_47.85"] and np.isfinite(emb.array).all()
    name = "grid_12.05_47.85"
    got = local / "global_0.1_degree_representation" / "2024" / name / f"{name}.npy"
    assert got.read_bytes() == (site / "v1" / "global_0.1_degree_representation" / "2024" / name /
                                f"{name}.npy").read_bytes()
    assert (local / "global_0.1_degree_tiff_all" / f"{name}.tiff").exists()


def test_a_download_that_does_not_match_the_registry_is_not_kept(server, tmp_path, monkeypatch):
    url, site = server
    monkeypatch.setenv("RS_EMBED_TESSERA_URL", url)
    name = "grid_11.95_47.85"
    served = site / "v1" / "global_0.1_degree_representation" / "2024" / name / f"{name}_scales.npy"
    served.write_bytes(served.read_bytes()[:-8] + b"tampered")
    local = tmp_path / "downloaded"
    with pytest.raises(ModelError, match="sha256"):
        api.get_embedding("tessera", spatial=ROI, temporal=Y2024, backend="local",
                          model_options={"data_dir": str(local)})
    folder = local / "global_0.1_degree_representation" / "2024" / name
    assert not (folder / f"{name}_scales.npy").exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


def test_where_geotessera_is_installed_its_client_fetches_the_tiles(tiles, tmp_path, monkeypatch):
    """geotessera's own download (Registry.fetch / fetch_landmask of geotessera 0.7, which check the
    registry's sha256) fills the same layout; here a stand-in with that API copies from ``tiles``."""
    import shutil
    import sys
    import types

    calls = []

    class Registry:
        def __init__(self, root):
            self.root = root

        def _copy(self, rel):
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tiles / rel, dest)
            return str(dest)

        def fetch(self, year, lon, lat, is_scales=False, progressbar=True):
            calls.append(("fetch", year, lon, lat, is_scales))
            name = f"grid_{lon:.2f}_{lat:.2f}"
            return self._copy(Path("global_0.1_degree_representation", str(year), name,
                                   f"{name}{'_scales' if is_scales else ''}.npy"))

        def fetch_landmask(self, lon, lat, progressbar=True):
            calls.append(("fetch_landmask", lon, lat))
            return self._copy(Path("global_0.1_degree_tiff_all", f"grid_{lon:.2f}_{lat:.2f}.tiff"))

    class GeoTessera:
        def __init__(self, embeddings_dir=None, **kw):
            self.registry = Registry(Path(embeddings_dir))

    monkeypatch.setitem(sys.modules, "geotessera", types.SimpleNamespace(GeoTessera=GeoTessera))
    local = tmp_path / "via_client"
    emb = api.get_embedding("tessera", spatial=ROI, temporal=Y2024, output=OutputSpec.grid(), backend="local",
                            model_options={"data_dir": str(local)})
    assert np.array_equal(emb.array, _grid(tiles).array)
    assert ("fetch", 2024, 12.05, 47.85, True) in calls and ("fetch_landmask", 11.95, 47.85) in calls


def test_export_batch_reads_the_tiles_beside_a_model_fetched_from_the_backend(tmp_path):
    """One export with Tessera (its own tile reader) and MOSAIKS (the local Sentinel-2 sample)."""
    from rs_embed_qgis.engine.export import export_batch, load_export
    from rs_embed_qgis.engine.specs import PointBuffer

    tiles = tmp_path / "tiles"
    write_tile(tiles, 2022, 9.05, 47.85, (9.02, 47.84), half_deg=0.02, tile_id=3)
    rois = [PointBuffer(lon=9.02, lat=47.84, buffer_m=300), PointBuffer(lon=9.03, lat=47.835, buffer_m=300)]
    summer = TemporalSpec.range("2022-06-01", "2022-09-01")
    opts = {"tessera": {"data_dir": str(tiles), "download": False}, "mosaiks": {}}
    out = tmp_path / "export"
    export_batch(spatials=rois, temporal=summer, models=["mosaiks", "tessera"], out_dir=str(out),
                 backend="local", show_progress=False, model_options=opts)
    got = load_export(str(out))
    assert got["embeddings"]["tessera"].shape == (2, 128) and got["embeddings"]["mosaiks"].shape[0] == 2
    direct = api.get_embedding("tessera", spatial=rois[1], temporal=summer, backend="local",
                               model_options=opts["tessera"])
    assert np.allclose(got["embeddings"]["tessera"][1], direct.array)
    assert got["embeddings"]["tessera"][1][2] == pytest.approx(30 * SCALE)
