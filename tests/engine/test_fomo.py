"""FoMo-Net: the official key layout (FoMo-Net_1), the forward equal to upstream's on
recorded outputs, the Dropbox-only weights never fetched, and embeddings of the sample."""
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
from rs_embed_qgis.engine.catalog import describe_model
from rs_embed_qgis.engine.embedders.fomo import S2_KEYS
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.fomo import HEAD_PREFIXES, FoMoConfig, FoMoNet
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec
from rs_embed_qgis.engine.weights import load_into, load_state_dict

KEYS = official_keys("fomo")["variants"]["fomo-net-1"]
TINY = {"dim": 32, "depth": 2, "heads": 2, "dim_head": 16, "mlp_dim": 64}
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RS_EMBED_FOMO_CKPT", raising=False)
    clear_caches()
    yield
    clear_caches()


def test_module_has_the_official_encoder_keys_and_the_file_adds_only_the_classifier():
    with torch.device("meta"):
        ours = [[k, list(v.shape)] for k, v in FoMoNet().state_dict().items()]
    assert ours == [ks for ks in KEYS if not ks[0].startswith(HEAD_PREFIXES)]
    assert {k for k, _ in KEYS} - {k for k, _ in ours} == {"mlp_head.weight", "mlp_head.bias"}


def test_sentinel2_band_keys_are_those_of_fomos_modality_table():
    assert S2_KEYS["B1"] == 6 and S2_KEYS["B8A"] == 14 and S2_KEYS["B10"] == 16 and S2_KEYS["B12"] == 18


def test_forward_matches_outputs_recorded_from_upstream(tmp_path):
    ref = upstream_reference("fomo")
    depth = ref["depth"]
    keys = [(k, s) for k, s in KEYS if not (k.startswith("transformer.layers.") and int(k.split(".")[2]) >= depth)]
    path = tmp_path / "fomo_single_embedding_layer_weights.pt"
    torch.save(official_random(keys), str(path))  # as the official file: the whole state dict
    sd = load_state_dict(path)
    model = FoMoNet(FoMoConfig(depth=depth)).eval()
    load_into(model, {k: v for k, v in sd.items() if not k.startswith(HEAD_PREFIXES)}, path)
    x = torch.randn((2, 12, 64, 64), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tok = model(x, ref["keys"])
    assert list(tok.shape) == ref["tokens_shape"]
    np.testing.assert_allclose(tok[0, 0, :8].numpy(), ref["token_0_0to8"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tok[1, -1, :8].numpy(), ref["token_last_0to8"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tok.mean(dim=1)[:, :8].flatten().numpy(), ref["pooled_mean_0to8"], rtol=1e-5, atol=1e-5)


def _tiny_checkpoint(path, seed=2):
    sd = small_state(FoMoNet(FoMoConfig(**TINY)), seed)
    sd.update({"mlp_head.weight": torch.zeros(1000, 32), "mlp_head.bias": torch.zeros(1000)})
    torch.save(sd, str(path))
    return sd


def test_missing_weights_say_where_to_download_by_hand_and_nothing_is_fetched(monkeypatch):
    import urllib.request

    def no_network(*a, **k):  # a Dropbox link must never be opened at run time
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(ModelError) as ei:
        get_embedder("fomo", device="cpu", model_options={"arch": TINY})
    msg = str(ei.value)
    assert "fomo_single_embedding_layer_weights.pt" in msg and "dropbox.com" in msg
    assert "by hand" in msg and "RS_EMBED_FOMO_CKPT" in msg
    assert describe_model("fomo")["weights"]["status"] == "missing"


def test_sample_embeddings_from_a_checkpoint_in_the_cache_folder(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "weights" / "fomo"
    cache.mkdir(parents=True)
    sd = _tiny_checkpoint(cache / "fomo_single_embedding_layer_weights.pt")
    emb = get_embedder("fomo", device="cpu", model_options={"arch": TINY})
    assert emb.weights_meta["source"] == "cache" and emb.weights_meta["ignored_key_groups"] == ["mlp_head"]
    assert torch.equal(emb.model.state_dict()["spectral_embedding"], sd["spectral_embedding"])
    rois = [PointBuffer(CENTRE[0], CENTRE[1], 320), PointBuffer(CENTRE[0] - 0.004, CENTRE[1] + 0.002, 320)]
    kw = dict(temporal=SUMMER, backend="local", device="cpu", model_options={"arch": TINY})
    grid = get_embedding("fomo", spatial=rois[0], output=OutputSpec.grid(), **kw)
    assert grid.array.shape == (32, 4, 4) and grid.meta["modality_keys"] == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18]
    pooled = get_embedding("fomo", spatial=rois[0], output=OutputSpec.pooled(), **kw)
    np.testing.assert_allclose(pooled.array, grid.array.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    batch = get_embeddings_batch("fomo", spatials=rois, output=OutputSpec.pooled(), **kw)
    np.testing.assert_allclose(batch[0].array, pooled.array, rtol=1e-4, atol=1e-5)


def test_standard_normalisation_and_band_subsets(tmp_path):
    path = tmp_path / "w.pt"
    _tiny_checkpoint(path)
    opts = {"weights": str(path), "arch": TINY}
    emb = get_embedder("fomo", device="cpu", model_options=opts)
    from rs_embed_qgis.engine.providers.base import Patch

    x = np.full((12, 8, 8), 1283.97119, "f4")  # TalloS' B2 mean in every band
    out = emb.preprocess(Patch(x, emb.bands))
    assert abs(out[1].mean()) < 1e-6 and out[0].mean() > 0  # B2 -> 0; B1 (mean 752) above its mean
    rgbn = get_embedding_from_data("fomo", np.random.RandomState(0).uniform(0, 3000, (4, 64, 64)),
                                   bands=["B4", "B3", "B2", "B8"], device="cpu",
                                   model_options={**opts, "bands": ["B4", "B3", "B2", "B8"]})
    assert rgbn.meta["modality_keys"] == [9, 8, 7, 13] and rgbn.array.shape == (32,)
    with pytest.raises(ModelError, match="distinct Sentinel-2"):
        get_embedder("fomo", device="cpu", model_options={**opts, "bands": ["B4", "VV"]})
    with pytest.raises(ModelError, match="normalization"):
        get_embedder("fomo", device="cpu", model_options={**opts, "normalization": "zscore"})
