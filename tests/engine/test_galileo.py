"""Galileo: the official key layout, the forward against upstream on the same random
weights, the preprocessing against upstream's ``construct_galileo_input``, and the
adapter on the bundled sample (frames chosen by the shared policy, empty ones masked).

``data/galileo_official_keys.json``: keys and shapes of upstream ``Encoder`` for the
nano/tiny/base configs (the nano file shipped in the upstream repository holds exactly
that list). ``data/galileo_upstream_reference.json``: upstream outputs; its note says
how the weights and inputs were made.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.catalog import get_entry
from rs_embed_qgis.engine.embedders.multiframe import normalise_2std
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.galileo import GALILEO_CONFIGS, GalileoEncoder
from rs_embed_qgis.engine.providers.base import Patch
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

DATA = Path(__file__).parent / "data"
KEYS = json.loads((DATA / "galileo_official_keys.json").read_text())["variants"]
REFERENCE = json.loads((DATA / "galileo_upstream_reference.json").read_text())
ROI = PointBuffer(9.02, 47.8398, 320)  # inside the bundled sample
S2_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RS_EMBED_GALILEO_CKPT", raising=False)
    api.clear_caches()
    yield
    api.clear_caches()


def official_state_dict(variant: str = "nano", seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in KEYS[variant]:
        x = torch.randn(tuple(shape), generator=g) * 0.05
        if "norm" in k and k.endswith(".weight") and x.ndim == 1:
            x = x + 1.0
        sd[k] = x
    return sd


@pytest.mark.parametrize("variant", ["nano", "tiny", "base"])
def test_our_encoder_has_the_official_keys_and_shapes(variant):
    with torch.device("meta"):
        ours = [[k, list(v.shape)] for k, v in GalileoEncoder(GALILEO_CONFIGS[variant]).state_dict().items()]
    assert ours == KEYS[variant]


@pytest.mark.parametrize("name", sorted(REFERENCE["cases"]))
def test_forward_matches_upstream_on_the_same_weights(tmp_path, name):
    case = REFERENCE["cases"][name]
    path = tmp_path / "encoder.pt"
    torch.save(official_state_dict(case["variant"]), str(path))  # as models/nano/encoder.pt is saved
    emb = api.get_embedder("galileo", device="cpu", model_options={"weights": str(path)})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["ignored_keys"] == 0
    b, h, t = case["batch"], case["px"], case["frames"]
    g = torch.Generator().manual_seed(1)
    s_t_x, sp_x = torch.randn((b, h, h, t, 13), generator=g), torch.randn((b, h, h, 16), generator=g)
    t_x, st_x = torch.randn((b, t, 6), generator=g), torch.randn((b, 18), generator=g)
    s_t_m, sp_m = torch.ones((b, h, h, t, 7)), torch.ones((b, h, h, 3))
    t_m, st_m = torch.ones((b, t, 3)), torch.ones((b, 4))
    s_t_m[..., 1:6] = 0                                   # the S2 groups are seen
    if b == 2:
        s_t_m[0, ..., 6] = 0                              # sample 0 sees NDVI ...
        s_t_m[0, :, :, 1] = 1                             # ... but not its frame 1
        st_m[1, 1] = 0                                    # sample 1 sees its location
    with torch.inference_mode():
        out = emb.model(s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, torch.tensor(case["months"]),
                        case["patch_size"], input_resolution_m=case["input_resolution_m"])
        pooled = emb.model.average_tokens(*out)
        per_patch = emb.model.average_tokens_per_patch(*out)
    assert list(out[0].shape) == case["s_t_shape"] and list(per_patch.shape) == case["per_patch_shape"]
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0][0, 0, 0, 0, 1, :8], case["s_t_0_0_0_0_rgb_0to8"], **close)
    np.testing.assert_allclose(out[0][-1, -1, -1, -1, 5, :8], case["s_t_last"], **close)
    np.testing.assert_allclose(out[3][-1, 1, :8], case["st_location_last_0to8"], **close)
    np.testing.assert_allclose(pooled[:, :16], case["pooled"], **close)
    np.testing.assert_allclose(per_patch[0, 0, :16], case["per_patch_0_0"], **close)
    np.testing.assert_allclose(per_patch[-1, -1, :16], case["per_patch_last_last"], **close)
    assert abs(float(per_patch.double().mean()) - case["per_patch_mean"]) < 1e-6


def test_normalisation_is_upstreams_pretraining_normaliser():
    ref = REFERENCE["preprocessing"]
    s2 = torch.rand((4, 4, 2, 10), generator=torch.Generator().manual_seed(2)) * 6000   # (H, W, T, 10)
    ours = normalise_2std(s2.permute(2, 3, 0, 1).numpy(), get_entry("galileo").variant().normalisation)  # (T, 10, H, W)
    np.testing.assert_allclose(ours[0, :, 0, 0], ref["space_time_x_0_0_0"][2:12], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1, :, 3, 2], ref["space_time_x_3_2_1"][2:12], rtol=1e-5, atol=1e-6)
    assert ref["space_time_mask_0_0_0"] == [1, 0, 0, 0, 0, 0, 1]   # S1 and NDVI absent: masked, as ours


def test_backbone_infix_of_some_official_files_is_removed(tmp_path):
    sd = official_state_dict()
    path = tmp_path / "encoder.pt"
    torch.save({k.replace("blocks.", "blocks.backbone.", 1) if k.startswith("blocks.") else k: v
                for k, v in sd.items()}, str(path))
    emb = api.get_embedder("galileo", device="cpu", model_options={"weights": str(path)})
    assert torch.equal(emb.model.state_dict()["blocks.0.attn.q.weight"], sd["blocks.0.attn.q.weight"])


def test_missing_weights_say_where_to_get_them():
    with pytest.raises(ModelError, match="galileo_nano_encoder.pt.*RS_EMBED_GALILEO_CKPT.*huggingface.co/nasaharvest/galileo/.*/models/nano/encoder.pt"):
        api.get_embedder("galileo", device="cpu", model_options={"download": False})


@pytest.mark.parametrize("opts,match", [({"frames": 13}, "frames must be an int from 1 to 12"),
                                        ({"patch_size": 3}, "multiple of patch_size"),
                                        ({"include_ndvi": "yes"}, "include_ndvi must be True or False")])
def test_bad_options(opts, match):
    with pytest.raises(ModelError, match=match):
        api.get_embedder("galileo", device="cpu", model_options={"allow_random_weights": True, **opts})


def test_sample_series_monthly_frames_and_empty_bins_masked(tmp_path):
    path = tmp_path / "encoder.pt"
    torch.save(official_state_dict(), str(path))
    opts = {"weights": str(path), "image_size": 32}
    spring = TemporalSpec.range("2022-01-01", "2022-05-01")
    e = api.get_embedding("galileo", spatial=ROI, temporal=spring, output=OutputSpec.grid(), backend="local",
                          device="cpu", model_options=opts)
    sel = e.meta["frame_selection"]
    assert e.array.shape == (128, 4, 4) and e.meta["num_frames"] == 4 == sel["frames_in"]
    assert sel["policy"]["mode"] == "monthly" and e.meta["months"] == [1, 2, 3, 4]
    assert sel["frames_masked"] == sel["empty_bins"] and sel["empty_handling"] == "fed with their tokens masked"
    assert e.meta["random_weights"] is False and "crs" in e.meta
    pooled = api.get_embeddings_batch("galileo", spatials=[ROI, PointBuffer(9.025, 47.843, 320)], temporal=spring,
                                      backend="local", device="cpu", model_options=opts)
    np.testing.assert_allclose(pooled[0].array, e.array.reshape(128, -1).mean(1), rtol=1e-4, atol=1e-5)


def test_a_masked_frame_does_not_reach_the_model(tmp_path):
    emb = api.get_embedder("galileo", device="cpu", model_options={"allow_random_weights": True, "image_size": 16})
    assert emb.weights_meta["status"] == "random"
    t = TemporalSpec.range("2022-01-01", "2022-04-01")
    frames = [{**b.to_dict(), "n_scenes": n} for b, n in zip(t.split(3), (2, 0, 1), strict=True)]
    data = np.random.default_rng(0).uniform(0, 5000, (3, 10, 16, 16)).astype(np.float32)

    def run(d):
        p = Patch(d, S2_BANDS, frames=frames, temporal=t)
        return emb.embed_patches([p], OutputSpec.pooled())[0]

    base = run(data)
    other = data.copy()
    other[1] = 1234.0                                     # the empty bin's pixels: ignored
    np.testing.assert_array_equal(run(other).array, base.array)
    other[2] += 500.0                                     # a frame with data: seen
    assert not np.allclose(run(other).array, base.array)
    assert base.meta["frame_selection"]["frames_masked"] == [1] and base.meta["months"] == [1, 2, 3]
