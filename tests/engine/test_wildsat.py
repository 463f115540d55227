"""WildSAT: the official satellite-model key layout (ViT-B/16), the forward equal to
upstream's on recorded outputs, the Google-Drive-only training checkpoint read safely,
the upstream preprocessing, and embeddings of the sample."""
from __future__ import annotations

import argparse

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
from rs_embed_qgis.engine.embedders.wildsat import tci_unit8
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.wildsat import (
    WildSATResNetConfig,
    WildSATSatelliteModel,
    WildSATSwinConfig,
    WildSATViTConfig,
)
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

OFFICIAL = official_keys("wildsat")
KEYS = OFFICIAL["variants"]["vitb16"]
TINY = {"image_size": 64, "hidden_dim": 32, "num_layers": 2, "num_heads": 2, "mlp_dim": 64,
        "num_classes": 20, "embed_dim": 8}
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RS_EMBED_WILDSAT_CKPT", raising=False)
    clear_caches()
    yield
    clear_caches()


def save_training_checkpoint(path, satellite_sd):
    """As WildSAT's train.py saves it (DataParallel prefix, its options, the other models)."""
    torch.save({"epoch": 30, "satellite_state_dict": {"module." + k: v for k, v in satellite_sd.items()},
                "sinr_state_dict": {"module.head.weight": torch.zeros(4, 4)},
                "text_emb_model": {"module.head.weight": torch.zeros(4, 4)},
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                "opt": argparse.Namespace(satellite_encoder="vitb16", satellite_head="threelinearnobias",
                                          common_embed_dim=256),
                "loss": np.float64(0.25), "scheduler": None, "all_losses_plot": [[1.0, 0.5]],
                "all_losses_names": ["sat"], "all_accs_plot": [], "all_accs_names": []}, str(path))


CONFIGS = {"vitb16": WildSATViTConfig(), "resnet50": WildSATResNetConfig(), "swint": WildSATSwinConfig()}


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_module_has_exactly_the_official_keys_and_shapes(variant):
    with torch.device("meta"):
        ours = [[k, list(v.shape)] for k, v in WildSATSatelliteModel(CONFIGS[variant]).state_dict().items()]
    assert ours == OFFICIAL["variants"][variant]


def test_vit_forward_matches_outputs_recorded_from_upstream(tmp_path):
    ref = upstream_reference("wildsat")
    depth = ref["depth"]
    keys = [(k, s) for k, s in KEYS if not (k.startswith("backbone.encoder.layers.encoder_layer_")
                                            and int(k.split(".")[3].rsplit("_", 1)[1]) >= depth)]
    path = tmp_path / "vitb16-imagenet-bnfc.pth"
    save_training_checkpoint(path, official_random(keys))
    emb = get_embedder("wildsat", device="cpu", model_options={"weights": str(path), "arch": {"num_layers": depth}})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["encoder_keys"] == len(keys)
    x = torch.rand((2, 3, 224, 224), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tok = emb.model.backbone(x)          # class token first, as torchvision's encoder output
        patches, feats, heads = emb.model(x)
    assert list(tok.shape) == ref["tokens_shape"] and torch.equal(patches, tok[:, 1:])
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tok[:, 0, :8].flatten().numpy(), ref["cls_token_0to8"], **close)
    np.testing.assert_allclose(tok[1, 8, :8].numpy(), ref["patch_token_7_0to8"], **close)
    np.testing.assert_allclose(feats[:, :8].flatten().numpy(), ref["feats_0to8"], **close)
    for name in ("text", "location", "image"):
        np.testing.assert_allclose(heads[name][:, :8].flatten().numpy(), ref[f"{name}_0to8"], **close)


@pytest.mark.parametrize("variant", ["resnet50", "swint"])
def test_cnn_and_swin_forwards_match_outputs_recorded_from_upstream(tmp_path, variant):
    """Full-size ResNet-50 / Swin-T from the official key list (integer buffers are the
    module's own index tables and counters), loaded from a training checkpoint file."""
    ref = upstream_reference("wildsat")["variants"][variant]
    ints = OFFICIAL["integer_buffers"][variant]
    model = WildSATSatelliteModel(CONFIGS[variant])
    sd = official_random(OFFICIAL["variants"][variant], skip=tuple(ints))
    sd.update({k: v for k, v in model.state_dict().items() if k in ints})
    path = tmp_path / f"{variant}-imagenet-bnfc.pth"
    save_training_checkpoint(path, sd)
    emb = get_embedder("wildsat", device="cpu", model_options={"weights": str(path), "variant": variant})
    idx = sum(int(v.sum()) for k, v in emb.model.state_dict().items() if k.endswith("relative_position_index"))
    assert idx == ref["relative_position_index_sum"]
    x = torch.rand((2, 3, 256, 256), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tok, feats, heads = emb.model(x)
    assert list(tok.shape) == ref["tokens_shape"]
    scale = max(abs(v) for v in ref["feats_0to8"])
    close = dict(rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(tok[0, 0, :8].numpy(), ref["token_0_0to8"], **close)
    np.testing.assert_allclose(tok[1, -1, :8].numpy(), ref["token_last_0to8"], **close)
    np.testing.assert_allclose(feats[:, :8].flatten().numpy(), ref["feats_0to8"], **close)
    for name in ("text", "location", "image"):
        np.testing.assert_allclose(heads[name][:, :8].flatten().numpy(), ref[f"{name}_0to8"], **close)


def test_google_drive_weights_are_never_fetched_and_the_error_says_where_to_put_them(monkeypatch):
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    with pytest.raises(ModelError) as ei:
        get_embedder("wildsat", device="cpu", model_options={"arch": TINY})
    msg = str(ei.value)
    assert "vitb16-imagenet-bnfc.pth" in msg and "drive.google.com" in msg and "RS_EMBED_WILDSAT_CKPT" in msg
    assert "weights" in msg and "wildsat" in msg


def test_a_checkpoint_holding_other_objects_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"satellite_state_dict": small_state(WildSATSatelliteModel(WildSATViTConfig(**TINY))),
                "callback": argparse.Action(["-x"], "x")}, str(path))
    with pytest.raises(ModelError, match="odd.pth"):
        get_embedder("wildsat", device="cpu", model_options={"weights": str(path), "arch": TINY})


def test_preprocessing_is_the_tci_rendering_then_the_image_minimum_removed(tmp_path):
    assert np.allclose(tci_unit8(np.array([[[0.0, 1000.0, 2000.0, 5000.0]]])), [[[0.0, 127 / 255, 1.0, 1.0]]])
    path = tmp_path / "w.pth"
    save_training_checkpoint(path, small_state(WildSATSatelliteModel(WildSATViTConfig(**TINY)), seed=4))
    emb = get_embedder("wildsat", device="cpu", model_options={"weights": str(path), "arch": TINY})
    x = torch.rand(1, 3, 64, 64) * 0.5
    with torch.inference_mode():
        shifted, _ = emb.forward_batch(x + 0.25, {})   # a brighter copy: same after the min shift
        plain, _ = emb.forward_batch(x, {})
        _, _, heads = emb.model(x - x.min())
        _, pooled = emb.forward_batch(x, {})
    assert torch.allclose(shifted, plain, atol=1e-5)
    assert torch.allclose(pooled, heads["image"], atol=1e-6)


def test_sample_embeddings_pooled_heads_and_batch_equals_loop(tmp_path):
    path = tmp_path / "vitb16-imagenet-bnfc.pth"
    save_training_checkpoint(path, small_state(WildSATSatelliteModel(WildSATViTConfig(**TINY)), seed=5))
    rois = [PointBuffer(CENTRE[0], CENTRE[1], 300), PointBuffer(CENTRE[0] + 0.004, CENTRE[1] - 0.003, 300)]
    kw = dict(temporal=SUMMER, backend="local", device="cpu")
    opts = {"weights": str(path), "arch": TINY}
    loop = [get_embedding("wildsat", spatial=r, model_options=opts, **kw) for r in rois]
    batch = get_embeddings_batch("wildsat", spatials=rois, model_options=opts, **kw)
    assert loop[0].array.shape == (8,) and loop[0].meta["pooled_head"] == "image"
    for a, b in zip(loop, batch, strict=True):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-4, atol=1e-5)
    back = get_embedding("wildsat", spatial=rois[0], model_options={**opts, "pooled_head": "backbone"}, **kw)
    assert back.array.shape == (20,)
    grid = get_embedding("wildsat", spatial=rois[0], output=OutputSpec.grid(), model_options=opts, **kw)
    assert grid.array.shape == (32, 4, 4)
    with pytest.raises(ModelError, match="pooled_head"):
        get_embedder("wildsat", device="cpu", model_options={**opts, "pooled_head": "species"})


@pytest.mark.parametrize("variant, arch, grid", [
    ("resnet50", {"image_size": 128, "layers": [1, 1, 1, 1], "width": 8, "num_classes": 20, "embed_dim": 8},
     (256, 4, 4)),
    ("swint", {"image_size": 128, "embed_dim_swin": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4],
               "num_classes": 20, "embed_dim": 8}, (128, 4, 4)),
])
def test_resnet_and_swin_variants_give_stride_32_grids(tmp_path, variant, arch, grid):
    cfg = CONFIGS[variant].__class__(**{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()})
    path = tmp_path / "w.pth"
    save_training_checkpoint(path, small_state(WildSATSatelliteModel(cfg), seed=6))
    opts = {"weights": str(path), "variant": variant, "arch": arch}
    rgb = np.random.RandomState(1).uniform(0, 2500, (3, 100, 140)).astype("f4")
    g = get_embedding_from_data("wildsat", rgb, device="cpu", output=OutputSpec.grid(), model_options=opts)
    assert g.array.shape == grid and g.meta["variant"] == variant
    tiles = get_embedding_from_data("wildsat", rgb, device="cpu", output=OutputSpec.grid(), input_prep="tile",
                                    model_options=opts)
    assert tiles.array.shape[1:] == (4, 5)  # 100 x 140 px at 32 px per cell
