"""OlmoEarth v1: the official key layout, the forward against upstream on the same
random weights, and the adapter on the bundled sample (monthly frames by the shared
policy, empty ones dropped; Sentinel-1 only where the backend serves it).

``data/olmoearth_official_keys.json``: the ``encoder.*`` keys of upstream's LatentMIM
built with the v1 settings of the official training scripts (nano/tiny/base/large).
``data/olmoearth_upstream_reference.json``: upstream encoder outputs; the note says how
the weights and inputs were made.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.catalog.models.olmoearth import S2_BANDS as OLMO_S2_BANDS
from rs_embed_qgis.engine.errors import ModelError, ProviderError
from rs_embed_qgis.engine.nn.olmoearth import OLMOEARTH_CONFIGS, OlmoEarthEncoder, set_aside_prefixes
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

DATA = Path(__file__).parent / "data"
OFFICIAL = json.loads((DATA / "olmoearth_official_keys.json").read_text())
KEYS = OFFICIAL["variants"]
REFERENCE = json.loads((DATA / "olmoearth_upstream_reference.json").read_text())["cases"]
ROI = PointBuffer(9.02, 47.8398, 320)  # inside the bundled sample


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RS_EMBED_OLMOEARTH_CKPT", raising=False)
    api.clear_caches()
    yield
    api.clear_caches()


def official_file(path: Path, variant: str = "nano", seed: int = 0) -> dict[str, torch.Tensor]:
    """``weights.pth`` as published: the encoder keys (random, seed 0, in key-list order),
    plus the legacy ``pos_embed`` and a decoder/target-encoder key, which are set aside."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in KEYS[variant]:
        x = torch.randn(tuple(shape), generator=g) * 0.05
        if "norm" in k and k.endswith(".weight") and x.ndim == 1:
            x = x + 1.0
        sd[k] = x
    q = dict(KEYS[variant])["encoder.norm.weight"][0] // 4
    torch.save({**sd, "encoder.composite_encodings.pos_embed": torch.zeros(12, q),
                "decoder.norm.weight": torch.ones(4), "target_encoder.norm.weight": torch.ones(4)}, str(path))
    return sd


@pytest.mark.parametrize("variant", ["nano", "tiny", "base", "large"])
def test_our_encoder_has_the_official_keys_it_uses_and_sets_the_rest_aside_by_name(variant):
    with torch.device("meta"):
        ours = {f"encoder.{k}": list(v.shape)
                for k, v in OlmoEarthEncoder(OLMOEARTH_CONFIGS[variant]).state_dict().items()}
    official = dict(KEYS[variant])
    aside = set_aside_prefixes()
    assert ours == {k: s for k, s in official.items() if not k.startswith(aside)}
    assert {k.split(".")[2] for k in official if k not in ours} == {
        "per_modality_embeddings", "per_modality_channel_embeddings", "projection"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_forward_matches_upstream_on_the_same_weights(tmp_path, name):
    case = REFERENCE[name]
    path = tmp_path / "weights.pth"
    official_file(path)
    emb = api.get_embedder("olmoearth", device="cpu", model_options={"variant": "nano", "weights": str(path)})
    assert emb.weights_meta["status"] == "pretrained"
    assert emb.weights_meta["ignored_key_groups"] == ["decoder", "encoder", "target_encoder"]
    b, h, t = case["batch"], case["px"], case["frames"]
    g = torch.Generator().manual_seed(1)
    inputs = {}
    if "s2" in case["modalities"]:
        inputs["sentinel2_l2a"] = torch.randn((b, h, h, t, 12), generator=g)
    if "s1" in case["modalities"]:
        inputs["sentinel1"] = torch.randn((b, h, h, t, 2), generator=g)
    with torch.inference_mode():
        out = emb.model(inputs, torch.tensor(case["months"]), case["patch_size"], case["input_res"])
    close = dict(rtol=1e-5, atol=2e-6)
    for m, field in (("s2", "sentinel2_l2a"), ("s1", "sentinel1")):
        if m not in case["modalities"]:
            continue
        y = out[field].numpy()
        assert list(y.shape) == case[f"{m}_shape"]
        np.testing.assert_allclose(y[0, 0, 0, 0, 0, :8], case[f"{m}_first_0to8"], **close)
        np.testing.assert_allclose(y[-1, -1, -1, -1, -1, :8], case[f"{m}_last_0to8"], **close)
        np.testing.assert_allclose(y[0].mean(axis=(2, 3))[0, 0, :16], case[f"{m}_grid_mean_0_0_0to16"], **close)
        assert abs(float(y.astype(np.float64).mean()) - case[f"{m}_mean"]) < 1e-6


def test_sample_series_is_monthly_empty_bins_dropped(tmp_path):
    path = tmp_path / "weights.pth"
    official_file(path)
    opts = {"variant": "nano", "weights": str(path), "image_size": 32}
    spring = TemporalSpec.range("2022-01-01", "2022-05-01")
    e = api.get_embedding("olmoearth", spatial=ROI, temporal=spring, output=OutputSpec.grid(), backend="local",
                          device="cpu", model_options=opts)
    sel = e.meta["frame_selection"]
    assert e.array.shape == (128, 4, 4) and sel["frames_in"] == 4 and sel["policy"]["mode"] == "monthly"
    assert sel["frames_used"] == [i for i in range(4) if i not in sel["empty_bins"]]
    assert e.meta["num_frames"] == len(sel["frames_used"]) and sel["empty_handling"] in (None, "dropped")
    assert e.meta["bands"] == list(OLMO_S2_BANDS) and e.meta["random_weights"] is False
    fixed = api.get_embedding("olmoearth", spatial=ROI, temporal=spring, backend="local", device="cpu",
                              model_options=dict(opts, frames=2))
    assert fixed.meta["frame_selection"]["frames_in"] == 2 and fixed.meta["months"] == [1, 4]  # bin midpoints 01-31, 04-01


def test_sentinel1_needs_a_backend_that_serves_it_and_runs_on_caller_data():
    with pytest.raises(ProviderError, match="modality='s1' needs Sentinel-1 GRD.*only the 'gee' backend"):
        api.get_embedding("olmoearth", spatial=ROI, temporal=TemporalSpec.year(2022), backend="local", device="cpu",
                          model_options={"variant": "nano", "modality": "s1", "allow_random_weights": True})
    db = np.random.default_rng(0).uniform(-25, -5, (2, 2, 24, 24)).astype(np.float32)
    e = api.get_embedding_from_data("olmoearth", db, bands=["VV", "VH"], dates=["2022-03-01", "2022-04-01"],
                                    device="cpu", model_options={"variant": "nano", "modality": "s1", "image_size": 16,
                                                                 "allow_random_weights": True})
    assert e.array.shape == (128,) and e.meta["modality"] == "s1" and e.meta["months"] == [3, 4]
    assert e.meta["random_weights"] is True


@pytest.mark.parametrize("opts,match", [({"modality": "s3"}, "modality must be 's2'"),
                                        ({"frames": 0}, "frames must be an int from 1 to 12"),
                                        ({"patch_size": 9}, "patch_size must be an int from 1 to 8")])
def test_bad_options(opts, match):
    with pytest.raises(ModelError, match=match):
        api.get_embedder("olmoearth", device="cpu", model_options={"allow_random_weights": True, **opts})


def test_missing_weights_name_the_official_file():
    with pytest.raises(ModelError, match="OlmoEarth-v1-Nano.pth.*RS_EMBED_OLMOEARTH_CKPT.*huggingface.co/allenai/OlmoEarth-v1-Nano/.*/weights.pth"):
        api.get_embedder("olmoearth", device="cpu", model_options={"variant": "nano", "download": False})
