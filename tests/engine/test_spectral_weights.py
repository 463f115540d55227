"""DOFA, Clay, TerraMind and SatVision: the official checkpoint layouts load strictly through
the shared resolver and loader, and the forwards reproduce the outputs recorded from the
upstream code on the same weights and inputs (``tests/engine/data/*_upstream_reference.json``).

Checkpoints are built from the committed key lists (not from our modules), written as the
official files are written, and loaded by the embedders through ``model_options["weights"]``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from spectral_util import (
    generated_weights,
    official_keys,
    reference,
    save_clay,
    save_dofa,
    save_satvision,
    save_terramind,
)

from rs_embed_qgis.engine.api import clear_caches, get_embedder
from rs_embed_qgis.engine.catalog import describe_model
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.nn.clay import CLAY_CONFIGS, ClayEncoder
from rs_embed_qgis.engine.nn.dofa import DOFA_CONFIGS, DOFAEncoder
from rs_embed_qgis.engine.nn.satvision import SATVISION_CONFIGS, SatVisionEncoder
from rs_embed_qgis.engine.nn.terramind import TERRAMIND_CONFIGS, TerraMindEncoder
from rs_embed_qgis.engine.weights import load_into, load_state_dict

GEOMETRY_BUFFERS = ("relative_position_index", "relative_coords_table", "attn_mask")
S1 = ("untok_sen2l2a@224", "untok_sen1grd@224", "untok_sen1rtc@224")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("RS_EMBED_DOFA_CKPT", "RS_EMBED_CLAY_CKPT", "RS_EMBED_TERRAMIND_CKPT", "RS_EMBED_SATVISION_CKPT"):
        monkeypatch.delenv(var, raising=False)
    clear_caches()
    yield
    clear_caches()


def close(got, want):
    """1e-5 relative, with a 1e-5 absolute floor: the references are recorded to 6 decimals."""
    np.testing.assert_allclose(np.asarray(got, np.float64).reshape(-1), np.asarray(want), rtol=1e-5, atol=1e-5)


def shapes(module, prefix=""):
    return {prefix + k: list(v.shape) for k, v in module.state_dict().items()}


# -- our modules have exactly the official names and shapes, at every published size ------------
@pytest.mark.parametrize("variant", ["base", "large"])
def test_dofa_official_layout(variant):
    with torch.device("meta"):
        m = DOFAEncoder(DOFA_CONFIGS[variant])
    assert shapes(m) == dict(official_keys("dofa")["variants"][variant])


def test_clay_official_layout():
    with torch.device("meta"):
        m = ClayEncoder(CLAY_CONFIGS["large"])
    assert shapes(m, "model.encoder.") == dict(official_keys("clay")["variants"]["large"])


@pytest.mark.parametrize("size", ["tiny", "small", "base", "large"])
def test_terramind_official_layout(size):
    with torch.device("meta"):
        m = TerraMindEncoder(dataclasses.replace(TERRAMIND_CONFIGS[size], modalities=S1))
    assert shapes(m) == dict(official_keys("terramind")["variants"][size])


def test_satvision_official_layout():
    with torch.device("meta"):
        m = SatVisionEncoder(SATVISION_CONFIGS["giant"])
    official = {k: s for k, s in official_keys("satvision")["variants"]["giant"]
                if k != "encoder.mask_token" and not k.startswith("decoder.")}
    assert shapes(m, "encoder.") == official
    assert sum(int(np.prod(s)) for s in official.values()) > 2.5e9  # the 3 B parameter giant


# -- forwards equal to upstream's on the recorded weights and inputs ----------------------------
def test_dofa_matches_upstream(tmp_path):
    ref = reference("dofa")
    path = save_dofa(tmp_path / "DOFA_ViT_base_e100.pth", generated_weights(ref["parity_keys"]))
    c = ref["config"]
    emb = get_embedder("dofa", device="cpu", model_options={
        "weights": str(path), "arch": {"embed_dim": c["embed_dim"], "depth": c["depth"], "num_heads": c["num_heads"]}})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["ignored_keys"] == 3
    x = torch.randn((2, 4, 224, 224), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tok, pooled = emb.model(x, torch.tensor(ref["wavelengths_um"]))
    assert list(tok.shape) == ref["tokens_shape"] and list(pooled.shape) == ref["pooled_shape"]
    close(tok[0, :4, :8], ref["tokens_0_0to4_all8"])
    close(tok[1, 100:102, :8], ref["tokens_1_100to102_all8"])
    close(pooled[:, :16], ref["pooled_all_0to16"])
    assert float(tok.mean()) == pytest.approx(ref["tokens_mean"], abs=1e-5)


def test_clay_matches_upstream(tmp_path):
    ref = reference("clay")
    path = save_clay(tmp_path / "clay-v1.5.ckpt", generated_weights(ref["parity_keys"]))
    c = ref["config"]
    emb = get_embedder("clay", device="cpu", model_options={"weights": str(path), "arch": {
        "dim": c["dim"], "depth": c["depth"], "heads": c["heads"], "dim_head": c["dim_head"],
        "mlp_ratio": float(c["mlp_ratio"])}})
    assert emb.weights_meta["ignored_key_groups"] == ["model"] and emb.weights_meta["ignored_keys"] == 6
    inp = ref["inputs"]
    x = torch.randn((2, 10, 64, 64), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = emb.model(x, torch.tensor(inp["time"]), torch.tensor(inp["latlon"]), torch.tensor(inp["gsd"]),
                        torch.tensor(inp["waves"]))
    assert list(out.shape) == ref["out_shape"]
    close(out[:, 0, :16], ref["cls_all_0to16"])
    close(out[0, 1:4, :8], ref["patch_0_1to4_0to8"])
    close(out[1, 60:62, :8], ref["patch_1_60to62_0to8"])
    assert float(out.mean()) == pytest.approx(ref["mean"], abs=1e-5)


def test_terramind_tiny_matches_upstream(tmp_path):
    """The official tiny size itself, through the embedder (S2 L2A)."""
    case = reference("terramind")["cases"]["S2L2A"]
    path = save_terramind(tmp_path / "TerraMind_v1_tiny.pt", generated_weights(case["parity_keys"]))
    emb = get_embedder("terramind", device="cpu", model_options={"variant": "tiny", "weights": str(path)})
    assert emb.weights_meta["ignored_keys"] == 40 and "decoder_embeddings.tok_sen2l2a@224" in \
        emb.weights_meta["ignored_key_groups"]
    x = torch.randn((2, 12, 224, 224), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = emb.model({"untok_sen2l2a@224": x})
    assert list(out.shape) == case["shape"]
    close(out[0, :4, :8], case["tok_0_0to4_0to8"])
    close(out[1, 150:152, :8], case["tok_1_150to152_0to8"])
    assert float(out.mean()) == pytest.approx(case["mean"], abs=1e-5)


def test_terramind_two_modalities_are_averaged_as_upstream(tmp_path):
    case = reference("terramind")["cases"]["S2L2A+S1GRD"]
    path = save_terramind(tmp_path / "TerraMind_v1_tiny.pt", generated_weights(case["parity_keys"]))
    model = TerraMindEncoder(dataclasses.replace(TERRAMIND_CONFIGS["tiny"], modalities=S1[:2])).eval()
    own = model.state_dict()
    load_into(model, {k: v for k, v in load_state_dict(path).items() if k in own}, path)
    g = torch.Generator().manual_seed(1)
    inp = {S1[0]: torch.randn((2, 12, 224, 224), generator=g), S1[1]: torch.randn((2, 2, 224, 224), generator=g)}
    with torch.inference_mode():
        out = model(inp)
    close(out[0, :4, :8], case["tok_0_0to4_0to8"])
    assert float(out.mean()) == pytest.approx(case["mean"], abs=1e-5)


def test_satvision_matches_upstream(tmp_path):
    ref = reference("satvision")
    c = ref["config"]
    arch = {"embed_dim": c["embed_dim"], "depths": c["depths"], "num_heads": c["num_heads"]}
    # the window geometry buffers are the module's own: they must equal upstream's
    geometry = get_embedder("satvision", device="cpu", model_options={"allow_random_weights": True, "arch": arch})
    own = {"encoder." + k: v for k, v in geometry.model.state_dict().items()}
    sd = generated_weights(ref["parity_keys"])
    for k in sd:
        if k.endswith(GEOMETRY_BUFFERS):
            assert float(own[k].double().sum()) == pytest.approx(ref["geometry_buffer_sums"][k], abs=1e-3), k
            sd[k] = own[k]
    path = save_satvision(tmp_path / "mp_rank_00_model_states.pt",
                          {k: v for k, v in sd.items() if k != "encoder.mask_token" and not k.startswith("decoder.")})
    emb = get_embedder("satvision", device="cpu", model_options={"weights": str(path), "arch": arch})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["ignored_keys"] == 3
    x = torch.rand((2, 14, 128, 128), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tok = emb.model(x)
    assert list(tok.shape) == ref["tokens_shape"]
    close(tok[0, :, :8], ref["tok_0_all_0to8"])
    close(tok[1, 5, :16], ref["tok_1_5_0to16"])
    close(tok.mean(dim=1)[:, :16], ref["pooled_0to16"])


# -- strict loading: bad files fail naming the file and the keys ---------------------------------
def test_unexpected_and_missing_keys_are_named(tmp_path):
    ref = reference("dofa")
    sd = generated_weights(ref["parity_keys"])
    del sd["blocks.1.mlp.fc2.bias"]
    sd["head_extra.weight"] = torch.zeros(3)
    path = save_dofa(tmp_path / "broken.pth", sd)
    with pytest.raises(ModelError) as ei:
        get_embedder("dofa", device="cpu", model_options={
            "weights": str(path), "arch": {"embed_dim": 64, "depth": 2, "num_heads": 4}})
    msg = str(ei.value)
    assert "broken.pth" in msg and "blocks.1.mlp.fc2.bias" in msg and "head_extra.weight" in msg


def test_a_file_of_another_size_is_a_shape_mismatch(tmp_path):
    ref = reference("clay")
    path = save_clay(tmp_path / "tiny.ckpt", generated_weights(ref["parity_keys"]))
    with pytest.raises(ModelError, match=r"tiny.ckpt.*shape mismatches.*model.encoder.cls_token"):
        get_embedder("clay", device="cpu", model_options={
            "weights": str(path), "arch": {"dim": 64, "depth": 6, "heads": 4, "dim_head": 16}})


def test_a_checkpoint_holding_python_objects_is_not_unpickled_and_the_fix_is_explained(tmp_path):
    import argparse

    ref = reference("clay")
    path = save_clay(tmp_path / "clay-v1.5.ckpt", generated_weights(ref["parity_keys"]),
                     extra={"hparams": argparse.Namespace(lr=1e-5)})
    with pytest.raises(ModelError) as ei:
        get_embedder("clay", device="cpu", model_options={"weights": str(path), "arch": {"dim": 64, "depth": 1}})
    msg = str(ei.value)
    assert "clay-v1.5.ckpt" in msg and "never unpickles" in msg and "safetensors" in msg


def test_converted_safetensors_file_loads(tmp_path):
    from safetensors.torch import save_file

    ref = reference("clay")
    sd = generated_weights(ref["parity_keys"])
    path = tmp_path / "clay-v1.5.safetensors"
    save_file(sd, str(path))
    c = ref["config"]
    emb = get_embedder("clay", device="cpu", model_options={"weights": str(path), "arch": {
        "dim": c["dim"], "depth": c["depth"], "heads": c["heads"], "dim_head": c["dim_head"], "mlp_ratio": 2.0}})
    assert torch.equal(emb.model.cls_token, sd["model.encoder.cls_token"])


@pytest.mark.parametrize("model, env, repo, filename", [
    ("dofa", "RS_EMBED_DOFA_CKPT", "earthflow/DOFA", "DOFA_ViT_base_e100.pth"),
    ("clay", "RS_EMBED_CLAY_CKPT", "made-with-clay/Clay", "v1.5/clay-v1.5.ckpt"),
    ("terramind", "RS_EMBED_TERRAMIND_CKPT", "ibm-esa-geospatial/TerraMind-1.0-small", "TerraMind_v1_small.pt"),
    ("satvision", "RS_EMBED_SATVISION_CKPT", "nasa-cisto-data-science-group/satvision-toa-giant-patch8-window8-128",
     "mp_rank_00_model_states.pt"),
])
def test_missing_weights_say_where_to_get_and_put_them(model, env, repo, filename):
    with pytest.raises(ModelError) as ei:
        get_embedder(model, device="cpu", model_options={"download": False})
    msg = str(ei.value)
    assert env in msg and repo in msg and filename in msg and "allow_random_weights" in msg
    d = describe_model(model)
    assert d["weights"]["hf_repo"] == repo and d["weights"]["env_var"] == env and d["weights"]["status"] == "missing"


def test_environment_variable_and_cache_are_found(tmp_path, monkeypatch):
    ref = reference("dofa")
    arch = {"embed_dim": 64, "depth": 2, "num_heads": 4}
    path = save_dofa(tmp_path / "mine.pth", generated_weights(ref["parity_keys"]))
    monkeypatch.setenv("RS_EMBED_DOFA_CKPT", str(path))
    emb = get_embedder("dofa", device="cpu", model_options={"arch": arch})
    assert emb.weights_meta["source"] == "env:RS_EMBED_DOFA_CKPT"
    monkeypatch.delenv("RS_EMBED_DOFA_CKPT")
    cache = tmp_path / "cache" / "weights" / "dofa"
    cache.mkdir(parents=True)
    (cache / "DOFA_ViT_base_e100.pth").write_bytes(path.read_bytes())
    clear_caches()
    emb = get_embedder("dofa", device="cpu", model_options={"arch": arch})
    assert emb.weights_meta["source"] == "cache"


def test_fine_tuning_layout_with_fc_norm_loads_as_the_final_norm(tmp_path):
    ref = reference("dofa")
    sd = generated_weights(ref["parity_keys"])
    sd = {("fc_norm" + k[4:] if k.startswith("norm.") else k): v for k, v in sd.items()}
    sd.update({"head.weight": torch.zeros(45, 64), "head.bias": torch.zeros(45)})
    path = tmp_path / "dofa_finetuned.pth"
    torch.save(sd, str(path))
    emb = get_embedder("dofa", device="cpu", model_options={
        "weights": str(path), "arch": {"embed_dim": 64, "depth": 2, "num_heads": 4}})
    assert torch.equal(emb.model.norm.weight, sd["fc_norm.weight"])
