"""The S2DR3 networks: layout, shapes, parameter counts, the 10x head, loading checkpoints."""
from __future__ import annotations

import pytest
import torch

from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.superres.backbone import (
    BackboneConfig,
    S2DR3Backbone,
    load_backbone_from_safetensors,
)
from rs_embed_qgis.engine.superres.decoder import FULL_CONFIG, S2x10Config, S2x10NetS, config_from_keys

SMALL = S2x10Config(num_feat=12, num_block=2, num_grow_ch=6)
TINY_VIT = BackboneConfig(embed_dim=64, depth=2, num_heads=4)


def test_full_size_decoder_layout_without_running_it():
    with torch.device("meta"):
        net = S2x10NetS(FULL_CONFIG)
    sd = net.state_dict()
    n = sum(p.numel() for p in net.parameters())
    # 23 RRDB x 3 RDB x 5 convs with growth 80 on 160 channels: 103,367,520 in the trunk
    rdb = sum((160 + i * 80) * 80 * 9 + 80 for i in range(4)) + (160 + 4 * 80) * 160 * 9 + 160
    assert rdb * 3 * 23 == 103_367_520
    head = (10 * 160 * 9 + 160) + (160 * 160 * 9 + 160) * 4 + (160 * 10 * 9 + 10)
    assert n == rdb * 3 * 23 + head == 104_318_730
    assert sd["conv_first.weight"].shape == (160, 10, 3, 3)
    assert sd["conv_last.weight"].shape == (10, 160, 3, 3)
    assert sd["body.22.rdb3.conv5.weight"].shape == (160, 480, 3, 3)
    assert sd["body.0.rdb1.conv1.weight"].shape == (80, 160, 3, 3)
    assert "body.23.rdb1.conv1.weight" not in sd
    assert sorted(k for k in sd if k.startswith("conv_up")) == [
        "conv_up1.bias", "conv_up1.weight", "conv_up2.bias", "conv_up2.weight"]
    assert config_from_keys({k: tuple(v.shape) for k, v in sd.items()}) == FULL_CONFIG
    # 480x480 -> 4800x4800 is about 70 TFLOPs: why the tests use small configs
    assert net.flops(480, 480) > 5e13


@pytest.mark.parametrize("ups", [(2, 5), (10,), (5, 2), (2, 5, 1, 1, 1)])
def test_head_is_exactly_10x_for_every_stage_layout(ups):
    net = S2x10NetS(S2x10Config(num_feat=8, num_block=1, num_grow_ch=4, up_scales=ups))
    y = net(torch.rand(2, 10, 7, 9))
    assert y.shape == (2, 10, 70, 90)
    assert len([k for k in net.state_dict() if k.startswith("conv_up") and k.endswith("weight")]) == len(ups)


def test_stage_layouts_not_10x_are_refused():
    with pytest.raises(ModelError, match=r"\(2, 2, 2, 2, 2\).*32"):
        S2x10Config(up_scales=(2, 2, 2, 2, 2))


def test_decoder_rejects_wrong_band_count():
    net = S2x10NetS(SMALL)
    with pytest.raises(ModelError, match=r"\(1, 4, 8, 8\)"):
        net(torch.rand(1, 4, 8, 8))


@pytest.mark.parametrize("cfg,tight", [(S2x10Config(num_feat=8, num_block=1, num_grow_ch=4), False),
                                       (S2x10Config(num_feat=8, num_block=0, num_grow_ch=4), True)])
def test_receptive_field_bound_holds(cfg, tight):
    torch.manual_seed(0)
    net = S2x10NetS(cfg).eval().double()
    r = net.receptive_field_radius()
    x = torch.rand(1, 10, r + 4, r + 4, dtype=torch.float64)
    x2 = x.clone()
    x2[..., 0, 0] += 10.0  # a change at (0, 0) ...
    with torch.no_grad():
        d = (net(x) - net(x2)).abs().sum(dim=(0, 1))
    rows = torch.nonzero(d.sum(1) > 0).max().item()
    cols = torch.nonzero(d.sum(0) > 0).max().item()
    # ... reaches no further than r input pixels (10 output pixels each)
    assert rows < (r + 1) * 10 and cols < (r + 1) * 10
    if tight:  # without the 0.2-scaled dense blocks (whose far effects vanish in rounding)
        assert rows >= (r - 3) * 10  # the bound is not loose (HR convs count as a whole input px)


def test_full_size_backbone_layout_without_running_it():
    with torch.device("meta"):
        vit = S2DR3Backbone()
    sd = vit.state_dict()
    assert sd["patch_embed.proj.weight"].shape == (1024, 3, 16, 16)
    assert sd["cls_token"].shape == (1, 1, 1024)
    assert sd["register_tokens"].shape == (1, 4, 1024)
    assert sd["mask_token"].shape == (1, 1024)
    assert "blocks.0.attn.q_proj.bias" in sd and "blocks.0.attn.v_proj.bias" in sd
    assert "blocks.0.attn.k_proj.bias" not in sd
    assert sd["blocks.0.mlp.fc1.weight"].shape == (4096, 1024)
    assert "blocks.23.lambda2" in sd and "blocks.24.lambda1" not in sd
    assert not any("pos_embed" in k or "position" in k for k in sd)
    assert sum(p.numel() for p in vit.parameters()) == 303_129_600


def test_backbone_tokens_and_layerscale_init():
    torch.manual_seed(0)
    vit = S2DR3Backbone(TINY_VIT).eval()
    assert torch.all(vit.blocks[0].lambda1 == 1e-5) and torch.all(vit.blocks[1].lambda2 == 1e-5)
    tok = vit.extract_tokens(torch.rand(2, 3, 48, 32))
    assert tok["cls"].shape == (2, 64) and tok["registers"].shape == (2, 4, 64)
    assert tok["patch"].shape == (2, 6, 64) and tok["grid"].shape == (2, 64, 3, 2)
    masks = torch.zeros(2, 6, dtype=torch.bool)
    masks[:, 0] = True
    masked = vit.extract_tokens(torch.rand(2, 3, 48, 32), masks)["patch"]
    assert masked.shape == (2, 6, 64)
    with pytest.raises(ModelError, match="50x32"):
        vit.extract_tokens(torch.rand(1, 3, 50, 32))


def test_backbone_has_no_position_information():
    """No position embedding: permuting patches permutes patch tokens (and keeps cls)."""
    torch.manual_seed(0)
    vit = S2DR3Backbone(TINY_VIT).eval()
    x = torch.rand(1, 3, 16, 32)
    swapped = torch.cat([x[..., 16:], x[..., :16]], dim=-1)
    a, b = vit.extract_tokens(x), vit.extract_tokens(swapped)
    torch.testing.assert_close(a["patch"][:, [1, 0]], b["patch"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a["cls"], b["cls"], rtol=1e-4, atol=1e-5)


def test_backbone_round_trip_through_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    vit = S2DR3Backbone(TINY_VIT).eval()
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "vit.safetensors"))
    loaded = load_backbone_from_safetensors(tmp_path / "vit.safetensors", num_heads=4)
    assert loaded.config.depth == 2 and loaded.config.embed_dim == 64
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), vit(x))


def test_backbone_loads_hugging_face_dinov2_register_names(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(2)
    vit = S2DR3Backbone(TINY_VIT).eval()
    hf = {}
    for k, v in vit.state_dict().items():
        k2 = (k.replace("blocks.", "encoder.layer.").replace("attn.q_proj", "attention.attention.query")
              .replace("attn.k_proj", "attention.attention.key")
              .replace("attn.v_proj", "attention.attention.value")
              .replace("attn.proj", "attention.output.dense").replace("lambda1", "layer_scale1.lambda1")
              .replace("lambda2", "layer_scale2.lambda1")
              .replace("patch_embed.proj", "embeddings.patch_embeddings.projection"))
        if k2 in ("cls_token", "mask_token", "register_tokens"):
            k2 = "embeddings." + k2
        if k2.startswith("norm."):
            k2 = "layernorm." + k2[5:]
        hf[k2] = v.contiguous()
    save_file(hf, str(tmp_path / "hf.safetensors"))
    loaded = load_backbone_from_safetensors(tmp_path / "hf.safetensors", num_heads=4)
    x = torch.rand(1, 3, 32, 16)
    torch.testing.assert_close(loaded(x), vit(x))


def test_backbone_fused_qkv_with_key_bias_is_refused(tmp_path):
    from safetensors.torch import save_file

    vit = S2DR3Backbone(TINY_VIT)
    sd = {k: v.contiguous() for k, v in vit.state_dict().items() if ".attn.q_proj" not in k
          and ".attn.k_proj" not in k and ".attn.v_proj" not in k}
    for i in range(2):
        sd[f"blocks.{i}.attn.qkv.weight"] = torch.randn(192, 64)
        sd[f"blocks.{i}.attn.qkv.bias"] = torch.ones(192)
    save_file(sd, str(tmp_path / "fused.safetensors"))
    with pytest.raises(ModelError, match=r"blocks\.0\.attn\.qkv\.bias"):
        load_backbone_from_safetensors(tmp_path / "fused.safetensors", num_heads=4)
    for i in range(2):
        sd[f"blocks.{i}.attn.qkv.bias"][64:128] = 0
    save_file(sd, str(tmp_path / "fused.safetensors"))
    loaded = load_backbone_from_safetensors(tmp_path / "fused.safetensors", num_heads=4)
    torch.testing.assert_close(loaded.blocks[1].attn.k_proj.weight, sd["blocks.1.attn.qkv.weight"][64:128])
    torch.testing.assert_close(loaded.blocks[1].attn.v_proj.bias, sd["blocks.1.attn.qkv.bias"][128:])


@pytest.mark.parametrize("ups", [(2, 5), (10,), (2, 5, 1, 1, 1), (5, 2)])
def test_full_resolution_tail_in_strips_equals_one_pass(ups):
    """The strip-wise tail keeps a 480x480 tile's memory bounded without changing the result."""
    torch.manual_seed(0)
    net = S2x10NetS(S2x10Config(num_feat=8, num_block=1, num_grow_ch=4, up_scales=ups)).eval()
    x = torch.rand(1, 10, 13, 11)
    with torch.no_grad():
        whole = net(x)
        net.max_tail_bytes = 1  # one output row per strip
        strips = net(x)
        net.max_tail_bytes, net.max_tail_pixels = 2 ** 30, 7 * 110  # 7 output rows: cancel points
        short = net(x)
    assert strips.shape == whole.shape == short.shape == (1, 10, 130, 110)
    torch.testing.assert_close(strips, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(short, whole, rtol=1e-5, atol=1e-6)


def test_package_exposes_the_entry_points_lazily():
    import rs_embed_qgis.engine.superres as sr

    assert callable(sr.super_resolve_raster) and callable(sr.load_pipeline)
    assert callable(sr.load_s2x10_from_chunks) and callable(sr.load_backbone_from_safetensors)
    assert issubclass(sr.Cancelled, Exception)
    with pytest.raises(AttributeError):
        sr.not_a_thing  # noqa: B018
