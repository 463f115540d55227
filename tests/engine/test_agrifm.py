"""AgriFM: the official key layout loads strictly, the forward reproduces upstream's code,
frames come from the shared policy, and the embedding is a georeferenced grid.

``data/agrifm_official_keys.json`` lists the keys of ``AgriFM.pth`` as upstream's loader
reads them (``S2_patch_emd``, the Landsat/MODIS stems, ``backbone.*``);
``data/agrifm_upstream_reference.json`` the outputs of upstream's encoder on weights drawn
from that list (how: its ``note``). Checkpoints here are written from the list, in the
layout of an OpenMMLab checkpoint (``{"meta": ..., "state_dict": ...}``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rs_embed_qgis.engine import api, describe_model
from rs_embed_qgis.engine.catalog.models.agrifm import NORM
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.agrifm import AgriFMEncoder
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

DATA = Path(__file__).parent / "data"
KEYS = json.loads((DATA / "agrifm_official_keys.json").read_text())["keys"]
REF = json.loads((DATA / "agrifm_upstream_reference.json").read_text())
REDUCED = {"depths": REF["depths"]}            # stage 3: 2 blocks instead of 18, full width
TINY = {"embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8]}
ROI = PointBuffer(lon=9.02, lat=47.84, buffer_m=300)
YEAR = TemporalSpec.range("2022-01-01", "2023-01-01")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, one_torch_thread):
    monkeypatch.delenv("RS_EMBED_AGRIFM_CKPT", raising=False)
    api.clear_caches()
    yield
    api.clear_caches()


def _in_reduced_model(key: str) -> bool:
    if key.startswith(("HLSL30_patch_emd.", "Modis_patch_emd.")):
        return False
    return not (key.startswith("backbone.layers.2.blocks.") and int(key.split(".")[4]) >= REF["depths"][2])


def official_state_dict() -> dict[str, torch.Tensor]:
    """The reference's weights (float keys of the reduced encoder, in key-list order) plus the
    Landsat/MODIS stems the file also holds; position indices as the model builds them."""
    built = AgriFMEncoder(_config(REDUCED)).state_dict()
    g = torch.Generator().manual_seed(0)
    sd = {}
    for key, shape, dtype in KEYS:
        if not _in_reduced_model(key):
            continue
        if dtype != "float32":
            sd[key] = built[key]
            continue
        t = torch.randn(tuple(shape), generator=g) * 0.05
        is_norm = key.endswith(".weight") and len(shape) == 1 and "norm" in key.rsplit(".", 2)[-2]
        sd[key] = t + 1.0 if is_norm else t
    for key, shape, _ in KEYS:
        if key.startswith(("HLSL30_patch_emd.", "Modis_patch_emd.")):
            sd[key] = torch.zeros(tuple(shape))
    return sd


def _config(arch: dict):
    import dataclasses

    from rs_embed_qgis.engine.nn.agrifm import AGRIFM_CONFIG

    return dataclasses.replace(AGRIFM_CONFIG, **{k: tuple(v) for k, v in arch.items()})


def write_checkpoint(path: Path, sd: dict, *, ddp: bool = False) -> Path:
    if ddp:
        sd = {f"module.{k}": v for k, v in sd.items()}
    torch.save({"meta": {"epoch": 100}, "state_dict": sd}, str(path))
    return path


def test_full_architecture_has_the_official_key_layout():
    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in AgriFMEncoder().state_dict().items()}
    official = {k: s for k, s, _ in KEYS}
    set_aside = {k for k in official if k not in ours}
    assert {k.split(".")[0] for k in set_aside} == {"HLSL30_patch_emd", "Modis_patch_emd"}
    assert ours == {k: s for k, s in official.items() if k not in set_aside}
    assert len(ours) == 349 and ours["backbone.norm.weight"] == [1024]


@pytest.mark.parametrize("case", sorted(REF["cases"]))
def test_forward_matches_the_upstream_code(tmp_path, case):
    path = write_checkpoint(tmp_path / "AgriFM.pth", official_state_dict())
    emb = api.get_embedder("agrifm", device="cpu", model_options={"weights": str(path), "arch": REDUCED})
    assert emb.weights_meta["status"] == "pretrained"
    assert emb.weights_meta["ignored_key_groups"] == ["HLSL30_patch_emd", "Modis_patch_emd"]
    c = REF["cases"][case]
    x = torch.randn(tuple(c["input_shape"]), generator=torch.Generator().manual_seed(c["input_seed"]))
    with torch.inference_mode():
        out = emb.model(x)
    assert list(out.shape) == c["out_shape"]
    for ours, ref in ((out[0, :8], c["out_b0_c0to8_all"]), (out[-1, -8:], c["out_blast_clast8_all"])):
        ref = np.asarray(ref)
        assert np.abs(ours.numpy().reshape(-1) - ref).max() <= 1e-5 * np.abs(ref).max()
    assert float(out.mean()) == pytest.approx(c["out_mean"], abs=1e-6)
    assert float(out.std()) == pytest.approx(c["out_std"], rel=1e-5)


def test_a_ddp_module_prefix_is_dropped_and_other_keys_are_named(tmp_path):
    sd = official_state_dict()
    ok = write_checkpoint(tmp_path / "ddp.pth", sd, ddp=True)
    emb = api.get_embedder("agrifm", device="cpu", model_options={"weights": str(ok), "arch": REDUCED})
    assert torch.equal(emb.model.state_dict()["backbone.norm.bias"], sd["backbone.norm.bias"])
    bad = dict(sd)
    bad["decode_head.conv_seg.weight"] = torch.zeros(2, 4)
    del bad["backbone.layers.3.blocks.1.mlp.fc2.bias"]
    path = write_checkpoint(tmp_path / "other.pth", bad)
    with pytest.raises(ModelError) as ei:
        api.get_embedder("agrifm", device="cpu", model_options={"weights": str(path), "arch": REDUCED})
    msg = str(ei.value)
    assert "other.pth" in msg and "decode_head.conv_seg.weight" in msg and "layers.3.blocks.1.mlp.fc2.bias" in msg


def test_a_training_checkpoint_with_python_objects_is_refused(tmp_path):
    p = tmp_path / "AgriFM.pth"
    # OpenMMLab checkpoints keep numpy scalars and the like in their "meta"
    torch.save({"meta": {"best_score": np.float64(0.9)}, "state_dict": official_state_dict()}, str(p))
    with pytest.raises(ModelError, match=r"AgriFM.pth.*numpy.*never unpickles"):
        api.get_embedder("agrifm", device="cpu", model_options={"weights": str(p), "arch": REDUCED})


def test_without_weights_the_error_says_where_to_get_them():
    with pytest.raises(ModelError) as ei:
        api.get_embedder("agrifm", device="cpu", model_options={"download": False, "arch": TINY})
    msg = str(ei.value)
    assert "https://glass.hku.hk/casual/AgriFM/AgriFM.pth" in msg and "RS_EMBED_AGRIFM_CKPT" in msg
    assert "AgriFM.pth" in msg and "allow_random_weights" in msg
    d = describe_model("agrifm")
    assert d["weights"]["url"] == "https://glass.hku.hk/casual/AgriFM/AgriFM.pth" and d["weights"]["status"] == "missing"
    assert d["bands"] == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]


def test_series_from_the_sample_gives_a_georeferenced_grid_with_empty_bins_dropped():
    """24 bins over 2022 on the 12 sample scenes: the empty bins are dropped and recorded."""
    opts = {"allow_random_weights": True, "arch": TINY, "frames": 24}
    e = api.get_embedding("agrifm", spatial=ROI, temporal=YEAR, output=OutputSpec.grid(), backend="local",
                          device="cpu", model_options=opts)
    assert e.meta["random_weights"] is True and e.meta["weights"]["status"] == "random"
    assert e.array.shape == (128, 14, 14) and np.isfinite(e.array).all()
    sel = e.meta["frame_selection"]
    empty = [i for i, b in enumerate(sel["bins"]) if b["n_scenes"] == 0]
    assert sel["frames_in"] == 24 and sel["empty_bins"] == empty and len(empty) >= 12
    assert sel["frames_used"] == [i for i in range(24) if i not in empty]
    assert e.meta["num_frames"] == 24 - len(empty) == len(e.meta["frame_dates"])
    assert e.meta["crs"] == "EPSG:32632" and e.meta["bounds"] == pytest.approx(e.meta["roi_bounds"])
    pooled = api.get_embedding("agrifm", spatial=ROI, temporal=YEAR, backend="local", device="cpu",
                               model_options=opts)
    assert np.allclose(pooled.array, e.array.mean(axis=(1, 2)), atol=1e-5)


def test_input_is_normalised_with_agrifm_statistics_and_frames_fold_into_the_batch():
    emb = api.get_embedder("agrifm", device="cpu", model_options={"allow_random_weights": True, "arch": TINY})
    x = np.stack([np.full((10, 8, 8), 1000.0 * (t + 1), np.float32) for t in range(3)])
    x[1, 4, 0, 0] = np.nan
    from rs_embed_qgis.engine.providers.base import Patch

    frames = [{"mid": f"2022-0{m + 4}-15", "n_scenes": 1} for m in range(3)]
    chw = emb.preprocess(Patch(x, emb.bands, frames=frames))
    assert chw.shape == (30, 8, 8)
    expect = (2000.0 - np.asarray(NORM.mean)) / np.asarray(NORM.std)
    assert np.allclose(chw[10:20, 1, 1], expect, atol=1e-6)
    assert chw[14, 0, 0] == 0.0  # no data -> the band mean -> 0
    with pytest.raises(ModelError, match="frames"):
        api.get_embedder("agrifm", device="cpu", model_options={"allow_random_weights": True, "frames": 40})
    with pytest.raises(ModelError, match="image_size"):
        api.get_embedder("agrifm", device="cpu", model_options={"allow_random_weights": True, "image_size": 100})


def test_a_batch_of_rois_is_one_forward_and_equals_the_loop():
    rois = [PointBuffer(9.01 + 0.01 * i, 47.84, 300) for i in range(3)]
    opts = {"allow_random_weights": True, "arch": TINY, "frames": 4, "batch_size": 4}
    batch = api.get_embeddings_batch("agrifm", spatials=rois, temporal=YEAR, backend="local", device="cpu",
                                     model_options=opts)
    assert {b.meta["forwards_in_call"] for b in batch} == {1}
    loop = [api.get_embedding("agrifm", spatial=r, temporal=YEAR, backend="local", device="cpu",
                              model_options=opts) for r in rois]
    for b, one in zip(batch, loop, strict=True):
        assert np.allclose(b.array, one.array, atol=1e-5)


def test_the_official_file_downloads_only_when_its_unpublished_hash_may_be_trusted():
    """No size or hash is published for AgriFM.pth: a download needs allow_unverified=True
    (trust on first use), and is refused before any byte is fetched without it."""
    with pytest.raises(ModelError) as ei:
        api.get_embedder("agrifm", device="cpu", model_options={"arch": TINY})
    msg = str(ei.value)
    assert "glass.hku.hk/casual/AgriFM/AgriFM.pth" in msg and "allow_unverified=True" in msg
    assert describe_model("agrifm")["weights"]["verification"].startswith("no published sha256")
