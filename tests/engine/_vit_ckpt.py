"""Test helpers: small checkpoints of the ViT family saved as the official files are saved.

Each builder makes the official model's state dict at a small size (same classes,
depth 2, width 64) - encoder keys from our module, plus the pretraining-only parts
the official files also hold (CLIP text tower, MAE decoders) under their official
names - and writes it the way the authors did (``torch.save`` of a state dict, or
of ``{"model": sd, "epoch": ..., "args": Namespace}``).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

# small architectures of the same classes, passed as model_options["arch"]
SMALL = {
    "remoteclip": {"width": 64, "layers": 2, "heads": 4, "embed_dim": 32},
    "prithvi": {"embed_dim": 64, "depth": 2, "num_heads": 4},
    "satmae": {"embed_dim": 64, "depth": 2, "num_heads": 4},
    "satmae_ms": {"embed_dim": 64, "depth": 2, "num_heads": 4, "channel_embed": 16},
    "satmaepp": {"embed_dim": 64, "depth": 2, "num_heads": 4},
    "scalemae": {"embed_dim": 64, "depth": 2, "num_heads": 4},
}


def _randomise(sd: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Trained-looking weights: every float tensor redrawn (fixed tables kept)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sd.items():
        if k.endswith("pos_embed") or k.endswith("channel_embed"):
            out[k] = v.clone()
        elif k.endswith(".scale"):
            out[k] = torch.full_like(v, 0.37)
        elif "norm" in k or "ln_" in k:
            out[k] = (1.0 + 0.1 * torch.randn(v.shape, generator=g)) if k.endswith("weight") else 0.05 * torch.randn(v.shape, generator=g)
        else:
            out[k] = 0.05 * torch.randn(v.shape, generator=g)
    return out


def encoder_state(model_id: str, variant: str | None = None, seed: int = 0) -> tuple[dict[str, torch.Tensor], Any]:
    """State dict of our encoder at the small size (official names), randomised."""
    from rs_embed_qgis.engine.catalog import get_entry, load_embedder_class

    spec = get_entry(model_id)
    cls = load_embedder_class(model_id)
    key = "satmae_ms" if variant == "multispectral" else model_id
    opts: dict[str, Any] = {"allow_random_weights": True, "download": False, "arch": SMALL[key]}
    if variant:
        opts["variant"] = variant
    emb = cls(spec, device="cpu", **opts)
    return _randomise(emb.model.state_dict(), seed), emb.config


def clip_text_tower(width: int = 32, layers: int = 1, vocab: int = 50, ctx: int = 8, embed: int = 32) -> dict[str, torch.Tensor]:
    sd = {"positional_embedding": torch.randn(ctx, width), "text_projection": torch.randn(width, embed),
          "logit_scale": torch.tensor(4.6052), "token_embedding.weight": torch.randn(vocab, width),
          "ln_final.weight": torch.ones(width), "ln_final.bias": torch.zeros(width)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}."
        sd.update({p + "ln_1.weight": torch.ones(width), p + "ln_1.bias": torch.zeros(width),
                   p + "attn.in_proj_weight": torch.randn(3 * width, width), p + "attn.in_proj_bias": torch.zeros(3 * width),
                   p + "attn.out_proj.weight": torch.randn(width, width), p + "attn.out_proj.bias": torch.zeros(width),
                   p + "ln_2.weight": torch.ones(width), p + "ln_2.bias": torch.zeros(width),
                   p + "mlp.c_fc.weight": torch.randn(4 * width, width), p + "mlp.c_fc.bias": torch.zeros(4 * width),
                   p + "mlp.c_proj.weight": torch.randn(width, 4 * width), p + "mlp.c_proj.bias": torch.zeros(width)})
    return sd


def mae_decoder(d: int = 64, dec: int = 32, extra: dict[str, tuple[int, ...]] | None = None) -> dict[str, torch.Tensor]:
    sd = {"decoder_embed.weight": torch.randn(dec, d), "decoder_embed.bias": torch.zeros(dec),
          "mask_token": torch.zeros(1, 1, dec), "decoder_pos_embed": torch.zeros(1, 197, dec),
          "decoder_blocks.0.norm1.weight": torch.ones(dec), "decoder_blocks.0.attn.qkv.weight": torch.randn(3 * dec, dec),
          "decoder_norm.weight": torch.ones(dec), "decoder_norm.bias": torch.zeros(dec),
          "decoder_pred.weight": torch.randn(16 * 16 * 3, dec), "decoder_pred.bias": torch.zeros(16 * 16 * 3)}
    for k, shape in (extra or {}).items():
        sd[k] = torch.randn(*shape)
    return sd


def write_official(model_id: str, folder: Path, variant: str | None = None, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """Write the small checkpoint as the official file of ``model_id`` is written.

    Returns the path and the encoder state dict (official names, no prefix).
    """
    enc, _cfg = encoder_state(model_id, variant, seed)
    folder.mkdir(parents=True, exist_ok=True)
    if model_id == "remoteclip":
        sd = {"visual." + k: v for k, v in enc.items()}
        sd.update(clip_text_tower())
        path = folder / "RemoteCLIP-ViT-B-32.pt"
        torch.save(sd, path)                                   # open_clip model.state_dict()
    elif model_id == "prithvi":
        sd = {"encoder." + k: v for k, v in enc.items()}
        sd.update({"decoder.decoder_embed.weight": torch.randn(32, 64), "decoder.mask_token": torch.zeros(1, 1, 32),
                   "decoder.decoder_pos_embed": torch.zeros(1, 785, 32), "decoder.decoder_norm.weight": torch.ones(32),
                   "decoder.decoder_pred.weight": torch.randn(1536, 32), "decoder.temporal_embed_dec.scale": torch.ones(1),
                   "decoder.location_embed_dec.scale": torch.ones(1)})
        path = folder / "Prithvi_EO_V2_300M_TL.pt"
        torch.save(sd, path)                                   # raw PrithviMAE state dict
    elif model_id in ("satmae", "satmaepp"):
        sd = dict(enc)
        extra = {}
        if variant == "multispectral":
            extra = {"decoder_channel_embed": (1, 4, 16), "decoder_pred.0.weight": (256, 32)}
            if model_id == "satmaepp":
                extra.update({"proj_up_conv.weight": (40, 10, 1, 1), "up_block1.up_conv.weight": (40, 40, 4, 4)})
        elif model_id == "satmaepp":
            extra = {"proj_up_conv.weight": (12, 3, 1, 1), "up_block.proj_out.weight": (3, 12, 3, 3)}
        sd.update(mae_decoder(extra=extra))
        name = {("satmae", None): "fmow_pretrain.pth", ("satmae", "multispectral"): "pretrain-vit-large-e199.pth",
                ("satmaepp", None): "checkpoint_ViT-L_pretrain_fmow_rgb.pth",
                ("satmaepp", "multispectral"): "checkpoint_ViT-L_pretrain_fmow_sentinel.pth"}[(model_id, variant)]
        path = folder / name
        torch.save({"model": sd, "epoch": 799, "args": argparse.Namespace(model="mae_vit_large_patch16", input_size=224)},
                   path)                                        # MAE-style training checkpoint
    elif model_id == "scalemae":
        sd = dict(enc)
        sd.update(mae_decoder(extra={"mask_token_decoder": (1, 1, 32), "fpn.fpn1.0.weight": (32, 32, 2, 2),
                                     "fcn_high.layers.0.weight": (32, 32, 3, 3), "fcn_low.layers.0.weight": (32, 32, 3, 3)}))
        path = folder / "scalemae-vitlarge-800.pth"
        torch.save({"model": sd, "epoch": 799, "args": argparse.Namespace(model="mae_vit_large_patch16")}, path)
    else:
        raise ValueError(model_id)
    return path, enc
