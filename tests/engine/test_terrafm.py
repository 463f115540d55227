"""TerraFM: the official key layout (TerraFM-B/L), the forward equal to upstream's on
recorded outputs, checkpoints loaded strictly from files, and embeddings of the sample."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _zoo3 import CENTRE, official_keys, official_random, small_state, upstream_reference

from rs_embed_qgis.engine.api import (
    clear_caches,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
)
from rs_embed_qgis.engine.errors import ModelError, ProviderError
from rs_embed_qgis.engine.nn.terrafm import TERRAFM_CONFIGS, TerraFM, TerraFMConfig
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec
from rs_embed_qgis.engine.weights import load_into, load_state_dict

KEYS = official_keys("terrafm")
TINY = {"embed_dim": 48, "depth": 2, "num_heads": 4, "img_size": 64}
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RS_EMBED_TERRAFM_CKPT", raising=False)
    clear_caches()
    yield
    clear_caches()


@pytest.mark.parametrize("variant", ["B", "L"])
def test_module_has_exactly_the_official_keys_and_shapes(variant):
    with torch.device("meta"):  # names and shapes only: nothing allocated
        ours = [[k, list(v.shape)] for k, v in TerraFM(TERRAFM_CONFIGS[variant]).state_dict().items()]
    assert ours == KEYS["variants"][variant]


def test_forward_matches_outputs_recorded_from_upstream(tmp_path):
    """TerraFM-B widths at the recorded reduced depth, weights from the official key list
    saved as the official file is (a plain state dict), loaded by our loader."""
    ref = upstream_reference("terrafm")
    depth = ref["depth"]
    keys = [(k, s) for k, s in KEYS["variants"]["B"]
            if not (k.startswith("blocks.") and int(k.split(".")[1]) >= depth)]
    path = tmp_path / "TerraFM-B.pth"
    torch.save(official_random(keys), str(path))
    model = TerraFM(TerraFMConfig(depth=depth)).eval()
    load_into(model, load_state_dict(path), path)
    g = torch.Generator().manual_seed(1)
    x12, x2 = torch.rand((2, 12, 224, 224), generator=g), torch.rand((2, 2, 224, 224), generator=g)
    with torch.inference_mode():
        for branch, x in (("s2_l1c", x12), ("s2_l2a", x12), ("s1", x2)):
            tok, case = model(x, branch), ref["cases"][branch]
            assert list(tok.shape) == case["tokens_shape"]
            np.testing.assert_allclose(tok[:, 0, :8].flatten().numpy(), case["cls_0to8"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(tok[1, 6, :8].numpy(), case["patch_token_5_0to8"], rtol=1e-5, atol=1e-5)
            assert abs(float(tok[:, 1:].mean()) - case["patch_tokens_mean"]) < 1e-6


def _tiny_checkpoint(path, seed=3, extra=None):
    sd = small_state(TerraFM(TerraFMConfig(**TINY)), seed)
    torch.save({**sd, **(extra or {})}, str(path))
    return sd


def test_embedder_loads_the_file_strictly_and_sets_a_projection_head_aside(tmp_path, monkeypatch):
    path = tmp_path / "TerraFM-B.pth"
    sd = _tiny_checkpoint(path, extra={"head.mlp.0.weight": torch.zeros(4, 48)})
    emb = get_embedder("terrafm", device="cpu", model_options={"weights": str(path), "arch": TINY})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["ignored_key_groups"] == ["head"]
    assert torch.equal(emb.model.state_dict()["patch_embed.conv2d_s2_l2a.weight"], sd["patch_embed.conv2d_s2_l2a.weight"])
    monkeypatch.setenv("RS_EMBED_TERRAFM_CKPT", str(path))
    clear_caches()
    emb = get_embedder("terrafm", device="cpu", model_options={"arch": TINY})
    assert emb.weights_meta["source"] == "env:RS_EMBED_TERRAFM_CKPT"

    bad = tmp_path / "bad.pth"
    torch.save({**sd, "decoder.weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ModelError, match=r"bad\.pth.*unexpected keys \['decoder\.weight'\]"):
        get_embedder("terrafm", device="cpu", model_options={"weights": str(bad), "arch": TINY})


def test_without_weights_the_error_names_the_official_file():
    with pytest.raises(ModelError) as ei:
        get_embedder("terrafm", device="cpu", model_options={"arch": TINY, "download": False})
    msg = str(ei.value)
    assert "TerraFM-B.pth" in msg and "MBZUAI/TerraFM" in msg and "RS_EMBED_TERRAFM_CKPT" in msg


def test_sample_embeddings_pooled_is_the_class_token_and_batch_equals_loop(tmp_path):
    path = tmp_path / "TerraFM-B.pth"
    _tiny_checkpoint(path)
    opts = {"weights": str(path), "arch": TINY}
    rois = [PointBuffer(CENTRE[0], CENTRE[1], 300), PointBuffer(CENTRE[0] + 0.005, CENTRE[1] + 0.003, 300)]
    kw = dict(temporal=SUMMER, backend="local", device="cpu", model_options=opts)
    loop = [get_embedding("terrafm", spatial=r, output=OutputSpec.pooled(), **kw) for r in rois]
    batch = get_embeddings_batch("terrafm", spatials=rois, output=OutputSpec.pooled(), **kw)
    assert loop[0].array.shape == (48,) and loop[0].meta["pooled_from"] == "model image embedding"
    assert loop[0].meta["bands"] == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    assert loop[0].meta["patch_embed_branch"] == "s2_l2a" and not loop[0].meta["random_weights"]
    for a, b in zip(loop, batch, strict=True):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-4, atol=1e-5)
    grid = get_embedding("terrafm", spatial=rois[0], output=OutputSpec.grid(), **kw)
    assert grid.array.shape == (48, 4, 4)


def test_branches_differ_and_s1_takes_linear_vv_vh(tmp_path):
    path = tmp_path / "TerraFM-B.pth"
    _tiny_checkpoint(path)
    rng = np.random.RandomState(0)
    s2 = rng.uniform(0, 4000, (12, 64, 64)).astype("f4")
    l2a = get_embedding_from_data("terrafm", s2, device="cpu", model_options={"weights": str(path), "arch": TINY})
    l1c = get_embedding_from_data("terrafm", s2, device="cpu",
                                  model_options={"weights": str(path), "arch": TINY, "s2_branch": "l1c"})
    assert not np.allclose(l2a.array, l1c.array)
    s1_opts = {"weights": str(path), "arch": TINY, "modality": "s1"}
    vv_vh = rng.gamma(2.0, 0.05, (2, 64, 64)).astype("f4")  # linear power, ~0.1
    e = get_embedding_from_data("terrafm", vv_vh, device="cpu", model_options=s1_opts)
    assert e.meta["bands"] == ["VV", "VH"] and e.meta["patch_embed_branch"] == "s1"
    with pytest.raises(ModelError, match="dB"):
        get_embedding_from_data("terrafm", 10 * np.log10(vv_vh), device="cpu", model_options=s1_opts)


def test_s1_needs_radar_bands_the_local_sample_does_not_have(tmp_path):
    opts = {"arch": TINY, "modality": "s1", "allow_random_weights": True}
    with pytest.raises(ProviderError, match="band 'VV' is missing"):
        get_embedding("terrafm", spatial=PointBuffer(*CENTRE, 200), temporal=SUMMER, backend="local",
                      device="cpu", model_options=opts)
    s2 = np.full((12, 32, 32), 1000.0, "f4")
    with pytest.raises(ModelError, match="Earth Engine.*COPERNICUS/S1_GRD_FLOAT"):
        get_embedding_from_data("terrafm", s2, bands=[f"B{i}" for i in range(1, 13)], device="cpu",
                                model_options=opts)


def test_bad_options_are_model_errors():
    with pytest.raises(ModelError, match="modality"):
        get_embedder("terrafm", device="cpu", model_options={"modality": "s3", "allow_random_weights": True})
    with pytest.raises(ModelError, match="s2_branch"):
        get_embedder("terrafm", device="cpu", model_options={"s2_branch": "toa", "allow_random_weights": True})


def test_s1_through_earth_engine_reads_the_float_collection_without_a_cloud_filter(tmp_path, ee_env, gee_options):
    """Radar is served by the gee backend: here the loopback Earth Engine server holds a
    VV/VH scene (linear power) as COPERNICUS/S1_GRD_FLOAT."""
    import rasterio
    from rasterio.transform import from_origin

    from rs_embed_qgis.engine.specs import BBox

    rng = np.random.default_rng(3)
    vv_vh = rng.gamma(2.0, 0.05, (2, 60, 60)).astype("f4")
    profile = dict(driver="GTiff", width=60, height=60, count=2, dtype="float32", crs="EPSG:32632",
                   transform=from_origin(500000, 5300000, 10, 10))
    with rasterio.open(tmp_path / "S1A_IW_GRDH_20220710.tif", "w", **profile) as dst:
        dst.write(vv_vh)
        dst.set_band_description(1, "VV")
        dst.set_band_description(2, "VH")
    ee_env.catalog.add_folder("COPERNICUS/S1_GRD_FLOAT", tmp_path)
    e = get_embedding("terrafm", spatial=BBox(9.0005, 47.8502, 9.0045, 47.8528), temporal=SUMMER,
                      output=OutputSpec.grid(), backend="gee", device="cpu", provider_options=gee_options,
                      model_options={"arch": TINY, "modality": "s1", "allow_random_weights": True})
    assert e.meta["sensor"]["collection"] == "COPERNICUS/S1_GRD_FLOAT" and e.meta["bands"] == ["VV", "VH"]
    assert e.meta["patch_embed_branch"] == "s1" and e.array.shape == (48, 4, 4)
    from ee_test_server import invocations

    expr = ee_env.requests("computePixels")[0]["body"]["expression"]
    assert not invocations(expr, "Image.bitwiseAnd")  # no optical cloud mask on radar
