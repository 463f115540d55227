"""get_embedding / get_embeddings_batch / get_embedding_from_data on the bundled sample."""
import threading

import numpy as np
import pytest
import rasterio

from rs_embed_qgis.engine import (
    BBox,
    ModelError,
    OutputSpec,
    PointBuffer,
    ProviderError,
    SensorSpec,
    SpecError,
    describe_model,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
    list_models,
)
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.io import pca_rgb, write_embedding_geotiff, write_pca_quicklook

SMALL = {"num_features": 64}


def test_catalog_lists_and_describes_without_importing_models():
    import sys

    assert "mosaiks" in list_models()
    d = describe_model("mosaiks")
    assert d["type"] == "on-the-fly" and d["bands"] == ["B4", "B3", "B2"]
    assert d["outputs"] == ["pooled", "grid"] and d["weights"]["status"] == "not needed"
    assert d["default_sensor"]["collection"] == "COPERNICUS/S2_SR_HARMONIZED"
    assert isinstance(d["temporal_mode"], str) and d["temporal_mode"]
    # listing and describing every model imports no model module and no torch (fresh process)
    import subprocess

    code = ("import sys\n"
            "from rs_embed_qgis.engine import describe_model, list_models\n"
            "[describe_model(m) for m in list_models()]\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('rs_embed_qgis.engine.embedders.')"
            " and not m.endswith(('.base',))]\n"
            "print(bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_unknown_model_suggests_close_ids():
    with pytest.raises(ModelError) as e:
        describe_model("mosaic")
    assert "'mosaic'" in str(e.value) and "did you mean 'mosaiks'" in str(e.value)


def test_pooled_embedding_from_the_local_sample(roi, summer):
    e = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    assert e.data.shape == (64,) and e.data.dtype == np.float32 and np.isfinite(e.data).all()
    m = e.meta
    assert m["model"] == "mosaiks" and m["backend"] == "local" and m["random_weights"] is False
    assert m["input_time"] == "2022-07-17"
    assert m["temporal"] == summer.to_dict() and m["sensor"]["bands"] == ["B4", "B3", "B2"]
    assert m["input"]["frames"][0]["n_scenes"] == 3


def test_grid_lands_exactly_on_the_roi(roi, summer, tmp_path):
    e = get_embedding("mosaiks", spatial=roi, temporal=summer, output=OutputSpec.grid(scale_m=50),
                      backend="local", model_options=SMALL)
    d, h, w = e.data.shape
    g = roi_grid(roi, 10)
    assert d == 64 and (h, w) == (int(g.height / 5 + 0.5), int(g.width / 5 + 0.5))
    assert e.meta["crs"] == "EPSG:32632"
    a, _, c, _, ee, f = e.meta["transform"]
    assert (a, ee, c, f) == (50.0, -50.0, g.left, g.top)
    tif = write_embedding_geotiff(e, tmp_path / "g.tif")
    with rasterio.open(tif) as src:
        assert src.crs.to_epsg() == 32632 and src.count == 64 and (src.height, src.width) == (h, w)
        assert src.bounds.left == g.left and src.bounds.top == g.top
        assert src.descriptions[0] == "emb_000" and src.tags()["RS_EMBED_MODEL"] == "mosaiks"
        assert np.allclose(src.read(), e.data)
    png = write_pca_quicklook(e, tmp_path / "g.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_grid_pooling_is_consistent_with_pooled(roi, summer):
    grid = get_embedding("mosaiks", spatial=roi, temporal=summer, output=OutputSpec.grid(scale_m=10),
                         backend="local", model_options=SMALL)
    pooled = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    assert np.allclose(grid.data.mean(axis=(1, 2)), pooled.data, rtol=1e-4, atol=1e-6)
    mx = get_embedding("mosaiks", spatial=roi, temporal=summer, output=OutputSpec.pooled("max"),
                       backend="local", model_options=SMALL)
    assert np.allclose(grid.data.max(axis=(1, 2)), mx.data)


def test_batch_equals_loop_and_reuses_one_embedder(summer):
    rois = [PointBuffer(9.01 + 0.005 * i, 47.84, 300) for i in range(4)]
    batch = get_embeddings_batch("mosaiks", spatials=rois, temporal=summer, backend="local",
                                 model_options=SMALL)
    loop = [get_embedding("mosaiks", spatial=r, temporal=summer, backend="local", model_options=SMALL)
            for r in rois]
    assert len(batch) == 4
    for a, b in zip(batch, loop, strict=True):
        assert np.array_equal(a.data, b.data)
    assert not np.allclose(batch[0].data, batch[3].data)
    assert get_embedder("mosaiks", model_options=SMALL) is get_embedder("mosaiks", model_options=SMALL)


def test_embedder_cache_is_thread_safe():
    got = []
    opts = {"num_features": 32, "seed": 7}

    def work():
        got.append(get_embedder("mosaiks", model_options=opts))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in got}) == 1


def test_input_chw_is_reused_instead_of_fetching(roi, summer):
    fetched = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    chw = fetched.meta["input"]
    from rs_embed_qgis.engine import get_provider

    patch = get_provider("local").fetch(roi, summer, SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B4", "B3", "B2")))
    again = get_embedding("mosaiks", spatial=roi, temporal=summer, backend="gee",  # no fetch happens
                          input_chw=patch.chw, model_options=SMALL)
    assert np.allclose(again.data, fetched.data, rtol=1e-5)
    assert again.meta["input"]["backend"] == "gee:input_chw" and chw["backend"] == "local"


def test_embedding_from_data_with_georeference(sample_dir):
    with rasterio.open(sample_dir / "S2_L2A_20220715_sample.tif") as src:
        arr = src.read([3, 2, 1])[:, :120, :160].astype(np.float32)
        t = tuple(src.transform)[:6]
        crs = src.crs.to_string()
    e = get_embedding_from_data("mosaiks", arr, bands=["B4", "B3", "B2"], crs=crs, transform=t,
                                output=OutputSpec.grid(scale_m=40), model_options=SMALL)
    assert e.data.shape == (64, 30, 40)
    assert e.meta["crs"] == crs and e.meta["transform"][:3] == [40.0, 0.0, t[2]]
    assert e.meta["backend"] == "data"
    with pytest.raises(SpecError, match="3 channels"):
        get_embedding_from_data("mosaiks", arr, bands=["B4", "B3"], model_options=SMALL)
    with pytest.raises(SpecError, match="without crs"):
        get_embedding_from_data("mosaiks", arr, transform=t, model_options=SMALL)


def test_pca_of_a_grid_is_stretched_and_ordered():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 20, 20))
    grid = np.concatenate([base[:1] * 10, base[1:2] * 3, base[2:] * 1, rng.normal(size=(5, 20, 20)) * 0.01])
    rgb, info = pca_rgb(grid.astype(np.float32))
    assert rgb.shape == (3, 20, 20) and rgb.min() >= 0 and rgb.max() <= 1
    ev = info["explained_variance_ratio"]
    assert ev[0] > ev[1] > ev[2] and ev[0] > 0.8


@pytest.mark.parametrize("kwargs, err, text", [
    ({"backend": "s3"}, ProviderError, "'s3'"),
    ({"device": "tpu"}, ModelError, "'tpu'"),
    ({"input_prep": "crop"}, SpecError, "'crop'"),
    ({"output": "grid"}, SpecError, "'grid'"),
    ({"temporal": "2022"}, SpecError, "'2022'"),
    ({"sensor": SensorSpec("X", ("B4", "B99"))}, ProviderError, "'B99'"),
    ({"spatial": PointBuffer(9.02, 47.84, -1)}, SpecError, "-1"),
    ({"spatial": BBox(20.0, 10.0, 20.1, 10.1)}, ProviderError, "outside the local data"),
])
def test_bad_arguments_raise_documented_errors(roi, summer, kwargs, err, text):
    args = dict(spatial=roi, temporal=summer, backend="local", model_options=SMALL)
    args.update(kwargs)
    with pytest.raises(err) as e:
        get_embedding("mosaiks", **args)
    assert text in str(e.value)


def test_empty_spatials_list_is_a_spec_error(summer):
    with pytest.raises(SpecError, match=r"\[\]"):
        get_embeddings_batch("mosaiks", spatials=[], temporal=summer, backend="local")


def test_mosaiks_bad_options_are_model_errors():
    with pytest.raises(ModelError, match="num_features"):
        get_embedder("mosaiks", model_options={"num_features": 3})
    with pytest.raises(ModelError, match="nowhere.tif"):
        get_embedder("mosaiks", model_options={"filter_source": "/nowhere.tif"})


def test_written_files_get_normal_permissions(tmp_path, roi, summer):
    import os
    import stat

    e = get_embedding("mosaiks", spatial=roi, temporal=summer, output=OutputSpec.grid(scale_m=100),
                      backend="local", model_options=SMALL)
    tif = write_embedding_geotiff(e, tmp_path / "perm.tif")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(tif.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
