"""AnySat checkpoints: the official key layout loads strictly through the shared
resolver and loader; bad files raise ModelError naming the file and the keys.

``tests/data/anysat_official_keys.json`` lists every key and shape of the upstream
model (``hubconf.AnySat(model_size).model.state_dict()``, the layout of the official
``models/AnySat.pth``); checkpoints here are built from that list, not from our module.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from anysat_util import OFFICIAL, YEAR, A

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.catalog import get_entry
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.anysat import AnySat
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer
from rs_embed_qgis.engine.weights import load_into, load_state_dict, resolve_weights

ROI = PointBuffer(lon=9.19, lat=45.46, buffer_m=200)


@pytest.fixture(autouse=True)
def _clean_env(anysat_env, monkeypatch, tmp_path):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))  # tests put files there
    yield


def official_state_dict(size: str, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(tuple(shape), generator=g) * 0.02 for k, shape in OFFICIAL["sizes"][size]}


def save_official(path: Path, size: str = "tiny", seed: int = 0) -> dict:
    """As the official file is saved: a torch file holding ``{"state_dict": ...}``."""
    sd = official_state_dict(size, seed)
    torch.save({"state_dict": sd}, str(path))
    return sd


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_our_module_has_exactly_the_official_keys_and_shapes(size):
    ours = {k: list(v.shape) for k, v in AnySat(size).state_dict().items()}
    assert ours == dict((k, s) for k, s in OFFICIAL["sizes"][size])


def test_official_layout_loads_strictly_through_resolver_and_loader(tmp_path):
    path = tmp_path / "AnySat.pth"
    sd = save_official(path)
    r = resolve_weights("anysat", get_entry("anysat").weights, str(path))
    assert r.source == "explicit" and r.path == path
    loaded = load_state_dict(r.path)       # picks the "state_dict" entry, weights_only
    model = AnySat("tiny")
    load_into(model, A.to_official_layout(loaded), r.path)
    own = model.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in sd)


def test_embedder_loads_a_checkpoint_given_as_option_env_or_cache(tmp_path, monkeypatch):
    path = tmp_path / "AnySat.pth"
    sd = save_official(path)
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu",
              input_chw=np.random.RandomState(0).uniform(0, 3000, (2, 10, 12, 12)).astype("f4"))
    e = api.get_embedding("anysat", model_options={"model_size": "tiny", "ckpt": str(path), "img": 12}, **kw)
    assert e.meta["weights"]["status"] == "pretrained" and e.meta["weights"]["source"] == "explicit"
    assert e.meta["random_weights"] is False
    model = api.get_embedder("anysat", device="cpu",
                             model_options={"model_size": "tiny", "ckpt": str(path), "img": 12}).model()
    assert torch.equal(model.state_dict()["blocks.2.attn.q_learned"], sd["blocks.2.attn.q_learned"])

    monkeypatch.setenv("RS_EMBED_ANYSAT_CKPT", str(path))
    e_env = api.get_embedding("anysat", model_options={"model_size": "tiny", "img": 12}, **kw)
    assert e_env.meta["weights"]["source"] == "env:RS_EMBED_ANYSAT_CKPT"
    assert np.allclose(e_env.array, e.array)
    monkeypatch.delenv("RS_EMBED_ANYSAT_CKPT")

    cache = tmp_path / "cache" / "weights" / "anysat"
    cache.mkdir(parents=True)
    (cache / "AnySat_tiny.pth").write_bytes(path.read_bytes())
    api.clear_caches()
    e_cache = api.get_embedding("anysat", model_options={"model_size": "tiny", "img": 12}, **kw)
    assert e_cache.meta["weights"]["source"] == "cache"
    assert np.allclose(e_cache.array, e.array)


def test_explicit_option_beats_the_environment_variable(tmp_path, monkeypatch):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    save_official(a, seed=1)
    save_official(b, seed=2)
    monkeypatch.setenv("RS_EMBED_ANYSAT_CKPT", str(b))
    emb = api.get_embedder("anysat", device="cpu", model_options={"model_size": "tiny", "weights": str(a)})
    emb.model()
    assert emb.weights_meta["path"] == str(a) and emb.weights_meta["source"] == "explicit"


def test_safetensors_and_hub_wrapper_layouts_load(tmp_path):
    from safetensors.torch import save_file

    sd = official_state_dict("tiny")
    st = tmp_path / "anysat_tiny.safetensors"
    save_file(sd, str(st))
    emb = api.get_embedder("anysat", device="cpu", model_options={"model_size": "tiny", "ckpt": str(st)})
    assert torch.equal(emb.model().state_dict()["cls_token"], sd["cls_token"])
    # the hub wrapper's own state dict: "model.*" plus a duplicate "spatial_encoder.*"
    wrapped = {f"model.{k}": v for k, v in sd.items()}
    wrapped.update({k: v for k, v in sd.items() if k.startswith("spatial_encoder.")})
    wp = tmp_path / "wrapped.pth"
    torch.save(wrapped, str(wp))
    emb2 = api.get_embedder("anysat", device="cpu", model_options={"model_size": "tiny", "ckpt": str(wp)})
    assert torch.equal(emb2.model().state_dict()["cls_token"], sd["cls_token"])


def _load(path, size="tiny"):
    emb = api.get_embedder("anysat", device="cpu", model_options={"model_size": size, "ckpt": str(path)})
    return emb.model()


def test_corrupt_file_names_the_file(tmp_path):
    p = tmp_path / "garbage.pth"
    p.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ModelError, match="garbage.pth"):
        _load(p)


def test_truncated_file_names_the_file(tmp_path):
    full = tmp_path / "full.pth"
    save_official(full)
    p = tmp_path / "truncated.pth"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated.pth"):
        _load(p)


def test_mismatched_keys_are_named(tmp_path):
    sd = official_state_dict("tiny")
    del sd["projector_s2.patch_embed.attention_heads.Q"]
    sd["projector_s2.patch_embed.in_norm.weight"] = torch.zeros(7)
    sd["head.weight"] = torch.zeros(3)
    p = tmp_path / "mismatch.pth"
    torch.save({"state_dict": sd}, str(p))
    with pytest.raises(ModelError) as ei:
        _load(p)
    msg = str(ei.value)
    assert "mismatch.pth" in msg and "projector_s2.patch_embed.attention_heads.Q" in msg
    assert "head.weight" in msg and "projector_s2.patch_embed.in_norm.weight" in msg


def test_a_checkpoint_of_another_size_is_a_shape_mismatch(tmp_path):
    p = tmp_path / "small.pth"
    save_official(p, "small")
    with pytest.raises(ModelError, match=r"small.pth.*shape mismatches.*cls_token"):
        _load(p, "tiny")


def test_missing_checkpoint_explains_where_to_put_it():
    emb = api.get_embedder("anysat", device="cpu", model_options={"model_size": "base", "download": False})
    with pytest.raises(ModelError) as ei:
        emb.model()
    msg = str(ei.value)
    assert "RS_EMBED_ANYSAT_CKPT" in msg and "ckpt" in msg
    assert "https://huggingface.co/g-astruc/AnySat/resolve/main/models/AnySat.pth" in msg
    assert "AnySat.pth" in msg and "weights" in msg


def test_tiny_without_checkpoint_says_none_is_published():
    emb = api.get_embedder("anysat", device="cpu", model_options={"model_size": "tiny"})
    with pytest.raises(ModelError, match="none is published"):
        emb.model()


def test_missing_explicit_path_is_an_error_even_with_random_allowed(tmp_path):
    emb = api.get_embedder("anysat", device="cpu", model_options={
        "model_size": "tiny", "ckpt": str(tmp_path / "nope.pth"), "allow_random_weights": True})
    with pytest.raises(ModelError, match="nope.pth"):
        emb.model()


def test_random_weights_only_when_asked_and_marked():
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu",
              input_chw=np.ones((10, 12, 12), "f4") * 1000)
    e = api.get_embedding("anysat", model_options={"model_size": "tiny", "allow_random_weights": True,
                                                   "img": 12}, output=OutputSpec.grid(), **kw)
    assert e.meta["random_weights"] is True and e.meta["weights"]["status"] == "random"
    assert "allow_random_weights" in e.meta["weights"]["reason"]
    assert e.data.attrs["random_weights"] == 1


@pytest.mark.parametrize("how", ["option", "variable"])
def test_no_code_is_ever_imported_from_a_repo_path(tmp_path, monkeypatch, how):
    """repo_path / RS_EMBED_ANYSAT_REPO_PATH used to import DIR/hubconf.py: now refused, never run."""
    repo = tmp_path / "AnySat"
    repo.mkdir()
    ran = tmp_path / "hubconf_ran"
    (repo / "hubconf.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    opts = {"model_size": "tiny", "pretrained": False}
    if how == "option":
        opts["repo_path"] = str(repo)
    else:
        monkeypatch.setenv("RS_EMBED_ANYSAT_REPO_PATH", str(repo))
    with pytest.raises(ModelError, match="removed.*hubconf.py") as ei:
        api.get_embedder("anysat", device="cpu", model_options=opts).model()
    assert str(repo) in str(ei.value) and not ran.exists()


def test_a_file_with_python_objects_is_not_unpickled_and_the_fix_is_explained(tmp_path):
    import argparse

    sd = official_state_dict("tiny")
    p = tmp_path / "lightning_like.pth"
    # a non-tensor object a weights_only load refuses (as full training checkpoints hold)
    torch.save({"state_dict": sd, "hyper_parameters": argparse.Namespace(lr=1e-4)}, str(p))
    with pytest.raises(ModelError) as ei:
        _load(p)
    assert "lightning_like.pth" in str(ei.value) and "safetensors" in str(ei.value)


REFERENCE = json.loads((Path(__file__).parent / "data" / "anysat_upstream_reference.json").read_text())


@pytest.mark.parametrize("flash", [False, True])
def test_outputs_match_values_recorded_from_the_upstream_model(tmp_path, flash):
    """Same checkpoint and input as recorded from upstream hubconf.AnySat('tiny') (see the json)."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(tuple(s), generator=g) * 0.05 for k, s in OFFICIAL["sizes"]["tiny"]}
    for k in sd:
        if "norm" in k and k.endswith(".weight") and sd[k].ndim == 1:
            sd[k] = 1.0 + sd[k]
    path = tmp_path / "AnySat_tiny.pth"
    torch.save({"state_dict": sd}, str(path))
    model = AnySat("tiny", flash_attn=flash).eval()
    load_into(model, load_state_dict(path), path)
    gi = torch.Generator().manual_seed(1)
    x = {"s2": torch.randn((1, 4, 10, 12, 12), generator=gi), "s2_dates": torch.tensor([[10, 100, 200, 300]])}
    ref = REFERENCE["cases"][f"flash_{int(flash)}"]
    with torch.inference_mode():
        patch = model(x, patch_size=20, output="patch")
        tile = model(x, patch_size=20, output="tile")
    assert list(patch.shape) == ref["patch_shape"]
    assert np.allclose(patch[0, :, :, :8].flatten().numpy(), ref["patch_slice_0_all_all_0to8"], atol=1e-4)
    assert np.allclose(tile[0, :16].numpy(), ref["tile_0to16"], atol=1e-4)
    assert abs(float(patch.mean()) - ref["patch_mean"]) < 1e-4
