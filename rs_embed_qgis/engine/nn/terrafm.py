"""TerraFM (Danish et al. 2025) encoder in plain torch, with the parameter names of the
official ``terrafm.py`` (github mbzuai-oryx/TerraFM, Hugging Face ``MBZUAI/TerraFM``), so
``TerraFM-B.pth`` / ``TerraFM-L.pth`` load unchanged.

A DINO-style ViT whose patch embedding is modality-specific: one convolution per input
kind (``patch_embed.conv2d_s2_l2a``, ``conv2d_s2_l1c`` for 12-band Sentinel-2,
``conv2d_s1`` for VV/VH), each to ``3 x width`` channels, plus a learned modality vector
(``s2_l2a_embed`` ...), then ``patch_embed.projection`` (``proj1`` without bias ->
LayerNorm ``norm_input`` (eps 1e-5) -> ``proj2`` -> ``proj3``) down to the width. Then
the class token, the learned ``pos_embed``, timm-named pre-norm blocks (LayerNorm eps
1e-6, qkv with bias) and the final ``norm``. No classifier head (``num_classes=0``).

The upstream ``forward`` calls the patch embedding without its ``is_l2a`` flag, so a
12-band input goes through the L1C convolution there; ``branch`` chooses here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .vit import Block, ViTConfig, vit_flops

#: input branches of the patch embedding: (convolution, modality vector, channels)
BRANCHES = {"s2_l2a": ("conv2d_s2_l2a", "s2_l2a_embed"),
            "s2_l1c": ("conv2d_s2_l1c", "s2_l1c_embed"),
            "s1": ("conv2d_s1", "s1_embed")}


@dataclass(frozen=True)
class TerraFMConfig(ViTConfig):
    s2_chans: int = 12
    s1_chans: int = 2


TERRAFM_CONFIGS = {
    "B": TerraFMConfig(),
    "L": TerraFMConfig(embed_dim=1024, depth=24, num_heads=16),
}


class TokenProjection(nn.Module):
    """``proj1`` (no bias) -> ``norm_input`` -> ``proj2`` -> ``proj3``: 3 x width -> width."""

    def __init__(self, embed_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.proj1 = nn.Linear(attn_dim, attn_dim, bias=False)
        self.norm_input = nn.LayerNorm(attn_dim)
        self.proj2 = nn.Linear(attn_dim, attn_dim)
        self.proj3 = nn.Linear(attn_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj3(self.proj2(self.norm_input(self.proj1(x))))


class ModalityPatchEmbed(nn.Module):
    """One patch convolution and modality vector per input kind, one shared projection."""

    def __init__(self, cfg: TerraFMConfig) -> None:
        super().__init__()
        attn_dim = 3 * cfg.embed_dim  # the width of the patch features before projection
        p = cfg.patch_size
        self.patch_size = p
        self.conv2d_s2_l2a = nn.Conv2d(cfg.s2_chans, attn_dim, kernel_size=p, stride=p)
        self.conv2d_s2_l1c = nn.Conv2d(cfg.s2_chans, attn_dim, kernel_size=p, stride=p)
        self.conv2d_s1 = nn.Conv2d(cfg.s1_chans, attn_dim, kernel_size=p, stride=p)
        self.projection = TokenProjection(cfg.embed_dim, attn_dim)
        self.s2_l2a_embed = nn.Parameter(torch.zeros(1, attn_dim))
        self.s2_l1c_embed = nn.Parameter(torch.zeros(1, attn_dim))
        self.s1_embed = nn.Parameter(torch.zeros(1, attn_dim))

    def forward(self, x: torch.Tensor, branch: str) -> torch.Tensor:
        conv, vec = BRANCHES[branch]
        tokens = getattr(self, conv)(x).flatten(2).transpose(1, 2) + getattr(self, vec)
        return self.projection(tokens)


class TerraFM(nn.Module):
    """``(B, C, S, S)`` -> normalised tokens ``(B, 1 + L, D)``, class token first."""

    def __init__(self, cfg: TerraFMConfig = TerraFMConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.grid = cfg.img_size // cfg.patch_size
        self.patch_embed = ModalityPatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, d))
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor, branch: str = "s2_l2a") -> torch.Tensor:
        if x.shape[-2:] != (self.cfg.img_size, self.cfg.img_size):
            raise ValueError(f"TerraFM takes {self.cfg.img_size} px images, got {tuple(x.shape[-2:])}")
        x = self.patch_embed(x, branch)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def flops_per_image(self, in_chans: int | None = None) -> float:
        c = self.cfg
        n, d = self.grid * self.grid, c.embed_dim
        conv = 2 * n * (in_chans or c.s2_chans) * c.patch_size ** 2 * 3 * d
        proj = 2 * n * (3 * d * 3 * d * 2 + 3 * d * d)
        return vit_flops(n + 1, d, c.depth, c.mlp_ratio) + conv + proj
