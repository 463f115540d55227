"""The "Super-resolve raster layer" algorithm, in a throwaway provider (the real provider
registers it from rs_embed_qgis.processing.alg_superres)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

S2 = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]


def _raster(path, h=30, w=40, names=S2):
    data = (np.random.default_rng(0).random((len(names), h, w)) * 3000 + 100).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=len(names), dtype="uint16",
                       crs="EPSG:32632", transform=from_origin(600000, 5100000, 10, 10), nodata=0) as d:
        d.write(data)
        for i, n in enumerate(names, 1):
            d.set_band_description(i, n)
    return data


@pytest.fixture
def sr_alg(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingProvider

    from rs_embed_qgis.processing.alg_superres import SuperResolveRasterAlgorithm

    class _Provider(QgsProcessingProvider):
        def id(self):
            return "superres_test"

        def name(self):
            return "superres test"

        def loadAlgorithms(self):
            self.addAlgorithm(SuperResolveRasterAlgorithm())

    prov = _Provider()
    QgsApplication.processingRegistry().addProvider(prov)
    yield QgsApplication.processingRegistry().algorithmById("superres_test:superresolve_raster")
    QgsApplication.processingRegistry().removeProvider(prov)


def _run(alg, params, feedback=None):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    fb = feedback or QgsProcessingFeedback()
    return alg.run(params, ctx, fb)


def test_algorithm_metadata(sr_alg):
    assert sr_alg.displayName() == "Super-resolve raster layer"
    assert sr_alg.group() == "Super-resolution"
    assert "qgis_process run rs_embed:superresolve_raster" in sr_alg.shortHelpString()
    names = [p.name() for p in sr_alg.parameterDefinitions()]
    assert names == ["INPUT", "METHOD", "BANDS", "WEIGHTS", "TILE", "OVERLAP", "DEVICE", "OUTPUT"]


def test_baseline_run_writes_a_layer(sr_alg, tmp_path):
    from qgis.core import QgsRasterLayer

    _raster(tmp_path / "s2.tif")
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 1, "TILE": 24, "OVERLAP": 8,
                            "DEVICE": "cpu", "OUTPUT": str(tmp_path / "sr.tif")})
    assert ok and res["OUTPUT"] == str(tmp_path / "sr.tif")
    lyr = QgsRasterLayer(res["OUTPUT"], "sr")
    assert lyr.isValid() and lyr.bandCount() == 10 and lyr.width() == 400 and lyr.height() == 300
    assert lyr.rasterUnitsPerPixelX() == pytest.approx(1.0)
    assert lyr.crs().authid() == "EPSG:32632"
    meta = json.loads(res["METADATA"])
    assert meta["weights"]["status"] == "baseline" and meta["random_weights"] is False


def test_band_selection_picks_and_orders_the_model_bands(sr_alg, tmp_path):
    order = ["B1"] + S2 + ["B9"]
    _raster(tmp_path / "s2.tif", 12, 12, names=order)
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 2, "BANDS": list(range(2, 12)),
                            "TILE": 12, "OVERLAP": 0, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "l.tif")})
    assert ok
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.count == 10 and ds.tags()["SR_BAND_MAP"] == "2,3,4,5,6,7,8,9,10,11"
        assert ds.tags()["SR_WEIGHTS_STATUS"] == "baseline" and "lanczos" in ds.tags()["SR_MODEL"]


@pytest.mark.slow
def test_full_network_with_random_weights_is_marked(sr_alg, tmp_path):
    """The full-size S2x10NetS (104 M parameters) on an 8x8 tile: about 15 s on 2 CPU cores."""
    _raster(tmp_path / "s2.tif", 8, 8)
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 3, "TILE": 8, "OVERLAP": 0,
                            "DEVICE": "cpu", "OUTPUT": str(tmp_path / "r.tif")})
    assert ok
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.tags()["SR_WEIGHTS_STATUS"] == "random" and ds.tags()["SR_RANDOM_WEIGHTS"] == "True"
        assert list(ds.descriptions) == S2 and ds.shape == (80, 80)
    assert json.loads(res["METADATA"])["random_weights"] is True


def test_learned_model_without_weights_fails_clearly(sr_alg, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Errors(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.errors = []

        def reportError(self, error, fatalError=False):
            self.errors.append(error)

    _raster(tmp_path / "s2.tif")
    fb = Errors()
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 0,
                            "OUTPUT": str(tmp_path / "x.tif")}, fb)
    assert not ok
    assert any("needs weights you provide" in e and "bicubic" in e for e in fb.errors), fb.errors
    assert not (tmp_path / "x.tif").exists()


def test_cancel_leaves_nothing(sr_alg, tmp_path):
    from qgis.core import QgsProcessingFeedback

    _raster(tmp_path / "s2.tif")
    (tmp_path / "out").mkdir()
    fb = QgsProcessingFeedback()
    fb.cancel()
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 1, "TILE": 24, "OVERLAP": 8,
                            "OUTPUT": str(tmp_path / "out" / "sr.tif")}, fb)
    assert "OUTPUT" not in res
    assert list((tmp_path / "out").iterdir()) == []


def test_learned_model_with_user_weights_picked_as_one_shard(sr_alg, tmp_path):
    """METHOD 0 with a (small) sharded checkpoint; the dialog gives one shard file."""
    import torch
    from safetensors.torch import save_file

    from rs_embed_qgis.engine.superres.decoder import S2x10Config, S2x10NetS

    torch.manual_seed(0)
    sd = S2x10NetS(S2x10Config(num_feat=8, num_block=1, num_grow_ch=4)).state_dict()
    keys = list(sd)
    (tmp_path / "ck").mkdir()
    for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:]), start=1):
        name = tmp_path / "ck" / f"m-{i:05d}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, str(name))
    _raster(tmp_path / "s2.tif", 12, 12)
    res, ok = _run(sr_alg, {"INPUT": str(tmp_path / "s2.tif"), "METHOD": 0,
                            "WEIGHTS": str(tmp_path / "ck" / "m-00001-of-00002.safetensors"),
                            "TILE": 12, "OVERLAP": 0, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "u.tif")})
    assert ok
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.tags()["SR_WEIGHTS_STATUS"] == "user file" and ds.tags()["SR_RANDOM_WEIGHTS"] == "False"
        assert ds.shape == (120, 120) and list(ds.descriptions) == S2
