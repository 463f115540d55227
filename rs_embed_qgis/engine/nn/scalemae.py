"""ScaleMAE encoder (Reed et al., ICCV 2023) in plain torch.

Same keys as MAE's encoder (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.N.*``, ``norm``; ViT-L/16, LayerNorm eps 1e-6) but the position encoding
is computed at run time from the ground sample distance of each image: the 2D
sin-cos table of positions multiplied by ``input_res`` (ScaleMAE's
``get_2d_sincos_pos_embed_with_resolution``). The stored ``pos_embed`` is kept
for the key layout and not used, as in the official ``forward_encoder``.
"""
from __future__ import annotations

import torch

from .satmae import MAEConfig, MAEEncoder
from .vit import sincos_2d

SCALEMAE_CONFIG = MAEConfig(img_size=224, patch_size=16, in_chans=3, embed_dim=1024, depth=24, num_heads=16)


class ScaleMAEEncoder(MAEEncoder):
    def position(self, x: torch.Tensor, input_res: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        """``(B, 1 + L, D)`` table for the GSD of each image (``input_res``, ``(B,)``)."""
        if input_res is None:
            raise ValueError("ScaleMAE needs input_res, the ground sample distance of each image")
        g = x.shape[-1] // self.cfg.patch_size
        res = input_res.reshape(-1).float()
        if res.shape[0] == 1 and x.shape[0] > 1:
            res = res.expand(x.shape[0])
        return sincos_2d(self.cfg.embed_dim, g, cls_token=True, res=res).to(x.device, x.dtype)
