"""AnySat end to end on the bundled Sentinel-2 sample, and true batching."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from anysat_util import OFFICIAL, YEAR

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

CENTER = (9.02, 47.84)  # inside the bundled sample (EPSG:32632, 2022)


@pytest.fixture(autouse=True)
def _clean_env(anysat_env):
    yield


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny checkpoint in the official layout and format (``{"state_dict": ...}``)."""
    g = torch.Generator().manual_seed(7)
    sd = {k: torch.randn(tuple(s), generator=g) * 0.05 for k, s in OFFICIAL["sizes"]["tiny"]}
    for k in sd:  # norm layers near identity, as trained ones are
        if k.endswith(("norm1.weight", "norm2.weight", "predictor_norm.weight")) or \
                ("norm" in k and k.endswith(".weight") and sd[k].ndim == 1):
            sd[k] = 1.0 + sd[k]
    path = tmp_path_factory.mktemp("anysat") / "AnySat_tiny.pth"
    torch.save({"state_dict": sd}, str(path))
    return path


def test_get_embedding_on_the_bundled_sample(tiny_ckpt, sample_dir):
    if not any(sample_dir.glob("*.tif")):
        pytest.skip("bundled sample data missing")
    roi = PointBuffer(lon=CENTER[0], lat=CENTER[1], buffer_m=400)
    e = api.get_embedding("anysat", spatial=roi, temporal=YEAR, output=OutputSpec.grid(scale_m=20),
                          backend="local", device="cpu", provider_options={"root": str(sample_dir)},
                          model_options={"model_size": "tiny", "ckpt": str(tiny_ckpt), "frames": 4})
    assert e.array.shape == (256, 12, 12) and np.isfinite(e.array).all()
    m = e.meta
    assert m["weights"]["status"] == "pretrained" and m["random_weights"] is False
    assert m["n_frames"] == 4 and m["doy_source"] == "patch frame midpoints"
    assert m["doy0_values"] == [45, 136, 228, 319]
    frames = m["input"]["frames"]
    assert len(frames) == 4 and sum(f["n_scenes"] for f in frames) >= 4
    assert m["input"]["shape_tchw"][:2] == [4, 10]
    assert m["crs"] == "EPSG:32632" and len(m["transform"]) == 6
    # the grid covers the ROI: 12 cells over the ROI's width
    a, _, c, _, e_, f = m["transform"]
    left, bottom, right, top = m["bounds"]
    assert abs(a * 12 - (right - left)) < 1e-6 and abs(c - left) < 1e-6
    pooled = api.get_embedding("anysat", spatial=roi, temporal=YEAR, backend="local", device="cpu",
                               provider_options={"root": str(sample_dir)},
                               output=OutputSpec.pooled(), model_options={
                                   "model_size": "tiny", "ckpt": str(tiny_ckpt), "frames": 4})
    assert pooled.array.shape == (256,)


def test_env_checkpoint_on_the_sample(tiny_ckpt, sample_dir, monkeypatch):
    if not any(sample_dir.glob("*.tif")):
        pytest.skip("bundled sample data missing")
    monkeypatch.setenv("RS_EMBED_ANYSAT_CKPT", str(tiny_ckpt))
    monkeypatch.setenv("RS_EMBED_ANYSAT_MODEL_SIZE", "tiny")
    monkeypatch.setenv("RS_EMBED_ANYSAT_FRAMES", "3")
    roi = PointBuffer(lon=CENTER[0], lat=CENTER[1], buffer_m=300)
    e = api.get_embedding("anysat", spatial=roi, temporal=TemporalSpec.year(2022), backend="local",
                          device="cpu", provider_options={"root": str(sample_dir)})
    assert e.meta["weights"]["source"] == "env:RS_EMBED_ANYSAT_CKPT"
    assert e.meta["n_frames"] == 3 and len(e.meta["input"]["frames"]) == 3
    assert e.meta["settings_source"]["frames"] == "env:RS_EMBED_ANYSAT_FRAMES"


class _Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.batches = inner, []

    def forward(self, x, patch_size, output="patch"):
        self.batches.append(int(x["s2"].shape[0]))
        return self.inner(x, patch_size, output)


def test_batch_runs_true_batched_forwards_with_the_same_results(tiny_ckpt):
    rng = np.random.RandomState(3)
    arrays = [rng.uniform(0, 4000, (3, 10, 12, 12)).astype("f4") for _ in range(5)]
    rois = [PointBuffer(lon=9.0 + 0.01 * i, lat=47.84, buffer_m=150) for i in range(5)]
    opts = {"model_size": "tiny", "ckpt": str(tiny_ckpt), "img": 12, "frames": 3, "batch_size": 2}
    emb = api.get_embedder("anysat", device="cpu", model_options=opts)
    counting = _Counting(emb.model())
    emb._model = counting
    out = api.get_embeddings_batch("anysat", spatials=rois, temporal=YEAR, backend="local", device="cpu",
                                   input_chws=arrays, output=OutputSpec.grid(scale_m=20),
                                   model_options=opts)
    assert counting.batches == [2, 2, 1]  # one forward per chunk of batch_size, not one per ROI
    counting.batches.clear()
    single = [api.get_embedding("anysat", spatial=r, temporal=YEAR, backend="local", device="cpu",
                                input_chw=a, output=OutputSpec.grid(scale_m=20), model_options=opts)
              for r, a in zip(rois, arrays, strict=True)]
    assert counting.batches == [1] * 5
    for b, s in zip(out, single, strict=True):
        assert np.allclose(b.array, s.array, atol=1e-4)
    assert not np.allclose(out[0].array, out[1].array, atol=1e-4)  # ROIs differ


def test_sample_without_temporal_runs_on_the_default_window(tiny_ckpt, sample_dir):
    if not any(sample_dir.glob("*.tif")):
        pytest.skip("bundled sample data missing")
    roi = PointBuffer(lon=CENTER[0], lat=CENTER[1], buffer_m=200)
    with pytest.warns(UserWarning, match="default window"):
        e = api.get_embedding("anysat", spatial=roi, backend="local", device="cpu",
                              provider_options={"root": str(sample_dir)},
                              model_options={"model_size": "tiny", "ckpt": str(tiny_ckpt), "frames": 2})
    frames = e.meta["input"]["frames"]
    assert [f["start"] for f in frames] == ["2022-06-01", "2022-07-17"]
    assert all(f["scene_dates"] and all("2022-06" <= d < "2022-09" for d in f["scene_dates"]) for f in frames)
