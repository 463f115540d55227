"""The ViT family's architectures match the official checkpoint layouts and load them
strictly through the real resolver and loader; bad files fail with ModelError."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from _vit_ckpt import SMALL, write_official

from rs_embed_qgis.engine.api import clear_caches, get_embedder
from rs_embed_qgis.engine.catalog import describe_model
from rs_embed_qgis.engine.errors import ModelError

CASES = [("remoteclip", None), ("prithvi", None), ("satmae", None), ("satmae", "multispectral"),
         ("satmaepp", None), ("satmaepp", "multispectral"), ("scalemae", None)]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    for var in ("RS_EMBED_REMOTECLIP_CKPT", "RS_EMBED_PRITHVI_CKPT", "RS_EMBED_SATMAE_CKPT",
                "RS_EMBED_SATMAE_MS_CKPT", "RS_EMBED_SATMAEPP_CKPT", "RS_EMBED_SATMAEPP_MS_CKPT",
                "RS_EMBED_SCALEMAE_CKPT"):
        monkeypatch.delenv(var, raising=False)
    clear_caches()
    yield
    clear_caches()


def _opts(model, variant, **extra):
    o = {"arch": SMALL["satmae_ms" if variant == "multispectral" else model], "download": False}
    if variant:
        o["variant"] = variant
    o.update(extra)
    return o


# -- the full default architectures have the official names and shapes ------------------------
def _timm_blocks(prefix, d, depth):
    out = {}
    for i in range(depth):
        p = f"{prefix}blocks.{i}."
        out.update({p + "norm1.weight": (d,), p + "norm1.bias": (d,), p + "attn.qkv.weight": (3 * d, d),
                    p + "attn.qkv.bias": (3 * d,), p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
                    p + "norm2.weight": (d,), p + "norm2.bias": (d,), p + "mlp.fc1.weight": (4 * d, d),
                    p + "mlp.fc1.bias": (4 * d,), p + "mlp.fc2.weight": (d, 4 * d), p + "mlp.fc2.bias": (d,)})
    return out


def _official_clip_visual(w, layers, patch, grid, embed):
    out = {"conv1.weight": (w, 3, patch, patch), "class_embedding": (w,), "positional_embedding": (grid * grid + 1, w),
           "ln_pre.weight": (w,), "ln_pre.bias": (w,), "ln_post.weight": (w,), "ln_post.bias": (w,), "proj": (w, embed)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}."
        out.update({p + "ln_1.weight": (w,), p + "ln_1.bias": (w,), p + "attn.in_proj_weight": (3 * w, w),
                    p + "attn.in_proj_bias": (3 * w,), p + "attn.out_proj.weight": (w, w), p + "attn.out_proj.bias": (w,),
                    p + "ln_2.weight": (w,), p + "ln_2.bias": (w,), p + "mlp.c_fc.weight": (4 * w, w),
                    p + "mlp.c_fc.bias": (4 * w,), p + "mlp.c_proj.weight": (w, 4 * w), p + "mlp.c_proj.bias": (w,)})
    return out


def _official_mae(d=1024, depth=24, patch=16, in_chans=3, tokens=196):
    out = {"patch_embed.proj.weight": (d, in_chans, patch, patch), "patch_embed.proj.bias": (d,),
           "cls_token": (1, 1, d), "pos_embed": (1, tokens + 1, d), "norm.weight": (d,), "norm.bias": (d,)}
    out.update(_timm_blocks("", d, depth))
    return out


def _official_group_channel(d=1024, depth=24, ce=256):
    out = {"cls_token": (1, 1, d), "pos_embed": (1, 145, d - ce), "channel_embed": (1, 3, ce),
           "norm.weight": (d,), "norm.bias": (d,)}
    for i, n in enumerate((4, 4, 2)):
        out[f"patch_embed.{i}.proj.weight"] = (d, n, 8, 8)
        out[f"patch_embed.{i}.proj.bias"] = (d,)
    out.update(_timm_blocks("", d, depth))
    return out


def _official_prithvi(d, depth):
    out = {"patch_embed.proj.weight": (d, 6, 1, 16, 16), "patch_embed.proj.bias": (d,), "cls_token": (1, 1, d),
           "pos_embed": (1, 4 * 14 * 14 + 1, d), "temporal_embed_enc.scale": (1,), "location_embed_enc.scale": (1,),
           "norm.weight": (d,), "norm.bias": (d,)}
    out.update(_timm_blocks("", d, depth))
    return out


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_full_default_architectures_have_the_official_key_layout():
    from rs_embed_qgis.engine.nn.clip_visual import CLIP_CONFIGS, CLIPVisionTransformer
    from rs_embed_qgis.engine.nn.prithvi import PRITHVI_CONFIGS, PrithviEncoder
    from rs_embed_qgis.engine.nn.satmae import GroupChannelConfig, GroupChannelEncoder, MAEConfig, MAEEncoder
    from rs_embed_qgis.engine.nn.scalemae import SCALEMAE_CONFIG, ScaleMAEEncoder

    with torch.device("meta"):  # shapes only: no memory, no forward
        b32 = CLIPVisionTransformer(CLIP_CONFIGS["ViT-B-32"])
        l14 = CLIPVisionTransformer(CLIP_CONFIGS["ViT-L-14"])
        p300 = PrithviEncoder(PRITHVI_CONFIGS["300M"])
        p100 = PrithviEncoder(PRITHVI_CONFIGS["100M"])
        mae = MAEEncoder(MAEConfig())
        gc = GroupChannelEncoder(GroupChannelConfig())
        smae = ScaleMAEEncoder(SCALEMAE_CONFIG)
    assert _shapes(b32) == _official_clip_visual(768, 12, 32, 7, 512)
    assert _shapes(l14) == _official_clip_visual(1024, 24, 14, 16, 768)
    assert _shapes(p300) == _official_prithvi(1024, 24)
    assert _shapes(p100) == _official_prithvi(768, 12)
    assert _shapes(mae) == _official_mae()
    assert _shapes(smae) == _official_mae()
    assert _shapes(gc) == _official_group_channel()
    # published parameter counts: open_clip ViT-B-32 image tower, timm ViT-L/16 without head
    assert sum(p.numel() for p in b32.parameters()) == 87_849_216
    assert sum(p.numel() for p in mae.parameters()) == 303_301_632


# -- official files load strictly through resolve_weights/load_state_dict/load_into -----------
@pytest.mark.parametrize("model,variant", CASES)
def test_official_checkpoint_loads_strictly(tmp_path, model, variant):
    path, enc = write_official(model, tmp_path, variant, seed=3)
    emb = get_embedder(model, device="cpu", model_options=_opts(model, variant, weights=str(path)))
    meta = emb.weights_meta
    assert meta["status"] == "pretrained" and meta["source"] == "explicit"
    assert meta["file"] == path.name and meta["encoder_keys"] == len(enc)
    assert meta["ignored_keys"] > 0  # decoder / text tower set aside by name
    own = emb.model.state_dict()
    assert set(own) == set(enc)
    for k, v in enc.items():
        torch.testing.assert_close(own[k], v, rtol=0, atol=0)


def test_environment_variable_and_cache_folder_are_found(tmp_path, monkeypatch):
    path, _ = write_official("prithvi", tmp_path / "elsewhere")
    monkeypatch.setenv("RS_EMBED_PRITHVI_CKPT", str(path))
    emb = get_embedder("prithvi", device="cpu", model_options=_opts("prithvi", None))
    assert emb.weights_meta["source"] == "env:RS_EMBED_PRITHVI_CKPT"
    monkeypatch.delenv("RS_EMBED_PRITHVI_CKPT")
    clear_caches()
    cached = Path(os.environ["RS_EMBED_CACHE"]) / "weights" / "satmae" / "fmow_pretrain.pth"
    write_official("satmae", cached.parent)
    emb = get_embedder("satmae", device="cpu", model_options=_opts("satmae", None))
    assert emb.weights_meta["source"] == "cache" and emb.weights_meta["path"] == str(cached)
    assert describe_model("satmae")["weights"]["status"] == "found"


def test_no_weights_is_an_error_naming_where_to_put_them():
    with pytest.raises(ModelError) as ei:
        get_embedder("prithvi", device="cpu", model_options=_opts("prithvi", None))
    msg = str(ei.value)
    assert "RS_EMBED_PRITHVI_CKPT" in msg and "ibm-nasa-geospatial/Prithvi-EO-2.0-300M-TL" in msg
    assert "Prithvi_EO_V2_300M_TL.pt" in msg and "allow_random_weights" in msg
    with pytest.raises(ModelError, match="zenodo.org/record/7369797/files/fmow_pretrain.pth"):
        get_embedder("satmae", device="cpu", model_options=_opts("satmae", None))


def test_random_weights_only_when_asked_and_marked():
    emb = get_embedder("scalemae", device="cpu", model_options=_opts("scalemae", None, allow_random_weights=True))
    assert emb.weights_meta["status"] == "random"
    assert "carry no meaning" in emb.weights_meta["note"]


def test_corrupt_file_names_the_file(tmp_path):
    bad = tmp_path / "fmow_pretrain.pth"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(ModelError) as ei:
        get_embedder("satmae", device="cpu", model_options=_opts("satmae", None, weights=str(bad)))
    assert str(bad) in str(ei.value)


def test_truncated_file_names_the_file(tmp_path):
    path, _ = write_official("remoteclip", tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as ei:
        get_embedder("remoteclip", device="cpu", model_options=_opts("remoteclip", None, weights=str(path)))
    assert str(path) in str(ei.value)


def test_mismatched_shapes_name_file_and_keys(tmp_path):
    path, _ = write_official("scalemae", tmp_path)
    opts = _opts("scalemae", None, weights=str(path))
    opts["arch"] = dict(opts["arch"], embed_dim=32)  # a checkpoint of another width
    with pytest.raises(ModelError) as ei:
        get_embedder("scalemae", device="cpu", model_options=opts)
    msg = str(ei.value)
    assert str(path) in msg and "shape mismatches" in msg and "cls_token" in msg


def test_missing_and_unknown_keys_are_named(tmp_path):
    path, enc = write_official("prithvi", tmp_path)
    sd = torch.load(path, weights_only=True)
    del sd["encoder.norm.weight"]
    sd["encoder.head.weight"] = torch.zeros(3, 64)
    sd["some_other_model.weight"] = torch.zeros(2)
    torch.save(sd, path)
    with pytest.raises(ModelError) as ei:
        get_embedder("prithvi", device="cpu", model_options=_opts("prithvi", None, weights=str(path)))
    msg = str(ei.value)
    assert str(path) in msg and "encoder.norm.weight" in msg and "encoder.head.weight" in msg and "some_other_model.weight" in msg


def test_remoteclip_loads_only_the_image_tower(tmp_path):
    path, _ = write_official("remoteclip", tmp_path)
    emb = get_embedder("remoteclip", device="cpu", model_options=_opts("remoteclip", None, weights=str(path)))
    assert emb.weights_meta["ignored_key_groups"] == sorted(
        ["ln_final", "logit_scale", "positional_embedding", "text_projection", "token_embedding", "transformer"])


def test_unknown_options_and_variants_are_errors():
    with pytest.raises(ModelError, match="'frame'"):
        get_embedder("prithvi", device="cpu", model_options={"frame": 2, "allow_random_weights": True})
    with pytest.raises(ModelError, match="'ViT-H-14'"):
        get_embedder("remoteclip", device="cpu", model_options={"variant": "ViT-H-14", "allow_random_weights": True})
    with pytest.raises(ModelError, match="'frames'"):  # a Prithvi option is not a RemoteCLIP one
        get_embedder("remoteclip", device="cpu", model_options={"frames": 2, "allow_random_weights": True})
    with pytest.raises(ModelError, match="frames must be an int from 1 to 4"):
        get_embedder("prithvi", device="cpu", model_options={"frames": 6, "allow_random_weights": True})


def test_describe_model_entries():
    for model, alias, repo_or_url in [
            ("remoteclip", "remoteclip_s2rgb", "chendelong/RemoteCLIP"),
            ("prithvi", "prithvi_eo_v2_s2_6b", "ibm-nasa-geospatial/Prithvi-EO-2.0-300M-TL"),
            ("satmae", "satmae_rgb", "https://zenodo.org/record/7369797/files/fmow_pretrain.pth"),
            ("satmaepp", "satmaepp_rgb", "mubashir04/checkpoint_ViT-L_pretrain_fmow_rgb"),
            ("scalemae", "scalemae_rgb", "https://github.com/bair-climate-initiative/scale-mae/releases/download/base-800/scalemae-vitlarge-800.pth")]:
        d = describe_model(alias)
        assert d["id"] == model and alias in d["aliases"]
        assert repo_or_url in (d["weights"]["hf_repo"], d["weights"]["url"])
        assert d["weights"]["env_var"].startswith("RS_EMBED_") and d["requires"] == ["torch"]
        assert d["outputs"] == ["pooled", "grid"]
    assert describe_model("prithvi")["bands"] == ["B2", "B3", "B4", "B8A", "B11", "B12"]
    assert describe_model("remoteclip")["bands"] == ["B4", "B3", "B2"]
    assert describe_model("scalemae")["side_inputs"]
