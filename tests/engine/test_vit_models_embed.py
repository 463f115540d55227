"""The ViT family end to end: forwards equal independent references written from the
papers' definitions, embeddings of the bundled sample through the public API, and
get_embeddings_batch = a loop of get_embedding, done in one batched forward."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _vit_ckpt import SMALL, encoder_state, write_official

from rs_embed_qgis.engine.api import (
    clear_caches,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
)
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, SensorSpec, TemporalSpec

CENTRE = (9.0200, 47.8398)  # the bundled sample: 3 km x 3 km, UTM 32N, 2022
ROIS = [PointBuffer(CENTRE[0] + dx, CENTRE[1] + dy, 400) for dx, dy in ((0, 0), (0.006, 0.004), (-0.006, -0.005))]
YEAR = TemporalSpec.year(2022)
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")  # fewer scenes to read: faster tests
CASES = [("remoteclip", None), ("prithvi", None), ("satmae", None), ("satmae", "multispectral"),
         ("satmaepp", None), ("satmaepp", "multispectral"), ("scalemae", None)]


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {(m, v): write_official(m, folder / f"{m}_{v}", v, seed=11)[0] for m, v in CASES}


def _opts(ckpts, model, variant, **extra):
    o = {"weights": str(ckpts[(model, variant)]), "download": False,
         "arch": SMALL["satmae_ms" if variant == "multispectral" else model]}
    if variant:
        o["variant"] = variant
    o.update(extra)
    return o


# -- independent references ----------------------------------------------------------------------
def _sincos(dim, pos):
    pos = np.asarray(pos, np.float64).reshape(-1)
    omega = 1.0 / 10000 ** (np.arange(dim // 2) / (dim / 2.0))
    out = pos[:, None] * omega[None]
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def _ref_blocks(x, sd, depth, heads, eps, prefix="blocks."):
    """timm pre-norm blocks with attention written as softmax(q k^T / sqrt(d)) v."""
    for i in range(depth):
        p = f"{prefix}{i}."
        h = F.layer_norm(x, x.shape[-1:], sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps)
        q, k, v = F.linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).chunk(3, dim=-1)
        b, n, c = q.shape
        split = lambda t, b=b, n=n, c=c: t.reshape(b, n, heads, c // heads).transpose(1, 2)  # noqa: E731
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(c // heads), dim=-1) @ split(v)
        x = x + F.linear(a.transpose(1, 2).reshape(b, n, c), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        h = F.layer_norm(x, x.shape[-1:], sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps)
        x = x + F.linear(F.gelu(F.linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
                         sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    return x


def test_clip_image_tower_equals_reference_with_torch_multihead_attention():
    sd, cfg = encoder_state("remoteclip", seed=5)
    from rs_embed_qgis.engine.nn.clip_visual import CLIPVisionTransformer

    model = CLIPVisionTransformer(cfg).eval()
    model.load_state_dict(sd)
    img = torch.randn(2, 3, 224, 224)
    pooled, tokens = model(img)
    w = cfg.width
    x = F.conv2d(img, sd["conv1.weight"], stride=cfg.patch_size).flatten(2).transpose(1, 2)
    x = torch.cat([sd["class_embedding"].expand(2, 1, w), x], 1) + sd["positional_embedding"]
    x = F.layer_norm(x, (w,), sd["ln_pre.weight"], sd["ln_pre.bias"])
    for i in range(cfg.layers):
        p = f"transformer.resblocks.{i}."
        mha = torch.nn.MultiheadAttention(w, cfg.heads, batch_first=True)
        mha.load_state_dict({"in_proj_weight": sd[p + "attn.in_proj_weight"], "in_proj_bias": sd[p + "attn.in_proj_bias"],
                             "out_proj.weight": sd[p + "attn.out_proj.weight"], "out_proj.bias": sd[p + "attn.out_proj.bias"]})
        h = F.layer_norm(x, (w,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        x = x + mha(h, h, h, need_weights=False)[0]
        h = F.layer_norm(x, (w,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        x = x + F.linear(F.gelu(F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])),
                         sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (w,), sd["ln_post.weight"], sd["ln_post.bias"])
    torch.testing.assert_close(pooled, x[:, 0] @ sd["proj"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(tokens, x[:, 1:], rtol=1e-4, atol=1e-4)


def _mae_2d_table(dim, grid, res=1.0):
    """MAE/ScaleMAE table: first half encodes the column, second half the row (times GSD)."""
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    t = np.concatenate([_sincos(dim // 2, res * cols.reshape(-1)), _sincos(dim // 2, res * rows.reshape(-1))], 1)
    return torch.tensor(np.concatenate([np.zeros((1, dim)), t]), dtype=torch.float32)[None]


@pytest.mark.parametrize("model", ["satmae", "scalemae"])
def test_mae_and_scalemae_encoders_equal_reference(model):
    sd, cfg = encoder_state(model, seed=6)
    from rs_embed_qgis.engine.nn.satmae import MAEEncoder
    from rs_embed_qgis.engine.nn.scalemae import ScaleMAEEncoder

    enc = (ScaleMAEEncoder if model == "scalemae" else MAEEncoder)(cfg).eval()
    enc.load_state_dict(sd)
    img = torch.randn(2, 3, 224, 224)
    res = torch.tensor([10.0, 2.5])
    if model == "scalemae":
        got = enc(img, input_res=res)
        pos = torch.cat([_mae_2d_table(cfg.embed_dim, 14, float(r)) for r in res])
    else:
        got = enc(img)
        pos = _mae_2d_table(cfg.embed_dim, 14).expand(2, -1, -1)
        torch.testing.assert_close(sd["pos_embed"], _mae_2d_table(cfg.embed_dim, 14), rtol=0, atol=1e-6)
    x = F.conv2d(img, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16).flatten(2).transpose(1, 2)
    x = torch.cat([sd["cls_token"].expand(2, 1, -1) + pos[:, :1], x + pos[:, 1:]], 1)
    x = _ref_blocks(x, sd, cfg.depth, cfg.num_heads, 1e-6)
    want = F.layer_norm(x, x.shape[-1:], sd["norm.weight"], sd["norm.bias"], 1e-6)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=2e-4)


def test_group_channel_encoder_equals_reference():
    sd, cfg = encoder_state("satmae", "multispectral", seed=7)
    from rs_embed_qgis.engine.nn.satmae import GroupChannelEncoder

    enc = GroupChannelEncoder(cfg).eval()
    enc.load_state_dict(sd)
    img = torch.randn(2, 10, 96, 96)
    d, ce = cfg.embed_dim, cfg.channel_embed
    pos = _mae_2d_table(d - ce, 12)[:, 1:]
    ch = torch.tensor(_sincos(ce, np.arange(3)), dtype=torch.float32)
    toks = []
    for gi, group in enumerate(cfg.channel_groups):
        t = F.conv2d(img[:, list(group)], sd[f"patch_embed.{gi}.proj.weight"], sd[f"patch_embed.{gi}.proj.bias"], stride=8)
        t = t.flatten(2).transpose(1, 2)
        toks.append(t + torch.cat([pos.expand(2, -1, -1), ch[gi].expand(2, 144, -1)], -1))
    x = torch.cat([sd["cls_token"].expand(2, 1, -1)] + toks, 1)
    x = _ref_blocks(x, sd, cfg.depth, cfg.num_heads, 1e-6)
    want = F.layer_norm(x, (d,), sd["norm.weight"], sd["norm.bias"], 1e-6)
    torch.testing.assert_close(enc(img), want, rtol=1e-4, atol=2e-4)


def test_prithvi_encoder_with_time_and_location_equals_reference():
    sd, cfg = encoder_state("prithvi", seed=8)
    from rs_embed_qgis.engine.nn.prithvi import PrithviEncoder

    enc = PrithviEncoder(cfg).eval()
    enc.load_state_dict(sd)
    t_frames, d = 3, cfg.embed_dim
    img = torch.randn(2, 6, t_frames, 224, 224)
    tc = torch.tensor([[[2022, 45], [2022, 136], [2022, 228]], [[2021, 300], [2022, 10], [2022, 100]]], dtype=torch.float32)
    lc = torch.tensor([[47.84, 9.02], [-12.5, 130.25]])
    got = enc(img, tc, lc)
    # 3D table: 6/16 channels for the column, 6/16 for the row, 4/16 for the frame
    tt, hh, ww = np.meshgrid(np.arange(t_frames), np.arange(14), np.arange(14), indexing="ij")
    pos3 = np.concatenate([_sincos(d // 16 * 6, ww), _sincos(d // 16 * 6, hh), _sincos(d // 16 * 4, tt)], 1)
    pos3 = torch.tensor(pos3, dtype=torch.float32)[None]
    x = F.conv3d(img, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=(1, 16, 16)).flatten(2).transpose(1, 2)
    time_emb = torch.stack([torch.tensor(np.concatenate([_sincos(d // 2, tc[b, :, 0]), _sincos(d // 2, tc[b, :, 1])], 1),
                                         dtype=torch.float32) for b in range(2)])  # (B, T, D)
    loc_emb = torch.tensor(np.concatenate([_sincos(d // 2, lc[:, 0]), _sincos(d // 2, lc[:, 1])], 1), dtype=torch.float32)
    x = (x + pos3 + sd["temporal_embed_enc.scale"] * time_emb.repeat_interleave(196, dim=1)
         + sd["location_embed_enc.scale"] * loc_emb[:, None])
    x = torch.cat([sd["cls_token"].expand(2, 1, -1), x], 1)
    x = _ref_blocks(x, sd, cfg.depth, cfg.num_heads, 1e-5)
    want = F.layer_norm(x, (d,), sd["norm.weight"], sd["norm.bias"], 1e-5)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=3e-4)


# -- the public API on the bundled sample ------------------------------------------------------------
@pytest.mark.parametrize("model,variant", CASES)
def test_embeddings_of_the_bundled_sample(ckpts, model, variant):
    opts = _opts(ckpts, model, variant)
    pooled = get_embedding(model, spatial=ROIS[0], temporal=SUMMER, output=OutputSpec.pooled(), backend="local",
                           device="cpu", model_options=opts)
    grid = get_embedding(model, spatial=ROIS[0], temporal=SUMMER, output=OutputSpec.grid(), backend="local",
                         device="cpu", model_options=opts)
    g = grid.array
    h = {"remoteclip": 7, "prithvi": 14}.get(model, 12 if variant == "multispectral" else 14)
    width = SMALL["remoteclip"]["width"] if model == "remoteclip" else 64
    assert g.shape == (width, h, h) and np.isfinite(g).all() and g.std() > 0
    for e in (pooled, grid):
        assert e.meta["random_weights"] is False and e.meta["weights"]["status"] == "pretrained"
        assert e.meta["model"] == model and e.meta["input"]["backend"] == "local"
    assert grid.meta["crs"] == "EPSG:32632" and len(grid.meta["transform"]) == 6
    if model == "remoteclip":
        assert pooled.array.shape == (SMALL["remoteclip"]["embed_dim"],)
        assert pooled.meta["pooled_from"] == "model image embedding"
    else:
        np.testing.assert_allclose(pooled.array, g.reshape(g.shape[0], -1).mean(1), rtol=1e-4, atol=1e-5)
    # real pixels went in: another place of the sample gives another embedding
    other = get_embedding(model, spatial=ROIS[2], temporal=SUMMER, backend="local", device="cpu", model_options=opts)
    assert not np.allclose(other.array, pooled.array)


# SatMAE++ runs the very classes of SatMAE (only its checkpoint layout differs, tested on its own)
@pytest.mark.parametrize("model,variant", [c for c in CASES if c[0] != "satmaepp"])
def test_batch_equals_loop_in_one_forward(ckpts, model, variant):
    opts = _opts(ckpts, model, variant, batch_size=8)
    emb = get_embedder(model, device="cpu", model_options=opts)
    calls = []
    hook = emb.model.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    try:
        batch = get_embeddings_batch(model, spatials=ROIS, temporal=SUMMER, output=OutputSpec.grid(), backend="local",
                                     device="cpu", model_options=opts)
        assert calls == [len(ROIS)]  # one forward holding every ROI
        calls.clear()
        loop = [get_embedding(model, spatial=s, temporal=SUMMER, output=OutputSpec.grid(), backend="local",
                              device="cpu", model_options=opts) for s in ROIS]
        assert calls == [1, 1, 1]
    finally:
        hook.remove()
    for b, one in zip(batch, loop, strict=True):
        np.testing.assert_allclose(b.array, one.array, rtol=1e-5, atol=1e-5)
        assert b.meta["transform"] == one.meta["transform"]


def test_prithvi_frames_dates_and_side_inputs(ckpts):
    opts = _opts(ckpts, "prithvi", None)
    e = get_embedding("prithvi", spatial=ROIS[0], temporal=YEAR, backend="local", device="cpu", model_options=opts)
    assert e.meta["num_frames"] == 4
    assert e.meta["frame_dates"] == ["2022-02-15", "2022-05-17", "2022-08-17", "2022-11-16"]
    assert e.meta["temporal_coords"][0] == [2022, 46]
    lat, lon = e.meta["location_coords"]
    assert abs(lat - CENTRE[1]) < 0.01 and abs(lon - CENTRE[0]) < 0.01
    # a window whose later bins hold no scene: those frames are dropped, not fed as zeros
    short = TemporalSpec.range("2022-01-10", "2022-02-10")
    e2 = get_embedding("prithvi", spatial=ROIS[0], temporal=short, backend="local", device="cpu", model_options=opts)
    assert 1 <= e2.meta["num_frames"] < 4 and e2.meta["frames_dropped_empty"] >= 1
    one = get_embedding("prithvi", spatial=ROIS[0], temporal=YEAR, backend="local", device="cpu",
                        model_options=dict(opts, frames=1))
    assert one.meta["num_frames"] == 1 and one.meta["input"]["shape_tchw"][0] == 1
    assert not np.allclose(one.array, e.array)


def test_prithvi_from_caller_data_uses_the_given_dates(ckpts):
    opts = _opts(ckpts, "prithvi", None)
    data = np.random.default_rng(0).uniform(0, 4000, (2, 6, 64, 64)).astype(np.float32)
    e = get_embedding_from_data("prithvi", data, dates=["2022-03-01", "2022-09-01"], device="cpu", model_options=opts)
    assert e.meta["temporal_coords"] == [[2022, 60], [2022, 244]]
    assert e.meta["location_coords"] is None and "location" in e.meta["side_inputs_missing"]


def test_scalemae_gsd_is_a_model_input(ckpts):
    opts = _opts(ckpts, "scalemae", None)
    e10 = get_embedding("scalemae", spatial=ROIS[0], temporal=YEAR, backend="local", device="cpu", model_options=opts)
    px = e10.meta["input"]["shape_tchw"][-1]
    assert e10.meta["input_res_m"] == pytest.approx(10 * px / 224)
    s20 = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=20)
    e20 = get_embedding("scalemae", spatial=ROIS[0], temporal=YEAR, sensor=s20, backend="local", device="cpu",
                        model_options=opts)
    assert e20.meta["input_res_m"] == pytest.approx(20 * e20.meta["input"]["shape_tchw"][-1] / 224)
    fixed = get_embedding("scalemae", spatial=ROIS[0], temporal=YEAR, backend="local", device="cpu",
                          model_options=dict(opts, gsd_m=1.0))
    assert fixed.meta["input_res_m"] == 1.0 and not np.allclose(fixed.array, e10.array)


def test_tiled_grid_covers_the_roi_at_native_resolution(ckpts):
    big = PointBuffer(CENTRE[0], CENTRE[1], 1400)  # 280 px at 10 m: 2 x 2 tiles of 224
    e = get_embedding("satmae", spatial=big, temporal=YEAR, output=OutputSpec.grid(), backend="local", device="cpu",
                      input_prep="tile", model_options=_opts(ckpts, "satmae", None))
    px = e.meta["input"]["shape_tchw"][-1]
    assert e.meta["tiles"] == 4 and e.array.shape[1:] == (math.ceil(px / 16), math.ceil(px / 16))
